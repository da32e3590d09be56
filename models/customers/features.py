"""Per-customer purchase history, the features known at a cutoff day and the labels of the days after it.

A *purchase* is a non-cancelled sale order of a known customer (guest checkouts have no customer). Its
*spend* is what the customer paid for the goods: gross minus discounts, before shipping, merchant
currency; an order sent back (``status = returned``) is a purchase with no spend. Credit notes are not
subtracted (the schema does not tie them to a sale).

Time is split at a cutoff day ``c``: features use purchases on days before ``c`` only; labels count the
purchases on ``c`` .. ``c + h - 1`` for each horizon ``h`` in days. Every customer with a purchase before ``c``
gets a row; customers who never bought are not scored.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from data.access import DataAccess

CHANNELS = ("web", "app", "store", "marketplace")
WINDOWS = (30, 90, 180, 365)
FEATURE_NAMES: tuple[str, ...] = (
    "recency_days", "tenure_days", "orders", "purchase_days", "spend", "mean_spend", "max_spend",
    *(f"orders_{w}" for w in WINDOWS), "orders_prev_90", "spend_90", "spend_365", "spend_prev_90",
    "mean_gap_days", "gap_sd_days", "last_gap_days", "recency_over_gap",
    *(f"share_{c}" for c in CHANNELS), "discount_share", "promo_share", "returned_share", "stores",
)
PURCHASE_COLUMNS = ("customer_id", "day", "spend", "gross", "discount", "channel", "promo", "returned", "store_id")


def load_purchases(access: DataAccess, until: dt.date | None = None) -> pl.DataFrame:
    """Purchases in scope (days before ``until`` when given), one row per order: customer_id, day (date),
    spend (money, float), gross (money before discounts), discount (money), channel, promo (bool: a
    promotion applied), returned (bool), store_id. Sorted by customer_id, day."""
    return access.to_polars(purchases_expr(access, until)).sort("customer_id", "day")


def purchases_expr(access: DataAccess, until: dt.date | None = None) -> ibis.Table:
    """The ``load_purchases`` rows as an ibis expression (unsorted), for queries that aggregate in the warehouse."""
    o = access.table("orders")
    o = o.filter(o.order_type == "sale", o.status != "cancelled", o.customer_id.notnull())
    if until is not None:
        o = o.filter(o.order_ts < ibis.literal(dt.datetime.combine(until, dt.time()), type="timestamp"))
    goods = ibis.coalesce(o.gross_amount - o.discount_amount, o.net_amount - ibis.coalesce(o.shipping_amount, 0), 0)
    returned = o.status == "returned"
    return o.select(
        customer_id=o.customer_id.cast("int64"),
        day=o.order_ts.date(),
        spend=returned.ifelse(0, goods).cast("float64"),
        gross=ibis.coalesce(o.gross_amount, goods).cast("float64"),
        discount=ibis.coalesce(o.discount_amount, 0).cast("float64"),
        channel=o.channel,
        promo=o.promotion_id.notnull(),
        returned=returned,
        store_id=o.store_id,
    )


def _days(a: pl.Expr, b: dt.date) -> pl.Expr:
    return (pl.lit(b) - a).dt.total_days().cast(pl.Float64)


def _sorted(purchases: pl.DataFrame) -> pl.DataFrame:
    """The purchases sorted by customer_id then day (as ``load_purchases`` returns them), flagged so that
    grouping by customer runs over sorted keys."""
    key = purchases["customer_id"]
    ordered = key.is_sorted() and purchases.select(
        ((pl.col("customer_id") != pl.col("customer_id").shift(1)) | (pl.col("day") >= pl.col("day").shift(1)))
        .fill_null(True).all()).item()
    out = purchases if ordered else purchases.sort("customer_id", "day")
    return out.with_columns(pl.col("customer_id").set_sorted())


def compute_features(purchases: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    """One row per customer with a purchase before ``cutoff``: customer_id and ``FEATURE_NAMES`` (days,
    counts, money in the merchant's currency, shares 0..1). Only purchases before ``cutoff`` are read."""
    # Lazy, with the per-row flags computed once: 868,000 customers' 7.9M purchases in a few seconds.
    age = _days(pl.col("day"), cutoff)  # 1 for the day before the cutoff
    p = _sorted(purchases).lazy().filter(pl.col("day") < cutoff).with_columns(
        age=age, **{f"in_{w}": (age <= w).cast(pl.Float64) for w in WINDOWS},
        prev_90=((age > 90) & (age <= 180)).cast(pl.Float64),
        **{f"is_{c}": (pl.col("channel") == c).cast(pl.Float64) for c in CHANNELS})
    per = p.group_by("customer_id").agg(
        recency_days=pl.col("age").min(), tenure_days=pl.col("age").max(), orders=pl.len().cast(pl.Float64),
        spend=pl.col("spend").sum(), max_spend=pl.col("spend").max(),
        *[pl.col(f"in_{w}").sum().alias(f"orders_{w}") for w in WINDOWS],
        orders_prev_90=pl.col("prev_90").sum(),
        spend_90=(pl.col("spend") * pl.col("in_90")).sum(), spend_365=(pl.col("spend") * pl.col("in_365")).sum(),
        spend_prev_90=(pl.col("spend") * pl.col("prev_90")).sum(),
        *[pl.col(f"is_{c}").mean().alias(f"share_{c}") for c in CHANNELS],
        discount_share=pl.col("discount").sum() / pl.col("gross").sum(),
        promo_share=pl.col("promo").mean(), returned_share=pl.col("returned").mean(),
        stores=pl.col("store_id").n_unique().cast(pl.Float64),
    )
    # Gaps between distinct purchase days: how regular a buyer is, and how overdue the next purchase is.
    same = pl.col("customer_id") == pl.col("customer_id").shift(1)
    first_of_day = (~same | (pl.col("day") != pl.col("day").shift(1))).fill_null(True)  # rows come sorted
    days = p.select("customer_id", "day").filter(first_of_day)
    gaps = days.with_columns(gap=pl.when(same).then((pl.col("day") - pl.col("day").shift(1)).dt.total_days()))
    gaps = gaps.group_by("customer_id").agg(
        purchase_days=pl.len().cast(pl.Float64), mean_gap_days=pl.col("gap").mean().cast(pl.Float64),
        gap_sd_days=pl.col("gap").std().cast(pl.Float64), last_gap_days=pl.col("gap").last().cast(pl.Float64))
    out = per.join(gaps, on="customer_id", how="left").with_columns(
        mean_spend=pl.col("spend") / pl.col("orders"),
        recency_over_gap=pl.col("recency_days") / pl.col("mean_gap_days"))
    return out.select("customer_id", *[pl.col(n).cast(pl.Float64) for n in FEATURE_NAMES]).sort("customer_id").collect()


def compute_labels(purchases: pl.DataFrame, cutoff: dt.date, horizons: tuple[int, ...]) -> pl.DataFrame:
    """customer_id (every buyer before ``cutoff``), and per horizon h: y_orders_h (count) and y_spend_h (money)
    of the purchases on ``cutoff`` .. ``cutoff + h - 1``; y_churn_90 (bool: no purchase in the first 90 days)."""
    known = purchases.filter(pl.col("day") < cutoff).select("customer_id").unique()
    after = purchases.filter(pl.col("day") >= cutoff)
    offset = (pl.col("day") - pl.lit(cutoff)).dt.total_days()
    sums = after.group_by("customer_id").agg(
        *[(offset < h).sum().cast(pl.Float64).alias(f"y_orders_{h}") for h in horizons],
        *[pl.col("spend").filter(offset < h).sum().alias(f"y_spend_{h}") for h in horizons],
        y_churn_90=(offset < 90).sum() == 0)
    out = known.join(sums, on="customer_id", how="left")
    return out.with_columns(pl.col(f"y_{k}_{h}").fill_null(0.0) for k in ("orders", "spend") for h in horizons
                            ).with_columns(pl.col("y_churn_90").fill_null(True)).sort("customer_id")


def compute_summary(purchases: pl.DataFrame, cutoff: dt.date) -> pl.DataFrame:
    """The BG/NBD and Gamma-Gamma summary at ``cutoff``, in weeks: customer_id, frequency (purchase days after
    the first), recency (weeks from the first to the last purchase day), T (weeks from the first purchase
    day to the last day before the cutoff, as ``lifetimes`` counts it), monetary (mean spend of the repeat
    purchase days; 0 without one)."""
    daily = purchases.filter(pl.col("day") < cutoff).group_by("customer_id", "day").agg(pl.col("spend").sum())
    daily = daily.sort("customer_id", "day")
    out = daily.group_by("customer_id").agg(
        frequency=(pl.len() - 1).cast(pl.Float64),
        recency=(pl.col("day").max() - pl.col("day").min()).dt.total_days() / 7.0,
        T=_days(pl.col("day").min(), cutoff - dt.timedelta(days=1)) / 7.0,
        repeat_spend=pl.col("spend").sum() - pl.col("spend").first())
    return out.select("customer_id", "frequency", "recency", "T",
                      monetary=pl.when(pl.col("frequency") > 0).then(pl.col("repeat_spend") / pl.col("frequency"))
                      .otherwise(0.0)).sort("customer_id")
