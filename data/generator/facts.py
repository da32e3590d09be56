"""Rows of the merchant's fact tables: orders, lines, payments, deliveries, interactions (+ their truth)."""

from __future__ import annotations

import numpy as np

from data.generator.calendar import PROMO_CHANNELS
from data.generator.deliveries import build_deliveries
from data.generator.fraud import PATTERNS
from data.generator.funnel import EVENT_TYPES, build_events
from data.generator.geo import FRAUD_COUNTRIES, INTERNATIONAL, NEIGHBOURS
from data.generator.orders import CHANNELS, PAY_METHODS
from data.generator.payments import DEVICES, STATUSES, OrderView, build_payments
from data.generator.signals import build_signals
from data.generator.tables_out import US_PER_DAY, prefixed, store_ids
from data.generator.writer import Cat, Nullable
from data.tables import AUTH_RESULTS

ORDER_STATUSES = ("completed", "cancelled", "returned")
COUPON_PROB = 0.04  # orders outside promotions with a 10% coupon
STORE = CHANNELS.index("store")


def _first_orders(customer: np.ndarray) -> np.ndarray:
    """True on each customer's first order (orders are in time order); guests count as new."""
    first = customer < 0
    known = np.flatnonzero(customer >= 0)
    _, idx = np.unique(customer[known], return_index=True)
    first[known[idx]] = True
    return first


def _promotions(o, l_order, l_prod, cat, cal, rng):
    """Promotion per order (-1 none) and discount percent per line."""
    pr = cal.promotions
    n = len(o["day"])
    promo = cal.promo_of_day[o["day"]]
    has = promo >= 0
    pi = np.maximum(promo, 0)
    chan = np.where(has, pr.channel[pi], -1)
    ok = has & ((chan < 0) | (chan == o["channel"]))  # promo channels web/app share CHANNELS codes 0/1
    first = _first_orders(o["customer"])
    aud = pr.audience[pi]
    ok &= (aud == 0) | ((aud == 1) & first) | ((aud == 2) & ~first)
    pcat = pr.category[pi]
    line_ok = ok[l_order] & ((pcat[l_order] < 0) | (cat.category[l_prod] == pcat[l_order]))
    used = np.bincount(l_order[line_ok], minlength=n) > 0
    order_promo = np.where(used, promo, -1)
    line_pct = np.where(line_ok, pr.discount_pct[pi][l_order], 0.0)
    coupon = ~used & (rng.random(n) < COUPON_PROB)
    line_pct = np.where(coupon[l_order], 10.0, line_pct)
    return order_promo, line_pct


def emit_orders(emit, job, o, l_order, l_prod, l_qty, cat, cal, cust_signup, cust_country, countries, regions,
                n_all_cust, day0, n_days) -> tuple[int, int]:
    """Emit the merchant's facts; returns how many orders and payments (the next free keys follow them)."""
    p, mid, spec = job.profile, job.merchant_id, job.spec
    n, n_l = len(o["day"]), len(l_order)
    order_ids = mid * 1_000_000_000 + np.arange(1, n + 1, dtype=np.int64)
    cust_ids = mid * 100_000_000 + 1 + o["customer"].astype(np.int64)
    ts = order_ts(job, o)

    order_promo, line_pct = _promotions(o, l_order, l_prod, cat, cal, job.rng("promotions"))
    price = cat.price_cents[l_prod]
    line_gross = l_qty * price
    line_disc = np.round(line_gross * line_pct / 100.0).astype(np.int64)
    gross = np.bincount(l_order, weights=line_gross, minlength=n).astype(np.int64)
    disc = np.bincount(l_order, weights=line_disc, minlength=n).astype(np.int64)
    shipping = np.where((o["channel"] != STORE) & (gross - disc < p.free_shipping_cents), p.shipping_fee_cents, 0)
    net = gross - disc + shipping

    shipped = ~o["cancelled"] & (o["channel"] != STORE)
    dv = build_deliveries(p.country, regions, o["day"], o["sec"], o["region"], shipped, n_days, day0,
                          job.rng("deliveries"))
    delivered = np.zeros(n, bool)
    delivered[dv.order[dv.delivered >= 0]] = True
    rng = job.rng("returns")
    returned = (~o["cancelled"] & (o["pattern"] < 0) & (delivered | (o["channel"] == STORE))
                & (rng.random(n) < p.return_rate))
    status = np.where(o["cancelled"], 1, np.where(returned, 2, 0))

    emit("main.orders", order_columns(job, o, order_ids, status, order_promo, gross, disc, shipping, regions,
                                      countries))
    line_start = np.concatenate([[0], np.cumsum(np.bincount(l_order, minlength=n))])
    line_no = np.arange(n_l) - line_start[l_order] + 1
    emit("main.order_lines", {
        "order_id": order_ids[l_order], "line_no": line_no.astype(np.int32), "merchant_id": np.full(n_l, mid),
        "product_id": cat.product_id[l_prod], "quantity": l_qty, "unit_price": price, "discount_amount": line_disc,
        "line_amount": line_gross - line_disc, "unit_cost": cat.cost_cents[l_prod],
    })

    view = OrderView(ts, o["day"], o["customer"], net, o["method"], o["channel"], o["cancelled"], returned,
                     o["declined_final"], o["pattern"], o["group"], o["country"])
    pay = build_payments(view, cust_country, cust_signup, len(NEIGHBOURS[p.country]), len(FRAUD_COUNTRIES), n_days,
                         job.rng("payments"))
    # Own stream, drawn last: every other table is what it was before payments had identities.
    sig = build_signals(view, pay, cust_country, countries, p.country, job.rng("signals"))
    n_pay = len(pay)
    pay_ids = mid * 10_000_000_000 + np.arange(1, n_pay + 1, dtype=np.int64)
    emit("main.payments", payment_columns(mid, pay_ids, order_ids, cust_ids, o["customer"], pay, sig, countries,
                                          day0))
    fraud = np.flatnonzero(pay.pattern >= 0)
    emit("truth.fraud", {"payment_id": pay_ids[fraud], "merchant_id": np.full(len(fraud), mid),
                         "pattern": Cat(pay.pattern[fraud], list(PATTERNS))})
    del pay, sig

    n_dv = len(dv.order)
    open_ = dv.delivered < 0
    emit("main.deliveries", {
        "order_id": order_ids[dv.order], "merchant_id": np.full(n_dv, mid), "partner": Cat(dv.partner, dv.partners),
        "region": Cat(dv.region, dv.regions), "shipped_date": day0 + dv.shipped, "promised_date": day0 + dv.promised,
        "delivered_date": Nullable(day0 + dv.delivered, open_),
        "delay_days": Nullable(dv.delivered - dv.promised, open_),
    })
    pp, rr = np.meshgrid(np.arange(len(dv.partners)), np.arange(len(dv.regions)), indexing="ij")
    emit("truth.delivery_delays", {
        "merchant_id": np.full(pp.size, mid), "partner": Cat(pp.ravel(), dv.partners),
        "region": Cat(rr.ravel(), dv.regions), "mean_delay_days": dv.mean_delay.ravel(),
    })

    ev = build_events(ts, o["channel"], o["customer"], l_order, l_prod, cat.popularity, cat.launch_idx,
                      n_all_cust, cust_signup, day0 * US_PER_DAY, spec.non_purchase_sessions_per_order,
                      job.rng("events"))
    n_ev = len(ev.ts_us)
    emit("main.interactions", {
        "event_id": mid * 100_000_000_000 + np.arange(1, n_ev + 1, dtype=np.int64),
        "merchant_id": np.full(n_ev, mid), "session_id": mid * 10_000_000_000 + 1 + ev.session.astype(np.int64),
        "customer_id": Nullable(mid * 100_000_000 + 1 + ev.customer, ev.customer < 0), "event_ts": ev.ts_us,
        "event_type": Cat(ev.type, list(EVENT_TYPES)),
        "product_id": Nullable(cat.product_id[np.maximum(ev.product, 0)], ev.product < 0),
        "order_id": Nullable(order_ids[np.maximum(ev.order, 0)], ev.order < 0),
        "channel": Cat(ev.channel, list(PROMO_CHANNELS)),
    })
    return n, n_pay


