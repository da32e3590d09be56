"""The rows behind a chart: every order line, order or shipment a figure was computed from.

Each kind of detail restates one fact table of ``analytics.facts`` row by row, so the rows add up to
the figures shown: summing ``line_amount`` of the ``lines`` detail where ``in_revenue`` gives the
revenue, counting the ``orders`` detail gives the orders, and so on. Results are never cut: a download
holds every row (the dashboard builds the file only when someone asks for it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ibis.expr.types as ir
import polars as pl

from analytics import facts, frames
from analytics.filters import Filters
from data.access import DataAccess


def _lines(access: DataAccess, f: Filters) -> ir.Table:
    r = facts.revenue_lines(access, f)
    o = access.table("orders").select("order_id", "merchant_id")
    j = r.join(o, r.order_id == o.order_id)
    return j.select(
        r.order_id, r.line_no, o.merchant_id, r.order_ts, r.order_type, r.status, r.store_id, r.channel,
        r.payment_method, r.customer_id, r.product_id, r.sku, r.product_name, r.category, r.quantity,
        r.list_amount, r.discount_amount, r.line_amount, r.cost, r.in_revenue,
    )


def _orders(access: DataAccess, f: Filters) -> ir.Table:
    o = facts.placed_orders(access, f)
    return o.select(
        "order_id", "merchant_id", "external_ref", "order_ts", "status", "store_id", "channel", "payment_method",
        "customer_id", "gross_amount", "discount_amount", "shipping_amount", "net_amount",
    )


def _deliveries(access: DataAccess, f: Filters) -> ir.Table:
    o = facts.placed_orders(access, f)
    d = access.table("deliveries")
    d = d.filter(d.order_id.isin(o.order_id))
    return d.select(
        "order_id", "merchant_id", "partner", "region", "shipped_date", "promised_date", "delivered_date",
        "delay_days",
    )


@dataclass(frozen=True)
class DetailKind:
    key: str
    noun: str  # plural, as shown: "order lines"
    doc: str
    build: Callable[[DataAccess, Filters], ir.Table]
    sort: tuple[str, ...]


DETAILS: tuple[DetailKind, ...] = (
    DetailKind("lines", "order lines",
               "Revenue lines (see analytics.facts) with their order: order_id, line_no, merchant_id, order_ts, "
               "order_type, status, store_id, channel, payment_method, customer_id, product_id, sku, product_name, "
               "category, quantity (units, negative on returns), list_amount, discount_amount, line_amount, cost "
               "(money per unit or null), in_revenue (bool: counts toward revenue). Sorted by order_ts, order_id, "
               "line_no.", _lines, ("order_ts", "order_id", "line_no")),
    DetailKind("orders", "orders",
               "Non-cancelled sale orders in scope: order_id, merchant_id, external_ref, order_ts, status, "
               "store_id, channel, payment_method, customer_id, gross_amount, discount_amount, shipping_amount, "
               "net_amount (money). Sorted by order_ts, order_id.", _orders, ("order_ts", "order_id")),
    DetailKind("deliveries", "shipments",
               "Shipments of those orders: order_id, merchant_id, partner, region (destination), shipped_date, "
               "promised_date, delivered_date, delay_days. Sorted by shipped_date, order_id.", _deliveries,
               ("shipped_date", "order_id")),
)
DETAILS_BY_KEY = {d.key: d for d in DETAILS}


def _kind(kind: str) -> DetailKind:
    try:
        return DETAILS_BY_KEY[kind]
    except KeyError:
        raise ValueError(f"unknown detail {kind!r}; known: {', '.join(DETAILS_BY_KEY)}") from None


def compute_details(access: DataAccess, f: Filters, kind: str = "lines") -> pl.DataFrame:
    """Every row of detail ``kind`` (see ``DETAILS``) matching the filters, uncut; money as Float64."""
    spec = _kind(kind)
    return frames.normalise(access.to_polars(spec.build(access, f).order_by(list(spec.sort))))


def compute_detail_count(access: DataAccess, f: Filters, kind: str = "lines") -> int:
    """How many rows ``compute_details`` would return (one count query, no rows fetched)."""
    return int(access.scalar(_kind(kind).build(access, f).count()) or 0)
