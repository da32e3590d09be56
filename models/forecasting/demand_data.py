"""What the demand forecasts read: SKU-day sales with stock state, scheduled promotions, the calendar.

Every read goes through ``data.access`` (scoped, bound values), so it runs on DuckDB and Spark alike.

Frames returned (all polars, one merchant's scope or several):

- ``load_sku_days``: one row per product and day from the product's first sale (or first stock row) to
  the last day of data: product_id (int), category (str, "(none)" when empty), day (date),
  units (float, units sold on sale documents that day, returned or not: demand happened),
  revenue (float, money of those lines after discounts, merchant currency),
  censored (bool: the product ended the day with nothing on hand at a location that stocks it, so
  the day's sales are a floor of its demand, not its demand).
- ``load_store_days``: unique_id ("store/<store_id>/units|revenue"), ds, y: daily sales per selling location.
- ``load_location_shares``: product_id, store_id, share: how a product's units split over the locations
  that hold its stock (inventory_daily, last 91 days; 1.0 at a merchant's one stock location).
- ``load_promotions``: start_date, end_date, discount_pct, category (null: whole catalogue), every
  promotion in scope including those scheduled after the last day of data.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from analytics import facts
from analytics.filters import Filters
from data.access import DataAccess

NO_CATEGORY = "(none)"


def data_bounds(access: DataAccess) -> tuple[dt.date, dt.date] | None:
    """First and last order day in scope, or None without orders."""
    o = access.table("orders")
    b = access.to_polars(o.aggregate(first=o.order_ts.min(), last=o.order_ts.max()))
    if b["first"][0] is None:
        return None
    return b["first"][0].date(), b["last"][0].date()


def load_sku_days(access: DataAccess, bounds: tuple[dt.date, dt.date]) -> pl.DataFrame:
    """SKU-day units, revenue and the censored flag (see module doc)."""
    first, last = bounds
    r = facts.revenue_lines(access, Filters(first, last))
    r = r.filter(r.is_sale)
    sales = access.to_polars(r.group_by(product_id=r.product_id, day=r.order_ts.date()).aggregate(
        units=r.quantity.sum(), revenue=r.line_amount.sum()))
    inv = access.table("inventory_daily")
    inv = inv.filter(inv.day >= first, inv.day <= last)
    stock = access.to_polars(inv.group_by(product_id=inv.product_id, day=inv.day).aggregate(
        censored=(inv.on_hand == 0).any()))
    p = access.table("products")
    prods = access.to_polars(p.filter(p.is_merchandise).select("product_id", "category"))
    prods = prods.with_columns(pl.when(pl.col("category").fill_null("").str.strip_chars() == "")
                               .then(pl.lit(NO_CATEGORY)).otherwise(pl.col("category")).alias("category"))
    sales = sales.with_columns(pl.col("day").cast(pl.Date), pl.col("units").cast(pl.Float64),
                               pl.col("revenue").cast(pl.Float64))
    stock = stock.with_columns(pl.col("day").cast(pl.Date))
    starts = pl.concat([sales.select("product_id", "day"), stock.select("product_id", "day")]) \
        .group_by("product_id").agg(pl.col("day").min().alias("start"))
    starts = starts.join(prods, on="product_id", how="inner").with_columns(pl.col("product_id").cast(pl.Int64)) \
        .sort("product_id")
    if starts.is_empty():
        return pl.DataFrame(schema={"product_id": pl.Int64, "category": pl.Utf8, "day": pl.Date,
                                    "units": pl.Float64, "revenue": pl.Float64, "censored": pl.Boolean})
    # The grid holds each product's days from its start to the last day, in (product, day) order, so a
    # (product, day)'s row number is its product's first row plus the days since its start: sales and stock
    # are placed by that number instead of joined on (product, day) (a fifth of the time on millions of rows).
    grid = starts.with_columns(pl.date_ranges(pl.col("start"), pl.lit(last), "1d").alias("day")).explode("day")
    pids = starts["product_id"].to_numpy()
    begin = starts["start"].cast(pl.Int32).to_numpy().astype(np.int64)
    lengths = np.int64((last - dt.date(1970, 1, 1)).days) - begin + 1
    first_row = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    def place(frame: pl.DataFrame, column: str, fill) -> np.ndarray:
        out = np.full(grid.height, fill, dtype=np.asarray(fill).dtype)
        pid = frame["product_id"].cast(pl.Int64).to_numpy()
        i = np.minimum(np.searchsorted(pids, pid), pids.size - 1)
        offset = frame["day"].cast(pl.Int32).to_numpy() - begin[i]
        keep = (pids[i] == pid) & (offset >= 0) & (offset < lengths[i])  # non-merchandise products have no row
        out[(first_row[i] + offset)[keep]] = frame[column].fill_null(fill).to_numpy()[keep]
        return out

    return grid.select("product_id", "category", "day").with_columns(
        pl.Series("units", place(sales, "units", 0.0)), pl.Series("revenue", place(sales, "revenue", 0.0)),
        pl.Series("censored", place(stock, "censored", False)))


def load_store_days(access: DataAccess, bounds: tuple[dt.date, dt.date]) -> pl.DataFrame:
    """Daily units and revenue per selling location, long format (see module doc)."""
    first, last = bounds
    r = facts.revenue_lines(access, Filters(first, last))
    r = r.filter(r.is_sale, r.store_id.notnull())
    daily = access.to_polars(r.group_by(store_id=r.store_id, ds=r.order_ts.date()).aggregate(
        units=r.quantity.sum(), revenue=r.line_amount.sum()))
    if daily.is_empty():
        return pl.DataFrame(schema={"unique_id": pl.Utf8, "ds": pl.Date, "y": pl.Float64})
    days = pl.DataFrame({"ds": pl.date_range(first, last, "1d", eager=True)})
    stores = daily.select("store_id").unique()
    grid = stores.join(days, how="cross")
    wide = grid.join(daily.with_columns(pl.col("ds").cast(pl.Date)), on=["store_id", "ds"], how="left").fill_null(0)
    long = wide.unpivot(index=["store_id", "ds"], on=["units", "revenue"], variable_name="measure", value_name="y")
    return long.select(
        pl.format("store/{}/{}", pl.col("store_id"), pl.col("measure")).alias("unique_id"), "ds",
        pl.col("y").cast(pl.Float64)).sort("unique_id", "ds")


def load_location_shares(access: DataAccess, last: dt.date, days: int = 91) -> pl.DataFrame:
    """Share of each product's units sold from each stock location over the last ``days`` days."""
    inv = access.table("inventory_daily")
    inv = inv.filter(inv.day > last - dt.timedelta(days=days), inv.day <= last)
    per = access.to_polars(inv.group_by(product_id=inv.product_id, store_id=inv.store_id)
                           .aggregate(sold=inv.units_sold.sum(), rows=inv.count()))
    if per.is_empty():
        return pl.DataFrame(schema={"product_id": pl.Int64, "store_id": pl.Int64, "share": pl.Float64})
    # A location that sold nothing still stocks the product: it gets an even share of a tiny floor.
    per = per.with_columns((pl.col("sold").cast(pl.Float64) + 0.01).alias("w"))
    per = per.with_columns((pl.col("w") / pl.col("w").sum().over("product_id")).alias("share"))
    return per.select(pl.col("product_id").cast(pl.Int64), pl.col("store_id").cast(pl.Int64), "share")


