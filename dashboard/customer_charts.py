"""Figures of the Customers page, in the look of ``dashboard.charts`` (its layout, separators and theme).

Pure: frames in, plotly figures out. Every string from data goes through ``plotly_text``; segment names are
fixed words (``analytics.segments``) but go through it as well, so the rule holds without exceptions.
"""

from __future__ import annotations

import polars as pl
import plotly.graph_objects as go

from analytics import segments
from dashboard import charts
from dashboard.colours import PALETTE
from dashboard.plain_text import plotly_text, plotly_texts

# One colour per segment, the same on every figure (the palette's 8 colours, then lighter repeats).
SEGMENT_COLOURS = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(segments.SEGMENT_ORDER)}
SEGMENT_COLOURS |= {segments.NOT_YET: "#BBBBBB", segments.GONE: "#777777"}


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def build_segment_figure(summary: pl.DataFrame, currency: str | None) -> go.Figure:
    """Share of customers and share of revenue per segment (``rfm.summarise_segments``), side by side."""
    names = plotly_texts(summary["segment"].to_list())
    fig = go.Figure()
    fig.add_bar(y=names, x=summary["customer_share"].to_list(), orientation="h", name="Share of customers",
                marker={"color": PALETTE[0]}, text=[_pct(v) for v in summary["customer_share"].to_list()],
                customdata=summary["customers"].to_list(),
                hovertemplate="%{y}: %{customdata:,} customers (%{x:.1%})<extra></extra>")
    revenue_label = plotly_text(f"Share of revenue ({currency})" if currency else "Share of revenue")
    fig.add_bar(y=names, x=summary["revenue_share"].to_list(), orientation="h", name=revenue_label,
                marker={"color": PALETTE[1]}, text=[_pct(v) for v in summary["revenue_share"].to_list()],
                customdata=summary["revenue"].to_list(),
                hovertemplate="%{y}: %{customdata:,.2f} (%{x:.1%})<extra></extra>")
    fig.update_traces(textposition="outside", cliponaxis=False)
    fig.update_yaxes(autorange="reversed", automargin=True)  # segment names in full beside the bars
    fig.update_xaxes(tickformat=".0%", title_text="Share")
    fig.update_layout(barmode="group")
    return charts._layout(fig, "Segments: share of customers and of revenue", height=460)


def build_movement_figure(movement: pl.DataFrame, from_label: str, to_label: str) -> go.Figure:
    """Sankey of ``rfm.compute_movement``: segments on ``from_label`` (left) flowing to segments on
    ``to_label`` (right); link width = customers."""
    order = [*segments.SEGMENT_ORDER, segments.NOT_YET, segments.GONE]
    left = [s for s in order if s in set(movement["from_segment"].to_list())]
    right = [s for s in order if s in set(movement["to_segment"].to_list())]
    index = {("from", s): i for i, s in enumerate(left)} | {("to", s): len(left) + i for i, s in enumerate(right)}
    labels = [plotly_text(s) for s in left] + [plotly_text(s) for s in right]
    colours = [SEGMENT_COLOURS[s] for s in left] + [SEGMENT_COLOURS[s] for s in right]
    rows = movement.to_dicts()
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node={"label": labels, "color": colours, "pad": 12, "thickness": 14,
              "hovertemplate": "%{label}: %{value:,} customers<extra></extra>"},
        link={"source": [index["from", r["from_segment"]] for r in rows],
              "target": [index["to", r["to_segment"]] for r in rows],
              "value": [r["customers"] for r in rows],
              "color": [SEGMENT_COLOURS[r["from_segment"]] + "55" for r in rows],
              "hovertemplate": "%{source.label} to %{target.label}: %{value:,} customers<extra></extra>"},
    ))
    return charts._layout(fig, f"How customers moved: {from_label} (left) to {to_label} (right)", height=560)


def build_orders_figure(orders: pl.DataFrame, currency: str | None, title: str) -> go.Figure:
    """One customer's orders over time (``customer_history.load_customer_orders``): a marker per document at
    its merchandise amount (returns below zero); cancelled and returned orders hollow: they do not count."""
    fig = go.Figure()
    not_counted = pl.col("status").is_in(["cancelled", "returned"]) | (pl.col("order_type") == "adjustment")
    kinds = (("Counted", ~not_counted, "circle"), ("Cancelled or returned (not counted)", not_counted, "circle-open"))
    for name, cond, symbol in kinds:
        part = orders.filter(cond)
        if part.height == 0:
            continue
        words = [f"{plotly_text(ref)} · {t} · {s}" for ref, t, s in
                 part.select("order_ref", "order_type", "status").iter_rows()]
        fig.add_scatter(x=part["order_ts"].to_list(), y=part["amount"].to_list(), mode="markers", name=name,
                        marker={"symbol": symbol, "size": 9, "color": PALETTE[0] if symbol == "circle" else PALETTE[5]},
                        text=words, hovertemplate="%{x|%d %b %Y}: %{y:,.2f}<br>%{text}<extra></extra>")
    fig.update_yaxes(title_text=plotly_text(f"Amount ({currency})" if currency else "Amount"), automargin=True)
    return charts._layout(fig, title, height=320)


def build_cluster_segment_figure(pairs: pl.DataFrame) -> go.Figure:
    """Heatmap of ``segments.compute_cluster_segments``: customers of each segment (rows) in each cluster
    (columns), with the counts printed."""
    clusters = sorted(set(pairs["cluster"].to_list()))
    names = [s for s in segments.SEGMENT_ORDER if s in set(pairs["segment"].to_list())]
    cell = {(r["cluster"], r["segment"]): r["customers"] for r in pairs.iter_rows(named=True)}
    z = [[cell.get((c, s), 0) for c in clusters] for s in names]
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"Cluster {c}" for c in clusters], y=plotly_texts(names), colorscale=charts.SEQUENTIAL,
        text=[[f"{v:,}" for v in row] for row in z], texttemplate="%{text}", colorbar={"title": {"text": "Customers"}},
        hovertemplate="%{y} in %{x}: %{z:,} customers<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True)
    return charts._layout(fig, "Clusters beside the segments: customers in each", height=460)
