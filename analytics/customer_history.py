"""One customer up close: their order documents, their segment at past quarter-ends, and target lists.

Amounts follow ``analytics.rfm``: an order's *counted revenue* is its merchandise line amounts when it counts toward
the customer's monetary value (sale orders not cancelled or returned, and return documents, negative), else 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import polars as pl

from analytics import facts
from data.access import DataAccess

TARGET_COLUMNS = ("customer_id", "customer_ref", "country", "segment", "recency_days", "frequency", "monetary",
                  "r_score", "f_score", "m_score")


def load_customer_refs(access: DataAccess, merchant_id: int) -> pl.DataFrame:
    """The merchant's customers: customer_id, customer_ref (the merchant's own id, text or null), country."""
    c = facts.table(access, "customers")
    c = c.filter(c.merchant_id == merchant_id)
    out = access.to_polars(c.select("customer_id", customer_ref=c.external_id, country=c.country))
    return out.with_columns(pl.col("customer_id").cast(pl.Int64)).sort("customer_id")


def load_customer_orders(access: DataAccess, merchant_id: int, customer_id: int) -> pl.DataFrame:
    """Every order document of one customer of ``merchant_id``, oldest first.

    Columns: order_id, order_ref (the merchant's order number), order_ts, order_type (sale, return,
    adjustment), status, channel, lines (count), amount (merchandise line amounts, money), counted_revenue
    (money: the amount when it counts toward RFM's monetary value, else 0).
    """
    o = facts.table(access, "orders")
    o = o.filter(o.merchant_id == merchant_id, o.customer_id == int(customer_id))
    p = facts.table(access, "products")
    lines = facts.table(access, "order_lines")
    lines = lines.filter(lines.merchant_id == merchant_id, lines.order_id.isin(o.order_id))
    merch = lines.join(p.filter(p.is_merchandise).select("product_id"), "product_id")
    per = merch.group_by("order_id").aggregate(lines=merch.count(), amount=merch.line_amount.sum())
    j = o.left_join(per, o.order_id == per.order_id)
    out = access.to_polars(j.select(
        order_id=j.order_id, order_ref=j.external_ref, order_ts=j.order_ts, order_type=j.order_type,
        status=j.status, channel=j.channel, lines=j.lines, amount=j.amount))
    counts = (((pl.col("order_type") == facts.SALE) & ~pl.col("status").is_in([facts.CANCELLED, facts.RETURNED]))
              | ((pl.col("order_type") == facts.RETURN) & (pl.col("status") != facts.CANCELLED)))
    return out.with_columns(
        pl.col("lines").fill_null(0).cast(pl.Int64), pl.col("amount").cast(pl.Float64).fill_null(0.0),
    ).with_columns(pl.when(counts).then(pl.col("amount")).otherwise(0.0).alias("counted_revenue")).sort(
        "order_ts", "order_id")


def quarter_ends(as_of: dt.date, count: int = 4) -> list[dt.date]:
    """The last ``count`` quarter-ends strictly before ``as_of``, oldest first (31 Mar, 30 Jun, 30 Sep, 31 Dec)."""
    ends = []
    year, quarter = as_of.year, (as_of.month - 1) // 3  # the quarter before as_of's own
    while len(ends) < count:
        if quarter == 0:
            year, quarter = year - 1, 4
        end = dt.date(year, 3 * quarter, 1) + dt.timedelta(days=31)
        ends.append(end.replace(day=1) - dt.timedelta(days=1))
        quarter -= 1
    return ends[::-1]


def compute_segment_history(frames: Mapping[dt.date, pl.DataFrame], customer_id: int) -> pl.DataFrame:
    """One customer's segment on each date of ``frames`` (date -> ``compute_rfm`` frame), oldest first.

    Columns: as_of (date), segment (label, or "Not yet a customer" before their first purchase), recency_days,
    frequency, monetary, r_score, f_score, m_score (null before their first purchase).
    """
    from analytics.segments import NOT_YET

    rows = []
    for day in sorted(frames):
        hit = frames[day].filter(pl.col("customer_id") == customer_id)
        row = hit.row(0, named=True) if hit.height else {"segment": NOT_YET}
        rows.append({"as_of": day, **{k: row.get(k) for k in ("segment", "recency_days", "frequency", "monetary",
                                                                "r_score", "f_score", "m_score")}})
    schema = {"as_of": pl.Date, "segment": pl.Utf8, "recency_days": pl.Int64, "frequency": pl.Int64,
              "monetary": pl.Float64, "r_score": pl.Int8, "f_score": pl.Int8, "m_score": pl.Int8}
    return pl.DataFrame(rows, schema=schema)


def build_target_list(rfm: pl.DataFrame, refs: pl.DataFrame, chosen: Iterable[str]) -> pl.DataFrame:
    """The customers of the ``chosen`` segments with their references: the columns of ``TARGET_COLUMNS``,
    highest monetary value first (then customer_id). Both frames must be the same merchant's."""
    wanted = list(dict.fromkeys(chosen))
    picked = rfm.filter(pl.col("segment").is_in(wanted))
    out = picked.join(refs, on="customer_id", how="left", maintain_order="left")
    return out.select(TARGET_COLUMNS).sort(["monetary", "customer_id"], descending=[True, False])
