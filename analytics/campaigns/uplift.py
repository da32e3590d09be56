"""Each past promotion's uplift against a counterfactual baseline, and the prior for a new campaign.

Uplift of a promotion = demand in its scope while it ran / the demand the same days would have had without it.
Its *scope* is the demand it could reach: lines of its category (or of every category), in its channel (or
all), from its audience (new, returning or all customers; ``history`` defines new).

Counterfactual: a Poisson regression (quasi-Poisson: the variance is a fitted multiple of the mean, because
lines come in baskets) of the in-scope daily lines over the ``BEFORE`` days before the promotion and the
``AFTER`` days after it, leaving out the days of every promotion, on weekday, paydays (the first and the last
two days of a month, the 15th), public holidays of the merchant's country (closures apart) and a quadratic
trend. Its prediction for the promotion's days is the baseline. Interval: a seeded parametric bootstrap
(``DRAWS``): the regression's coefficients drawn from their estimated normal distribution and the observed total
from its quasi-Poisson noise; the interval is the draws' percentile interval of the ratio.

Prior for a new campaign (``pool_prior``): a random-effects (DerSimonian-Laird) pool of comparable past
promotions' log uplifts (same discount band, same kind of scope, same channel; widened step by step while
fewer than ``MIN_POOL`` qualify), whose predictive distribution for one more campaign is normal on the log
scale with variance se(mean)^2 + tau^2 (the spread between campaigns). ``manual_prior`` makes one by hand.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass

import holidays
import numpy as np
import polars as pl
import statsmodels.api as sm

BEFORE, AFTER = 56, 28
MIN_FIT_DAYS = 28
DRAWS = 2000
LEVEL = 0.95
MIN_POOL = 3
CLOSURES = ("Christmas Day", "New Year's Day")
BANDS = ((0.0, 10.0, "up to 10%"), (10.0, 20.0, "11 to 20%"), (20.0, 30.0, "21 to 30%"), (30.0, 100.0, "over 30%"))

ESTIMATE_SCHEMA = {"promotion_id": pl.Int64, "name": pl.Utf8, "start_date": pl.Date, "end_date": pl.Date,
                   "discount_pct": pl.Float64, "category": pl.Utf8, "channel": pl.Utf8, "audience": pl.Utf8,
                   "observed_lines": pl.Float64, "baseline_lines": pl.Float64, "uplift": pl.Float64,
                   "uplift_low": pl.Float64, "uplift_high": pl.Float64, "fit_days": pl.Int64}


def discount_band(pct: float) -> str:
    for low, high, label in BANDS:
        if low < pct <= high or (pct == 0 and low == 0):
            return label
    return BANDS[-1][2]


def _design(days: list[dt.date], country: str | None) -> np.ndarray:
    n = len(days)
    ordinal = np.array([d.toordinal() for d in days], dtype=float)
    weekday = np.array([d.weekday() for d in days])
    cols = [np.ones(n)] + [(weekday == k).astype(float) for k in range(1, 7)]
    last_day = np.array([((d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - d).days for d in days])
    dom = np.array([d.day for d in days])
    cols += [((dom == 1) | (last_day <= 2)).astype(float), (dom == 15).astype(float)]
    names = [None] * n
    if country:
        try:
            cal = holidays.country_holidays(country, years=range(days[0].year, days[-1].year + 1))
            names = [cal.get(d) for d in days]
        except (NotImplementedError, KeyError):
            pass  # a country the library does not know: no holiday terms
    closed = np.array([bool(v) and any(c in v for c in CLOSURES) for v in names], dtype=float)
    other = np.array([bool(v) and not any(c in v for c in CLOSURES) for v in names], dtype=float)
    t = (ordinal - ordinal.mean()) / 30.0
    cols += [closed, other, t, t ** 2]
    x = np.column_stack(cols)
    keep = np.r_[True, x[:, 1:].std(axis=0) > 0]
    return x[:, keep]


def _scope(promo: dict) -> pl.Expr:
    cond = pl.lit(True)
    if promo["category"] is not None:
        cond = cond & (pl.col("category") == promo["category"])
    if promo["channel"] is not None:
        cond = cond & (pl.col("channel") == promo["channel"])
    if promo["audience"] == "new":
        cond = cond & pl.col("is_new")
    elif promo["audience"] == "returning":
        cond = cond & ~pl.col("is_new")
    return cond


def _estimate_one(daily: pl.DataFrame, promo: dict, promo_days: np.ndarray, all_days: np.ndarray,
                  country: str | None, rng: np.random.Generator, level: float) -> dict | None:
    lo = max(promo["start_date"] - dt.timedelta(days=BEFORE), all_days[0])
    hi = min(promo["end_date"] + dt.timedelta(days=AFTER), all_days[-1])
    if promo["start_date"] < all_days[0] or promo["end_date"] > all_days[-1]:
        return None  # the data does not cover the promotion
    days = [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]
    series = daily.filter(_scope(promo), pl.col("day").is_between(lo, hi)).group_by("day").agg(
        pl.col("lines").sum())
    y = pl.DataFrame({"day": days}).join(series, on="day", how="left")["lines"].fill_null(0).to_numpy()
    y = y.astype(float)
    d = np.array(days, dtype="datetime64[D]")
    on = (d >= np.datetime64(promo["start_date"])) & (d <= np.datetime64(promo["end_date"]))
    fit = ~np.isin(d, promo_days)
    if fit.sum() < MIN_FIT_DAYS or y[fit].sum() == 0:
        return None
    x = _design(days, country)
    x_fit = x[fit]
    keep = np.r_[True, x_fit[:, 1:].std(axis=0) > 0]  # a term constant on the fitted days cannot be learned
    x, x_fit = x[:, keep], x_fit[:, keep]
    with warnings.catch_warnings():  # a holiday on a payday makes two terms one: the fit's pinv copes
        warnings.simplefilter("ignore")
        model = sm.GLM(y[fit], x_fit, family=sm.families.Poisson()).fit(scale="X2")
        beta, cov, phi = model.params, model.cov_params(), max(float(model.scale), 1.0)
        draws = rng.multivariate_normal(beta, cov, size=DRAWS, method="svd")  # svd: rounding-level negatives
    baseline = float(np.exp(x[on] @ beta).sum())
    observed = float(y[on].sum())
    base_draws = np.exp(draws @ x[on].T).sum(axis=1)
    obs_draws = rng.gamma(max(observed, 0.5) / phi, phi, size=DRAWS)
    ratio = obs_draws / base_draws
    tail = (1 - level) / 2
    return {**promo, "observed_lines": observed, "baseline_lines": baseline, "uplift": observed / baseline,
            "uplift_low": float(np.quantile(ratio, tail)), "uplift_high": float(np.quantile(ratio, 1 - tail)),
            "fit_days": int(fit.sum())}


def estimate_uplifts(daily: pl.DataFrame, promotions: pl.DataFrame, country: str | None, *,
                     level: float = LEVEL, seed: int = 0) -> pl.DataFrame:
    """One row per past promotion the data covers (columns ``ESTIMATE_SCHEMA``; lines are order lines,
    uplift a multiplier: 1.3 = +30%, ``uplift_low``/``uplift_high`` its ``level`` interval), oldest first.

    ``daily``: ``history.load_daily_lines``; ``promotions``: ``history.load_promotions`` of one merchant.
    """
    if daily.is_empty() or promotions.is_empty():
        return pl.DataFrame(schema=ESTIMATE_SCHEMA)
    first, last = daily["day"].min(), daily["day"].max()
    all_days = [first, last]
    promo_days = np.concatenate([np.arange(np.datetime64(r["start_date"]), np.datetime64(r["end_date"]) + 1)
                                 for r in promotions.iter_rows(named=True)])
    rng = np.random.default_rng(seed)
    rows = [_estimate_one(daily, r, promo_days, all_days, country, rng, level)
            for r in promotions.iter_rows(named=True)]
    rows = [r for r in rows if r is not None]
    if not rows:
        return pl.DataFrame(schema=ESTIMATE_SCHEMA)
    return pl.DataFrame(rows).select([pl.col(k).cast(v) for k, v in ESTIMATE_SCHEMA.items()])


@dataclass(frozen=True)
class Prior:
    """The new campaign's uplift: log(uplift) ~ Normal(mean_log, sd_log)."""

    mean_log: float
    sd_log: float
    source: str  # "learned" or "by hand"
    based_on: tuple[int, ...] = ()  # promotion ids pooled
    rule: str = ""  # which past campaigns count as comparable, in words

    @property
    def median(self) -> float:
        return math.exp(self.mean_log)

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        z = _z(level)
        return math.exp(self.mean_log - z * self.sd_log), math.exp(self.mean_log + z * self.sd_log)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def manual_prior(low: float, high: float, level: float = 0.9) -> Prior:
    """A prior entered by hand: the uplift lies between ``low`` and ``high`` with probability ``level``."""
    if not (0 < low <= high):
        raise ValueError(f"the uplift range must satisfy 0 < low <= high, got {low} and {high}")
    mean = (math.log(low) + math.log(high)) / 2
    return Prior(mean, max((math.log(high) - math.log(low)) / (2 * _z(level)), 1e-6), "by hand")


