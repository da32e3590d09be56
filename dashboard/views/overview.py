"""Overview: the period's headline KPIs with their changes, and the daily trend beside a comparison period.

Drill-down: click a day on the trend (or pick it in "Drill into a day") to list that day's orders; the lost-sales
card's toggle lists the products that ran out.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from analytics.events import events_in_period
from analytics.periods import comparison_coverage, history_start, mask_uncovered_comparison, period_coverage
from dashboard import charts, drill, lost_sales, tables, widgets
from dashboard.context import guard
from dashboard.downloads import file_stem
from dashboard.formatting import build_kpi_cards, shifted_comparison_line
from dashboard.pagedata import PageData
from dashboard.plain_text import markdown_text

COMPARISONS = {"previous": "Previous period", "last_year": "Same period last year", "event": "Same event last year"}
DAY = drill.Drill("ov_day", "Whole period", "Drill into a day")

ctx = guard("overview")
st.title("Overview")
top = widgets.render_page_top(ctx)
money = widgets.render_currency_scope(ctx)
data = PageData(ctx, money.merchant_ids)
limits = data.limits()
span = data.span()
f = ctx.filters
st.caption(f"{f.start:%d %b %Y} to {f.end:%d %b %Y} ({f.days} days). Arrows compare with the previous {f.days} "
           "days; \"last year\" with the same days 52 weeks earlier (so weekdays line up).")

widgets.render_limits(limits, "orders")
kpis = data.get("kpi_comparison")
widgets.render_kpi_cards(build_kpi_cards(kpis, money.currency, limits, comparison_coverage(f, span),
                                         history_start(f, span)))
widgets.render_limits(limits, "conversion", "repeat", "margin")
lost_sales.render_lost_sales(ctx.data_version, money, f)

st.subheader("Trend")
left, right = st.columns(2)
events = {f"{e.key}@{e.day}": e for e in events_in_period(f.start, f.end, money.countries)}
offered = [c for c in COMPARISONS if c != "event" or events]  # only when the period holds an event
comparison = left.radio("Compare with", offered, format_func=COMPARISONS.get, horizontal=True, key="ov_comparison",
                        help="Same event last year: the period moved so last year's event day lines up with "
                             "this year's (Easter, Black Friday week, Christmas, public holidays).")
metric = right.radio("Show", list(charts.METRIC_LABELS), format_func=charts.METRIC_LABELS.get, horizontal=True,
                     key="ov_metric")
kind, label = comparison, COMPARISONS[comparison]
if comparison == "event":
    event = events[st.selectbox("Event to line up", list(events), format_func=lambda k: events[k].label,
                                key="ov_event")]
    kind, label = event.shift_days, f"{event.name} {event.last_year_day.year}"
other = f.comparison(kind)
if comparison == "event":
    st.caption(f"Against {other.start:%d %b %Y} to {other.end:%d %b %Y} ({-kind} days earlier, so "
               f"{event.last_year_day:%d %b %Y} lines up with {event.day:%d %b %Y}): "
               + shifted_comparison_line(data.get("kpi_shifted", shift=kind),
                                         period_coverage(other.start, other.end, span)))
covered = period_coverage(other.start, other.end, span)
if not covered.complete:  # the line is drawn only where the data reaches (see mask_uncovered_comparison)
    outside = f" outside the data ({span.first:%d %b %Y} to {span.last:%d %b %Y})" if span else ""
    st.caption(f"Comparison line ({label}): {covered.describe()}; the days{outside} are left out of it.")
daily = mask_uncovered_comparison(data.get("daily_trend", comparison=kind), span)
days = daily["day"].to_list()
day = drill.render_picker(DAY, days, drill.format_day)
chart_box, detail_box = drill.detail_beside(day)  # the day's orders beside the trend that was clicked
with chart_box:
    widgets.render_chart(
        charts.build_trend_figure(daily, metric, label, money.currency, highlight=day), "ov_trend", daily,
        data.rows("lines"), file_stem("daily", f.start, f.end), on_select=drill.chart_callback(DAY, "ov_trend", days))

if day is not None:
    with detail_box:
        st.subheader("Orders of the day")
        drill.render_breadcrumb(DAY, day, drill.format_day)
        orders = data.get("day_orders", day=day, limit=None)
        st.caption(f"{orders.height:,} order documents (sales, returns and adjustments, any status); revenue is "
                   f"what each adds to the day's revenue, in {markdown_text(money.currency)}.")
        tables.render_dataframe(orders, money.currency)
        widgets.render_rows_behind("ov_day_orders", orders, data.rows("lines", replace(f, start=day, end=day)),
                                   file_stem("orders", day), show_table=False)

widgets.render_freshness(top, ctx, data)
