"""Planted fraud: extra orders with the patterns a reviewer looks for.

Patterns (truth.fraud.pattern): ``card_testing`` (a burst of tiny night-time
orders, most payments declined), ``velocity`` (one card, several big orders
within two hours), ``country_mismatch`` (card and IP abroad, goods shipped at
home; half are taken-over accounts), ``new_account`` (an account opened the same
day buys expensive goods), ``unusual_amount`` (a bulk order of expensive goods).
Chargebacks arrive weeks after the payment, so the latest fraud is not labelled yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.baskets import BULK, CHEAP_SINGLE, EXPENSIVE

PATTERNS = ("velocity", "country_mismatch", "new_account", "unusual_amount", "card_testing")
VELOCITY, MISMATCH, NEW_ACCOUNT, UNUSUAL, CARD_TESTING = range(5)

# Events per legitimate order, and the minimum per merchant so every pattern is present.
RATES = {CARD_TESTING: (0.0003, 1), VELOCITY: (0.0006, 2), MISMATCH: (0.0015, 3), NEW_ACCOUNT: (0.001, 3),
         UNUSUAL: (0.0005, 2)}
CARD_TESTING_DECLINE = 0.85
CHARGEBACK_PROB = 0.9  # captured fraud payments that are disputed eventually
FRIENDLY_CHARGEBACK_PROB = 0.001  # legitimate captured payments disputed anyway


@dataclass
class FraudOrders:
    day: np.ndarray
    sec: np.ndarray
    pattern: np.ndarray  # index into PATTERNS
    kind: np.ndarray  # basket kind
    group: np.ndarray  # one card / fraudster per group
    customer: np.ndarray  # existing customer position, -1 if none
    new_account: np.ndarray  # number of the account opened for this fraud, -1 if none
    n_new_accounts: int
    new_account_day: np.ndarray  # signup day index of each new account

    def __len__(self) -> int:
        return len(self.day)


def draw_chargeback_lag(n: int, rng: np.random.Generator) -> np.ndarray:
    """Days from payment to chargeback: two weeks at least, about six on average."""
    return (14 + rng.gamma(3.0, 9.0, size=n)).astype(np.int64)


def _active_customer(day: int, signup: np.ndarray, churn: np.ndarray, rng: np.random.Generator) -> int:
    """A customer whose account is live and not churned on day (a taken-over account), or -1."""
    for _ in range(20):
        c = int(rng.integers(0, len(signup)))
        if signup[c] <= day < churn[c]:
            return c
    return -1


def build_fraud(target_orders: int, n_days: int, signup: np.ndarray, churn: np.ndarray,
                rng: np.random.Generator) -> FraudOrders:
    days, secs, pats, kinds, groups, custs, accts = [], [], [], [], [], [], []
    acct_days: list[int] = []
    group = 0
    counts = {p: max(lo, int(rng.poisson(rate * target_orders))) for p, (rate, lo) in RATES.items()}
    for pattern, count in counts.items():
        for _ in range(count):
            day = int(rng.integers(0, n_days))
            if pattern == CARD_TESTING:
                k = int(rng.integers(8, 26))
                start = int(rng.integers(0, 5 * 3600))
                sec = start + np.cumsum(rng.integers(20, 120, size=k))
                kind, customer, account = CHEAP_SINGLE, -1, -1
            elif pattern == VELOCITY:
                k = int(rng.integers(3, 8))
                start = int(rng.integers(8 * 3600, 20 * 3600))
                sec = start + np.sort(rng.integers(0, 7200, size=k))
                kind, customer = EXPENSIVE, -1
                account = len(acct_days) if rng.random() < 0.5 else -1
            else:
                k = 1
                sec = rng.integers(0, 86400, size=1)
                kind = BULK if pattern == UNUSUAL else EXPENSIVE
                customer, account = -1, -1
                if pattern == MISMATCH and rng.random() < 0.5 and len(signup):
                    customer = _active_customer(day, signup, churn, rng)
                elif pattern == NEW_ACCOUNT or (pattern == UNUSUAL and rng.random() < 0.5):
                    account = len(acct_days)
            if account >= 0:
                acct_days.append(day)
            days.append(np.full(k, day))
            secs.append(np.minimum(sec, 86399))
            pats.append(np.full(k, pattern))
            kinds.append(np.full(k, kind))
            groups.append(np.full(k, group))
            custs.append(np.full(k, customer))
            accts.append(np.full(k, account))
            group += 1
    cat = np.concatenate
    return FraudOrders(cat(days).astype(np.int32), cat(secs).astype(np.int32), cat(pats).astype(np.int8),
                       cat(kinds).astype(np.int8), cat(groups).astype(np.int32), cat(custs).astype(np.int32),
                       cat(accts).astype(np.int32), len(acct_days), np.array(acct_days, dtype=np.int32))
