"""Operations: delivery performance by carrier and region, and category profitability.

Definitions of orders, revenue lines and line cost are those of ``analytics.facts``.
"""

from __future__ import annotations

import polars as pl

from analytics import facts, frames
from analytics.filters import Filters
from data.access import DataAccess


def compute_delivery_performance(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Shipments of the period's orders (non-cancelled sale orders in scope) per carrier and region.

    ``region`` is the delivery's destination region. A delivery is on time when delivered no later
    than promised (``delay_days <= 0``). Columns: partner (str), region (str), shipments (count),
    delivered (count), in_transit (count: not delivered yet, or lost), on_time (count), late (count),
    on_time_rate (fraction of delivered), avg_delay_days (mean delay_days of delivered shipments, days,
    negative = early), max_delay_days (days). Rates are null without deliveries. Sorted by partner, region.
    """
    o = facts.placed_orders(access, f)
    d = facts.table(access, "deliveries")
    d = d.filter(d.order_id.isin(o.order_id))
    done = d.delivered_date.notnull() & d.delay_days.notnull()
    expr = d.group_by("partner", "region").aggregate(
        shipments=d.count(),
        delivered=d.count(where=done),
        on_time=d.count(where=done & (d.delay_days <= 0)),
        late=d.count(where=done & (d.delay_days > 0)),
        delay_sum=d.delay_days.cast("int64").sum(where=done),
        max_delay_days=d.delay_days.max(where=done),
    )
    counts = ("shipments", "delivered", "on_time", "late")
    res = frames.normalise(access.to_polars(expr), counts=counts)
    res = res.with_columns(
        (pl.col("shipments") - pl.col("delivered")).alias("in_transit"),
        frames.ratio("on_time", "delivered").alias("on_time_rate"),
        frames.ratio("delay_sum", "delivered").alias("avg_delay_days"),
        pl.col("max_delay_days").cast(pl.Int64),
    )
    res = res.select("partner", "region", "shipments", "delivered", "in_transit", "on_time", "late",
                     "on_time_rate", "avg_delay_days", "max_delay_days")
    return frames.sort(res, ["partner", "region"])


def compute_category_profitability(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Margin after discounts per category.

    Columns: category (str or null), list_value (money: quantity x unit price of sale lines, before
    discounts), discount_cost (money: line discounts granted on sale lines), sales (money: sale lines
    after discounts), returns (money: returned sale orders plus credit notes, positive), revenue (money:
    sales - returns), cogs (money: cost of goods of the revenue lines with known cost), gross_margin
    (money: revenue - cogs over lines with known cost), gross_margin_rate (fraction of that revenue),
    discount_rate (fraction: discount_cost / list_value), cost_coverage (fraction of revenue whose cost
    is known).
    Margin figures are null when no line of the category has a known cost. Sorted by revenue
    descending, then category.
    """
    r = facts.revenue_lines(access, f)
    known = r.cost.notnull()
    expr = r.group_by("category").aggregate(
        list_value=r.list_amount.sum(where=r.is_sale),
        discount_cost=r.discount_amount.sum(where=r.is_sale),
        sales=r.line_amount.sum(where=r.is_sale),
        revenue=r.line_amount.sum(where=r.in_revenue),
        costed_revenue=r.line_amount.sum(where=r.in_revenue & known),
        cogs=r.line_cost.sum(where=r.in_revenue),
    )
    res = frames.normalise(access.to_polars(expr))
    res = frames.zero_fill(res, ("list_value", "discount_cost", "sales", "revenue", "costed_revenue"))
    res = res.with_columns((pl.col("sales") - pl.col("revenue")).alias("returns"))
    has_cost = pl.col("cogs").is_not_null()
    margin = pl.col("costed_revenue") - pl.col("cogs")
    res = res.with_columns(
        pl.when(has_cost).then(margin).alias("gross_margin"),
        pl.when(has_cost).then(frames.ratio(margin, pl.col("costed_revenue"))).alias("gross_margin_rate"),
        frames.ratio("discount_cost", "list_value").alias("discount_rate"),
        frames.ratio("costed_revenue", "revenue").alias("cost_coverage"),
    ).drop("costed_revenue")
    res = res.select("category", "list_value", "discount_cost", "sales", "returns", "revenue", "cogs",
                     "gross_margin", "gross_margin_rate", "discount_rate", "cost_coverage")
    return frames.sort(res, ["revenue", "category"], descending=[True, False])
