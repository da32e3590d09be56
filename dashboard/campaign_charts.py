"""The Campaign simulator's charts, in the look of ``dashboard.charts`` (same layout, escaped text)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.charts import _layout, _money
from dashboard.colours import PALETTE
from dashboard.plain_text import plotly_text

BINS = 60
LOSS, GAIN = PALETTE[5], PALETTE[0]  # vermillion and blue: apart for every colour vision


def build_profit_figure(profit: np.ndarray, currency: str | None, title: str = "Campaign profit over the simulations"
                        ) -> go.Figure:
    """Histogram of the simulated profit (incremental margin minus costs): losses red, gains in the palette."""
    finite = profit[np.isfinite(profit)]
    fig = go.Figure()
    if len(finite):
        # Bin edges on multiples of the width, so zero is an edge and no bar mixes losses with gains.
        width = float(finite.max() - finite.min()) / BINS or max(abs(float(finite[0])), 1.0)
        edges = np.arange(np.floor(finite.min() / width), np.ceil(finite.max() / width) + 1) * width
        if len(edges) < 2:
            edges = np.array([edges[0], edges[0] + width])
        counts, edges = np.histogram(finite, bins=edges)
        centres = (edges[:-1] + edges[1:]) / 2
        share = counts / len(finite)
        for name, keep, colour in (("Loss", centres < 0, LOSS), ("Profit", centres >= 0, GAIN)):
            if keep.any():
                fig.add_trace(go.Bar(x=centres[keep], y=share[keep], width=float(edges[1] - edges[0]),
                                     name=plotly_text(name), marker={"color": colour},
                                     hovertemplate="%{x:,.0f}: %{y:.1%} of simulations<extra></extra>"))
        fig.add_vline(x=0, line={"color": "grey", "dash": "dash"})
    fig.update_xaxes(title=_money("Profit", currency))
    fig.update_yaxes(title=plotly_text("Share of simulations"), tickformat=".0%")
    fig.update_layout(bargap=0)
    return _layout(fig, title)
