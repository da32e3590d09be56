"""What the campaign simulator reads from the warehouse: past promotions, daily in-scope demand, and each
customer's recent buying. Every read goes through ``DataAccess`` (merchant-scoped); values travel as data.

Definitions:

- *Demand* is counted in merchandise order lines of sale orders (all statuses: a cancelled order was still
  demand on its day), by day, category, channel and whether the order is *new*: a known customer's first
  sale order, or a guest checkout (the warehouse cannot tell a guest's history; promotions for new customers
  were granted to guests in the data).
- A customer's *activity* is over the ``lookback_days`` days up to ``as_of``: non-cancelled sale orders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import polars as pl

from analytics import facts
from data.access import DataAccess

PROMOTION_COLUMNS = ("promotion_id", "name", "start_date", "end_date", "discount_pct", "category", "audience",
                     "channel")
DAILY_SCHEMA = {"day": pl.Date, "category": pl.Utf8, "channel": pl.Utf8, "is_new": pl.Boolean, "lines": pl.Int64}


def load_promotions(access: DataAccess, merchant_id: int) -> pl.DataFrame:
    """The merchant's past promotions (columns ``PROMOTION_COLUMNS``), oldest first."""
    p = facts.table(access, "promotions")
    frame = access.to_polars(p.filter(p.merchant_id == int(merchant_id)).select(*PROMOTION_COLUMNS))
    return frame.with_columns(pl.col("start_date", "end_date").cast(pl.Date),
                              pl.col("discount_pct").cast(pl.Float64)).sort("start_date", "promotion_id")


def load_country(access: DataAccess, merchant_id: int) -> str | None:
    m = facts.table(access, "merchants")
    frame = access.to_polars(m.filter(m.merchant_id == int(merchant_id)).select("country"))
    return frame["country"][0] if frame.height else None


def load_daily_lines(access: DataAccess, merchant_id: int) -> pl.DataFrame:
    """Demand per day, category, channel and new/returning (columns ``DAILY_SCHEMA``; see the module doc)."""
    mid = int(merchant_id)
    o = facts.table(access, "orders")
    o = o.filter(o.merchant_id == mid, o.order_type == facts.SALE)
    first = o.filter(o.customer_id.notnull()).group_by("customer_id").aggregate(first_ts=o.order_ts.min())
    oj = o.left_join(first, o.customer_id == first.customer_id)
    orders = oj.select("order_id", "channel", day=oj.order_ts.date(),
                       is_new=oj.customer_id.isnull() | (oj.order_ts == oj.first_ts))
    p = facts.table(access, "products")
    p = p.filter(p.merchant_id == mid, p.is_merchandise).select("product_id", "category")
    lines = facts.table(access, "order_lines")
    lines = lines.filter(lines.merchant_id == mid).select("order_id", "product_id")
    j = lines.join(p, "product_id").join(orders, "order_id")
    expr = j.group_by("day", "category", "channel", "is_new").aggregate(lines=j.count())
    frame = access.to_polars(expr)
    if frame.height == 0:
        return pl.DataFrame(schema=DAILY_SCHEMA)
    return frame.select(pl.col("day").cast(pl.Date), pl.col("category").cast(pl.Utf8),
                        pl.col("channel").cast(pl.Utf8), pl.col("is_new").cast(pl.Boolean),
                        pl.col("lines").cast(pl.Int64))


ACTIVITY_SCHEMA = {"customer_id": pl.Int64, "orders": pl.Int64, "scope_orders": pl.Int64, "value": pl.Float64,
                   "value_sq": pl.Float64, "shipping": pl.Float64, "covered_value": pl.Float64,
                   "lines_value": pl.Float64, "costed_value": pl.Float64, "cost": pl.Float64}


def load_activity(access: DataAccess, merchant_id: int, as_of: dt.date, lookback_days: int,
                  categories: Sequence[str] = (), product_ids: Sequence[int] = ()) -> pl.DataFrame:
    """Per known customer who bought in the ``lookback_days`` days up to ``as_of`` (columns ``ACTIVITY_SCHEMA``):
    orders, scope_orders (orders holding a line the offer covers: all orders when it covers everything),
    value and value_sq (sum of merchandise line amounts per order, and of its square: money), shipping (money
    charged), covered_value (line amounts the offer covers), lines_value and costed_value/cost (line amounts,
    and those with a known cost and that cost: the margin rate is 1 - cost / costed_value)."""
    mid = int(merchant_id)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    start = end - dt.timedelta(days=int(lookback_days))
    o = facts.table(access, "orders")
    o = o.filter(o.merchant_id == mid, o.order_type == facts.SALE, o.status != facts.CANCELLED,
                 o.customer_id.notnull(), o.order_ts >= ibis.literal(start, type="timestamp"),
                 o.order_ts < ibis.literal(end, type="timestamp")).select("order_id", "customer_id",
                                                                          "shipping_amount")
    p = facts.table(access, "products")
    p = p.filter(p.merchant_id == mid, p.is_merchandise)
    covered = ibis.literal(True)
    if categories or product_ids:
        covered = ibis.literal(False)
        if categories:
            covered = covered | access.isin(p.category, list(categories))
        if product_ids:
            covered = covered | p.product_id.isin([int(x) for x in product_ids])
    p = p.select("product_id", product_cost=p.unit_cost, covered=covered)
    lines = facts.table(access, "order_lines")
    lines = lines.filter(lines.merchant_id == mid)
    lj = lines.join(p, "product_id")
    cost = ibis.coalesce(lj.unit_cost, lj.product_cost) * lj.quantity
    amount = lj.line_amount.cast("float64")
    per_order = lj.group_by("order_id").aggregate(
        value=amount.sum(), covered_value=amount.sum(where=lj.covered),
        costed_value=amount.sum(where=cost.notnull()), cost=cost.cast("float64").sum(),
        any_covered=lj.covered.any())
    j = o.join(per_order, "order_id")
    per = j.group_by("customer_id").aggregate(
        orders=j.count(), scope_orders=j.count(where=j.any_covered), value=j.value.sum(),
        value_sq=(j.value * j.value).sum(), shipping=j.shipping_amount.cast("float64").sum(),
        covered_value=j.covered_value.sum(), lines_value=j.value.sum(), costed_value=j.costed_value.sum(),
        cost=j.cost.sum())
    frame = access.to_polars(per)
    if frame.height == 0:
        return pl.DataFrame(schema=ACTIVITY_SCHEMA)
    return frame.select([pl.col(name).cast(dtype).fill_null(0) for name, dtype in ACTIVITY_SCHEMA.items()])


def load_external_ids(access: DataAccess, merchant_id: int, references: Sequence[str]) -> pl.DataFrame:
    """customer_id and external_id of the merchant's customers whose external_id is one of ``references``."""
    c = facts.table(access, "customers")
    expr = c.filter(c.merchant_id == int(merchant_id), access.isin(c.external_id, list(references)))
    frame = access.to_polars(expr.select("customer_id", "external_id"))
    return frame.select(pl.col("customer_id").cast(pl.Int64), pl.col("external_id").cast(pl.Utf8))
