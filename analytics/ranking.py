"""Staff merchant ranking: revenue and orders per merchant against the previous period, per currency.

Amounts in different currencies are never added: merchants are ranked within their currency, and totals
are per currency. ``convert_ranking`` converts with exchange rates an admin entered, into new columns
that say so, and only when a rate is known for every currency shown.
Revenue and orders follow ``analytics.facts`` and are read from the daily rollups (``rollup_reads``).
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts, frames, rollup_reads
from analytics.filters import Filters
from data.access import DataAccess

RANKING_COLUMNS = ("merchant_id", "merchant", "currency", "rank", "revenue", "previous_revenue", "revenue_change",
                   "orders", "previous_orders", "orders_change")


def _per_merchant(access: DataAccess, f: Filters) -> ir.Table:
    s = rollup_reads.sales(access, f)
    lines = s.group_by("merchant_id").aggregate(revenue=s.revenue.sum())
    cells = rollup_reads.order_cells(access, f)
    if cells is not None:
        orders = cells.group_by("merchant_id").aggregate(orders=cells.orders.sum().cast("int64"))
    else:  # several categories: an order holding lines of two of them counts once (see rollup_reads)
        o = facts.placed_orders(access, f)
        orders = o.group_by("merchant_id").aggregate(orders=o.count())
    return facts.stack([lines, orders], ["merchant_id"])


def _change(now: str, before: str) -> pl.Expr:
    return pl.when(pl.col(before).is_not_null() & (pl.col(before) != 0)).then(
        (pl.col(now) - pl.col(before)) / pl.col(before).abs())


def compute_merchant_ranking(access: DataAccess, f: Filters) -> pl.DataFrame:
    """Every merchant in scope with its revenue and orders in the period and the previous period of equal length.

    Columns: merchant_id, merchant (name), currency (ISO code of its amounts), rank (1 = highest revenue among
    the merchants of the same currency), revenue and previous_revenue (money, the merchant's currency),
    revenue_change (relative, null when the previous revenue is 0), orders and previous_orders (count),
    orders_change (relative). Merchants without sales appear with 0. Sorted by currency, then rank.
    """
    parts = [_per_merchant(access, flt).mutate(period=ibis.literal(label))
             for label, flt in (("current", f), ("previous", f.previous_period()))]
    res = frames.normalise(access.to_polars(ibis.union(*parts, distinct=False)), counts=("orders",))
    m = access.table("merchants")
    merchants = access.to_polars(m.select("merchant_id", merchant=m.name, currency=m.currency))
    cur = res.filter(pl.col("period") == "current").select("merchant_id", "revenue", "orders")
    prev = res.filter(pl.col("period") == "previous").select(
        "merchant_id", pl.col("revenue").alias("previous_revenue"), pl.col("orders").alias("previous_orders"))
    out = merchants.join(cur, on="merchant_id", how="left").join(prev, on="merchant_id", how="left")
    out = frames.zero_fill(out, ("revenue", "previous_revenue", "orders", "previous_orders")).with_columns(
        pl.col("revenue", "previous_revenue").cast(pl.Float64), pl.col("orders", "previous_orders").cast(pl.Int64))
    out = out.with_columns(_change("revenue", "previous_revenue").alias("revenue_change"),
                           _change("orders", "previous_orders").alias("orders_change"))
    out = frames.sort(out, ["currency", "revenue", "merchant_id"], descending=[False, True, False])
    out = out.with_columns(pl.int_range(1, pl.len() + 1).over("currency").cast(pl.Int64).alias("rank"))
    return out.select(RANKING_COLUMNS)


def compute_currency_totals(ranking: pl.DataFrame) -> pl.DataFrame:
    """Totals per currency (never across): currency, merchants, revenue, previous_revenue, revenue_change,
    orders, previous_orders, orders_change. Sorted by currency."""
    totals = ranking.group_by("currency").agg(
        pl.len().cast(pl.Int64).alias("merchants"), pl.col("revenue", "previous_revenue", "orders", "previous_orders").sum())
    totals = totals.with_columns(_change("revenue", "previous_revenue").alias("revenue_change"),
                                 _change("orders", "previous_orders").alias("orders_change"))
    return frames.sort(totals, ["currency"]).select(
        "currency", "merchants", "revenue", "previous_revenue", "revenue_change", "orders", "previous_orders",
        "orders_change")


def missing_rates(ranking: pl.DataFrame, rates: Mapping[str, float], target: str) -> list[str]:
    """Currencies of the ranking without a rate into ``target`` (the target itself needs none)."""
    return sorted({c for c in ranking["currency"].to_list() if c != target and c not in rates})


def convert_ranking(ranking: pl.DataFrame, rates: Mapping[str, float], target: str) -> pl.DataFrame:
    """The ranking with revenue_converted and previous_revenue_converted (money in ``target``) and
    converted_rank (1 = highest converted revenue overall), sorted by converted_rank.

    ``rates[c]`` is the value of one unit of currency ``c`` in ``target``. Raises ValueError when a
    currency has no rate (nothing is converted at a guessed rate) or a rate is not positive.
    """
    missing = missing_rates(ranking, rates, target)
    if missing:
        raise ValueError(f"no exchange rate into {target} for {', '.join(missing)}")
    bad = {c: r for c, r in rates.items() if not (isinstance(r, (int, float)) and r > 0)}
    if bad:
        raise ValueError(f"exchange rates must be positive numbers, got {bad}")
    table = {**{c: float(r) for c, r in rates.items()}, target: 1.0}
    rate = pl.col("currency").replace_strict(table, return_dtype=pl.Float64)
    out = ranking.with_columns((pl.col("revenue") * rate).alias("revenue_converted"),
                               (pl.col("previous_revenue") * rate).alias("previous_revenue_converted"))
    out = frames.sort(out, ["revenue_converted", "merchant_id"], descending=[True, False])
    return out.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("converted_rank"))
