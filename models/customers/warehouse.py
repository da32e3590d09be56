"""The scoring inputs aggregated inside the warehouse: ``features.compute_features`` and
``features.compute_summary`` as one ibis query each, so a rescore of every customer reads one row per
customer instead of every purchase (868,000 rows instead of 7.9M at the 10M-order size), and the summary
only when the BG/NBD baseline won a backtest.

The definitions are those of ``features`` (same purchases, same cutoff rule, same null handling: a share
averages the rows with a known value, ``stores`` counts a missing store as one more, a gap's deviation is
the sample deviation); tests check both paths agree on the demo warehouse.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from data.access import DataAccess
from models.customers import features

F64 = "float64"


def last_day(access: DataAccess, until: dt.date | None = None) -> dt.date | None:
    """The last purchase day in scope (before ``until`` when given), or None without purchases."""
    value = access.scalar(features.purchases_expr(access, until).day.max())
    return None if value is None else (value.date() if isinstance(value, dt.datetime) else value)


def _flag(cond: ibis.BooleanValue) -> ibis.FloatingValue:
    return cond.cast(F64)


def _days(access: DataAccess, cutoff: dt.date) -> ibis.Table:
    """Purchases before ``cutoff`` (customer_id, day, spend) with ``gap``: days since the customer's previous
    purchase day on the first purchase of each later day, null otherwise (same day again, or the first day).
    One sorted pass over a narrow projection: grouping by customer and day first was 3-4x slower."""
    n = features.purchases_expr(access, cutoff).select("customer_id", "day", "spend")
    w = ibis.window(group_by=n.customer_id, order_by=n.day)
    n = n.mutate(step=n.day.delta(n.day.lag().over(w), unit="day").cast(F64), first_day=n.day.first().over(w))
    return n.mutate(gap=ibis.ifelse(n.step > 0, n.step, ibis.null(F64)))


def compute_features(access: DataAccess, cutoff: dt.date) -> pl.DataFrame:
    """``features.compute_features`` at ``cutoff`` for every customer in scope with a purchase before it,
    sorted by customer_id."""
    p = features.purchases_expr(access, cutoff)
    age = ibis.literal(cutoff).delta(p.day, unit="day").cast(F64)  # 1 for the day before the cutoff
    p = p.mutate(age=age)
    in_w = {w: p.age <= w for w in features.WINDOWS}
    prev_90 = (p.age > 90) & (p.age <= 180)
    per = p.group_by("customer_id").aggregate(
        recency_days=p.age.min(), tenure_days=p.age.max(), orders=p.count().cast(F64),
        spend=p.spend.sum(), max_spend=p.spend.max(),
        **{f"orders_{w}": _flag(in_w[w]).sum() for w in features.WINDOWS},
        orders_prev_90=_flag(prev_90).sum(),
        spend_90=in_w[90].ifelse(p.spend, 0.0).sum(), spend_365=in_w[365].ifelse(p.spend, 0.0).sum(),
        spend_prev_90=prev_90.ifelse(p.spend, 0.0).sum(),
        **{f"share_{c}": _flag(p.channel == c).mean() for c in features.CHANNELS},
        discount_sum=p.discount.sum(), gross_sum=p.gross.sum(),
        promo_share=_flag(p.promo).mean(), returned_share=_flag(p.returned).mean(),
    )
    d = _days(access, cutoff)
    # The last gap is the one on the latest day. ibis compiles argmax to an ordered aggregate (10x slower
    # here), so the day and the gap are packed into one number whose maximum is the latest day's gap:
    # day number x 100,000 + gap (a gap is under 100,000 days; the product stays exact in a double).
    day_number = d.day.delta(ibis.literal(dt.date(1970, 1, 1)), unit="day").cast(F64)
    packed = (day_number * 100_000 + d.gap).max()
    gaps = d.group_by("customer_id").aggregate(
        purchase_days=(d.gap.count() + 1).cast(F64), mean_gap_days=d.gap.mean(), gap_sd_days=d.gap.std(),
        last_gap_days=packed - (packed / 100_000).floor() * 100_000)
    # Stores apart: COUNT(DISTINCT) beside the other aggregates took 11 s instead of 0.4 s at 10M orders.
    # Counting distinct (customer, store) pairs counts a missing store as one more, as polars' n_unique does.
    pairs = p.select("customer_id", "store_id").distinct()
    stores = pairs.group_by("customer_id").aggregate(stores=pairs.count().cast(F64))
    out = access.to_polars(per.join(gaps, "customer_id").join(stores, "customer_id")).sort("customer_id")
    out = out.with_columns(discount_share=pl.col("discount_sum") / pl.col("gross_sum"),
                           mean_spend=pl.col("spend") / pl.col("orders"),
                           recency_over_gap=pl.col("recency_days") / pl.col("mean_gap_days"))
    return out.select("customer_id", *[pl.col(n).cast(pl.Float64) for n in features.FEATURE_NAMES])


def compute_summary(access: DataAccess, cutoff: dt.date) -> pl.DataFrame:
    """``features.compute_summary`` at ``cutoff`` (the BG/NBD and Gamma-Gamma inputs, weeks), sorted by
    customer_id; only needed when the baseline won a backtest."""
    d = _days(access, cutoff)
    per = d.group_by("customer_id").aggregate(
        frequency=d.gap.count().cast(F64), first_day=d.first_day.min(), last_day=d.day.max(),
        spend=d.spend.sum(), first_spend=d.spend.sum(where=d.day == d.first_day))
    out = access.to_polars(per).sort("customer_id")
    return out.select(
        "customer_id", "frequency",
        recency=(pl.col("last_day") - pl.col("first_day")).dt.total_days().cast(pl.Float64) / 7.0,
        T=(pl.lit(cutoff - dt.timedelta(days=1)) - pl.col("first_day")).dt.total_days().cast(pl.Float64) / 7.0,
        monetary=pl.when(pl.col("frequency") > 0)
        .then((pl.col("spend") - pl.col("first_spend")) / pl.col("frequency")).otherwise(0.0))
