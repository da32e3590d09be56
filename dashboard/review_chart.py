"""The case view's small picture: the payments linked to the case's payment, by time and amount.

Pure (no streamlit). A burst (many payments on one card or device within minutes) shows as a column of points
near zero; chargebacks are drawn as crosses. Every string handed to plotly goes through ``plotly_text``.
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import PALETTE, _layout
from dashboard.plain_text import plotly_text


def build_linked_figure(linked: pl.DataFrame, case_amount: float, currency: str) -> go.Figure:
    """Linked payments (``fraud_links.compute_case_links``' third frame) as points: hours from the case's payment
    against amount, one colour per kind of link (what they share), crosses for those charged back; the case's
    own payment is the black diamond at zero."""
    fig = go.Figure()
    groups = sorted(set(linked["linked_by"].to_list())) if linked.height else []
    for i, shares in enumerate(groups):
        part = linked.filter(pl.col("linked_by") == shares)
        hover = [plotly_text(f"payment {p}, {s}, {'charged back' if c else 'no chargeback'}")
                 for p, s, c in zip(part["payment_id"].to_list(), part["status"].to_list(),
                                    part["chargeback"].to_list())]
        fig.add_trace(go.Scatter(
            x=part["hours_apart"].to_list(), y=part["amount"].cast(pl.Float64).to_list(), mode="markers",
            name=plotly_text(f"same {shares}"), text=hover, hovertemplate="%{text}<br>%{x:,.1f} h, %{y:,.2f}"
            "<extra></extra>", marker={"color": PALETTE[i % len(PALETTE)], "size": 9,
                                       "symbol": ["x" if c else "circle" for c in part["chargeback"].to_list()]}))
    fig.add_trace(go.Scatter(x=[0.0], y=[case_amount], mode="markers", name="this payment",
                             hovertemplate="this payment: %{y:,.2f}<extra></extra>",
                             marker={"color": "#000000", "size": 13, "symbol": "diamond"}))
    _layout(fig, "Linked payments: hours before (-) or after this one, and amount (crosses: charged back)",
            height=300)
    fig.update_xaxes(title_text="Hours from this payment")
    fig.update_yaxes(title_text=plotly_text(f"Amount ({currency})"))
    return fig
