"""Demand, not sales: a day a product was out of stock is censored, and its demand is estimated.

On a censored day (the product ended the day with nothing on hand) the sales are a floor of demand:
customers who came later found nothing. Its demand is estimated as the product's typical demand around
that day ("typical"): the mean of its uncensored days within ``WINDOW`` days either side, scaled by the
weekday pattern of its category. A day with no stock all day lost its typical demand; a day that sold out
(some sales, then nothing on hand) lost about a typical day's demand on top of what it sold, because the
demand that arrives after the shelf empties does not depend on how much came before (Poisson arrivals).
Checked against the generator's planted lost units: within 10% on the demo warehouse.

Pure functions over the ``load_sku_days`` frame (see ``demand_data``), shared by the forecasts and by the
Overview "lost sales" card and its drill-down:

- ``compute_demand`` adds demand (units, float), lost_units (float) and lost_revenue (money);
- ``compute_lost_sales`` sums them per product over a period: product_id, category, stockout_days (int),
  lost_units, lost_revenue (merchant currency), sorted by lost revenue, largest first.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

WINDOW = 28  # days either side whose uncensored sales describe a censored day's demand


def compute_demand(sku_days: pl.DataFrame, window: int = WINDOW) -> pl.DataFrame:
    """``sku_days`` with demand, lost_units and lost_revenue (see module doc). Rows keep their order."""
    if sku_days.is_empty():
        return sku_days.with_columns(pl.lit(0.0).alias("demand"), pl.lit(0.0).alias("lost_units"),
                                     pl.lit(0.0).alias("lost_revenue"))
    df = sku_days.sort("product_id", "day").with_columns(
        pl.when(~pl.col("censored")).then(pl.col("units")).alias("_u"),
        (~pl.col("censored")).cast(pl.Float64).alias("_n"),
        pl.col("day").dt.weekday().alias("_wd"))
    # Weekday factor per category from uncensored days (a censored Saturday is not a typical Monday).
    wd = df.filter(~pl.col("censored")).group_by("category", "_wd").agg(pl.col("units").mean().alias("_m"))
    wd = wd.with_columns((pl.col("_m") / pl.col("_m").mean().over("category")).fill_nan(1.0).alias("_wf")) \
        .select("category", "_wd", "_wf")
    df = df.join(wd, on=["category", "_wd"], how="left").with_columns(pl.col("_wf").fill_null(1.0))
    size = 2 * window + 1
    df = df.with_columns(
        (pl.col("_u") / pl.col("_wf")).fill_null(0.0).alias("_ua"),
    ).with_columns(
        pl.col("_ua").rolling_sum(size, min_samples=1, center=True).over("product_id").alias("_s"),
        pl.col("_n").rolling_sum(size, min_samples=1, center=True).over("product_id").alias("_c"),
    )
    typical = pl.when(pl.col("_c") > 0).then(pl.col("_s") / pl.col("_c") * pl.col("_wf")).otherwise(pl.col("units"))
    unit_price = (pl.col("revenue").sum() / pl.col("units").sum()).over("product_id").fill_nan(0.0).fill_null(0.0)
    df = df.with_columns(
        pl.when(pl.col("censored") & (pl.col("units") > 0)).then(pl.col("units") + typical)
        .when(pl.col("censored")).then(typical).otherwise(pl.col("units")).alias("demand"), unit_price.alias("_p"))
    df = df.with_columns((pl.col("demand") - pl.col("units")).clip(lower_bound=0).alias("lost_units"))
    df = df.with_columns((pl.col("lost_units") * pl.col("_p")).alias("lost_revenue"))
    return df.drop("_u", "_n", "_wd", "_wf", "_ua", "_s", "_c", "_p")


def compute_lost_sales(demand: pl.DataFrame, start: dt.date | None = None, end: dt.date | None = None
                       ) -> pl.DataFrame:
    """Units and revenue lost to stock-outs per product between ``start`` and ``end`` (inclusive).

    ``demand``: the ``compute_demand`` frame. Returns product_id, category, stockout_days, lost_units,
    lost_revenue, only products with a stock-out day in the period, largest lost revenue first; the
    Overview card shows the column sums, its drill-down the rows.
    """
    d = demand
    if start is not None:
        d = d.filter(pl.col("day") >= start)
    if end is not None:
        d = d.filter(pl.col("day") <= end)
    out = d.filter(pl.col("censored")).group_by("product_id", "category").agg(
        pl.len().cast(pl.Int64).alias("stockout_days"), pl.col("lost_units").sum(), pl.col("lost_revenue").sum())
    return out.sort(["lost_revenue", "product_id"], descending=[True, False])
