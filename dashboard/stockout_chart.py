"""One stock-out alert in words and in a picture: its inputs as sentences, its projected stock as a chart.

Pure (no streamlit). Every string handed to plotly goes through ``plain_text.plotly_text``; the facts are
shown through ``st.dataframe`` (plain text), so names from data are never read as markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.charts import PALETTE, _layout
from dashboard.formatting import format_money
from dashboard.plain_text import plotly_text

UNKNOWN = "not known"


def _num(value: Any, fmt: str, unit: str = "") -> str:
    if value is None:
        return UNKNOWN
    return f"{value:{fmt}}{unit}"


def _day(value: Any) -> str:
    return f"{value:%d %b %Y}" if isinstance(value, (dt.date, dt.datetime)) else UNKNOWN


def alert_facts(alert: Mapping[str, Any], percent: Callable[[float | None], str]) -> list[tuple[str, str]]:
    """(what, value in words) pairs: the inputs of the risk and what it suggests."""
    po = alert.get("open_po_units") or 0
    on_order = (f"{po:,.0f} units on open purchase orders; the next delivery is due {_day(alert.get('next_delivery'))}"
                if po else "Nothing on order")
    lead = alert.get("supplier_lead_days")
    late = alert.get("supplier_late_days")
    supplier = (f"{_num(lead, ',.0f', ' days')} on average from order to delivery, give or take "
                f"{_num(alert.get('lead_time_sd'), ',.1f', ' days')}"
                + (f"; {late:,.1f} days late on average" if late and late > 0 else "; on time on average"
                   if late is not None else ""))
    currency = alert.get("currency") or ""
    return [
        ("Product", f"{alert.get('sku')} · {alert.get('product')}"),
        ("Location", str(alert.get("location"))),
        ("On hand", _num(alert.get("on_hand"), ",.0f", " units")),
        ("Forecast demand", _num(alert.get("daily_demand"), ",.1f", " units a day")),
        ("Cover", _num(alert.get("days_of_cover"), ",.1f", " days")),
        ("On order", on_order),
        ("Supplier lead time", supplier),
        ("Looked ahead", _num(alert.get("horizon_days"), ",.0f", " days (until a new order could arrive)")),
        ("Chance of a stock-out", percent(alert.get("stockout_probability"))),
        ("Revenue at risk", format_money(alert.get("revenue_at_risk"), currency)),
        ("Reorder point", _num(alert.get("reorder_point"), ",.0f", " units")),
        ("Suggested order", _num(alert.get("order_quantity"), ",.0f", " units")),
        ("ABC and XYZ class", f"{alert.get('abc_class') or UNKNOWN} and {alert.get('xyz_class') or UNKNOWN}"),
        ("Why", str(alert.get("reason") or "")),
    ]


def build_projection_figure(projection: pl.DataFrame, alert: Mapping[str, Any]) -> go.Figure:
    """Projected stock (units) day by day with its 80% band, the reorder point and the next delivery."""
    fig = go.Figure()
    days = projection["day"].to_list()
    fig.add_trace(go.Scatter(x=days + days[::-1],
                             y=projection["high_80"].to_list() + projection["low_80"].to_list()[::-1],
                             fill="toself", line={"width": 0}, fillcolor="rgba(0,114,178,0.18)",
                             name=plotly_text("80% range"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=days, y=projection["expected"].to_list(), mode="lines",
                             line={"color": PALETTE[0]}, name=plotly_text("Expected stock"),
                             hovertemplate="%{x|%d %b %Y}: %{y:,.0f} units<extra></extra>"))
    if alert.get("reorder_point") is not None and days:
        fig.add_trace(go.Scatter(x=[days[0], days[-1]], y=[alert["reorder_point"]] * 2, mode="lines",
                                 line={"color": PALETTE[1], "dash": "dash"}, name=plotly_text("Reorder point"),
                                 hovertemplate="Reorder point: %{y:,.0f} units<extra></extra>"))
    if alert.get("next_delivery") is not None:
        fig.add_vline(x=dt.datetime.combine(alert["next_delivery"], dt.time()).timestamp() * 1000,
                      line={"color": PALETTE[2], "dash": "dot"})
    _layout(fig, "Projected stock (units), if nothing new is ordered", height=320)
    fig.update_yaxes(title=plotly_text("Units on hand"), rangemode="tozero")
    return fig
