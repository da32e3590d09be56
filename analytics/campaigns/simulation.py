"""The campaign's Monte Carlo: incremental revenue, margin, profit and ROI, with the chance of losing money.

Per stratum s of the contacted customers (``AudienceStats``): n_s customers, each buying in the offer's scope
during the campaign with baseline probability p0_s (uncertain: Beta from the stratum's history), order value
a gamma distribution (mean aov_s, coefficient of variation cv_s). Per draw:

- uplift u ~ the prior (log-normal; ``uplift.Prior``), shared by every stratum;
- treated probability p1 = min(u p0, 1);
- R0 ~ Binomial(n, p0) customers who would have bought anyway; with u >= 1, X ~ Binomial(n - R0,
  (p1 - p0) / (1 - p0)) more buy because of the offer (with u < 1, X = -Binomial(R0, 1 - p1 / p0));
- order values: V0 ~ Gamma(R0 k, theta) for the orders that happen anyway, VX ~ Gamma(X k, theta) for the
  extra ones (a sum of n gamma(k, theta) values is gamma(n k, theta): exact, no per-customer draw).

Money (merchant currency): the offer gives away d x covered share x value on every treated order (discount)
or the shipping charged (free shipping). Incremental revenue = V1 (1 - d c) - shipping given - V0, with
V1 = V0 + VX; incremental margin = VX m - d c V1 - shipping given (m: margin rate of the goods);
profit = incremental margin - contacts x cost per contact - fixed costs; ROI = profit / everything the
campaign spends (contacts, fixed, discounts and shipping given). Aggregate draws make 10,000 draws over
100,000 customers a few (draws x strata) arrays.

Break-even: the profit is linear in u in expectation, so the break-even uplift is where its mean is zero; the
break-even response rate is the share of contacted customers buying at that uplift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics.campaigns.uplift import Prior

OFFER_KINDS = ("discount", "free shipping")
DEFAULT_DRAWS = 10_000


@dataclass(frozen=True)
class Offer:
    kind: str = "discount"  # one of OFFER_KINDS
    discount_pct: float = 10.0  # percent off the covered goods (0 for free shipping)
    categories: tuple[str, ...] = ()  # empty with no products: the whole catalogue
    product_ids: tuple[int, ...] = ()
    channel: str = "email"
    cost_per_contact: float = 0.0  # money per contacted customer
    fixed_costs: float = 0.0  # money
    days: int = 14  # campaign length

    def __post_init__(self) -> None:
        if self.kind not in OFFER_KINDS:
            raise ValueError(f"offer kind must be one of {', '.join(OFFER_KINDS)}, not {self.kind!r}")
        if not 0 <= self.discount_pct < 100:
            raise ValueError(f"the discount must be from 0 to 99 percent, got {self.discount_pct}")
        if self.cost_per_contact < 0 or self.fixed_costs < 0:
            raise ValueError("costs cannot be negative")
        if not 1 <= self.days <= 365:
            raise ValueError(f"a campaign lasts 1 to 365 days, got {self.days}")

    @property
    def rate(self) -> float:
        return self.discount_pct / 100 if self.kind == "discount" else 0.0

    @property
    def whole_catalogue(self) -> bool:
        return not self.categories and not self.product_ids


@dataclass(frozen=True)
class AudienceStats:
    """Contacted customers by stratum (arrays of one length) and what their orders are like."""

    labels: tuple[str, ...]
    customers: np.ndarray  # int, customers per stratum
    p0: np.ndarray  # baseline probability of an in-scope order during the campaign
    aov: np.ndarray  # mean order value, money
    cv: np.ndarray  # order value sd / mean
    covered_share: float  # share of order value the offer covers
    margin_rate: float  # 1 - cost / value of the goods
    shipping: float  # mean shipping charged per order, money

    @property
    def total(self) -> int:
        return int(self.customers.sum())


@dataclass(frozen=True)
class Simulation:
    revenue: np.ndarray  # incremental revenue per draw, money
    margin: np.ndarray  # incremental margin per draw (after discounts and shipping given), money
    profit: np.ndarray  # margin minus contact and fixed costs, money
    roi: np.ndarray  # profit / spend (NaN when nothing is spent)
    extra_orders: np.ndarray  # incremental orders per draw
    spend: np.ndarray  # contacts + fixed + discounts + shipping given, money
    break_even_uplift: float | None  # None: no uplift pays
    break_even_rate: float | None  # share of contacted customers buying at break-even
    baseline_rate: float  # expected share buying anyway

    @property
    def draws(self) -> int:
        return len(self.profit)

    @property
    def loss_probability(self) -> float:
        return float((self.profit < 0).mean())

    def interval(self, values: np.ndarray, level: float = 0.9) -> tuple[float, float]:
        finite = values[np.isfinite(values)]
        if not len(finite):
            return math.nan, math.nan
        tail = (1 - level) / 2
        return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))

    def mean_roi_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Monte Carlo confidence interval of the expected ROI: narrows as 1/sqrt(draws)."""
        finite = self.roi[np.isfinite(self.roi)]
        if len(finite) < 2:
            return math.nan, math.nan
        from scipy.stats import norm

        half = float(norm.ppf(0.5 + level / 2)) * finite.std(ddof=1) / math.sqrt(len(finite))
        return float(finite.mean()) - half, float(finite.mean()) + half