def order_columns(job, o, order_ids, status, order_promo, gross, disc, shipping, regions, countries) -> dict:
    """main.orders columns of the orders ``o`` (status: index into ORDER_STATUSES; order_promo -1: none)."""
    mid, n = job.merchant_id, len(order_ids)
    in_store = o["channel"] == STORE
    ship_region = np.where(o["region"] < 0, len(regions), o["region"])
    cust_ids = mid * 100_000_000 + 1 + o["customer"].astype(np.int64)
    return {
        "order_id": order_ids, "merchant_id": np.full(n, mid),
        "external_ref": prefixed(f"{job.profile.country}-", order_ids - mid * 1_000_000_000, 8),
        "store_id": store_ids(mid, job.spec.physical_stores)[o["store"]],
        "customer_id": Nullable(cust_ids, o["customer"] < 0), "order_ts": order_ts(job, o),
        "order_type": Cat(np.zeros(n), ["sale"]),
        "status": Cat(status, list(ORDER_STATUSES)), "channel": Cat(o["channel"], list(CHANNELS)),
        "payment_method": Cat(o["method"], list(PAY_METHODS)),
        "promotion_id": Nullable(mid * 10_000 + 1 + order_promo, order_promo < 0),
        "gross_amount": gross, "discount_amount": disc, "shipping_amount": shipping,
        "net_amount": gross - disc + shipping,
        "shipping_region": Cat(np.where(in_store, -1, ship_region), [*regions, INTERNATIONAL]),
        "shipping_country": Cat(o["country"], countries),
    }


def order_ts(job, o) -> np.ndarray:
    day0 = int(np.datetime64(job.start, "D").astype(np.int64))
    return (day0 + o["day"].astype(np.int64)) * US_PER_DAY + o["sec"].astype(np.int64) * 1_000_000


def payment_columns(mid, pay_ids, order_ids, cust_ids, order_customer, pay, sig, countries, day0) -> dict:
    """main.payments columns of ``pay`` (payments.Payments) with its identities ``sig`` (signals.Signals)."""
    n_pay, pc = len(pay_ids), pay.order
    return {
        "payment_id": pay_ids, "merchant_id": np.full(n_pay, mid), "order_id": order_ids[pc],
        "customer_id": Nullable(cust_ids[pc], order_customer[pc] < 0), "paid_ts": pay.paid_ts_us,
        "amount": pay.amount_cents, "method": Cat(pay.method, list(PAY_METHODS)),
        "status": Cat(pay.status, list(STATUSES)), "card_country": Cat(pay.card_country, countries),
        "billing_country": Cat(pay.billing_country, countries), "ip_country": Cat(pay.ip_country, countries),
        "shipping_country": Cat(pay.ship_country, countries), "device": Cat(pay.device, list(DEVICES)),
        "account_age_days": pay.account_age, "chargeback": pay.chargeback,
        "chargeback_date": Nullable(day0 + pay.chargeback_day, pay.chargeback_day < 0),
        "card_fingerprint": sig.card, "device_id": sig.device, "ip_prefix": sig.ip_prefix,
        "email_domain": Cat(sig.email_codes, sig.email_labels), "auth_result": Cat(sig.auth, list(AUTH_RESULTS)),
    }