def load_promotions(access: DataAccess) -> pl.DataFrame:
    """Every promotion in scope, past and scheduled (see module doc)."""
    p = access.table("promotions")
    out = access.to_polars(p.select("start_date", "end_date", "discount_pct", "category"))
    return out.with_columns(pl.col("start_date").cast(pl.Date), pl.col("end_date").cast(pl.Date),
                            pl.col("discount_pct").cast(pl.Float64))


def load_country(access: DataAccess) -> str | None:
    """The merchant's country (ISO alpha-2) when one merchant is in scope, else None."""
    m = access.to_polars(access.table("merchants").select("country"))
    return m["country"][0] if m.height == 1 else None


def promo_calendar(promotions: pl.DataFrame, categories: list[str], first: dt.date, last: dt.date) -> pl.DataFrame:
    """day, category, discount_pct: the deepest discount running per category and day (0 without one)."""
    days = pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)})
    grid = days.join(pl.DataFrame({"category": categories}, schema={"category": pl.Utf8}), how="cross")
    if promotions.is_empty():
        return grid.with_columns(pl.lit(0.0).alias("discount_pct"))
    spans = promotions.with_columns(pl.date_ranges("start_date", "end_date", "1d").alias("day")).explode("day")
    whole = spans.filter(pl.col("category").is_null()).group_by("day").agg(pl.col("discount_pct").max().alias("all"))
    by_cat = spans.filter(pl.col("category").is_not_null()).group_by("day", "category").agg(
        pl.col("discount_pct").max().alias("cat"))
    out = grid.join(whole, on="day", how="left").join(by_cat, on=["day", "category"], how="left")
    return out.select("day", "category", pl.max_horizontal(pl.col("all").fill_null(0.0),
                                                           pl.col("cat").fill_null(0.0)).alias("discount_pct"))


def calendar_features(days: pl.Series | list[dt.date], country: str | None) -> pl.DataFrame:
    """day, holiday (1.0 on the country's public holidays), payday (1.0 on the last two and first day of a month)."""
    import holidays as hol

    frame = pl.DataFrame({"day": days}, schema={"day": pl.Date}).unique().sort("day")
    names: set[dt.date] = set()
    if country and frame.height:
        try:
            cal = hol.country_holidays(country, years=range(frame["day"].min().year, frame["day"].max().year + 1))
            names = set(cal.keys())
        except NotImplementedError:  # a country `holidays` does not know: no holiday feature
            names = set()
    last_dom = pl.col("day").dt.month_end().dt.day()
    return frame.with_columns(
        pl.col("day").is_in(list(names)).cast(pl.Float64).alias("holiday"),
        ((pl.col("day").dt.day() >= last_dom - 1) | (pl.col("day").dt.day() == 1)).cast(pl.Float64).alias("payday"))
