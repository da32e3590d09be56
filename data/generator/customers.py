"""Customers with planted value tiers, purchase rates and churn dates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.generator.geo import NEIGHBOURS, region_table
from data.generator.sizes import MerchantProfile

TIERS = ("low", "mid", "high")
TIER_SHARE = (0.6, 0.3, 0.1)
TIER_RELATIVE_RATE = (0.35, 1.0, 3.0)
TIER_MEAN_LIFETIME_DAYS = (200.0, 420.0, 900.0)
GENDERS = ("female", "male", "other")
PRE_WINDOW_SHARE = 0.45  # customers who signed up before the window starts
HISTORY_DAYS = 3 * 365  # how far before the window the oldest accounts go


@dataclass
class Customers:
    customer_id: np.ndarray  # int64
    signup_idx: np.ndarray  # day index (negative: before the window)
    country: list[str]  # labels
    country_code: np.ndarray  # index into country
    region_code: np.ndarray  # index into regions, -1 when abroad
    gender: np.ndarray  # index into GENDERS, -1 unknown
    birth_year: np.ndarray  # 0 unknown
    tier: np.ndarray  # index into TIERS
    relative_rate: np.ndarray
    churn_idx: np.ndarray  # first day index without purchases (may be beyond the window)

    def __len__(self) -> int:
        return len(self.customer_id)


def sample_days(weights: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Day indices drawn with probability proportional to weights."""
    cdf = np.cumsum(weights)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(weights) - 1)


def build_customers(profile: MerchantProfile, merchant_id: int, n: int, day_factor: np.ndarray,
                    rng: np.random.Generator) -> Customers:
    n_days = len(day_factor)
    pre = rng.random(n) < PRE_WINDOW_SHARE
    signup = np.where(pre, -rng.integers(1, HISTORY_DAYS, size=n), sample_days(day_factor, n, rng)).astype(np.int32)
    tier = rng.choice(3, size=n, p=TIER_SHARE).astype(np.int8)
    lifetime = rng.exponential(np.asarray(TIER_MEAN_LIFETIME_DAYS)[tier])
    churn = signup + np.ceil(lifetime).astype(np.int32) + 1
    keep = churn > 0  # accounts that churned before the window never show up
    signup, tier, churn = signup[keep], tier[keep], churn[keep]
    order = np.argsort(signup, kind="stable")  # customer ids follow signup order
    signup, tier, churn = signup[order], tier[order], churn[order]
    m = len(signup)

    rate = np.asarray(TIER_RELATIVE_RATE)[tier] * rng.lognormal(0.0, 0.3, size=m)
    countries = [profile.country, *NEIGHBOURS[profile.country]]
    abroad = rng.random(m) < 0.04
    country_code = np.where(abroad, rng.integers(1, len(countries), size=m), 0).astype(np.int16)
    regions, region_w, _ = region_table(profile.country)
    region_code = np.where(abroad, -1, rng.choice(len(regions), size=m, p=region_w)).astype(np.int16)
    f = profile.female_share
    gender = rng.choice(4, size=m, p=[f, 0.96 - f - 0.02, 0.02, 0.04]).astype(np.int8)
    gender[gender == 3] = -1
    birth_year = np.clip(np.round(rng.normal(1984, 13, size=m)), 1940, 2008).astype(np.int32)
    birth_year[rng.random(m) < 0.08] = 0
    customer_id = merchant_id * 100_000_000 + np.arange(1, m + 1, dtype=np.int64)
    return Customers(customer_id, signup, countries, country_code, region_code, gender, birth_year, tier, rate,
                     churn)
