"""Where revenue comes from: by category, product, region, store, payment method, and one day's orders.

Definitions (revenue, orders, sales) are those of ``analytics.facts``. Money is in the merchant's
currency; a scope spanning merchants with different currencies adds them up as they are (the pages
show one merchant at a time). An order's region is where it was shipped, else its store's region (see
``analytics.facts``); orders with neither have region null (sorted last).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts, frames
from analytics.filters import Filters
from data.access import DataAccess

AGE_BANDS = ((0, 24, "<25"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"), (55, 64, "55-64"),
             (65, 200, "65+"))
PAYMENT_GROUPS = ("age_band", "gender")


def _finish(res: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Common tail: floats, zero sums, AOV and revenue share; sorted by revenue desc then keys."""
    res = frames.normalise(res, counts=("orders", "customers", "units"))
    res = frames.zero_fill(res, ("revenue", "sales"))
    res = frames.sort(res, ["revenue", *keys], descending=[True] + [False] * len(keys))
    return res.with_columns(
        frames.ratio("sales", "orders").alias("average_order_value"),
        frames.share("revenue").alias("revenue_share"),
    ).drop("sales")


def compute_category_breakdown(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Revenue by product category.

    Columns: category (str, null for uncategorised), revenue (money), units (count, returns taken out),
    orders (count of orders holding a line of the category), customers (count), average_order_value
    (money: category sales / those orders), revenue_share (fraction of the total revenue shown).
    Sorted by revenue descending, then category.
    """
    r = facts.revenue_lines(access, f)
    placed = r.is_sale & (r.status != facts.CANCELLED)
    expr = r.group_by("category").aggregate(
        revenue=r.line_amount.sum(where=r.in_revenue), sales=r.line_amount.sum(where=r.is_sale),
        units=r.quantity.sum(where=r.in_revenue), orders=r.order_id.nunique(where=placed),
        customers=r.customer_id.nunique(where=placed),
    )
    return _finish(access.to_polars(expr), ["category"])


def compute_product_breakdown(
    access: DataAccess, f: Filters, category: str | None = None, limit: int | None = None
) -> pl.DataFrame:
    """Revenue by product (SKU), optionally within one ``category`` and cut to the top ``limit``.

    Columns: product_id (int), sku, product_name, category (str), revenue (money), units (count),
    orders (count), customers (count), average_order_value (money), revenue_share (fraction of the rows'
    total before the cut). Sorted by revenue descending, then product_id.
    """
    r = facts.revenue_lines(access, f)
    if category is not None:
        r = r.filter(access.equals(r.category, category))
    placed = r.is_sale & (r.status != facts.CANCELLED)
    expr = r.group_by("product_id", "sku", "product_name", "category").aggregate(
        revenue=r.line_amount.sum(where=r.in_revenue), sales=r.line_amount.sum(where=r.is_sale),
        units=r.quantity.sum(where=r.in_revenue), orders=r.order_id.nunique(where=placed),
        customers=r.customer_id.nunique(where=placed),
    )
    out = _finish(access.to_polars(expr), ["product_id"])
    return out if limit is None else out.head(limit)


def _by_store(access: DataAccess, f: Filters, region: str | None) -> ir.Table:
    """Revenue, sales, orders and customers per store_id (a null store_id for orders without one)."""
    r = facts.revenue_lines(access, f)
    o = facts.placed_orders(access, f)
    if region is not None:
        r, o = r.filter(facts.in_regions(access, r, [region])), o.filter(facts.in_regions(access, o, [region]))
    lines = r.group_by("store_id").aggregate(revenue=r.line_amount.sum(where=r.in_revenue),
                                             sales=r.line_amount.sum(where=r.is_sale))
    orders = o.group_by("store_id").aggregate(orders=o.count(), customers=o.customer_id.nunique())
    return facts.stack([lines, orders], ["store_id"])


def compute_region_breakdown(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Revenue by region of the order (shipping region, else the store's).

    Columns: region (str or null), revenue (money), orders (count), customers (count of distinct known
    customers), average_order_value (money), revenue_share (fraction). Sorted by revenue desc, region.
    """
    r = facts.revenue_lines(access, f)
    o = facts.placed_orders(access, f)
    s = facts.table(access, "stores").select("store_id", "region")
    r = r.left_join(s, r.store_id == s.store_id).select(r.line_amount, r.is_sale, r.in_revenue,
                                                        region=facts.order_region(r, s))
    o = o.left_join(s, o.store_id == s.store_id).select(o.customer_id, region=facts.order_region(o, s))
    lines = r.group_by("region").aggregate(revenue=r.line_amount.sum(where=r.in_revenue),
                                           sales=r.line_amount.sum(where=r.is_sale))
    orders = o.group_by("region").aggregate(orders=o.count(), customers=o.customer_id.nunique())
    return _finish(access.to_polars(facts.stack([lines, orders], ["region"])), ["region"])


def compute_store_breakdown(access: DataAccess, f: Filters, region: str | None = None) -> pl.DataFrame:
    """Revenue by selling location, optionally of the orders of one ``region`` (the order's region).

    An online shop appears under every region it shipped to. Columns: store_id (int or null),
    store_name, kind, store_region (str: the location's own region, null for most online shops),
    revenue (money), orders (count), customers (count), average_order_value (money), revenue_share
    (fraction of the rows' total).
    Sorted by revenue descending, then store_id.
    """
    res = access.to_polars(_by_store(access, f, region))
    s = facts.table(access, "stores")
    stores = access.to_polars(s.select("store_id", store_name=s.name, kind=s.kind, store_region=s.region))
    res = res.join(stores, on="store_id", how="left").select(
        "store_id", "store_name", "kind", "store_region", "revenue", "sales", "orders", "customers")
    return _finish(res, ["store_id"])


def compute_day_orders(access: DataAccess, f: Filters, day: dt.date, limit: int | None = 1000) -> pl.DataFrame:
    """The order documents of one ``day`` matching the filters (all types and statuses).

    The filters' period is replaced by that day. Columns: order_id, order_ts (local time), order_type,
    status, store_id, channel, payment_method, customer_id, net_amount (money paid, as recorded),
    lines (count of merchandise lines in the selected categories), units (count, as ordered), revenue
    (money: what the order adds to revenue; 0 for cancelled and returned orders and adjustments).
    Sorted by order_ts, order_id; cut to the first ``limit``.
    """
    one = replace(f, start=day, end=day)
    o = facts.order_documents(access, one)
    o = o.order_by([o.order_ts, o.order_id])
    if limit is not None:
        o = o.limit(limit)
    r = facts.revenue_lines(access, one)
    per_order = r.group_by("order_id").aggregate(lines=r.count(), units=r.quantity.sum(),
                                                 revenue=r.line_amount.sum(where=r.in_revenue))
    j = o.left_join(per_order, o.order_id == per_order.order_id).select(
        o.order_id, o.order_ts, o.order_type, o.status, o.store_id, o.channel, o.payment_method,
        o.customer_id, o.net_amount, per_order.lines, per_order.units, per_order.revenue)
    res = frames.normalise(access.to_polars(j), counts=("lines", "units"))
    return frames.sort(frames.zero_fill(res, ("revenue",)), ["order_ts", "order_id"])


def _age_band(order_ts: ir.TimestampColumn, birth_year: ir.IntegerColumn) -> ir.StringColumn:
    age = order_ts.year() - birth_year
    case = ibis.cases(*[((age >= lo) & (age <= hi), label) for lo, hi, label in AGE_BANDS], else_="unknown")
    return ibis.ifelse(birth_year.isnull(), "unknown", case)


def compute_payment_mix(access: DataAccess, f: Filters, by: str | None = None) -> pl.DataFrame:
    """Payment methods used by the period's orders, overall or per customer age band or gender.

    ``by``: None (one group ``all``), ``"age_band"`` (age in the order's year from ``birth_year``: <25,
    25-34, 35-44, 45-54, 55-64, 65+) or ``"gender"``; guests and customers without the attribute fall in
    group ``unknown``. Columns: group (str), payment_method (str, ``unknown`` when not recorded),
    orders (count), sales (money: merchandise sales of those orders), order_share (fraction of the
    group's orders). Sorted by group (age bands youngest first, ``unknown`` last), then orders
    descending, then payment_method.
    """
    if by is not None and by not in PAYMENT_GROUPS:
        raise ValueError(f"unknown grouping {by!r}; use None or one of {', '.join(PAYMENT_GROUPS)}")
    o = facts.placed_orders(access, f)
    r = facts.revenue_lines(access, f)
    sales = r.filter(r.is_sale).group_by("order_id").aggregate(sales=r.line_amount.sum())
    j = o.left_join(sales, o.order_id == sales.order_id)
    if by is None:
        group = ibis.literal("all")
    else:
        c = facts.table(access, "customers")
        j = j.left_join(c, j.customer_id == c.customer_id)
        group = ibis.coalesce(j.gender, "unknown") if by == "gender" else _age_band(j.order_ts, j.birth_year)
    t = j.select(group=group, payment_method=ibis.coalesce(j.payment_method, "unknown"), sales=j.sales)
    expr = t.group_by("group", "payment_method").aggregate(orders=t.count(), sales=t.sales.sum())
    res = frames.zero_fill(frames.normalise(access.to_polars(expr), counts=("orders",)), ("sales",))
    # Age bands in age order (not alphabetical, where "<25" would follow "65+"), "unknown" last.
    order = [label for _, _, label in AGE_BANDS] if by == "age_band" else []
    rank = pl.col("group").replace_strict(order, list(range(len(order))), default=len(order),
                                          return_dtype=pl.Int32)
    rank = pl.when(pl.col("group") == "unknown").then(len(order) + 1).otherwise(rank).alias("_rank")
    res = frames.sort(res.with_columns(rank), ["_rank", "group", "orders", "payment_method"],
                      descending=[False, False, True, False])
    return res.with_columns(frames.share("orders", over=["group"]).alias("order_share")).drop("_rank")
