"""What the basket analysis reads, through the data-access layer (scoped to the caller's merchants).

A *basket* is one non-cancelled sale order; its items are the distinct merchandise products on its lines
(postage, fees and adjustments are not products anyone buys together). Returned orders stay in: the
customer did put those products in one basket. Every function returns a polars frame with the columns its
docstring names.
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from analytics import facts
from data.access import DataAccess

STOCK_SALES_DAYS = 28  # days of sales behind a product's daily sales rate (days of cover)


def _sale_orders(access: DataAccess):
    o = access.table("orders")
    return o.filter(o.order_type == facts.SALE, o.status != facts.CANCELLED)


def load_basket_lines(access: DataAccess, since: dt.date | None = None, until: dt.date | None = None,
                      customer_id: int | None = None) -> pl.DataFrame:
    """One row per (basket, product): order_id, customer_id (null for guests), day (date of the order),
    merchant_id, product_id; baskets ordered on ``since`` .. ``until`` (inclusive, either may be None),
    optionally of one customer only. Sorted by order_id, product_id."""
    o = _sale_orders(access)
    if since is not None:
        o = o.filter(o.order_ts >= ibis.literal(dt.datetime.combine(since, dt.time())))
    if until is not None:
        o = o.filter(o.order_ts < ibis.literal(dt.datetime.combine(until + dt.timedelta(days=1), dt.time())))
    if customer_id is not None:
        o = o.filter(o.customer_id == ibis.literal(int(customer_id), type="int64"))
    lines = access.table("order_lines")
    p = access.table("products")
    items = lines.join(p.filter(p.is_merchandise).select("product_id"), "product_id").select("order_id", "product_id")
    joined = o.select("order_id", "customer_id", "merchant_id", day=o.order_ts.date()).join(items, "order_id")
    expr = joined.distinct().order_by(["order_id", "product_id"])
    return access.to_polars(expr).with_columns(pl.col("order_id").cast(pl.Int64), pl.col("product_id").cast(pl.Int64),
                                               pl.col("customer_id").cast(pl.Int64))


def load_products(access: DataAccess) -> pl.DataFrame:
    """product_id, sku, product_name, category, price and unit_cost (merchant currency, may be null), merchant_id
    of every merchandise product in scope."""
    p = access.table("products")
    expr = p.filter(p.is_merchandise).select(
        "product_id", "merchant_id", "sku", p["name"].name("product_name"), "category",
        p.price.cast("float64").name("price"), p.unit_cost.cast("float64").name("unit_cost"))
    return access.to_polars(expr.order_by("product_id"))


def load_stock(access: DataAccess, days: int = STOCK_SALES_DAYS) -> pl.DataFrame:
    """Stock on hand per product on the latest inventory day in scope, summed over locations:
    product_id, stock_day (date), on_hand (units), daily_sales (mean units sold a day over the ``days`` days
    up to stock_day), days_of_cover (on_hand / daily_sales; null when nothing sold)."""
    inv = access.table("inventory_daily")
    last = access.scalar(inv.day.max())
    if last is None:
        return pl.DataFrame(schema={"product_id": pl.Int64, "stock_day": pl.Date, "on_hand": pl.Int64,
                                    "daily_sales": pl.Float64, "days_of_cover": pl.Float64})
    start = last - dt.timedelta(days=days - 1)
    recent = inv.filter(inv.day >= ibis.literal(start), inv.day <= ibis.literal(last))
    expr = recent.group_by("product_id").aggregate(
        on_hand=(recent.on_hand * (recent.day == ibis.literal(last)).cast("int64")).sum(),
        sold=recent.units_sold.sum())
    out = access.to_polars(expr)
    return out.select(
        pl.col("product_id").cast(pl.Int64), pl.lit(last).alias("stock_day"), pl.col("on_hand").cast(pl.Int64),
        (pl.col("sold").cast(pl.Float64) / days).alias("daily_sales"),
    ).with_columns(days_of_cover=pl.when(pl.col("daily_sales") > 0)
                   .then(pl.col("on_hand") / pl.col("daily_sales")).otherwise(None))


def load_recent_customers(access: DataAccess, limit: int = 500) -> pl.DataFrame:
    """The ``limit`` customers whose last order is latest: customer_id, external_id, last_day, orders."""
    o = _sale_orders(access).filter(lambda t: t.customer_id.notnull())
    c = access.table("customers").select("customer_id", "external_id")
    per = o.group_by("customer_id").aggregate(last_day=o.order_ts.max().date(), orders=o.order_id.count())
    expr = per.left_join(c, "customer_id").select("customer_id", "external_id", "last_day", "orders")
    return access.to_polars(expr.order_by([ibis.desc("last_day"), "customer_id"]).limit(int(limit)))