def _pool(est: pl.DataFrame) -> tuple[float, float]:
    """DerSimonian-Laird random-effects pool of log uplifts: (mean, predictive sd for one more campaign)."""
    y = np.log(est["uplift"].to_numpy())
    se = (np.log(est["uplift_high"].to_numpy()) - np.log(est["uplift_low"].to_numpy())) / (2 * _z(LEVEL))
    w = 1 / np.maximum(se, 1e-6) ** 2
    mean_fixed = float((w * y).sum() / w.sum())
    q = float((w * (y - mean_fixed) ** 2).sum())
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    tau2 = max(0.0, (q - (len(y) - 1)) / c) if c > 0 else 0.0
    w_re = 1 / (se ** 2 + tau2)
    mean = float((w_re * y).sum() / w_re.sum())
    return mean, math.sqrt(1 / w_re.sum() + tau2)


def pool_prior(estimates: pl.DataFrame, *, discount_pct: float, whole_catalogue: bool,
               channel: str | None) -> Prior | None:
    """The learned prior from comparable past promotions (see the module doc), or None without any estimate.
    A free-shipping offer passes ``discount_pct=0`` and pools the lowest band first."""
    if estimates.is_empty():
        return None
    band = discount_band(discount_pct)
    bands = estimates["discount_pct"].map_elements(discount_band, return_dtype=pl.Utf8)
    est = estimates.with_columns(bands.alias("_band"))
    kind = pl.col("category").is_null() if whole_catalogue else pl.col("category").is_not_null()
    same_channel = pl.col("channel").is_null() if channel is None else (pl.col("channel") == channel)
    scope = "whole-catalogue" if whole_catalogue else "category"
    steps = (
        (pl.col("_band") == band) & kind & same_channel,
        (pl.col("_band") == band) & kind,
        pl.col("_band") == band,
        pl.lit(True),
    )
    words = (f"discount {band}, {scope} promotions, channel {channel or 'all'}",
             f"discount {band}, {scope} promotions, any channel",
             f"discount {band}, any scope and channel",
             "every past promotion (too few comparable ones)")
    for cond, rule in zip(steps, words):
        chosen = est.filter(cond)
        if chosen.height >= MIN_POOL or (cond is steps[-1] and chosen.height):
            mean, sd = _pool(chosen)
            return Prior(mean, sd, "learned", tuple(int(i) for i in chosen["promotion_id"]), rule)
    return None