def _beta(p: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jeffreys Beta parameters of a rate p seen on n customers."""
    return p * n + 0.5, (1 - p) * n + 0.5


def simulate(stats: AudienceStats, offer: Offer, prior: Prior, *, draws: int = DEFAULT_DRAWS,
             seed: int = 0) -> Simulation:
    """The Monte Carlo of the module doc: ``draws`` outcomes of the campaign, reproducible with ``seed``."""
    if draws < 1:
        raise ValueError("draws must be at least 1")
    rng = np.random.default_rng(seed)
    n = np.asarray(stats.customers, dtype=np.int64)[None, :]
    a, b = _beta(np.asarray(stats.p0, float), np.asarray(stats.customers, float))
    p0 = rng.beta(a[None, :], b[None, :], size=(draws, len(stats.labels)))
    u = np.exp(rng.normal(prior.mean_log, prior.sd_log, size=(draws, 1)))
    p1 = np.minimum(p0 * u, 1.0)
    r0 = rng.binomial(n, p0)
    up = u >= 1
    q_up = np.where(up, (p1 - p0) / np.maximum(1 - p0, 1e-12), 0.0)
    q_down = np.where(up, 0.0, 1 - p1 / np.maximum(p0, 1e-12))
    gained = rng.binomial(n - r0, np.clip(q_up, 0, 1))
    lost = rng.binomial(r0, np.clip(q_down, 0, 1))
    cv = np.maximum(np.asarray(stats.cv, float), 1e-3)
    k = (1 / cv ** 2)[None, :]
    theta = (np.asarray(stats.aov, float) * cv ** 2)[None, :]
    v0 = rng.gamma(r0 * k, theta)
    v_gained = rng.gamma(gained * k, theta)
    # The lost orders' value is a Beta share of v0 (a gamma sum split in two stays exact).
    v_lost = v0 * rng.beta(np.maximum(lost * k, 1e-12), np.maximum((r0 - lost) * k, 1e-12))
    v_lost = np.where(lost > 0, v_lost, 0.0)
    v_extra = (v_gained - v_lost).sum(axis=1)
    v0_sum = v0.sum(axis=1)
    v1 = v0_sum + v_extra
    treated_orders = (r0 + gained - lost).sum(axis=1)
    given = offer.rate * stats.covered_share * v1
    shipping = stats.shipping * treated_orders if offer.kind == "free shipping" else np.zeros(draws)
    revenue = v1 - given - shipping - v0_sum
    margin = v_extra * stats.margin_rate - given - shipping
    fixed = stats.total * offer.cost_per_contact + offer.fixed_costs
    profit = margin - fixed
    spend = fixed + given + shipping
    with np.errstate(divide="ignore", invalid="ignore"):
        roi = np.where(spend > 0, profit / spend, np.nan)
    bu, br, base = break_even(stats, offer)
    return Simulation(revenue, margin, profit, roi, (gained - lost).sum(axis=1).astype(float), spend, bu, br, base)


def break_even(stats: AudienceStats, offer: Offer) -> tuple[float | None, float | None, float]:
    """(break-even uplift, break-even response rate, baseline response rate) at the inputs' means."""
    n = np.asarray(stats.customers, float)
    p0 = np.asarray(stats.p0, float)
    aov = np.asarray(stats.aov, float)
    total = max(float(n.sum()), 1.0)
    base_rate = float((n * p0).sum() / total)
    ship = stats.shipping if offer.kind == "free shipping" else 0.0
    dc = offer.rate * stats.covered_share
    # E[profit](u) = u * slope - cost: every treated order pays d c of its value (and the shipping), extra
    # orders bring their margin.
    slope = float((n * p0 * (aov * (stats.margin_rate - dc) - ship)).sum())
    cost = float((n * p0 * aov * stats.margin_rate).sum()) + stats.total * offer.cost_per_contact + offer.fixed_costs
    if slope <= 0:
        return None, None, base_rate
    u = cost / slope
    rate = u * base_rate
    return u, (rate if rate <= 1 else None), base_rate
