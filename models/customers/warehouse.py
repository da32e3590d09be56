"""The scoring inputs aggregated inside the warehouse: ``features.compute_features`` and
``features.compute_summary`` as one ibis query each, so a rescore of every customer reads one row per
customer instead of every purchase (868,000 rows instead of 7.9M at the 10M-order size).

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


def compute_inputs(access: DataAccess, cutoff: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(features, summary) at ``cutoff`` for every customer in scope with a purchase before it: the frames
    ``features.compute_features`` and ``features.compute_summary`` return, sorted by customer_id."""
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
        stores=(p.store_id.nunique() + p.store_id.isnull().any().cast("int64")).cast(F64),
    )
    # Distinct purchase days with their spend: the gaps between them and the BG/NBD summary in one pass.
    daily = p.group_by("customer_id", "day").aggregate(day_spend=p.spend.sum())
    w = ibis.window(group_by=daily.customer_id, order_by=daily.day)
    daily = daily.mutate(gap=daily.day.delta(daily.day.lag().over(w), unit="day").cast(F64))
    days = daily.group_by("customer_id").aggregate(
        purchase_days=daily.count().cast(F64), mean_gap_days=daily.gap.mean(), gap_sd_days=daily.gap.std(),
        last_gap_days=daily.gap.argmax(daily.day), first_day=daily.day.min(), last_day=daily.day.max(),
        total_spend=daily.day_spend.sum(), first_spend=daily.day_spend.argmin(daily.day))
    frame = access.to_polars(per.join(days, "customer_id")).sort("customer_id")
    out = frame.with_columns(
        discount_share=pl.col("discount_sum") / pl.col("gross_sum"),
        mean_spend=pl.col("spend") / pl.col("orders"),
        recency_over_gap=pl.col("recency_days") / pl.col("mean_gap_days"))
    feats = out.select("customer_id", *[pl.col(n).cast(pl.Float64) for n in features.FEATURE_NAMES])
    last = cutoff - dt.timedelta(days=1)
    frequency = pl.col("purchase_days") - 1
    summary = out.select(
        "customer_id", frequency=frequency,
        recency=(pl.col("last_day") - pl.col("first_day")).dt.total_days().cast(pl.Float64) / 7.0,
        T=(pl.lit(last) - pl.col("first_day")).dt.total_days().cast(pl.Float64) / 7.0,
        monetary=pl.when(frequency > 0).then((pl.col("total_spend") - pl.col("first_spend")) / frequency)
        .otherwise(0.0))
    return feats, summary
