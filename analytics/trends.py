"""Revenue and orders over time: daily with a comparison period, monthly or quarterly, weekday x hour.

Revenue and orders follow the definitions of ``analytics.facts`` (money in merchant currency; a
returned sale order leaves revenue on its order day, a credit note on its own day); orders are
non-cancelled sale orders in scope, dated by ``order_ts`` (merchant local time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts, frames, periods
from analytics import rollup_reads  # the daily trend reads the rollups
from analytics.filters import Filters
from data.access import DataAccess

GRAINS = {"month": "M", "quarter": "Q"}


def _by_time(access: DataAccess, f: Filters, *, full: bool = False,
             **keys: Callable[[ir.TimestampColumn], ir.Column]) -> ir.Table:
    """Revenue and orders per time key (each key a function of ``order_ts``); with ``full``, also
    sales and distinct customers (a distinct count per key costs, so only where it is shown)."""
    r = facts.revenue_lines(access, f)
    if f.categories:  # the same orders; lines read only within the period's order-id ranges (rollup_reads)
        o = rollup_reads.sale_orders_on(access, f, [(f.start, f.end)])
        o = o.filter(o.status != facts.CANCELLED)
    else:
        o = facts.placed_orders(access, f)
    line_measures = {"revenue": r.line_amount.sum(where=r.in_revenue)}
    order_measures = {"orders": o.count()}
    if full:
        line_measures["sales"] = r.line_amount.sum(where=r.is_sale)
        order_measures["customers"] = o.customer_id.nunique()
    lines = r.group_by(**{k: fn(r.order_ts) for k, fn in keys.items()}).aggregate(**line_measures)
    orders = o.group_by(**{k: fn(o.order_ts) for k, fn in keys.items()}).aggregate(**order_measures)
    return facts.stack([lines, orders], list(keys))


def _days(start: dt.date, end: dt.date) -> pl.Series:
    return pl.date_range(start, end, "1d", eager=True)


def compute_daily_trend(access: DataAccess, f: Filters, comparison: str = "previous", *,
                        rollups: bool = True) -> pl.DataFrame:
    """Revenue and orders per day of the period, beside the same day offset of a comparison period.

    ``comparison`` is ``"previous"`` (previous period of equal length) or ``"last_year"`` (364 days back,
    same weekday). Every day appears, with 0 when nothing sold. Columns: day (date), revenue (money),
    orders (count), comparison_day (date), comparison_revenue (money), comparison_orders (count).
    Sorted by day. Read from the daily rollups (``rollups=False``: from the base tables, for tests).
    """
    other = f.comparison(comparison)
    if rollups:  # both periods in one query (rollup_reads.by_days)
        both = rollup_reads.by_days(access, {"current": f, "comparison": other})
    else:
        both = ibis.union(*[_by_time(access, flt, day=lambda ts: ts.date()).mutate(period=ibis.literal(label))
                            for label, flt in (("current", f), ("comparison", other))], distinct=False)
    res = frames.normalise(access.to_polars(both), counts=("orders",))
    res = frames.zero_fill(res, ("revenue", "orders")).select("period", "day", "revenue", "orders")
    cur = pl.DataFrame({"day": _days(f.start, f.end)}).join(
        res.filter(pl.col("period") == "current").drop("period"), on="day", how="left")
    cmp = pl.DataFrame({"comparison_day": _days(other.start, other.end)}).join(
        res.filter(pl.col("period") == "comparison").drop("period").rename(
            {"day": "comparison_day", "revenue": "comparison_revenue", "orders": "comparison_orders"}),
        on="comparison_day", how="left")
    out = pl.concat([cur, cmp], how="horizontal")
    out = frames.zero_fill(out, ("revenue", "orders", "comparison_revenue", "comparison_orders"))
    return out.with_columns(pl.col("orders", "comparison_orders").cast(pl.Int64))


def compute_period_trend(access: DataAccess, f: Filters, grain: str = "month",
                         span: periods.DataSpan | None = None) -> pl.DataFrame:
    """Revenue per calendar month or quarter overlapping the period (edge ones partial).

    Columns: period_start (date: first day of the month or quarter), revenue (money), orders (count),
    customers (count of distinct known customers), average_order_value (money: sales / orders, null
    without orders), days, covered_days and partial (``periods.mark_partial_periods``: a month cut by the
    selected period or by the data's start or end, e.g. still in progress). ``span``: the scope's
    ``periods.compute_data_span`` when the caller has it (cached), else it is read here.
    Only periods with activity appear. Sorted by period_start.
    """
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")
    unit = GRAINS[grain]
    res = access.to_polars(_by_time(access, f, full=True, period_start=lambda ts: ts.truncate(unit).date()))
    res = frames.normalise(res, counts=("orders", "customers"))
    res = frames.zero_fill(res, ("revenue", "sales"))
    res = res.select(
        "period_start", "revenue", "orders", "customers",
        frames.ratio("sales", "orders").alias("average_order_value"),
    )
    if span is None:
        span = periods.compute_data_span(access)
    return periods.mark_partial_periods(frames.sort(res, ["period_start"]), grain, f, span)


def compute_weekday_hour(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Orders and revenue by weekday and hour of day (merchant local time), all 7 x 24 cells.

    Columns: weekday (Int8, 0 = Monday .. 6 = Sunday), hour (Int8, 0..23), orders (count),
    revenue (money). Sorted by weekday, hour.
    """
    expr = _by_time(access, f, weekday=lambda ts: ts.day_of_week.index(), hour=lambda ts: ts.hour())
    res = frames.normalise(access.to_polars(expr), counts=("orders",))
    res = res.select(pl.col("weekday").cast(pl.Int8), pl.col("hour").cast(pl.Int8), "orders", "revenue")
    grid = pl.DataFrame({"weekday": list(range(7))}, schema={"weekday": pl.Int8}).join(
        pl.DataFrame({"hour": list(range(24))}, schema={"hour": pl.Int8}), how="cross")
    out = grid.join(res, on=["weekday", "hour"], how="left")
    out = frames.zero_fill(out, ("orders", "revenue")).with_columns(pl.col("orders").cast(pl.Int64),
                                                                    pl.col("revenue").cast(pl.Float64))
    return frames.sort(out, ["weekday", "hour"])
