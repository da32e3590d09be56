"""When orders arrive, who places them, and through which channel, shop and payment method.

Arrivals are non-homogeneous Poisson processes whose intensity is the calendar
factor: each active customer at their planted rate, plus guest checkouts, plus
an acquisition order on many signup days. Drawing a customer's order days by
inverting the cumulative calendar keeps it fully vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.customers import Customers

CHANNELS = ("web", "app", "store", "marketplace")
PAY_METHODS = ("card", "debit_card", "paypal", "bank_transfer", "cash")
GUEST_SHARE = 0.18
ACQUISITION_PROB = 0.6  # chance a customer signing up inside the window orders that day

# Hour-of-day weights per channel (local time).
_WEB = np.array([1.2, .7, .4, .3, .3, .4, .8, 1.6, 2.6, 3.4, 4.0, 4.4, 5.0, 4.8, 4.3, 4.1, 4.1, 4.4, 5.0, 5.8,
                 6.4, 6.3, 5.0, 2.8])
_APP = np.array([1.8, 1.0, .5, .3, .3, .4, 1.0, 2.2, 2.8, 2.8, 3.0, 3.4, 4.2, 3.8, 3.2, 3.2, 3.4, 4.0, 4.8, 6.0,
                 7.2, 7.6, 6.4, 3.8])
_STORE = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 2.0, 4.5, 5.5, 6.5, 6.5, 6.0, 6.0, 6.5, 7.0, 5.5, 2.5, 0, 0, 0, 0.0])
HOUR_WEIGHTS = np.stack([_WEB, _APP, _STORE, _WEB]) / np.stack([_WEB, _APP, _STORE, _WEB]).sum(1, keepdims=True)


@dataclass
class Arrivals:
    day: np.ndarray  # int32 day index
    customer: np.ndarray  # int32 position in Customers, -1 for guests
    expected_orders: np.ndarray  # per day, before incidents
    rate_scale: float  # planted orders per 30 days = relative_rate * rate_scale


def draw_arrivals(cust: Customers, factor: np.ndarray, target_orders: int, rng: np.random.Generator) -> Arrivals:
    n_days = len(factor)
    cum = np.concatenate([[0.0], np.cumsum(factor)]) / 30.0  # expected orders at rate 1 per 30 days
    a = np.clip(cust.signup_idx, 0, n_days).astype(np.int64)
    a_rep = np.where(cust.signup_idx >= 0, np.minimum(a + 1, n_days), a)  # repeat orders start after signup day
    b = np.clip(cust.churn_idx, 0, n_days).astype(np.int64)
    b = np.maximum(b, a_rep)
    exposure = cum[b] - cum[a_rep]

    new_in_window = cust.signup_idx >= 0
    acq_orders = ACQUISITION_PROB * new_in_window.sum()
    guest_orders = GUEST_SHARE * target_orders
    repeat_target = max(target_orders - guest_orders - acq_orders, 0.1 * target_orders)
    scale = repeat_target / max(float((cust.relative_rate * exposure).sum()), 1e-9)

    n_rep = rng.poisson(scale * cust.relative_rate * exposure)
    who = np.repeat(np.arange(len(cust), dtype=np.int32), n_rep)
    lo, hi = cum[a_rep[who]], cum[b[who]]
    u = lo + rng.random(len(who)) * (hi - lo)
    rep_day = np.clip(np.searchsorted(cum, u, side="right") - 1, a_rep[who], np.maximum(b[who] - 1, 0))

    acq = np.flatnonzero(new_in_window & (rng.random(len(cust)) < ACQUISITION_PROB)).astype(np.int32)
    acq_day = cust.signup_idx[acq].astype(np.int64)

    guest_rate = guest_orders / factor.sum()
    n_guest = rng.poisson(guest_rate * factor)
    guest_day = np.repeat(np.arange(n_days), n_guest)

    day = np.concatenate([rep_day, acq_day, guest_day]).astype(np.int32)
    customer = np.concatenate([who, acq, np.full(len(guest_day), -1, np.int32)])

    # Expected orders per day: active customer mass (difference array) + guests + acquisition orders.
    mass = np.zeros(n_days + 1)
    np.add.at(mass, a_rep, scale * cust.relative_rate)
    np.add.at(mass, b, -scale * cust.relative_rate)
    active = np.cumsum(mass)[:n_days]
    signup_days = np.bincount(cust.signup_idx[new_in_window], minlength=n_days)[:n_days]
    expected = factor * (active / 30.0 + guest_rate) + ACQUISITION_PROB * signup_days
    return Arrivals(day, customer, expected, scale)


def draw_seconds(channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds after midnight following each channel's hour-of-day profile."""
    cdf = np.cumsum(HOUR_WEIGHTS, axis=1)
    u = rng.random(len(channel))
    hour = np.empty(len(channel), dtype=np.int32)
    for c in range(len(CHANNELS)):
        sel = channel == c
        hour[sel] = np.minimum(np.searchsorted(cdf[c], u[sel], side="right"), 23)
    return hour * 3600 + rng.integers(0, 3600, size=len(channel)).astype(np.int32)


def draw_channels(n: int, mix: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    p = np.asarray(mix) / sum(mix)
    return rng.choice(len(CHANNELS), size=n, p=p).astype(np.int8)


def draw_pay_methods(channel: np.ndarray, country: str, rng: np.random.Generator) -> np.ndarray:
    online = [0.50, 0.15, 0.28, 0.07, 0.0]
    if country == "DE":
        online = [0.30, 0.15, 0.38, 0.17, 0.0]
    store = [0.45, 0.30, 0.0, 0.0, 0.25]
    out = rng.choice(len(PAY_METHODS), size=len(channel), p=online).astype(np.int8)
    sel = channel == CHANNELS.index("store")
    out[sel] = rng.choice(len(PAY_METHODS), size=int(sel.sum()), p=store)
    return out
