"""BG/NBD and Gamma-Gamma ("buy till you die") fitted by maximum likelihood.

BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way"): while alive a customer buys
as a Poisson process of rate lambda ~ Gamma(r, alpha); after each purchase they drop out with probability
p ~ Beta(a, b). Gamma-Gamma (Fader and Hardie 2013, "The Gamma-Gamma model of monetary value"): a
customer's spend per transaction is Gamma(p, nu) with nu ~ Gamma(q, gamma), independent of the purchase
process.

Inputs per customer, in one time unit of the caller's choice (the product uses weeks): ``frequency`` x =
repeat purchases (purchase days after the first), ``recency`` t_x = time from the first to the last
purchase, ``T`` = time from the first purchase to the end of the calibration period, ``monetary`` = mean
spend of the repeat purchases. Identical (x, t_x, T) rows are pooled with weights before fitting, so a
million customers cost about what a few tens of thousands of distinct histories cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1


def _pool(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of the stacked columns and how many customers share each."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return rows, counts.astype(float)


def _scale(T: np.ndarray) -> float:
    # The optimiser works best when times are of order 10 (lifetimes does the same); alpha is rescaled back.
    top = float(np.max(T)) if len(T) else 1.0
    return 10.0 / top if top > 0 else 1.0


def _minimise(nll, start: np.ndarray) -> np.ndarray:
    """exp of the minimiser of ``nll`` over log-parameters: L-BFGS-B, then Nelder-Mead from there to polish the
    flat directions (finite-difference gradients stall early on ridges such as a large BG/NBD b)."""
    res = minimize(nll, start, method="L-BFGS-B", options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9})
    res = minimize(nll, res.x, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000})
    if not np.all(np.isfinite(res.x)):
        raise ValueError("the likelihood could not be maximised (no finite optimum)")
    return np.exp(res.x)


def bgnbd_log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Log-likelihood of each customer's history under BG/NBD (Fader, Hardie and Lee 2005, eq. 6)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.logaddexp(a3, np.where(x > 0, a4, -np.inf))


@dataclass(frozen=True)
class BetaGeo:
    """Fitted BG/NBD parameters (``alpha`` in the time unit of the data it was fitted on)."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, frequency, recency, T) -> BetaGeo:
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        if len(x) == 0:
            raise ValueError("no customers to fit BG/NBD on")
        if np.any(t_x > T) or np.any(t_x < 0) or np.any((x == 0) & (t_x != 0)):
            raise ValueError("recency must lie between 0 and T, and be 0 when frequency is 0")
        rows, w = _pool(x, t_x, T)
        s = _scale(rows[:, 2])
        px, pt, pT = rows[:, 0], rows[:, 1] * s, rows[:, 2] * s

        def nll(log_params: np.ndarray) -> float:
            ll = bgnbd_log_likelihood(np.exp(log_params), px, pt, pT)
            value = -float(np.dot(w, ll)) / w.sum()
            return value if np.isfinite(value) else 1e12

        r, alpha, a, b = _minimise(nll, np.log(np.array([0.5, 1.0, 0.5, 1.0])))
        return cls(float(r), float(alpha / s), float(a), float(b))

    def _odds_dead(self, x, t_x, T):
        # a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x) for x > 0; 0 for one-time buyers (they cannot have died).
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        log = (np.log(self.a) - np.log(self.b + np.maximum(x, 1) - 1)
               + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x)))
        return np.where(x > 0, np.exp(np.minimum(log, 700.0)), 0.0)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still alive at T | history), eq. (12) of Fader, Hardie and Lee 2005."""
        return 1.0 / (1.0 + self._odds_dead(frequency, recency, T))

    def expected_purchases(self, t, frequency, recency, T, alive: np.ndarray | None = None) -> np.ndarray:
        """E[purchases in (T, T + t] | history], eq. (10) of Fader, Hardie and Lee 2005 (``alive``: the
        ``probability_alive`` of the same customers, when the caller has it already)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return head * body * (self.probability_alive(x, t_x, T) if alive is None else alive)

    def probability_no_purchase(self, t, frequency, recency, T, alive: np.ndarray | None = None) -> np.ndarray:
        """P(no purchase in (T, T + t] | history): dead already, or alive with no purchase event in t.

        Alive with rate lambda, the customer buys in t with probability 1 - exp(-lambda t); lambda given the
        history and being alive is Gamma(r + x, alpha + T), whose Laplace transform gives the closed form.
        """
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        alive = self.probability_alive(x, t_x, T) if alive is None else alive
        silent = ((self.alpha + T) / (self.alpha + T + t)) ** (self.r + x)
        return 1.0 - alive * (1.0 - silent)


def gamma_gamma_log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Log-likelihood of each customer's mean spend m over x transactions (Fader and Hardie 2013, eq. 1)."""
    p, q, g = params
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g) + (p * x - 1) * np.log(m)
            + p * x * np.log(x) - (p * x + q) * np.log(g + m * x))


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma spend parameters (p, q, gamma; gamma in money)."""

    p: float
    q: float
    gamma: float

    @classmethod
    def fit(cls, frequency, monetary) -> GammaGamma:
        """Fit on customers with at least one repeat purchase and a positive mean spend (others are ignored)."""
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary, dtype=float)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 2:
            raise ValueError("Gamma-Gamma needs at least two customers with a repeat purchase")
        rows, w = _pool(x[keep], m[keep])
        money = float(np.median(rows[:, 1]))  # spend is fitted in units of the median: same optimum, better scaled
        rx, rm = rows[:, 0], rows[:, 1] / money

        def nll(log_params: np.ndarray) -> float:
            value = -float(np.dot(w, gamma_gamma_log_likelihood(np.exp(log_params), rx, rm))) / w.sum()
            return value if np.isfinite(value) else 1e12

        p, q, g = _minimise(nll, np.log(np.array([1.0, 2.0, 1.0])))
        return cls(float(p), float(q), float(g * money))

    @property
    def mean_spend(self) -> float:
        """The population's expected spend per transaction (needs q > 1)."""
        return self.gamma * self.p / (self.q - 1) if self.q > 1 else float("nan")

    def expected_spend(self, frequency, monetary) -> np.ndarray:
        """E[spend per transaction | x, m]: a weighted average of the customer's mean and the population's;
        customers without a repeat purchase get the population mean."""
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary, dtype=float)
        weight = self.p * x / (self.p * x + self.q - 1)
        own = np.where(x > 0, np.nan_to_num(m), 0.0)
        return (1 - weight) * self.mean_spend + weight * own
