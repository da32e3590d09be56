"""Payment attempts of every order, with the signals a fraud reviewer uses and late chargebacks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.fraud import (CARD_TESTING, CHARGEBACK_PROB, FRIENDLY_CHARGEBACK_PROB, MISMATCH, NEW_ACCOUNT,
                                  UNUSUAL, VELOCITY, draw_chargeback_lag)
from data.generator.orders import CHANNELS, PAY_METHODS

STATUSES = ("captured", "declined", "refunded")
DEVICES = ("desktop", "mobile", "tablet", "pos")
RETRY_PROB = 0.03  # legitimate orders whose first card attempt was declined
CARD_METHODS = (PAY_METHODS.index("card"), PAY_METHODS.index("debit_card"))


@dataclass
class OrderView:
    """What payments need to know about the merchant's (final, time-sorted) orders."""
    ts_us: np.ndarray
    day: np.ndarray
    customer: np.ndarray  # position in customers, -1 guest
    net_cents: np.ndarray
    method: np.ndarray
    channel: np.ndarray
    cancelled: np.ndarray
    returned: np.ndarray
    declined_final: np.ndarray  # cancelled because the only payment was declined
    pattern: np.ndarray  # fraud pattern, -1 legitimate
    group: np.ndarray  # fraud group, -1 legitimate
    ship_country: np.ndarray  # country code, -1 for in-store sales


@dataclass
class Payments:
    order: np.ndarray  # order position
    paid_ts_us: np.ndarray
    amount_cents: np.ndarray
    method: np.ndarray
    status: np.ndarray
    card_country: np.ndarray  # country code, -1 null
    billing_country: np.ndarray
    ip_country: np.ndarray
    ship_country: np.ndarray
    device: np.ndarray
    account_age: np.ndarray
    chargeback: np.ndarray
    chargeback_day: np.ndarray  # day index, -1 null
    pattern: np.ndarray  # fraud pattern of the payment, -1 legitimate

    def __len__(self) -> int:
        return len(self.order)


def build_payments(o: OrderView, cust_country: np.ndarray, cust_signup: np.ndarray, n_neighbours: int,
                   n_fraud_countries: int, n_days: int, rng: np.random.Generator) -> Payments:
    """Country codes: 0 home, 1..n_neighbours neighbours, then the fraud countries."""
    n = len(o.ts_us)
    fraud = o.pattern >= 0
    legit = ~fraud
    is_card = np.isin(o.method, CARD_METHODS)
    retry = legit & ~o.cancelled & is_card & (rng.random(n) < RETRY_PROB)
    cancel_declined = legit & o.cancelled & (rng.random(n) < 0.5)

    # Final attempt of every order.
    status = np.zeros(n, dtype=np.int8)
    status[o.returned | (o.cancelled & ~cancel_declined & ~o.declined_final)] = STATUSES.index("refunded")
    status[cancel_declined | o.declined_final] = STATUSES.index("declined")
    delay_s = rng.integers(5, 90, size=n) + np.where(retry, rng.integers(60, 300, size=n), 0)
    paid = o.ts_us + delay_s * 1_000_000

    has_cust = o.customer >= 0
    # Where the payer lives: the customer's country; for guests, where the goods go (home for in-store sales).
    home = np.where(has_cust, cust_country[np.maximum(o.customer, 0)], np.maximum(o.ship_country, 0)).astype(np.int16)
    card_c = home.copy()
    travel = legit & (rng.random(n) < 0.005)
    card_c[travel] = rng.integers(1, n_neighbours + 1, size=int(travel.sum()))
    ip_c = home.copy()
    away = legit & (rng.random(n) < 0.015)
    ip_c[away] = rng.integers(1, n_neighbours + 1, size=int(away.sum()))
    billing = home.copy()

    # Fraud signals: one foreign card per fraud group; IPs abroad, often elsewhere again.
    base = 1 + n_neighbours
    group_card = base + rng.integers(0, n_fraud_countries, size=int(o.group.max()) + 2)
    g = np.maximum(o.group, 0)
    abroad_card = fraud & np.isin(o.pattern, (VELOCITY, MISMATCH, CARD_TESTING))
    card_c[abroad_card] = group_card[g[abroad_card]]
    other = fraud & np.isin(o.pattern, (NEW_ACCOUNT, UNUSUAL)) & (rng.random(n) < 0.4)
    card_c[other] = group_card[g[other]]
    ip_c[fraud] = np.where(rng.random(int(fraud.sum())) < 0.6, base + rng.integers(0, n_fraud_countries,
                                                                                      size=int(fraud.sum())),
                           card_c[fraud])
    calm = fraud & np.isin(o.pattern, (NEW_ACCOUNT, UNUSUAL)) & (rng.random(n) < 0.5)
    ip_c[calm] = home[calm]
    billing[fraud] = 0
    card_c[~is_card] = -1
    ip_c[o.channel == CHANNELS.index("store")] = -1  # a till has no buyer IP

    device = np.empty(n, dtype=np.int8)
    u = rng.random(n)
    web = (o.channel == CHANNELS.index("web")) | (o.channel == CHANNELS.index("marketplace"))
    device[web] = np.where(u[web] < 0.55, 0, np.where(u[web] < 0.93, 1, 2))
    app = o.channel == CHANNELS.index("app")
    device[app] = np.where(u[app] < 0.9, 1, 2)
    device[o.channel == CHANNELS.index("store")] = 3
    device[fraud & (rng.random(n) < 0.8)] = 0

    signup = np.where(has_cust, cust_signup[np.maximum(o.customer, 0)], o.day)
    age = np.maximum(o.day - signup, 0).astype(np.int32)

    captured = status == 0
    cb_prob = np.where(fraud, CHARGEBACK_PROB, FRIENDLY_CHARGEBACK_PROB)
    cb_day = o.day + draw_chargeback_lag(n, rng)
    cb = captured & (rng.random(n) < cb_prob) & (cb_day < n_days)  # later ones have not arrived yet

    # Declined first attempts of retried orders come first.
    order = np.repeat(np.arange(n), 1 + retry)
    first = np.zeros(len(order), dtype=bool)
    first[np.flatnonzero(np.diff(order, prepend=-1))] = True
    first &= retry[order]  # the declined first attempt of a retried order
    ts = np.where(first, o.ts_us[order] + rng.integers(2, 20, size=len(order)) * 1_000_000, paid[order])
    st = np.where(first, STATUSES.index("declined"), status[order]).astype(np.int8)
    cbk = np.where(first, False, cb[order])
    return Payments(order, ts, o.net_cents[order], o.method[order], st, card_c[order], billing[order], ip_c[order],
                    o.ship_country[order], device[order], age[order], cbk,
                    np.where(cbk, cb_day[order], -1), o.pattern[order])
