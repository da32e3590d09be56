"""The Alerts page's pictures: a metric against its expected band with the incident highlighted, and the
drill-down's differences per dimension value.

Pure (no streamlit), in the look of ``dashboard.charts`` (its layout, palette and per-name colours). Every string
handed to plotly goes through ``plain_text.plotly_text``: dimension values are names from data.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import PALETTE, _layout, labels, marker_for, unique_labels
from dashboard.formatting import value_words
from dashboard.plain_text import plotly_text, plotly_texts
from models.alerts.watch import CODED_DIMENSIONS, RATE_UNITS

BAND_FILL = "rgba(0,114,178,0.18)"
SPAN_FILL = "rgba(213,94,0,0.12)"
MAX_BARS = 15
COLOURED = ("region", "category", "channel", "payment_method")  # kinds with one look per name


def axis_title(unit: str, currency: str | None) -> str:
    """The value axis of a metric in its unit: "Revenue (EUR)", "Share of sessions", "Orders"..."""
    return {"money": f"Revenue ({currency})" if currency else "Revenue", "share": "Share of sessions",
            "payment_share": "Share of payments", "orders": "Orders", "payments": "Payments",
            "days": "Days"}.get(unit, unit)


def split_axis_title(unit: str, currency: str | None) -> str:
    """The drill-down's axis: a rate is split by its counts (sessions with a purchase, declined payments)."""
    return {"share": "Sessions with a purchase", "payment_share": "Payments"}.get(unit) or axis_title(unit, currency)


def build_band_figure(band: pl.DataFrame, *, title: str, unit: str, currency: str | None,
                      start: dt.datetime, end: dt.datetime, grain: str = "hour") -> go.Figure:
    """``band`` (``metric_band``: ts, observed, expected, low, high): the expected band as a shaded area, the
    expected line, the observed line, and the incident's span ``[start, end)`` as a highlighted strip."""
    ts = band["ts"].to_list()
    fig = go.Figure()
    if ts:
        fig.add_trace(go.Scatter(x=ts + ts[::-1], y=band["high"].to_list() + band["low"].to_list()[::-1],
                                 fill="toself", line={"width": 0}, fillcolor=BAND_FILL,
                                 name=plotly_text("Expected range"), hoverinfo="skip"))
    when = "%{x|%a %d %b %Y %H:%M}" if grain == "hour" else "%{x|%a %d %b %Y}"
    fig.add_trace(go.Scatter(x=ts, y=band["expected"].to_list(), mode="lines", name=plotly_text("Expected"),
                             line={"color": PALETTE[0], "dash": "dot"},
                             hovertemplate=when + ": %{y:,.2f}<extra>%{fullData.name}</extra>"))
    fig.add_trace(go.Scatter(x=ts, y=band["observed"].to_list(), mode="lines+markers", name=plotly_text("Observed"),
                             line={"color": PALETTE[5]}, marker={"size": 4},
                             hovertemplate=when + ": %{y:,.2f}<extra>%{fullData.name}</extra>"))
    fig.add_vrect(x0=start, x1=end, fillcolor=SPAN_FILL, line_width=0, layer="below",
                  annotation_text=plotly_text("Incident"), annotation_position="top left")
    fig.update_yaxes(title=plotly_text(axis_title(unit, currency)), rangemode="tozero",
                     tickformat=".0%" if unit in RATE_UNITS else None)
    return _layout(fig, title, height=380)


def build_breakdown_figure(breakdown: pl.DataFrame, dimension: str, *, title: str, unit: str,
                           currency: str | None) -> go.Figure:
    """``breakdown`` (``dimension_breakdown``: value, observed, expected, difference, share): one bar per value,
    its observed minus expected, in the order given (most of the difference first, drawn on top)."""
    rows = breakdown.head(MAX_BARS).reverse()  # plotly draws the first bar at the bottom
    values = rows["value"].to_list()
    shown = [value_words(v) for v in labels(values)] if dimension in CODED_DIMENSIONS else labels(values)
    names = plotly_texts(unique_labels(shown, values))
    marker = marker_for(dimension, values) if dimension in COLOURED else {"color": PALETTE[0]}
    fig = go.Figure(go.Bar(x=rows["difference"].to_list(), y=names, orientation="h", marker=marker,
                           hovertemplate="%{y}: %{x:,.2f}<extra></extra>"))
    fig.update_xaxes(title=plotly_text(f"Observed minus expected: {split_axis_title(unit, currency)}"),
                     zeroline=True)
    fig.update_yaxes(type="category")
    return _layout(fig, title, height=max(260, 60 + 26 * rows.height))
