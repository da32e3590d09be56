"""Recency, frequency and monetary value per customer as of a date, scored 1..5 by quintile, with segments.

What counts (the definitions of ``analytics.facts`` and the KPIs, cut at the end of ``as_of``):

- A *purchase* is a non-cancelled sale order (status ``completed`` or ``returned``: a returned order was
  still bought, as the Orders KPI counts it) of a known customer, placed on or before ``as_of`` (the whole
  day counts: "as of 31 March" includes the orders of 31 March). Guest checkouts have no customer.
- **recency_days** = ``as_of`` minus the day of the customer's last purchase (0: bought on ``as_of``).
- **frequency** = number of purchases.
- **monetary** = the customer's revenue (the Revenue KPI per customer): merchandise line amounts of the
  purchases not returned, minus the (negative) merchandise lines of the customer's return documents (credit
  notes) dated on or before ``as_of``. Postage, fees and adjustment documents are not revenue. It can be
  negative when credit notes outweigh purchases. Money in the merchant's currency.
- A customer with return documents only, or with cancelled orders only, has no purchase and no row.

Scores (within the merchant, on the customers of the frame): a value's score is set by its *lowest* rank
among tied values, ``score = 1 + floor(5 * (rank_min - 1) / n)``, ranking ascending for frequency and money
and descending for recency days (fewest days = best = 5). So equal values always get the same score (no
arbitrary split of ties by id), a tied group straddling a quintile boundary takes the lower score, and a
score can be skipped when one value fills a whole quintile (say 45% of customers have one order: they all
get F 1 and the next value starts at F 3). Deterministic: no random or id-based tie breaking.

The aggregation runs in the engine (one query through ibis: purchases counted per customer from the orders, and
the revenue lines joined to their orders and summed per customer); scoring and segments run in polars on the
per-customer frame.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts, segments
from data.access import DataAccess

SCORES = 5
COLUMNS = ("customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment")
SCHEMA = {"customer_id": pl.Int64, "recency_days": pl.Int64, "frequency": pl.Int64, "monetary": pl.Float64,
          "r_score": pl.Int8, "f_score": pl.Int8, "m_score": pl.Int8, "segment": pl.Utf8}


def _end(as_of: dt.date) -> ir.TimestampScalar:
    """The first instant after ``as_of`` (orders are kept when strictly before it)."""
    return ibis.literal(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()), type="timestamp")


def _orders(access: DataAccess, merchant_id: int, end: ir.TimestampScalar) -> ir.Table:
    """The merchant's order documents that count (see the module doc) placed before ``end``."""
    o = facts.table(access, "orders")
    return o.filter(o.merchant_id == merchant_id, o.customer_id.notnull(), o.order_ts < end,
                    o.order_type.isin([facts.SALE, facts.RETURN]), o.status != facts.CANCELLED)


def _revenue_lines(access: DataAccess, merchant_id: int, o: ir.Table) -> ir.Table:
    """The merchandise lines of ``o``'s documents that count as revenue, each with its order's columns.

    The lines are joined to the orders and summed per customer afterwards (``_money``), not summed per
    order first: a per-order sum groups the 24M lines into their 10M orders at 10M (the costliest step then),
    while the join's hash table holds only the counted orders and the groups are the customers. At 10M this
    took about 35% less CPU for the same exact DECIMAL sums (the README's speed section)."""
    revenue = o.filter((o.order_type == facts.RETURN) | (o.status != facts.RETURNED))
    p = facts.table(access, "products")
    merchandise = p.filter(p.merchant_id == merchant_id, p.is_merchandise).product_id
    lines = facts.table(access, "order_lines")
    lines = lines.filter(lines.merchant_id == merchant_id, lines.product_id.isin(merchandise))
    lines = lines.select("order_id", "line_amount")
    return revenue.inner_join(lines, "order_id")


def _counts(o: ir.Table, *keys: str) -> ir.Table:
    """Per ``keys`` and customer with a purchase in ``o``: last_ts and frequency (purchases)."""
    sales = o.filter(o.order_type == facts.SALE)
    return sales.group_by([*keys, "customer_id"]).aggregate(last_ts=sales.order_ts.max(),
                                                            frequency=sales.order_id.count())


