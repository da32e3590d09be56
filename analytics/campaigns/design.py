"""Test design: how big a holdout, what power, what the smallest detectable effect is, and who is held out.

A campaign test compares the response rate (share of customers buying in scope during the campaign) of the
contacted group with the holdout's: a one-sided two-sample test of proportions at level ``alpha``, sized
with statsmodels' ``NormalIndPower`` on Cohen's h (``proportion_effectsize``).

The holdout flag is seeded and stratified: within each stratum (segment), customers sorted by id are
shuffled with the seed and the first round(share x n) are held out, so every stratum keeps the chosen share.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

ALPHA = 0.05
POWER = 0.8
SHARES = tuple(round(x / 100, 2) for x in range(1, 51))  # holdout shares searched: 1% to 50%


def _sizes(customers: int, holdout_share: float) -> tuple[int, int]:
    held = int(round(customers * holdout_share))
    return customers - held, held


def compute_power(customers: int, holdout_share: float, p0: float, p1: float, alpha: float = ALPHA) -> float | None:
    """Chance the test detects the change from ``p0`` to ``p1`` (None when a group is empty or p1 <= p0)."""
    treated, held = _sizes(customers, holdout_share)
    if treated < 1 or held < 1 or not 0 < p0 < 1 or p1 <= p0:
        return None
    h = proportion_effectsize(min(p1, 1 - 1e-9), p0)
    return float(NormalIndPower().solve_power(effect_size=h, nobs1=treated, alpha=alpha, ratio=held / treated,
                                              alternative="larger"))


def compute_mde(customers: int, holdout_share: float, p0: float, alpha: float = ALPHA,
                power: float = POWER) -> float | None:
    """The smallest treated response rate the test detects with ``power`` (None when it cannot be sized)."""
    treated, held = _sizes(customers, holdout_share)
    if treated < 1 or held < 1 or not 0 < p0 < 1:
        return None
    try:
        h = float(NormalIndPower().solve_power(effect_size=None, nobs1=treated, alpha=alpha, power=power,
                                               ratio=held / treated, alternative="larger"))
    except (ValueError, RuntimeError):
        return None
    angle = math.asin(math.sqrt(p0)) + h / 2
    return math.sin(angle) ** 2 if angle < math.pi / 2 else None


def smallest_holdout(customers: int, p0: float, p1: float, alpha: float = ALPHA,
                     power: float = POWER) -> float | None:
    """The smallest holdout share of ``SHARES`` whose test reaches ``power`` (None: not even half does)."""
    for share in SHARES:
        got = compute_power(customers, share, p0, p1, alpha)
        if got is not None and got >= power:
            return share
    return None


def assign_holdout(audience: pl.DataFrame, share: float, seed: int) -> pl.DataFrame:
    """``audience`` (customer_id, stratum, ...) with a boolean ``holdout`` column (see the module doc)."""
    if not 0 <= share < 1:
        raise ValueError(f"the holdout share must be from 0 to under 1, got {share}")
    parts = []
    for i, (stratum, part) in enumerate(sorted(audience.sort("customer_id").partition_by("stratum", as_dict=True)
                                               .items(), key=lambda kv: str(kv[0][0]))):
        rng = np.random.default_rng([int(seed), i])
        order = rng.permutation(part.height)
        flag = np.zeros(part.height, dtype=bool)
        flag[order[: int(round(share * part.height))]] = True
        parts.append(part.with_columns(pl.Series("holdout", flag)))
    if not parts:
        return audience.with_columns(pl.lit(False).alias("holdout"))
    return pl.concat(parts).sort("customer_id")
