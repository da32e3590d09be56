"""What each order contains: lines drawn by popularity among launched products, planted bundles,
category promotions that pull demand into their category, and the special baskets of fraud."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.calendar import Calendar
from data.generator.catalogue import Catalogue

EXTRA_LINES_MEAN = 1.3  # lines per ordinary basket = 1 + Poisson(this), before bundles
MAX_LINES = 12
BUNDLE_PROB = 0.07  # chance an ordinary basket contains one planted bundle
QTY_P = {"default": (0.82, 0.12, 0.04, 0.02), "electronics": (0.93, 0.05, 0.015, 0.005)}

# Basket kinds
NORMAL, EXPENSIVE, CHEAP_SINGLE, BULK = 0, 1, 2, 3


@dataclass
class Lines:
    order: np.ndarray  # int64 position in the merchant's order arrays
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


def _draw(cdf: np.ndarray, pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return pool[np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(pool) - 1)]


def _draw_launched(cat: Catalogue, pool: np.ndarray, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Products from pool by popularity, redrawn while not yet launched on the line's day."""
    cdf = np.cumsum(cat.popularity[pool])
    prod = _draw(cdf, pool, len(day), rng)
    for _ in range(8):
        bad = np.flatnonzero(cat.launch_idx[prod] > day)
        if not len(bad):
            return prod
        prod[bad] = _draw(cdf, pool, len(bad), rng)
    bad = cat.launch_idx[prod] > day
    old = pool[cat.launch_idx[pool] < 0]
    prod[bad] = _draw(np.cumsum(cat.popularity[old]), old, int(bad.sum()), rng)
    return prod


def build_lines(kind: np.ndarray, day: np.ndarray, cal: Calendar, cat: Catalogue, trade: str,
                n_categories: int, rng: np.random.Generator) -> Lines:
    n = len(kind)
    n_lines = np.ones(n, dtype=np.int64)
    normal = kind == NORMAL
    n_lines[normal] = np.minimum(1 + rng.poisson(EXTRA_LINES_MEAN, size=int(normal.sum())), MAX_LINES)
    n_lines[kind == EXPENSIVE] = 1 + (rng.random(int((kind == EXPENSIVE).sum())) < 0.4)
    order = np.repeat(np.arange(n, dtype=np.int64), n_lines)
    line_day = day[order]
    line_kind = kind[order]
    product = np.empty(len(order), dtype=np.int64)

    everything = np.arange(len(cat), dtype=np.int64)
    sel = line_kind == NORMAL
    product[sel] = _draw_launched(cat, everything, line_day[sel], rng)
    # Category promotions pull a share of lines into the promoted category.
    resample = category_resample_prob(cal, cat, n_categories)[line_day] > rng.random(len(order))
    for i in range(len(cal.promotions)):
        c = cal.promotions.category[i]
        if c < 0:
            continue
        hit = sel & resample & (cal.promo_of_day[line_day] == i)
        if hit.any():
            pool = np.flatnonzero(cat.category == c)
            product[hit] = _draw_launched(cat, pool, line_day[hit], rng)

    old = np.flatnonzero(cat.launch_idx < 0)
    by_price = old[np.argsort(cat.price_cents[old], kind="stable")]
    expensive = by_price[int(len(by_price) * 0.8):]
    cheap = by_price[: max(int(len(by_price) * 0.1), 1)]
    for k, pool in ((EXPENSIVE, expensive), (BULK, expensive), (CHEAP_SINGLE, cheap)):
        sel = line_kind == k
        product[sel] = pool[rng.integers(0, len(pool), size=int(sel.sum()))]

    qty = (rng.choice(4, size=len(order), p=qty_probs(trade)) + 1).astype(np.int32)
    qty[line_kind == BULK] = rng.integers(4, 13, size=int((line_kind == BULK).sum()))

    # Planted bundles: all members added to the basket.
    if cat.bundles:
        with_bundle = np.flatnonzero(normal & (rng.random(n) < BUNDLE_PROB))
        which = rng.integers(0, len(cat.bundles), size=len(with_bundle))
        sizes = np.array([len(b) for b in cat.bundles])[which]
        b_order = np.repeat(with_bundle, sizes)
        members = np.concatenate([cat.bundles[w] for w in which]) if len(which) else np.empty(0, np.int64)
        order = np.concatenate([order, b_order])
        product = np.concatenate([product, members.astype(np.int64)])
        qty = np.concatenate([qty, np.ones(len(b_order), dtype=np.int32)])

    # One line per product per order: keep the first draw of a duplicate.
    key = order * len(cat) + product
    _, first = np.unique(key, return_index=True)  # sorted by order, then product
    return Lines(order[first], product[first].astype(np.int32), qty[first])
