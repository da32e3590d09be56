"""The Forecast page's chart: past sales, the forecast with its 80% and 95% ranges, and the same weeks last year.

Pure, like ``dashboard.charts`` (whose layout and colours it uses): frames in, a plotly figure out. Every
string that may carry data (the title names a category, a SKU or a store) goes through ``plain_text``.
Trace names are fixed (``NAMES``), so a test finds the forecast trace by name.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from analytics.filters import LAST_YEAR_DAYS
from dashboard import charts
from dashboard.plain_text import plotly_text

NAMES = {"history": "Sales (actual)", "forecast": "Forecast (expected demand)", "range_80": "80% range",
         "range_95": "95% range", "last_year": "Same weeks last year"}
MEASURE_WORDS = {"units": "Units", "revenue": "Revenue"}
_HOVER = "%{x|%a %d %b %Y}: %{y:,.2f}<extra>%{fullData.name}</extra>"


def _band(days: list, lo: list, hi: list, name: str, opacity: float) -> go.Scatter:
    # One closed shape (upper edge out, lower edge back): a band is one legend entry and one trace.
    return go.Scatter(x=days + days[::-1], y=hi + lo[::-1], name=name, fill="toself", mode="lines",
                      line={"width": 0}, fillcolor=f"rgba(0,114,178,{opacity})", hoverinfo="skip")


def last_year_frame(history: pl.DataFrame, measure: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """day, value: sales of ``day`` - 364 days, for the days ``first`` to ``last`` (weekdays line up)."""
    shifted = history.select((pl.col("day") + pl.duration(days=LAST_YEAR_DAYS)).alias("day"),
                             pl.col(measure).alias("value"))
    return shifted.filter((pl.col("day") >= first) & (pl.col("day") <= last)).sort("day")


def build_forecast_figure(history: pl.DataFrame, forecast: pl.DataFrame, measure: str, currency: str | None,
                          title: str, history_days: int = 120, since: dt.date | None = None) -> go.Figure:
    """``history``: ``compute_demand_history`` (day, units, revenue), the last ``history_days`` before the
    forecast are drawn, and a year before for the comparison line; ``forecast``: ``forecast_data.series``
    (day, mean, lo_80, hi_80, lo_95, hi_95). Revenue is in ``currency``. Days before ``since`` (the first day of
    data) are not drawn: no sales there means no data, not zero sales."""
    if measure not in MEASURE_WORDS:
        raise ValueError(f"unknown measure {measure!r}; use units or revenue")
    if since is not None:
        history = history.filter(pl.col("day") >= since)
    days = forecast["day"].to_list()
    first_fc = days[0] if days else None
    start = (first_fc or history["day"].max() or dt.date.today()) - dt.timedelta(days=history_days)
    past = history.filter((pl.col("day") >= start) & ((pl.col("day") < first_fc) if first_fc else True))
    end = days[-1] if days else (past["day"].max() if past.height else start)
    ly = last_year_frame(history, measure, start, end)
    fig = go.Figure()
    if days:
        for lv, opacity in ((95, 0.12), (80, 0.25)):
            fig.add_trace(_band(days, forecast[f"lo_{lv}"].to_list(), forecast[f"hi_{lv}"].to_list(),
                                NAMES[f"range_{lv}"], opacity))
    if ly.height:
        fig.add_trace(go.Scatter(x=ly["day"].to_list(), y=ly["value"].to_list(), name=NAMES["last_year"],
                                 mode="lines", line={"dash": "dot", "color": charts.PALETTE[7]}, hovertemplate=_HOVER))
    fig.add_trace(go.Scatter(x=past["day"].to_list(), y=past[measure].to_list(), name=NAMES["history"],
                             mode="lines", line={"color": charts.PALETTE[1]}, hovertemplate=_HOVER))
    if days:
        fig.add_trace(go.Scatter(x=days, y=forecast["mean"].to_list(), name=NAMES["forecast"], mode="lines",
                                 line={"color": charts.PALETTE[0], "width": 2.5}, hovertemplate=_HOVER))
        fig.add_shape(type="line", x0=first_fc.isoformat(), x1=first_fc.isoformat(), y0=0, y1=1, yref="paper",
                      line={"dash": "dash", "color": "grey"})  # where the forecast starts
    label = MEASURE_WORDS[measure] + " per day"
    fig.update_yaxes(title=plotly_text(f"{label} ({currency})" if measure == "revenue" and currency else label),
                     rangemode="tozero")
    return charts._layout(fig, title, height=420)