def _money(lines: ir.Table, *keys: str) -> ir.Table:
    """Per ``keys`` and customer: monetary, the sum of the revenue lines' amounts (``_revenue_lines``)."""
    return lines.group_by([*keys, "customer_id"]).aggregate(monetary=lines.line_amount.sum())


def _rfm(counts: ir.Table, money: ir.Table, *keys: str) -> ir.Table:
    # Left join from the buyers: a customer with credit notes only has no purchase and no row; a buyer without
    # counted merchandise gets a null monetary (0 once scored).
    j = counts.left_join(money, [*keys, "customer_id"])
    return j.select(*keys, "customer_id", "last_ts", "frequency", "monetary")


def rfm_table(access: DataAccess, merchant_id: int, as_of: dt.date) -> ir.Table:
    """Per customer of ``merchant_id`` with a purchase on or before ``as_of``: customer_id, last_ts (timestamp
    of the last purchase), frequency (purchases), monetary (revenue, DECIMAL money). An ibis expression."""
    o = _orders(access, merchant_id, _end(as_of))
    return _rfm(_counts(o), _money(_revenue_lines(access, merchant_id, o)))


def rfm_tables_at(access: DataAccess, merchant_id: int, dates: list[dt.date]) -> ir.Table:
    """``rfm_table`` for several as-of dates in one query, with an ``as_of`` (date) column.

    The lines (the costly part) are read once: each order falls in a *period*, the number of as-of dates it
    comes after (0: on or before the first date); orders and lines are summed per customer and period, and a
    date adds up the periods up to its own (period k counts toward the k-th date on). Sums of DECIMAL sums
    stay exact."""
    dates = sorted(dates)
    ends = [dt.datetime.combine(d + dt.timedelta(days=1), dt.time()) for d in dates]
    o = _orders(access, merchant_id, _end(dates[-1]))
    period = sum(((o.order_ts >= ibis.literal(e, type="timestamp")).cast("int32") for e in ends[:-1]),
                 ibis.literal(0, type="int32"))
    o = o.mutate(period=period)
    d = ibis.memtable(pl.DataFrame({"as_of": dates, "upto": list(range(len(dates)))},
                                   schema={"as_of": pl.Date, "upto": pl.Int32}))
    c = _counts(o, "period")
    c = c.inner_join(d, c.period <= d.upto)
    counts = c.group_by("as_of", "customer_id").aggregate(last_ts=c.last_ts.max(),
                                                          frequency=c.frequency.sum())
    m = _money(_revenue_lines(access, merchant_id, o), "period")
    m = m.inner_join(d, m.period <= d.upto)
    money = m.group_by("as_of", "customer_id").aggregate(monetary=m.monetary.sum())
    return _rfm(counts, money, "as_of")


