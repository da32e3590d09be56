"""The robust residual score: how unlikely a period (or a run of periods) is under its expected value.

A series is scored on trailing windows of 1 to 24 hours (1, 2, 3 days): a regional outage that
loses a few orders an hour is plain over six hours and invisible in any one. For each window the observed sum
is compared with the expected sum under a distribution that fits the metric's kind:

- ``count`` (orders): negative binomial with mean E and variance E + c E^2 (c: ``DISPERSION``, covering the
  error of the expected value itself); the tail probability P(X <= observed) for a drop, P(X >= observed) for
  a spike;
- ``sum`` (revenue): compound Poisson, variance = expected orders x mean squared order amount (x (1 + c E));
- ``ratio`` (conversion, declines): successes out of trials against the expected rate, binomial variance
  inflated by (1 + c n);
- ``rare`` (payments failing at the processor): events out of few trials, the exact binomial tail at the recent
  rate (at least ``RARE_RATE_FLOOR``): at sensitivity 0.5, two failed payments of three in an hour do not alert
  and three do;
- ``mean`` (delivery delay): the mean of n deliveries against the expected mean, sd / sqrt(n).

The score is -log10 of the smallest tail probability over the windows, times the square root of the number of
windows tried (overlapping windows are strongly correlated, so a full Bonferroni factor would be too strict) and
the number of directions watched: 4 means "one in 10,000". A window longer than one period counts only when its
newest period adds evidence (its tail probability is below that of the same window without the newest period):
otherwise a burst (a card-testing hour) would keep alerting for the 24 hours its windows still hold it, and
join whatever happens next into its incident. A point alerts when its score reaches the rule's threshold
(``threshold(sensitivity)``), its direction is watched, its window's expected volume (orders, sessions, payment
attempts, deliveries) reaches ``min_volume`` and its hour is not a quiet hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

HOUR_WINDOWS = (1, 2, 3, 4, 6, 8, 12, 16, 24)
DAY_WINDOWS = (1, 2, 3)
DISPERSION = 0.005
MIN_VOLUME = {"orders": 5.0, "revenue": 5.0, "conversion": 30.0, "payment_declines": 30.0,
              "payment_failures": 3.0, "delivery_delay": 20.0}
# Payments failing at the processor are rare (none at all for weeks in most shops): their expected rate is at least
# this, so a first failure after quiet weeks is not "impossible", while a burst of them still is.
RARE_RATE_FLOOR = 0.002
_P_FLOOR = 1e-300


def threshold(sensitivity: float) -> float:
    """Score needed to alert: 6.5 at sensitivity 0, 4.5 at the default 0.5, 2.5 at 1."""
    return 6.5 - 4.0 * float(sensitivity)


@dataclass(frozen=True)
class Scored:
    """Per period (arrays of the series' length): the best window's figures and score; score 0 = no alert."""

    score: np.ndarray
    probability: np.ndarray
    window: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    direction: np.ndarray  # +1 spike, -1 drop, 0 none


def trailing(x: np.ndarray, w: int) -> np.ndarray:
    """Sum of x over the w periods ending at each index (nan before w periods exist)."""
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x, nan=0.0))])
    out = np.full(len(x), np.nan)
    if len(x) >= w:
        out[w - 1:] = c[w:] - c[:-w]
    return out


def count_tail(observed: np.ndarray, expected: np.ndarray, drop: bool,
               dispersion: float | np.ndarray = DISPERSION) -> np.ndarray:
    """Tail probability of ``observed`` under a negative binomial of mean ``expected``."""
    e = np.maximum(expected, 1e-9)
    r = 1.0 / np.maximum(dispersion, 1e-6)
    p = r / (r + e)
    if drop:
        return stats.nbinom.cdf(np.floor(observed), r, p)
    return stats.nbinom.sf(np.ceil(observed) - 1, r, p)


def normal_tail(z: np.ndarray, drop: bool) -> np.ndarray:
    return stats.norm.cdf(z) if drop else stats.norm.sf(z)


def trailing_max(x: np.ndarray, w: int) -> np.ndarray:
    """Largest x over the w periods ending at each index (over the periods that exist)."""
    out = np.array(x, dtype=float)
    for k in range(1, w):
        out[k:] = np.maximum(out[k:], x[:-k])
    return out


def window_tail(kind: str, drop: bool, obs: dict[str, np.ndarray], exp: dict[str, np.ndarray],
                extra: np.ndarray | float = 0.0) -> np.ndarray:
    """Tail probability of one window for a metric kind. ``obs``/``exp``: window sums of the kind's parts:
    count: y; sum: y (money), m2 (expected orders x mean square amount), v (expected orders);
    ratio: y (successes), n (trials), e (expected successes); mean: y (sum), n (count), e (expected sum), s2.
    ``extra``: added relative variance of the expected value (special days whose effect is a guess)."""
    if kind == "count":
        return count_tail(obs["y"], exp["y"], drop, DISPERSION + extra)
    if kind == "sum":
        var = np.maximum(exp["m2"] * (1 + DISPERSION * exp["v"]) + extra * exp["y"] ** 2, 1e-9)
        return normal_tail((obs["y"] - exp["y"]) / np.sqrt(var), drop)
    if kind == "ratio":
        n = np.maximum(obs["n"], 1e-9)
        rate = np.clip(exp["e"] / n, 1e-6, 1 - 1e-6)
        var = n * rate * (1 - rate) * (1 + DISPERSION * n)
        return normal_tail((obs["y"] - exp["e"] + (0.5 if drop else -0.5)) / np.sqrt(var), drop)
    if kind == "rare":  # rare events among few trials: the exact binomial tail (a normal one overstates bursts)
        n = np.round(np.maximum(obs["n"], obs["y"]))
        rate = np.clip(exp["e"] / np.maximum(obs["n"], 1e-9), 1e-9, 1 - 1e-9)
        return stats.binom.cdf(obs["y"], n, rate) if drop else stats.binom.sf(obs["y"] - 1, n, rate)
    if kind == "mean":
        n = np.maximum(obs["n"], 1e-9)
        var = np.maximum(exp["s2"] * n * (1 + DISPERSION * n), 1e-9)
        return normal_tail((obs["y"] - exp["e"]) / np.sqrt(var), drop)
    raise ValueError(f"unknown metric kind {kind!r}")


def _without_last(kind: str, drop: bool, obs: dict[str, np.ndarray], exp: dict[str, np.ndarray], unc: np.ndarray,
                  w: int, cand: np.ndarray) -> np.ndarray:
    """Tail probability, at each candidate period t, of the window of w - 1 periods ending at t - 1 (1 where that
    window is not off in the same direction): what the window of w periods ending at t knew without t."""
    shift = lambda x: np.concatenate([[np.nan], x[:-1]])  # noqa: E731
    o = {k: shift(trailing(v, w - 1)) for k, v in obs.items()}
    e = {k: shift(trailing(v, w - 1)) for k, v in exp.items()}
    u = shift(trailing_max(unc, w - 1))
    centre_o, centre_e = o["y"], e["e"] if "e" in e else e["y"]
    side = (centre_o < centre_e) if drop else (centre_o > centre_e)
    ok = cand & side & np.all([np.isfinite(x) for x in (*o.values(), *e.values())], axis=0)
    out = np.ones(len(cand))
    if ok.any():
        out[ok] = window_tail(kind, drop, {k: v[ok] for k, v in o.items()}, {k: v[ok] for k, v in e.items()},
                              np.nan_to_num(u[ok]))
    return out


def score_series(kind: str, obs: dict[str, np.ndarray], exp: dict[str, np.ndarray], volume: np.ndarray,
                 *, direction: str, min_volume: float, quiet: np.ndarray, windows: tuple[int, ...],
                 uncertainty: np.ndarray | None = None) -> Scored:
    """Score every period of one series.

    ``obs``/``exp``: per-period parts (see ``window_tail``); ``volume``: expected volume per period (orders,
    sessions, payment attempts, deliveries) for the minimum-volume rule; ``quiet``: bool per period, never alerts;
    ``direction``: "drop", "spike" or "both"; ``uncertainty``: extra relative variance of the expected value per
    period (the largest in a window applies). Periods whose expected value is unknown (nan) never alert."""
    unc = np.zeros(len(volume)) if uncertainty is None else np.nan_to_num(np.asarray(uncertainty, float))
    n = len(volume)
    best_p = np.ones(n)
    best = dict(window=np.zeros(n, dtype=np.int64), observed=np.zeros(n), expected=np.zeros(n),
                direction=np.zeros(n, dtype=np.int64))
    sides = [s for s in ("drop", "spike") if direction in (s, "both")]
    for w in windows:
        o = {k: trailing(v, w) for k, v in obs.items()}
        e = {k: trailing(v, w) for k, v in exp.items()}
        vol = trailing(volume, w)
        u = trailing_max(unc, w)
        ok = np.isfinite(vol) & (vol >= min_volume) & np.all([np.isfinite(x) for x in e.values()], axis=0)
        if not ok.any():
            continue
        centre_o, centre_e = o["y"], e["e"] if "e" in e else e["y"]
        for side in sides:
            drop = side == "drop"
            cand = ok & ((centre_o < centre_e) if drop else (centre_o > centre_e))
            if not cand.any():
                continue
            p = np.ones(n)
            p[cand] = window_tail(kind, drop, {k: v[cand] for k, v in o.items()},
                                  {k: v[cand] for k, v in e.items()}, u[cand])
            if w > 1:  # the newest period must add evidence, else the window only echoes an earlier burst
                p_before = _without_last(kind, drop, obs, exp, unc, w, cand)
                cand = cand & (p < p_before)
            better = cand & (p < best_p)
            best_p = np.where(better, p, best_p)
            best["window"] = np.where(better, w, best["window"])
            best["observed"] = np.where(better, centre_o, best["observed"])
            best["expected"] = np.where(better, centre_e, best["expected"])
            best["direction"] = np.where(better, -1 if drop else 1, best["direction"])
    corrected = np.minimum(best_p * np.sqrt(len(windows)) * len(sides), 1.0)
    score = -np.log10(np.maximum(corrected, _P_FLOOR))
    score = np.where(quiet | (best["direction"] == 0), 0.0, score)
    return Scored(score=score, probability=corrected, **best)
