"""The watched series, per merchant, period (hour or day) and dimension value, as ibis aggregations.

Every read goes through ``DataAccess`` (merchant-scoped) and is pushed to the engine: one grouped aggregation
per (source, dimension) returns a few thousand rows. Sources and what comes back (long format):

- ``orders``: ``n`` non-cancelled sale orders, ``amount`` their net amount (revenue, merchant currency) and
  ``amount_sq`` the sum of squared order amounts (the spread of revenue); by category, an order counts once
  per category it holds lines of and ``amount`` is the category's line amounts.
- ``sessions``: ``n`` browsing sessions (by the hour of their first event), ``k`` of them with a purchase.
- ``payments``: ``n`` payment attempts, ``k`` declined (``status = 'declined'``), ``fraud`` declined as
  suspected fraud and ``failed`` failed at the processor (``auth_result``).
- ``deliveries`` (days only): ``n`` deliveries delivered that day, ``amount`` the sum of their ``delay_days``
  and ``amount_sq`` the sum of squares.

Columns: ``ts`` (period start), ``value`` (the dimension's value; "all" for total), then the figures above
(absent ones are 0). Region is the order's region as analytics defines it (shipping region, else the store's).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import polars as pl

from analytics import facts
from data.access import DataAccess

TOTAL = "all"
SOURCES = ("orders", "sessions", "payments", "deliveries")
# Which source a metric is computed from (see watch.METRICS).
SOURCE_OF = {"orders": "orders", "revenue": "orders", "conversion": "sessions",
             "payment_declines": "payments", "payment_failures": "payments", "delivery_delay": "deliveries"}
_UNIT = {"hour": "h", "day": "D"}
COLUMNS = ("ts", "value", "n", "k", "amount", "amount_sq", "fraud", "failed")
FIGURES = COLUMNS[2:]
PROCESSING_ERROR = "declined_processing_error"
SESSION_MARGIN = dt.timedelta(hours=2)  # sessions last minutes; their late events are read this far past until


def _period(col: ir.TimestampValue, grain: str) -> ir.TimestampValue:
    if grain not in _UNIT:
        raise ValueError(f"grain must be 'hour' or 'day', got {grain!r}")
    return col.truncate(_UNIT[grain])


def _orders(access: DataAccess, merchant_id: int, dimension: str, since: dt.datetime, until: dt.datetime,
            grain: str) -> ir.Table:
    o = facts.table(access, "orders")
    o = o.filter((o.merchant_id == merchant_id) & (o.order_type == facts.SALE) & (o.status != facts.CANCELLED)
                 & (o.order_ts >= since) & (o.order_ts < until))
    if dimension == "category":
        lines = facts.table(access, "order_lines")
        p = facts.table(access, "products")
        oo = o.select("order_id", ts=_period(o.order_ts, grain))
        pp = p.select(pid=p.product_id, category=p.category.fill_null("(no category)"))
        ll = lines.select("order_id", "product_id", "line_amount")
        j = ll.join(oo, "order_id").join(pp, ll.product_id == pp.pid)
        per = j.group_by("order_id", "ts", value=j.category).aggregate(amount=j.line_amount.sum())
        return per.group_by("ts", "value").aggregate(
            n=per.count(), amount=per.amount.sum().cast("float64"),
            amount_sq=(per.amount.cast("float64") ** 2).sum())
    if dimension == "region":
        s = facts.table(access, "stores")
        ss = s.select(sid=s.store_id, sregion=s.region)
        o = o.left_join(ss, o.store_id == ss.sid)
        value = ibis.coalesce(o.shipping_region, o.sregion).fill_null("(no region)")
    elif dimension == "total":
        value = ibis.literal(TOTAL)
    else:
        value = o[dimension].fill_null("(not recorded)")
    amount = o.net_amount.cast("float64").fill_null(0)
    return o.group_by(ts=_period(o.order_ts, grain), value=value).aggregate(
        n=o.count(), amount=amount.sum(), amount_sq=(amount ** 2).sum())


def _sessions(access: DataAccess, merchant_id: int, dimension: str, since: dt.datetime, until: dt.datetime,
              grain: str) -> ir.Table:
    e = facts.table(access, "interactions")
    # A session that starts before ``until`` may end after it: its later events (a purchase) count when they
    # are there; the check leaves out the last hour, whose sessions may still be open (see detection).
    e = e.filter((e.merchant_id == merchant_id) & (e.event_ts >= since)
                 & (e.event_ts < until + SESSION_MARGIN))
    per = e.group_by("session_id").aggregate(
        first=e.event_ts.min(), channel=e.channel.max(), bought=(e.event_type == "purchase").any())
    per = per.filter(per.first < until)
    value = per.channel.fill_null("(not recorded)") if dimension == "channel" else ibis.literal(TOTAL)
    return per.group_by(ts=_period(per.first, grain), value=value).aggregate(
        n=per.count(), k=per.bought.cast("int64").sum())


def _payments(access: DataAccess, merchant_id: int, dimension: str, since: dt.datetime, until: dt.datetime,
              grain: str) -> ir.Table:
    p = facts.table(access, "payments")
    p = p.filter((p.merchant_id == merchant_id) & (p.paid_ts >= since) & (p.paid_ts < until))
    value = p.method.fill_null("(not recorded)") if dimension == "payment_method" else ibis.literal(TOTAL)
    return p.group_by(ts=_period(p.paid_ts, grain), value=value).aggregate(
        n=p.count(), k=(p.status == "declined").cast("int64").sum(),
        fraud=(p.auth_result == "declined_suspected_fraud").cast("int64").sum(),
        failed=(p.auth_result == PROCESSING_ERROR).cast("int64").sum())


def _deliveries(access: DataAccess, merchant_id: int, dimension: str, since: dt.datetime, until: dt.datetime,
                grain: str) -> ir.Table:
    d = facts.table(access, "deliveries")
    d = d.filter((d.merchant_id == merchant_id) & d.delay_days.notnull()
                 & (d.delivered_date >= since.date()) & (d.delivered_date < until.date()))
    value = d.region.fill_null("(no region)") if dimension == "region" else ibis.literal(TOTAL)
    delay = d.delay_days.cast("float64")
    return d.group_by(ts=d.delivered_date.cast("timestamp"), value=value).aggregate(
        n=d.count(), amount=delay.sum(), amount_sq=(delay ** 2).sum())


_READERS = {"orders": _orders, "sessions": _sessions, "payments": _payments, "deliveries": _deliveries}


def load_series(access: DataAccess, merchant_id: int, source: str, dimension: str, since: dt.datetime,
                until: dt.datetime, grain: str = "hour") -> pl.DataFrame:
    """One source's figures per period and dimension value over ``[since, until)`` (see the module doc).

    Periods with no rows are absent; ``expected.complete_grid`` fills them with zeros."""
    if source not in _READERS:
        raise ValueError(f"unknown series source {source!r}; known: {', '.join(SOURCES)}")
    frame = access.to_polars(_READERS[source](access, int(merchant_id), dimension, since, until, grain))
    for col in FIGURES:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(0.0).alias(col))
    return frame.select(
        pl.col("ts").cast(pl.Datetime("us")), pl.col("value").cast(pl.Utf8),
        *[pl.col(c).cast(pl.Float64).fill_null(0.0) for c in FIGURES])
