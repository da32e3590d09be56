"""One merchant, start to finish: draw every part, then append its rows to the warehouse.

Each part draws from its own generator seeded by (seed, merchant, part), so a
merchant's rows do not depend on the other merchants or on the order of work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data.generator import baskets, facts, outages, tables_out
from data.generator.calendar import build_calendar
from data.generator.catalogue import build_catalogue
from data.generator.customers import build_customers
from data.generator.fraud import CARD_TESTING, CARD_TESTING_DECLINE, build_fraud
from data.generator.geo import FRAUD_COUNTRIES, NEIGHBOURS, region_table
from data.generator.incidents import Incident, keep_mask
from data.generator.inventory import fulfil, simulate
from data.generator.orders import CHANNELS, PAY_METHODS, draw_arrivals, draw_channels, draw_pay_methods, draw_seconds
from data.generator.sizes import MerchantProfile, SizeSpec

PARTS = ("catalogue", "calendar", "customers", "arrivals", "fraud", "orders", "incidents", "baskets", "status",
         "inventory", "promotions", "deliveries", "returns", "payments", "events", "signals", "outages")  # append only
LEGIT_CANCEL_PROB = 0.03
FRAUD_REVIEW_CANCEL_PROB = 0.08
STORE = CHANNELS.index("store")


@dataclass(frozen=True)
class MerchantJob:
    merchant_id: int
    profile: MerchantProfile
    spec: SizeSpec
    start: dt.date
    end: dt.date
    seed: int
    incidents: tuple[Incident, ...]

    def rng(self, part: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.merchant_id, PARTS.index(part)])


def _take(arrays: dict, idx: np.ndarray) -> dict:
    return {k: v[idx] for k, v in arrays.items()}


def build_merchant(job: MerchantJob, emit) -> None:
    """Generate every table of one merchant and hand each to ``emit(qualified_name, columns)``."""
    p, spec, mid = job.profile, job.spec, job.merchant_id
    n_days = (job.end - job.start).days + 1
    n_cat = len(p.categories)
    day0 = int(np.datetime64(job.start, "D").astype(np.int64))
    regions, region_w, cities = region_table(p.country)
    countries = [p.country, *NEIGHBOURS[p.country], *FRAUD_COUNTRIES]
    n_phys = min(spec.physical_stores, len(regions))

    cat = build_catalogue(p, mid, spec.skus_per_merchant, n_days, spec.bundles_per_merchant, job.rng("catalogue"))
    cal = build_calendar(p, job.start, job.end, cat.category_share(n_cat), job.rng("calendar"))
    cust = build_customers(p, mid, spec.customers_per_merchant, cal.factor, job.rng("customers"))
    arr = draw_arrivals(cust, cal.factor, spec.orders_per_merchant, job.rng("arrivals"))
    fr = build_fraud(spec.orders_per_merchant, n_days, cust.signup_idx, cust.churn_idx, job.rng("fraud"))

    # Fraud accounts join the customer table (opened on the day of the fraud, never seen again).
    rng = job.rng("orders")
    n_legit_cust = len(cust)
    k = fr.n_new_accounts
    cust_signup = np.concatenate([cust.signup_idx, fr.new_account_day])
    cust_country = np.concatenate([cust.country_code, np.zeros(k, np.int16)])
    cust_region = np.concatenate([cust.region_code, rng.choice(len(regions), size=k, p=region_w).astype(np.int16)])
    n_all_cust = n_legit_cust + k

    n_l, n_f = len(arr.day), len(fr)
    o = {
        "day": np.concatenate([arr.day, fr.day]).astype(np.int32),
        "customer": np.concatenate([arr.customer, np.where(fr.new_account >= 0, n_legit_cust + fr.new_account,
                                                            fr.customer)]).astype(np.int32),
        "pattern": np.concatenate([np.full(n_l, -1, np.int8), fr.pattern]),
        "group": np.concatenate([np.full(n_l, -1, np.int32), fr.group]),
        "kind": np.concatenate([np.full(n_l, baskets.NORMAL, np.int8), fr.kind]),
    }
    channel = draw_channels(n_l, p.channel_mix, rng)
    o["channel"] = np.concatenate([channel, np.where(rng.random(n_f) < 0.7, 0, 1).astype(np.int8)])
    o["sec"] = np.concatenate([draw_seconds(channel, rng), fr.sec]).astype(np.int32)
    has = o["customer"] >= 0
    ci = np.maximum(o["customer"], 0)
    guest_abroad = rng.random(len(has)) < 0.03
    o["country"] = np.where(has, cust_country[ci],
                            np.where(guest_abroad, rng.integers(1, 1 + len(NEIGHBOURS[p.country]), len(has)), 0)
                            ).astype(np.int16)
    o["country"][o["pattern"] >= 0] = 0  # fraud ships to a home address (a reshipper)
    guest_region = rng.choice(len(regions), size=len(has), p=region_w)
    home_region = np.where(has & (cust_region[ci] >= 0), cust_region[ci], guest_region)
    o["region"] = np.where(o["country"] == 0, home_region, -1).astype(np.int16)  # -1: shipped abroad
    # In-store sales: the store of the buyer's region if there is one, else one picked by size.
    store_w = region_w[:n_phys] / region_w[:n_phys].sum()
    random_store = rng.choice(n_phys, size=len(has), p=store_w)
    in_store = o["channel"] == STORE
    region_store = np.where((o["region"] >= 0) & (o["region"] < n_phys), o["region"], random_store)
    o["store"] = np.where(in_store, 2 + region_store, 0).astype(np.int16)  # 0 online shop, 1 warehouse, 2.. stores
    o["region"] = np.where(in_store, region_store, o["region"]).astype(np.int16)
    o["country"] = np.where(in_store, -1, o["country"]).astype(np.int16)
    o["method"] = draw_pay_methods(o["channel"], p.country, rng)
    o["method"][o["pattern"] >= 0] = PAY_METHODS.index("card")

    keep, outage = keep_mask(list(job.incidents), mid, job.start, o["day"], o["sec"], o["region"], regions,
                             job.rng("incidents"))
    lost = _take(o, np.flatnonzero(outage & (o["pattern"] < 0)))  # their buyers tried to pay: outages.py
    lost = _take(lost, np.argsort(lost["day"].astype(np.int64) * 86400 + lost["sec"]))
    o = _take(o, np.flatnonzero(keep))
    o = _take(o, np.argsort(o["day"].astype(np.int64) * 86400 + o["sec"]))  # time order (quicksort: deterministic)
    lines = baskets.build_lines(o["kind"], o["day"], cal, cat, p.trade, n_cat, job.rng("baskets"))

    # Cancellations are known before stock is taken: cancelled orders hold no stock.
    rng = job.rng("status")
    n = len(o["day"])
    u = rng.random(n)
    o["declined_final"] = (o["pattern"] == CARD_TESTING) & (u < CARD_TESTING_DECLINE)
    o["cancelled"] = np.where(o["pattern"] < 0, u < LEGIT_CANCEL_PROB,
                              o["declined_final"] | ((o["pattern"] != CARD_TESTING) & (u < FRAUD_REVIEW_CANCEL_PROB)))

    P = len(cat)
    l_day = o["day"][lines.order]
    l_cancelled = o["cancelled"][lines.order]
    live = ~l_cancelled
    demand = np.bincount(l_day[live].astype(np.int64) * P + lines.product[live], weights=lines.qty[live],
                         minlength=n_days * P).astype(np.int32).reshape(n_days, P)
    stock = simulate(demand, cat.launch_idx, job.rng("inventory"))
    del demand
    # Lines are in order (= time) order already, so the line position serves as the time key.
    kept = fulfil(l_day, lines.product, lines.qty, np.arange(len(l_day)), l_cancelled, stock)
    ok = kept > 0
    l_order, l_prod, l_qty = lines.order[ok], lines.product[ok], kept[ok]
    del lines, l_day, l_cancelled, live, kept, ok

    # Orders that kept no line were never placed (the shop showed everything as sold out).
    has_line = np.zeros(n, dtype=bool)
    has_line[l_order] = True
    new_pos = np.cumsum(has_line) - 1
    o = _take(o, np.flatnonzero(has_line))
    l_order = new_pos[l_order]
    n = len(o["day"])

    tables_out.emit_static(emit, job, cat, cal, cust, fr, cust_signup, cust_country, cust_region, arr, stock,
                           countries, regions, cities, n_phys)
    del stock
    n_orders, n_payments = facts.emit_orders(emit, job, o, l_order, l_prod, l_qty, cat, cal, cust_signup,
                                             cust_country, countries, regions, n_all_cust, day0, n_days)
    outages.emit_failed_checkouts(emit, job, lost, cat, cal, cust_signup, cust_country, countries, regions, n_days,
                                  day0, n_orders, n_payments)
