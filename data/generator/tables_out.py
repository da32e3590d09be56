"""Rows of the merchant's dimension tables, inventory and planted calendar/customer/stock truth."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data.generator import baskets
from data.generator.calendar import AUDIENCES, PROMO_CHANNELS
from data.generator.customers import GENDERS, TIERS
from data.generator.inventory import stockout_spells
from data.generator.writer import Cat, Nullable

US_PER_DAY = 86_400_000_000


def prefixed(prefix: str, numbers: np.ndarray, width: int = 7) -> pa.Array:
    """Strings like `GB-0000123`, built in Arrow (fast for millions)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def store_ids(merchant_id: int, n_phys: int) -> np.ndarray:
    return merchant_id * 100 + np.arange(1, n_phys + 3, dtype=np.int32)


def warehouse_id(merchant_id: int) -> int:
    return merchant_id * 100 + 2


def expected_units(cal, cat, expected_orders: np.ndarray, trade: str, n_categories: int) -> np.ndarray:
    """(days, products) mean units demanded: the distribution baskets draw from (before stock-outs)."""
    n_days, P = cal.n_days, len(cat)
    live = np.arange(n_days)[:, None] >= cat.launch_idx[None, :]
    w = live * cat.popularity[None, :]
    share = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    r = baskets.category_resample_prob(cal, cat, n_categories)
    promo = cal.promo_of_day
    for d in np.flatnonzero(r > 0):
        c = cal.promotions.category[promo[d]]
        wc = w[d] * (cat.category == c)
        share[d] = share[d] * (1 - r[d]) + r[d] * wc / max(wc.sum(), 1e-12)
    per_order = (1 + baskets.EXTRA_LINES_MEAN) * share
    if cat.bundles:
        for b in cat.bundles:
            per_order[:, b] += baskets.BUNDLE_PROB / len(cat.bundles)
    return expected_orders[:, None] * per_order * baskets.mean_qty(trade)


