"""Demand summed over the next days, as a distribution, for many SKU-locations at once (numpy/scipy).

A day's demand is negative binomial with the forecast mean mu and size k (variance mu + mu²/k; k = 1e6 is
Poisson). Days are summed by moments: the sum over days 1..t has mean M_t = sum(mu) and variance
V_t = sum(mu + mu²/k), and is taken as the negative binomial with that mean and variance (Poisson when the
variance is no more than the mean). For a whole matrix of (SKU-location, t) that is two scipy special
functions, no loop: P(D >= h) = I_q(h, r) (regularised incomplete beta) with r = M²/(V - M), q = (V - M)/V,
and the Poisson's P(D >= h) = P(h, M) (regularised lower incomplete gamma).

Expected shortfall E[(D - h)+] uses the size-biased identity j·pmf_r(j) = M·pmf_{r+1}(j - 1):
E[D; D >= h] = M·P(D' >= h - 1) with D' negative binomial of size r + 1 (Poisson: D' is Poisson(M) again).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, gammainc

POISSON_SLACK = 1e-6  # relative excess variance below which the sum is taken as Poisson


def _params(m: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Size r, failure probability q, and which entries are Poisson, of the moment-matched sums."""
    excess = v - m
    poisson = excess <= POISSON_SLACK * np.maximum(m, 1e-12)
    safe_excess = np.where(poisson, 1.0, excess)
    r = np.where(poisson, 1.0, m * m / safe_excess)
    q = np.where(poisson, 0.5, safe_excess / np.where(poisson, 1.0, v))
    return r, q, poisson


def prob_at_least(h: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """P(D >= h) for D with mean ``m`` and variance ``v`` (arrays broadcast together; h whole units)."""
    h, m, v = np.broadcast_arrays(np.asarray(h, float), np.asarray(m, float), np.asarray(v, float))
    r, q, poisson = _params(m, v)
    hh = np.maximum(h, 1.0)
    out = np.where(poisson, gammainc(hh, np.maximum(m, 1e-300)), betainc(hh, r, q))
    out = np.where(m <= 0, 0.0, out)
    return np.where(h <= 0, 1.0, np.clip(out, 0.0, 1.0))


def expected_shortfall(h: np.ndarray, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """E[(D - h)+]: expected units demanded beyond ``h`` (the units a stock of h leaves unserved)."""
    h, m, v = np.broadcast_arrays(np.asarray(h, float), np.asarray(m, float), np.asarray(v, float))
    r, q, poisson = _params(m, v)
    hm1 = np.maximum(h - 1.0, 1.0)
    tail_biased = np.where(poisson, gammainc(hm1, np.maximum(m, 1e-300)), betainc(hm1, r + 1.0, q))
    tail_biased = np.where(h <= 1, 1.0, tail_biased)
    above = m * tail_biased - np.maximum(h, 0.0) * prob_at_least(h, m, v)
    return np.where(m <= 0, 0.0, np.maximum(above, 0.0))


def quantile(alpha: float, m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest whole h with P(D <= h) >= alpha, of the moment-matched distribution (vectorised)."""
    from scipy.stats import nbinom, poisson

    m, v = np.broadcast_arrays(np.asarray(m, float), np.asarray(v, float))
    r, q, is_poisson = _params(m, v)
    out = np.where(is_poisson, poisson.ppf(alpha, np.maximum(m, 1e-12)), nbinom.ppf(alpha, r, 1.0 - q))
    return np.where(m <= 0, 0.0, out)


def cumulative(mu: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of demand over days 1..t, t = 0..T (column 0 is the empty sum), from daily means
    ``mu`` (N x T) and sizes ``k`` (N x T or N x 1)."""
    var = mu + mu * mu / k
    zero = np.zeros((mu.shape[0], 1))
    return np.hstack([zero, np.cumsum(mu, axis=1)]), np.hstack([zero, np.cumsum(var, axis=1)])
