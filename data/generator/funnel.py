"""Shop sessions: view -> cart -> checkout -> purchase.

Every web and app order has a session ending in its purchase event (store and
marketplace orders do not pass through the shop, and interactions.channel only
knows `web` and `app`). Sessions without a purchase browse, some cart, a few
reach checkout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.orders import CHANNELS, HOUR_WEIGHTS

EVENT_TYPES = ("view", "cart", "checkout", "purchase")
VIEW, CART, CHECKOUT, PURCHASE = range(4)
EXTRA_VIEWS_MEAN = 0.6  # views of other products in a purchase session
BROWSE_VIEWS_MEAN = 1.0  # views beyond the first in a session without purchase
BROWSE_CART_PROB = 0.3
BROWSE_CHECKOUT_PROB = 0.3  # of sessions that carted


@dataclass
class Events:
    session: np.ndarray  # session number (time order)
    ts_us: np.ndarray
    type: np.ndarray
    product: np.ndarray  # position, -1 null
    order: np.ndarray  # order position, -1 null
    customer: np.ndarray  # position, -1 null
    channel: np.ndarray  # 0 web, 1 app
    n_sessions: int


def build_events(order_ts: np.ndarray, order_channel: np.ndarray, order_customer: np.ndarray,
                 line_order: np.ndarray, line_product: np.ndarray, popularity_cdf: np.ndarray,
                 launch_idx: np.ndarray, n_customers: int, cust_signup: np.ndarray, day0_us: int,
                 browse_ratio: float, rng: np.random.Generator) -> Events:
    day_us = 86_400_000_000
    shop = np.flatnonzero(order_channel <= CHANNELS.index("app"))
    n_p = len(shop)
    # --- purchase sessions
    pos_of = np.full(len(order_ts), -1, dtype=np.int64)
    pos_of[shop] = np.arange(n_p)
    lsel = pos_of[line_order] >= 0
    l_sess, l_prod = pos_of[line_order[lsel]], line_product[lsel]
    length = (rng.uniform(3, 40, size=n_p) * 60e6).astype(np.int64)
    start = order_ts[shop] - length
    n_extra = rng.poisson(EXTRA_VIEWS_MEAN, size=n_p)
    x_sess = np.repeat(np.arange(n_p), n_extra)
    x_prod = np.minimum(np.searchsorted(popularity_cdf, rng.random(len(x_sess)) * popularity_cdf[-1], "right"),
                        len(popularity_cdf) - 1)
    day_of = (order_ts[shop] - day0_us) // day_us
    x_prod = np.where(launch_idx[x_prod] <= day_of[x_sess], x_prod, l_prod[np.searchsorted(l_sess, x_sess)])
    sess = np.concatenate([l_sess, x_sess, l_sess, np.arange(n_p), np.arange(n_p)])
    typ = np.concatenate([np.full(len(l_sess), VIEW), np.full(len(x_sess), VIEW), np.full(len(l_sess), CART),
                          np.full(n_p, CHECKOUT), np.full(n_p, PURCHASE)]).astype(np.int8)
    prod = np.concatenate([l_prod, x_prod, l_prod, np.full(2 * n_p, -1)])
    band_lo = np.array([0.0, 0.5, 0.85, 1.0])[typ]
    band_hi = np.array([0.5, 0.85, 0.97, 1.0])[typ]
    frac = band_lo + rng.random(len(sess)) * (band_hi - band_lo)
    ts = start[sess] + (frac * length[sess]).astype(np.int64)
    order = np.where(typ == PURCHASE, shop[sess], -1)
    cust = order_customer[shop][sess]
    chan = order_channel[shop][sess]

    # --- browsing sessions without purchase, on the days and hours people shop
    n_b = int(round(browse_ratio * n_p))
    src = rng.integers(0, n_p, size=n_b)
    b_chan = order_channel[shop][src]
    hour_cdf = np.cumsum(HOUR_WEIGHTS[:2], axis=1)
    hour = np.minimum((hour_cdf[b_chan] < rng.random(n_b)[:, None]).sum(axis=1), 23)
    b_day = day_of[src]
    b_start = day0_us + b_day * day_us + hour * 3_600_000_000 + rng.integers(0, 3_600_000_000, size=n_b)
    b_len = (rng.uniform(1, 20, size=n_b) * 60e6).astype(np.int64)
    b_cust = rng.integers(0, max(n_customers, 1), size=n_b)
    b_cust = np.where((rng.random(n_b) < 0.45) & (cust_signup[b_cust] <= b_day), b_cust, -1)
    n_views = 1 + rng.poisson(BROWSE_VIEWS_MEAN, size=n_b)
    carted = rng.random(n_b) < BROWSE_CART_PROB
    checked = carted & (rng.random(n_b) < BROWSE_CHECKOUT_PROB)
    v_sess = np.repeat(np.arange(n_b), n_views)
    v_prod = np.minimum(np.searchsorted(popularity_cdf, rng.random(len(v_sess)) * popularity_cdf[-1], "right"),
                        len(popularity_cdf) - 1)
    v_prod = np.where(launch_idx[v_prod] <= b_day[v_sess], v_prod, -2)
    v_keep = v_prod >= 0
    v_keep[np.searchsorted(v_sess, np.arange(n_b))] = True  # the first view always stays
    first_prod = v_prod[np.searchsorted(v_sess, np.arange(n_b))]
    fallback = l_prod[np.searchsorted(l_sess, src)]  # something on sale that day
    first_prod = np.where(first_prod >= 0, first_prod, fallback)
    v_prod[np.searchsorted(v_sess, np.arange(n_b))] = first_prod
    v_sess, v_prod = v_sess[v_keep], v_prod[v_keep]
    c_sess = np.flatnonzero(carted)
    k_sess = np.flatnonzero(checked)
    bs = np.concatenate([v_sess, c_sess, k_sess])
    btyp = np.concatenate([np.full(len(v_sess), VIEW), np.full(len(c_sess), CART),
                           np.full(len(k_sess), CHECKOUT)]).astype(np.int8)
    bprod = np.concatenate([v_prod, first_prod[c_sess], np.full(len(k_sess), -1)])
    bfrac = np.array([0.0, 0.6, 0.9, 1.0])[btyp] + rng.random(len(bs)) * np.array([0.6, 0.3, 0.1, 0.0])[btyp]
    bts = b_start[bs] + (bfrac * b_len[bs]).astype(np.int64)

    # --- all sessions numbered in order of their start
    starts = np.concatenate([start, b_start])
    rank = np.empty(len(starts), dtype=np.int64)
    rank[np.argsort(starts, kind="stable")] = np.arange(len(starts))
    all_sess = np.concatenate([rank[sess], rank[n_p + bs]])
    all_ts = np.concatenate([ts, bts])
    all_typ = np.concatenate([typ, btyp])
    by = np.lexsort((all_typ, all_ts, all_sess))
    return Events(all_sess[by], all_ts[by], all_typ[by], np.concatenate([prod, bprod])[by],
                  np.concatenate([order, np.full(len(bs), -1)])[by],
                  np.concatenate([cust, b_cust[bs]])[by], np.concatenate([chan, b_chan[bs]])[by], len(starts))
