"""Failed checkouts of the planted payment outages: the buyers an outage turned away did try to pay.

A payment outage (incidents.py) loses most of one region's orders for some hours. Those buyers reached the
checkout: each leaves an order the shop cancelled (its basket drawn as any order's, no promotion, no stock taken,
no delivery) and 1 to 3 payment attempts a minute or few apart that the processor failed (`declined_processing_error`). A
real provider failure looks like this in a shop's data: declines jump in the hours where orders fall.

Drawn from the merchant's own ``outages`` stream after every other table, with the next free order and payment
keys, so every other row is exactly what it was before this module. Card, device, network and email identities
come from signals.build_signals with the merchant's ``signals`` stream: its salt and per-customer draws are the
first it makes, so a known buyer's failed attempts carry that buyer's own cards and devices.
"""

from __future__ import annotations

import numpy as np

from data.generator import baskets, facts
from data.generator.geo import FRAUD_COUNTRIES, NEIGHBOURS
from data.generator.payments import STATUSES, OrderView, Payments, build_payments
from data.generator.signals import build_signals
from data.generator.writer import Cat
from data.tables import AUTH_RESULTS

SECOND_ATTEMPT_PROB = 0.55  # buyers who try again after the first failure
THIRD_ATTEMPT_PROB = 0.3  # of those, who try a third time
RETRY_GAP_S = (40, 240)  # seconds between attempts
FAILED = AUTH_RESULTS.index("declined_processing_error")
CANCELLED = facts.ORDER_STATUSES.index("cancelled")


def emit_failed_checkouts(emit, job, lost: dict, cat, cal, cust_signup, cust_country, countries, regions,
                          n_days: int, day0: int, n_orders: int, n_payments: int) -> None:
    """Emit the cancelled orders and failed payments of ``lost`` (orders of the merchant's arrays, lost to a
    payment outage; legitimate ones only). Keys continue after ``n_orders`` orders and ``n_payments`` payments."""
    n = len(lost["day"])
    if not n:
        return
    p, mid = job.profile, job.merchant_id
    rng = job.rng("outages")
    order_ids = mid * 1_000_000_000 + n_orders + np.arange(1, n + 1, dtype=np.int64)
    cust_ids = mid * 100_000_000 + 1 + lost["customer"].astype(np.int64)

    lines = baskets.build_lines(lost["kind"], lost["day"], cal, cat, p.trade, len(p.categories), rng)
    price = cat.price_cents[lines.product]
    line_amount = lines.qty.astype(np.int64) * price
    gross = np.bincount(lines.order, weights=line_amount, minlength=n).astype(np.int64)
    no_discount = np.zeros(n, dtype=np.int64)
    shipping = np.where((lost["channel"] != facts.STORE) & (gross < p.free_shipping_cents), p.shipping_fee_cents, 0)
    emit("main.orders", facts.order_columns(job, lost, order_ids, np.full(n, CANCELLED), np.full(n, -1), gross,
                                            no_discount, shipping, regions, countries))
    starts = np.concatenate([[0], np.cumsum(np.bincount(lines.order, minlength=n))])
    emit("main.order_lines", {
        "order_id": order_ids[lines.order], "line_no": (np.arange(len(lines.order)) - starts[lines.order] + 1
                                                        ).astype(np.int32),
        "merchant_id": np.full(len(lines.order), mid), "product_id": cat.product_id[lines.product],
        "quantity": lines.qty, "unit_price": price, "discount_amount": np.zeros(len(lines.order), dtype=np.int64),
        "line_amount": line_amount, "unit_cost": cat.cost_cents[lines.product],
    })

    yes, no = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    view = OrderView(facts.order_ts(job, lost), lost["day"], lost["customer"], gross + shipping, lost["method"],
                     lost["channel"], yes, no, yes, lost["pattern"], lost["group"], lost["country"])
    first = build_payments(view, cust_country, cust_signup, len(NEIGHBOURS[p.country]), len(FRAUD_COUNTRIES),
                           n_days, rng)  # one declined attempt per order (cancelled, declined as final)
    tries = 1 + (rng.random(n) < SECOND_ATTEMPT_PROB) * (1 + (rng.random(n) < THIRD_ATTEMPT_PROB))
    at = np.repeat(np.arange(n), tries)
    nth = np.arange(len(at)) - np.repeat(np.cumsum(tries) - tries, tries)
    gap = rng.integers(*RETRY_GAP_S, size=len(at)) * 1_000_000
    pay = Payments(at, first.paid_ts_us[at] + nth * gap, first.amount_cents[at], first.method[at],
                   np.full(len(at), STATUSES.index("declined"), dtype=np.int8), first.card_country[at],
                   first.billing_country[at], first.ip_country[at], first.ship_country[at], first.device[at],
                   first.account_age[at], np.zeros(len(at), dtype=bool), np.full(len(at), -1), first.pattern[at])
    sig = build_signals(view, pay, cust_country, countries, p.country, job.rng("signals"))
    sig.auth[:] = FAILED
    pay_ids = mid * 10_000_000_000 + n_payments + np.arange(1, len(at) + 1, dtype=np.int64)
    emit("main.payments", facts.payment_columns(mid, pay_ids, order_ids, cust_ids, lost["customer"], pay, sig,
                                                countries, day0))
