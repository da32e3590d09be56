"""Shop sessions: view -> cart -> checkout -> purchase.

Every web and app order has a session ending in its purchase event (store and
marketplace orders do not pass through the shop, and interactions.channel only
knows `web` and `app`). In a purchase session every bought product is carted
and most are viewed first (the rest go to the cart from a list page).
Sessions without a purchase browse, some cart, a few reach checkout.
Events come out ordered by session (numbered by start time), then time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.baskets import draw_launched
from data.generator.orders import HOUR_WEIGHTS
from data.generator.sampling import TableSampler

EVENT_TYPES = ("view", "cart", "checkout", "purchase")
VIEW, CART, CHECKOUT, PURCHASE = range(4)
EXTRA_VIEWS_MEAN = 0.3  # views of other products in a purchase session
BOUGHT_VIEWED_PROB = 0.6  # bought products whose page was viewed in the session
BROWSE_VIEWS_MEAN = 0.6  # views beyond the first in a session without purchase
BROWSE_CART_PROB = 0.3
BROWSE_CHECKOUT_PROB = 0.3  # of sessions that carted
BAND_LO = np.array([0.0, 0.5, 0.85, 1.0])  # share of the session length where each event type happens
BAND_HI = np.array([0.5, 0.85, 0.97, 1.0])
DAY_US = 86_400_000_000


@dataclass
class Events:
    session: np.ndarray  # session number (in order of session start)
    ts_us: np.ndarray
    type: np.ndarray
    product: np.ndarray  # position, -1 null
    order: np.ndarray  # order position, -1 null
    customer: np.ndarray  # position, -1 null
    channel: np.ndarray  # 0 web, 1 app
    n_sessions: int


def build_events(order_ts: np.ndarray, order_channel: np.ndarray, order_customer: np.ndarray,
                 line_order: np.ndarray, line_product: np.ndarray, popularity: np.ndarray,
                 launch_idx: np.ndarray, n_customers: int, cust_signup: np.ndarray, day0_us: int,
                 browse_ratio: float, rng: np.random.Generator) -> Events:
    """line_order must be non-decreasing (lines grouped by order)."""
    counts = np.bincount(line_order, minlength=len(order_ts))
    line_off = np.concatenate([[0], np.cumsum(counts)])
    shop = np.flatnonzero(order_channel <= 1)  # web, app
    n_p = len(shop)
    p_day = (order_ts[shop] - day0_us) // DAY_US
    p_len = (rng.uniform(3, 40, size=n_p) * 60e6).astype(np.int64)

    n_b = int(round(browse_ratio * n_p))
    src = rng.integers(0, max(n_p, 1), size=n_b)
    b_chan = order_channel[shop][src]
    hour_cdf = np.cumsum(HOUR_WEIGHTS[:2], axis=1)
    hour = np.minimum((hour_cdf[b_chan] < rng.random(n_b)[:, None]).sum(axis=1), 23)
    b_day = p_day[src]
    b_start = day0_us + b_day * DAY_US + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, size=n_b)
    b_cust = rng.integers(0, max(n_customers, 1), size=n_b)
    b_cust = np.where((rng.random(n_b) < 0.45) & (cust_signup[b_cust] <= b_day), b_cust, -1)
    carted = rng.random(n_b) < BROWSE_CART_PROB
    checked = carted & (rng.random(n_b) < BROWSE_CHECKOUT_PROB)

    # Per session, ordered by start time.
    k = counts[shop]
    start = np.concatenate([order_ts[shop] - p_len, b_start])
    perm = np.argsort(start)
    start = start[perm]
    length = np.concatenate([p_len, (rng.uniform(1, 20, size=n_b) * 60e6).astype(np.int64)])[perm]
    n_lines = np.concatenate([k, np.zeros(n_b, np.int64)])[perm]
    n_seen = rng.binomial(n_lines, BOUGHT_VIEWED_PROB)  # the first n_seen bought products were viewed
    nv = n_seen + np.concatenate([rng.poisson(EXTRA_VIEWS_MEAN, size=n_p),
                                   1 + rng.poisson(BROWSE_VIEWS_MEAN, size=n_b)])[perm]
    nc = np.concatenate([k, carted.astype(np.int64)])[perm]
    nk = np.concatenate([np.ones(n_p, np.int64), checked.astype(np.int64)])[perm]
    npur = np.concatenate([np.ones(n_p, np.int64), np.zeros(n_b, np.int64)])[perm]
    line0 = np.concatenate([line_off[shop], np.zeros(n_b, np.int64)])[perm]
    s_order = np.concatenate([shop, np.full(n_b, -1)])[perm]
    s_cust = np.concatenate([order_customer[shop], b_cust])[perm]
    s_chan = np.concatenate([order_channel[shop], b_chan])[perm].astype(np.int8)
    s_day = np.concatenate([p_day, b_day])[perm]
    del perm

    t1 = nv.astype(np.int32)
    t2 = t1 + nc.astype(np.int32)
    t3 = t2 + nk.astype(np.int32)
    total = t3 + npur
    e_off = np.concatenate([[0], np.cumsum(total)])
    sess = np.repeat(np.arange(len(start), dtype=np.int32), total)
    pos = (np.arange(len(sess), dtype=np.int64) - e_off[sess]).astype(np.int32)
    # Per session and event type: where the type's events begin, and how many there are.
    band = np.stack([np.zeros_like(t1), t1, t2, t3], axis=1)
    width = np.stack([t1, t2 - t1, np.ones_like(t1), np.ones_like(t1)], axis=1)
    typ = ((pos >= t1[sess]).astype(np.int8) + (pos >= t2[sess]) + (pos >= t3[sess])).astype(np.int8)
    frac = (pos - band[sess, typ] + rng.random(len(sess), dtype=np.float32)) / width[sess, typ]
    frac = BAND_LO[typ] + frac * (BAND_HI - BAND_LO)[typ]
    ts = start[sess] + (frac * length[sess]).astype(np.int64)
    del band, width, frac

    product = np.full(len(sess), -1, dtype=np.int32)
    bought_view = (typ == VIEW) & (pos < n_seen[sess])
    idx = np.flatnonzero(bought_view)
    product[idx] = line_product[line0[sess[idx]] + pos[idx]]
    idx = np.flatnonzero((typ == VIEW) & ~bought_view)
    old = np.flatnonzero(launch_idx < 0)
    product[idx] = draw_launched(TableSampler(popularity), TableSampler(popularity[old], old), launch_idx,
                                 s_day[sess[idx]], rng)
    idx = np.flatnonzero(typ == CART)
    bought = n_lines[sess[idx]] > 0
    product[idx] = np.where(bought, line_product[line0[sess[idx]] + (pos[idx] - t1[sess[idx]]) * bought],
                            product[e_off[sess[idx]]])  # a browser carts the first product viewed
    order = np.where(typ == PURCHASE, s_order[sess], -1)
    return Events(sess, ts, typ, product, order, s_cust[sess], s_chan[sess], len(start))
