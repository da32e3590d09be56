"""What the data in scope can answer, and the plain words for what it cannot.

Real sources lack things the generated data has: the customer shopping dataset has one purchase per
customer, no SKUs and no browsing sessions; Online Retail II has no categories, stores, payment
methods or costs. Pages decide what to say from these counts (``compute_data_coverage``) through the
pure rules of ``LIMITS``, never from a merchant's name. Counts cover the scope's whole history, not
the selected period: they describe the data, not a quiet week.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl

from analytics import facts, frames
from data.access import DataAccess

COVERAGE_COLUMNS: dict[str, str] = {
    "orders": "Non-cancelled sale orders ever.",
    "customers": "Distinct known customers with such an order.",
    "repeat_customers": "Of those, customers with two or more such orders.",
    "events": "Browsing events (interactions); sessions are not counted distinct, which is slow and not needed.",
    "products": "Merchandise products.",
    "categorised_products": "Merchandise products with a category.",
    "coded_products": "Merchandise products identified below their category (sku differs from the category).",
    "regional_orders": "Sale orders with a region: shipped to one, or sold at a store that has one.",
    "paid_orders": "Sale orders with a payment method recorded.",
    "costed_products": "Merchandise products with a catalogue unit cost.",
    "costed_lines": "1 when any order line carries a unit cost at sale, else 0 (presence only: a count would scan "
                    "every line).",
    "deliveries": "Shipment records.",
    "customers_with_gender": "Customers whose gender is known.",
    "customers_with_age": "Customers whose birth year is known.",
}


def compute_data_coverage(access: DataAccess) -> pl.DataFrame:
    """One row of counts, columns as in ``COVERAGE_COLUMNS`` (all Int64), over the scope's whole history.

    Cheap by design (it runs on each new scope or data version, before a page shows): on the 10M-order
    benchmark on 2 cores about 0.25 s for one merchant, 0.8 s for all, mostly the per-customer order count.
    """
    o = access.table("orders")
    placed = o.filter(o.order_type == facts.SALE, o.status != facts.CANCELLED)
    known = placed.filter(placed.customer_id.notnull())
    per_customer = known.group_by("customer_id").aggregate(n=known.count())
    p = access.table("products")
    p = p.filter(p.is_merchandise)
    s = access.table("stores")
    regional_stores = s.filter(s.region.notnull()).store_id
    lines = access.table("order_lines")
    costed = lines.filter(lines.unit_cost.notnull()).select("order_id").limit(1)
    c = access.table("customers")
    e = access.table("interactions")
    d = access.table("deliveries")
    parts = [
        placed.aggregate(orders=placed.count(), paid_orders=placed.count(where=placed.payment_method.notnull()),
                         regional_orders=placed.count(where=placed.shipping_region.notnull()
                                                      | placed.store_id.isin(regional_stores))),
        per_customer.aggregate(customers=per_customer.count(), repeat_customers=per_customer.count(
            where=per_customer.n >= 2)),
        e.aggregate(events=e.count()),
        p.aggregate(products=p.count(), categorised_products=p.count(where=p.category.notnull()),
                    coded_products=p.count(where=p.category.isnull() | (p.sku != p.category)),
                    costed_products=p.count(where=p.unit_cost.notnull())),
        costed.aggregate(costed_lines=costed.count()),
        d.aggregate(deliveries=d.count()),
        c.aggregate(customers_with_gender=c.count(where=c.gender.notnull()),
                    customers_with_age=c.count(where=c.birth_year.notnull())),
    ]
    expr = parts[0]
    for part in parts[1:]:
        expr = expr.cross_join(part)
    res = frames.normalise(access.to_polars(expr), counts=tuple(COVERAGE_COLUMNS))
    return res.select(list(COVERAGE_COLUMNS))


@dataclass(frozen=True)
class Limit:
    topic: str
    message: str
    applies: Callable[[Mapping[str, int]], bool]


LIMITS: tuple[Limit, ...] = (
    Limit("orders", "There are no orders in this data yet.", lambda c: c["orders"] == 0),
    Limit("conversion", "No session events in this data: conversion (sessions to orders) cannot be computed.",
          lambda c: c["events"] == 0),
    Limit("customers", "No customer identifiers in this data (every order is a guest checkout): customer "
          "figures cannot be computed.", lambda c: c["orders"] > 0 and c["customers"] == 0),
    Limit("repeat", "Every customer bought once: retention and repeat figures cannot be computed.",
          lambda c: c["customers"] > 0 and c["repeat_customers"] == 0),
    Limit("categories", "No product categories in this data: figures by category show one uncategorised group.",
          lambda c: c["products"] > 0 and c["categorised_products"] == 0),
    Limit("products", "No product identifiers below category: each category is a single pseudo-product.",
          lambda c: c["products"] > 0 and c["coded_products"] == 0),
    Limit("regions", "No regions in this data (no shipping regions, no stores with a region): the region and "
          "store comparison cannot be drawn.", lambda c: c["orders"] > 0 and c["regional_orders"] == 0),
    Limit("payments", "No payment methods recorded in this data.", lambda c: c["paid_orders"] == 0),
    Limit("margin", "No unit costs in this data: gross margin cannot be computed.",
          lambda c: c["costed_products"] == 0 and c["costed_lines"] == 0),
    Limit("deliveries", "No shipment records in this data: delivery performance cannot be computed.",
          lambda c: c["deliveries"] == 0),
    Limit("demographics", "No customer age or gender in this data: the payment mix is shown overall only.",
          lambda c: c["customers_with_gender"] == 0 and c["customers_with_age"] == 0),
)
LIMITS_BY_TOPIC = {lim.topic: lim for lim in LIMITS}


def data_limits(coverage: pl.DataFrame) -> dict[str, str]:
    """{topic: message} for every rule of ``LIMITS`` that applies to a ``compute_data_coverage`` row."""
    if coverage.height != 1:
        raise ValueError(f"coverage must have exactly one row, got {coverage.height}")
    counts = coverage.row(0, named=True)
    return {lim.topic: lim.message for lim in LIMITS if lim.applies(counts)}