def score(values: pl.Expr, *, descending: bool = False) -> pl.Expr:
    """Quintile score 1..5 of ``values`` among the frame's rows: ``1 + floor(5 * (rank_min - 1) / n)``;
    ``descending=True`` gives the smallest values score 5 (recency days). Ties share their lowest rank."""
    rank = values.rank("min", descending=descending).cast(pl.Int64)
    return (1 + (SCORES * (rank - 1)) // pl.len()).cast(pl.Int8)


def score_rfm(per: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """``rfm_table``'s frame (customer_id, last_ts, frequency, monetary) scored: the columns of ``COLUMNS``,
    sorted by customer_id."""
    base = per.select(
        pl.col("customer_id").cast(pl.Int64),
        (pl.lit(as_of) - pl.col("last_ts").dt.date()).dt.total_days().cast(pl.Int64).alias("recency_days"),
        pl.col("frequency").cast(pl.Int64),
        pl.col("monetary").cast(pl.Float64).fill_null(0.0),  # purchases holding no merchandise: nothing spent
    )
    scored = base.with_columns(
        score(pl.col("recency_days"), descending=True).alias("r_score"),
        score(pl.col("frequency")).alias("f_score"),
        score(pl.col("monetary")).alias("m_score"),
    )
    return segments.assign_segments(scored).select(COLUMNS).sort("customer_id")


def compute_rfm(access: DataAccess, merchant_id: int, as_of: dt.date) -> pl.DataFrame:
    """RFM of every customer of ``merchant_id`` with a purchase on or before ``as_of`` (see the module doc).

    Columns: customer_id (Int64), recency_days (days since the last purchase), frequency (purchases), monetary
    (revenue, merchant currency, Float64), r_score, f_score, m_score (1..5, Int8), segment (label of
    ``analytics.segments.SEGMENTS``). One row per customer, sorted by customer_id. A merchant outside the
    access's scope gives an empty frame.
    """
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    per = access.to_polars(rfm_table(access, merchant_id, as_of))
    if per.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    return score_rfm(per, as_of)


def compute_rfm_at(access: DataAccess, merchant_id: int, dates) -> dict[dt.date, pl.DataFrame]:
    """``compute_rfm`` on each of ``dates`` (one query for them all): {date: frame}, each frame scored among
    that date's customers, equal to ``compute_rfm(access, merchant_id, date)``."""
    days = sorted({d.date() if isinstance(d, dt.datetime) else d for d in dates})
    if not days:
        return {}
    per = access.to_polars(rfm_tables_at(access, merchant_id, days))
    out = {}
    for day in days:
        part = per.filter(pl.col("as_of") == day).drop("as_of") if per.height else per
        out[day] = score_rfm(part, day) if part.height else pl.DataFrame(schema=SCHEMA)
    return out


def summarise_segments(rfm: pl.DataFrame) -> pl.DataFrame:
    """Size and value of each segment of ``SEGMENTS`` (all of them, in registry order, empty ones with 0).

    Columns: segment, customers (count), customer_share (fraction of customers), revenue (sum of monetary,
    money), revenue_share (fraction of the total revenue; null when the total is not positive),
    average_revenue (money per customer; null for an empty segment), median_recency_days, median_frequency.
    """
    got = rfm.group_by("segment").agg(
        pl.len().alias("customers"), pl.col("monetary").sum().alias("revenue"),
        pl.col("recency_days").median().alias("median_recency_days"),
        pl.col("frequency").median().cast(pl.Float64).alias("median_frequency"),
    )
    base = pl.DataFrame({"segment": list(segments.SEGMENT_ORDER)})
    out = base.join(got, on="segment", how="left", maintain_order="left").with_columns(
        pl.col("customers").fill_null(0).cast(pl.Int64), pl.col("revenue").fill_null(0.0))
    total, people = out["revenue"].sum(), out["customers"].sum()
    return out.with_columns(
        (pl.col("customers") / people if people else pl.lit(None, pl.Float64)).alias("customer_share"),
        (pl.col("revenue") / total if total > 0 else pl.lit(None, pl.Float64)).alias("revenue_share"),
        pl.when(pl.col("customers") > 0).then(pl.col("revenue") / pl.col("customers")).alias("average_revenue"),
    ).select("segment", "customers", "customer_share", "revenue", "revenue_share", "average_revenue",
             "median_recency_days", "median_frequency")


def compute_movement(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Counts of customers from segment to segment between two RFM frames.

    Columns: from_segment, to_segment (labels; ``segments.NOT_YET`` for customers absent from ``before``,
    ``segments.GONE`` for those absent from ``after``), customers (count). Only non-zero pairs, in registry
    order of from_segment then to_segment. The counts add up to the customers of either frame or both.
    """
    j = before.select("customer_id", pl.col("segment").alias("from_segment")).join(
        after.select("customer_id", pl.col("segment").alias("to_segment")), on="customer_id", how="full",
        coalesce=True)
    enum = segments.segment_enum()
    counts = j.with_columns(pl.col("from_segment").fill_null(segments.NOT_YET).cast(enum),
                            pl.col("to_segment").fill_null(segments.GONE).cast(enum)).group_by(
        "from_segment", "to_segment").agg(pl.len().cast(pl.Int64).alias("customers"))
    return counts.sort("from_segment", "to_segment").with_columns(pl.col("from_segment", "to_segment").cast(pl.Utf8))


def segment_movement(access: DataAccess, merchant_id: int, from_date: dt.date, to_date: dt.date) -> pl.DataFrame:
    """How the merchant's customers moved between segments from ``from_date`` to ``to_date`` (both as-of
    dates, scored within each date's customers): ``compute_movement`` of the two RFM frames. Customers whose
    first purchase falls after ``from_date`` come from ``segments.NOT_YET``."""
    if from_date >= to_date:
        raise ValueError(f"the movement's first date ({from_date:%d %b %Y}) must be before its second "
                         f"({to_date:%d %b %Y})")
    frames = compute_rfm_at(access, merchant_id, [from_date, to_date])
    return compute_movement(frames[from_date], frames[to_date])