def emit_static(emit, job, cat, cal, cust, fr, cust_signup, cust_country, cust_region, arr, stock, countries,
                regions, cities, n_phys) -> None:
    p, mid = job.profile, job.merchant_id
    day0 = int(np.datetime64(job.start, "D").astype(np.int64))
    n_days = cal.n_days
    created = (day0 - 400) * US_PER_DAY + 9 * 3_600_000_000
    emit("main.merchants", {"merchant_id": np.array([mid]), "name": [p.name], "country": [p.country],
                            "currency": [p.currency], "category": [p.trade], "created_at": np.array([created])})
    kinds = ["online", "warehouse"] + ["store"] * n_phys
    emit("main.stores", {
        "store_id": store_ids(mid, n_phys), "merchant_id": np.full(n_phys + 2, mid),
        "name": [f"{p.name} Online", f"{p.name} Fulfilment Centre"] + [f"{p.name} {c}" for c in cities[:n_phys]],
        "kind": kinds, "region": [None, regions[0]] + regions[:n_phys], "city": ["", cities[0]] + cities[:n_phys],
    })

    n_legit, k = len(cust), fr.n_new_accounts
    n_all = n_legit + k
    ids = mid * 100_000_000 + np.arange(1, n_all + 1, dtype=np.int64)
    gender = np.concatenate([cust.gender, np.full(k, -1, np.int8)])
    birth = np.concatenate([cust.birth_year, np.zeros(k, np.int32)])
    emit("main.customers", {
        "customer_id": ids, "merchant_id": np.full(n_all, mid),
        "external_id": prefixed(f"{p.country}C", np.arange(1, n_all + 1), 8),
        "signup_date": day0 + cust_signup, "country": Cat(cust_country, countries),
        "region": Cat(cust_region, regions), "gender": Cat(gender, list(GENDERS)),
        "birth_year": Nullable(birth, birth == 0),
    })
    churn = np.concatenate([cust.churn_idx, fr.new_account_day + 1])
    emit("truth.customer_profiles", {
        "customer_id": ids, "merchant_id": np.full(n_all, mid),
        "value_tier": Cat(np.concatenate([cust.tier, np.zeros(k, np.int8)]), list(TIERS)),
        "purchase_rate": np.concatenate([cust.relative_rate * arr.rate_scale, np.zeros(k)]),
        "churn_date": Nullable(day0 + churn, churn >= n_days),
    })
    P = len(cat)
    emit("main.products", {
        "product_id": cat.product_id, "merchant_id": np.full(P, mid), "sku": cat.sku, "name": cat.name,
        "category": Cat(cat.category, list(p.categories)), "brand": cat.brand, "price": cat.price_cents,
        "unit_cost": cat.cost_cents, "launch_date": day0 + cat.launch_idx, "is_merchandise": np.ones(P, bool),
    })
    if cat.bundles:
        sizes = [len(b) for b in cat.bundles]
        emit("truth.bundles", {
            "bundle_id": np.repeat(mid * 1000 + np.arange(1, len(sizes) + 1), sizes).astype(np.int32),
            "merchant_id": np.full(sum(sizes), mid), "product_id": cat.product_id[np.concatenate(cat.bundles)],
        })
    pr = cal.promotions
    n_pr = len(pr)
    promo_ids = (mid * 10_000 + np.arange(1, n_pr + 1)).astype(np.int32)
    emit("main.promotions", {
        "promotion_id": promo_ids, "merchant_id": np.full(n_pr, mid), "name": pr.names,
        "start_date": day0 + pr.start, "end_date": day0 + pr.end, "discount_pct": pr.discount_pct,
        "category": Cat(pr.category, list(p.categories)), "audience": Cat(pr.audience, list(AUDIENCES)),
        "channel": Cat(pr.channel, list(PROMO_CHANNELS)),
    })
    emit("truth.promotion_effects", {"promotion_id": promo_ids, "merchant_id": np.full(n_pr, mid),
                                     "uplift": pr.uplift})
    emit("truth.calendar_effects", {
        "merchant_id": np.full(n_days, mid), "day": cal.days, "weekday_factor": cal.weekday_factor,
        "yearly_factor": cal.yearly_factor, "holiday_factor": cal.holiday_factor, "holiday_name": cal.holiday_name,
        "payday_factor": cal.payday_factor, "trend_factor": cal.trend_factor, "promo_factor": cal.promo_factor,
        "expected_orders": arr.expected_orders,
    })

    # Inventory, demand and stock-outs (optionally only the last `inventory_days` days).
    first = 0 if job.spec.inventory_days is None else max(n_days - job.spec.inventory_days, 0)
    wh = warehouse_id(mid)
    live = (np.arange(n_days)[:, None] >= np.maximum(cat.launch_idx, 0)[None, :])
    live[:first] = False
    d_idx, p_idx = np.nonzero(live)
    emit("main.inventory_daily", {
        "day": day0 + d_idx, "merchant_id": np.full(len(d_idx), mid, np.int32),
        "store_id": np.full(len(d_idx), wh, np.int32), "product_id": cat.product_id[p_idx],
        "on_hand": stock.close[d_idx, p_idx], "units_sold": stock.sold[d_idx, p_idx],
    })
    exp = expected_units(cal, cat, arr.expected_orders, p.trade, len(p.categories))
    d2, p2 = np.nonzero(np.arange(n_days)[:, None] >= cat.launch_idx[None, :])
    emit("truth.demand_daily", {
        "day": day0 + d2, "merchant_id": np.full(len(d2), mid, np.int32), "product_id": cat.product_id[p2],
        "expected_units": exp[d2, p2], "lost_units": stock.lost[d2, p2],
    })
    del exp
    sp, sd, ed = stockout_spells(stock.close, cat.launch_idx, first)
    emit("truth.stockouts", {
        "merchant_id": np.full(len(sp), mid), "store_id": np.full(len(sp), wh), "product_id": cat.product_id[sp],
        "start_day": day0 + sd, "end_day": day0 + ed,
    })
    n_po = len(stock.po_qty)
    received = stock.po_received
    open_ = received >= n_days
    emit("main.purchase_orders", {
        "po_id": mid * 1_000_000_000 + np.arange(1, n_po + 1, dtype=np.int64),
        "merchant_id": np.full(n_po, mid), "store_id": np.full(n_po, wh),
        "product_id": cat.product_id[stock.po_product],
        "ordered_date": day0 + stock.po_ordered, "expected_date": day0 + stock.po_expected,
        "received_date": Nullable(day0 + received, open_), "quantity": stock.po_qty,
        "lead_time_days": Nullable(received - stock.po_ordered, open_),
    })
