"""Past sales behind a demand forecast, and the names the Forecast page labels its series with.

Sales here are what the demand forecast learns from (``models.forecasting.demand_data``): units and money
(after line discounts, merchant currency) of merchandise lines on sale documents that were not cancelled,
returned or not (the demand happened), by order day. A series is one ``level`` and ``key`` of the forecast:
``total`` (key "total"), ``category`` (the category name; "(none)" for products without one), ``store`` (the
selling location's id, as text) or ``sku`` (the product id, as text).
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from analytics import facts, frames
from analytics.filters import Filters
from data.access import DataAccess

LEVELS = ("total", "category", "store", "sku")
NO_CATEGORY = "(none)"  # the forecast's name for products without a category (demand_data.NO_CATEGORY)


def _series_condition(access: DataAccess, r: ibis.Table, level: str, key: str) -> ibis.Expr | None:
    if level == "total":
        return None
    if level == "category":
        if key == NO_CATEGORY:
            return r.category.isnull() | (r.category.strip() == "")
        return access.equals(r.category, key)
    if level in ("store", "sku"):
        try:
            number = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"a {level} key is a number, got {key!r}") from None
        return access.isin(r.store_id if level == "store" else r.product_id, [number])
    raise ValueError(f"unknown forecast level {level!r}; use one of {', '.join(LEVELS)}")


Skip = tuple[dt.date, dt.date] | None  # first and last day of a stretch inside the period that is not read


def _daily(access: DataAccess, f: Filters, level: str = "total", key: str = "total", by: str | None = None,
           skip: Skip = None):
    r = facts.revenue_lines(access, Filters(f.start, f.end))
    r = r.filter(r.is_sale)
    if skip is not None:
        r = r.filter(~facts.in_period(r.order_ts, *skip))
    cond = _series_condition(access, r, level, key)
    if cond is not None:
        r = r.filter(cond)
    keys = {"day": r.order_ts.date()}
    if by == "category":
        blank = r.category.isnull() | (r.category.strip() == "")
        keys["key"] = ibis.ifelse(blank, ibis.literal(NO_CATEGORY), r.category)
    elif by == "store":
        keys["key"] = r.store_id.cast("string")
    elif by is not None:
        raise ValueError(f"sales are grouped by category or store, not {by!r}")
    out = access.to_polars(r.group_by(**keys).aggregate(units=r.quantity.sum(), revenue=r.line_amount.sum()))
    return frames.normalise(out).with_columns(pl.col("day").cast(pl.Date), pl.col("units").cast(pl.Float64),
                                              pl.col("revenue").cast(pl.Float64))


def every_day(f: Filters, daily: pl.DataFrame, skip: Skip = None) -> pl.DataFrame:
    """day, units, revenue for every day of ``f`` outside ``skip`` (sums of ``daily``'s rows per day; 0 on days
    without any)."""
    per_day = daily.group_by("day").agg(pl.col("units").sum(), pl.col("revenue").sum())
    days = pl.DataFrame({"day": pl.date_range(f.start, f.end, "1d", eager=True)})
    if skip is not None:
        days = days.filter((pl.col("day") < skip[0]) | (pl.col("day") > skip[1]))
    out = days.join(per_day, on="day", how="left")
    return frames.zero_fill(out, ("units", "revenue")).select("day", "units", "revenue").sort("day")


def compute_demand_history(access: DataAccess, f: Filters, level: str = "total", key: str = "total",
                           skip: Skip = None) -> pl.DataFrame:
    """Daily sales of one forecast series from ``f.start`` to ``f.end`` (every day, 0 when nothing sold), leaving
    out the days of ``skip`` (not read: a chart of recent weeks and the same weeks last year needs no months between).

    Only the period of ``f`` applies (the sidebar's other filters do not shape a forecast). Columns: day (date),
    units (float, units sold), revenue (float, money of those lines, merchant currency). Sorted by day.
    """
    return every_day(f, _daily(access, f, level, key, skip=skip), skip)


def compute_demand_history_by(access: DataAccess, f: Filters, by: str = "category", skip: Skip = None) -> pl.DataFrame:
    """Daily sales per category (key: its name, "(none)" without one) or per selling location (key: store id as
    text) from ``f.start`` to ``f.end``: day, key, units, revenue, only days and keys that sold. One query serves
    the whole shop and every category (or store) of a forecast: ``every_day`` on its rows, or on one key's.
    ``skip``: as for ``compute_demand_history``."""
    return _daily(access, f, by=by, skip=skip).select("day", "key", "units", "revenue")


def compute_forecast_labels(access: DataAccess, f: Filters) -> dict[str, pl.DataFrame]:
    """Names for the forecast's keys, in scope: ``products`` (product_id, sku, product_name, category) of every
    merchandise product, ``stores`` (store_id, store_name, region) of every location. ``f`` is not used (a
    name does not depend on the period); it is there because every dashboard query takes filters."""
    p = access.table("products")
    s = access.table("stores")
    products = access.to_polars(p.filter(p.is_merchandise).select(
        "product_id", "sku", product_name=p.name, category=p.category).order_by("product_id"))
    stores = access.to_polars(s.select("store_id", store_name=s.name, region=s.region).order_by("store_id"))
    return {"products": products, "stores": stores}


def history_window(last_day: dt.date, days: int, ahead: int = 90, last_year_days: int = 364) -> tuple[Filters, Skip]:
    """What to read for a chart of ``days`` days of sales up to ``last_day``, then up to ``ahead`` forecast days,
    with the sales of the same weekdays ``last_year_days`` earlier under all of it: the period, and the stretch
    between the two that nobody draws (None when they touch)."""
    start = last_day - dt.timedelta(days=days - 1)
    year_end = last_day + dt.timedelta(days=ahead - last_year_days)
    period = Filters(start - dt.timedelta(days=last_year_days), last_day)
    gap = (year_end + dt.timedelta(days=1), start - dt.timedelta(days=1))
    return period, (gap if gap[0] <= gap[1] else None)
