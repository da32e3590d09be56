"""What each order contains: lines drawn by popularity among launched products, planted bundles,
category promotions that pull demand into their category, and the special baskets of fraud.

Lines come out grouped by order, in the order of the input orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.calendar import Calendar
from data.generator.catalogue import Catalogue
from data.generator.sampling import TableSampler

EXTRA_LINES_MEAN = 1.3  # lines per ordinary basket = 1 + Poisson(this), before bundles
MAX_LINES = 12
BUNDLE_PROB = 0.07  # chance an ordinary basket contains one planted bundle
QTY_P = {"default": (0.82, 0.12, 0.04, 0.02), "electronics": (0.93, 0.05, 0.015, 0.005)}

# Basket kinds
NORMAL, EXPENSIVE, CHEAP_SINGLE, BULK = 0, 1, 2, 3


@dataclass
class Lines:
    order: np.ndarray  # int64 position in the merchant's order arrays (non-decreasing)
    product: np.ndarray  # int32 position in the catalogue
    qty: np.ndarray  # int32


def qty_probs(trade: str) -> np.ndarray:
    return np.asarray(QTY_P.get(trade, QTY_P["default"]))


def mean_qty(trade: str) -> float:
    return float((qty_probs(trade) * np.arange(1, 5)).sum())


def category_resample_prob(cal: Calendar, cat: Catalogue, n_categories: int) -> np.ndarray:
    """Per day, chance an ordinary line is redrawn from the promoted category.

    A category promotion with uplift u on a category with demand share s lifts
    that day's orders by 1 + s(u-1) (calendar.promo_factor); redrawing a share
    r = (s' - s)/(1 - s) of lines, s' = su/(1 + s(u-1)), multiplies demand in
    the category by u and leaves the other categories unchanged.
    """
    share = cat.category_share(n_categories)
    out = np.zeros(cal.n_days)
    promos = cal.promotions
    for i in range(len(promos)):
        c = promos.category[i]
        if c < 0:
            continue
        s, u = share[c], promos.uplift[i]
        s_new = s * u / (1 + s * (u - 1))
        out[promos.start[i]: promos.end[i] + 1] = (s_new - s) / max(1 - s, 1e-9)
    return out


def draw_launched(sampler: TableSampler, fallback: TableSampler, launch_idx: np.ndarray, day: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Products by popularity, redrawn while not launched on the day; then from the fallback pool."""
    prod = sampler.draw(len(day), rng)
    bad = np.flatnonzero(launch_idx[prod] > day)
    for _ in range(6):
        if not len(bad):
            return prod
        prod[bad] = sampler.draw(len(bad), rng)
        bad = bad[launch_idx[prod[bad]] > day[bad]]
    prod[bad] = fallback.draw(len(bad), rng)
    return prod


def build_lines(kind: np.ndarray, day: np.ndarray, cal: Calendar, cat: Catalogue, trade: str,
                n_categories: int, rng: np.random.Generator) -> Lines:
    n = len(kind)
    normal = kind == NORMAL
    n_main = np.ones(n, dtype=np.int64)
    n_main[normal] = np.minimum(1 + rng.poisson(EXTRA_LINES_MEAN, size=int(normal.sum())), MAX_LINES)
    n_main[kind == EXPENSIVE] = 1 + (rng.random(int((kind == EXPENSIVE).sum())) < 0.4)
    # Planted bundles: all members go in the last slots of the basket.
    bundle = np.full(n, -1, dtype=np.int64)
    n_bundle = np.zeros(n, dtype=np.int64)
    if cat.bundles:
        with_bundle = np.flatnonzero(normal & (rng.random(n) < BUNDLE_PROB))
        bundle[with_bundle] = rng.integers(0, len(cat.bundles), size=len(with_bundle))
        sizes = np.array([len(b) for b in cat.bundles])
        n_bundle[with_bundle] = sizes[bundle[with_bundle]]
    per_order = n_main + n_bundle
    offsets = np.concatenate([[0], np.cumsum(per_order)])
    order = np.repeat(np.arange(n, dtype=np.int64), per_order)
    pos = np.arange(len(order)) - offsets[order]
    is_bundle = pos >= n_main[order]
    line_day = day[order]
    line_kind = kind[order]
    product = np.empty(len(order), dtype=np.int32)

    everything = TableSampler(cat.popularity)
    old = np.flatnonzero(cat.launch_idx < 0)
    old_sampler = TableSampler(cat.popularity[old], old)
    sel = np.flatnonzero((line_kind == NORMAL) & ~is_bundle)
    product[sel] = draw_launched(everything, old_sampler, cat.launch_idx, line_day[sel], rng)
    # Category promotions pull a share of lines into the promoted category.
    resample = category_resample_prob(cal, cat, n_categories)[line_day[sel]] > rng.random(len(sel))
    promo_of_line = cal.promo_of_day[line_day[sel]]
    for i in range(len(cal.promotions)):
        c = cal.promotions.category[i]
        if c < 0:
            continue
        hit = sel[resample & (promo_of_line == i)]
        if len(hit):
            pool = np.flatnonzero(cat.category == c)
            product[hit] = draw_launched(TableSampler(cat.popularity[pool], pool, bits=16), old_sampler,
                                         cat.launch_idx, line_day[hit], rng)
    if cat.bundles:
        members = np.concatenate(cat.bundles)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        b = np.flatnonzero(is_bundle)
        product[b] = members[starts[bundle[order[b]]] + pos[b] - n_main[order[b]]]

    by_price = old[np.argsort(cat.price_cents[old], kind="stable")]
    expensive = by_price[int(len(by_price) * 0.8):]
    priciest = by_price[int(len(by_price) * 0.9):]
    cheap = by_price[: max(int(len(by_price) * 0.1), 1)]
    for k, pool in ((EXPENSIVE, expensive), (BULK, priciest), (CHEAP_SINGLE, cheap)):
        sel_k = line_kind == k
        product[sel_k] = pool[rng.integers(0, len(pool), size=int(sel_k.sum()))]

    qty = (rng.choice(4, size=len(order), p=qty_probs(trade)) + 1).astype(np.int32)
    qty[is_bundle] = 1
    qty[line_kind == BULK] = rng.integers(8, 26, size=int((line_kind == BULK).sum()))

    # One line per product per order: drop later repeats within the same basket.
    dup = np.zeros(len(order), dtype=bool)
    for k in range(1, int(per_order.max(initial=1))):
        same = (order[k:] == order[:-k]) & (product[k:] == product[:-k])
        dup[k:] |= same
    keep = ~dup
    return Lines(order[keep], product[keep], qty[keep])
