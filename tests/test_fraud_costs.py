"""Expected cost across thresholds and the PR curve against scikit-learn and a brute-force sum on the same frame."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import precision_recall_curve

from analytics.fraud_costs import (CostError, FraudCosts, cases_per_day, choose_threshold, compute_cost_curve,
                                   compute_drift, days_covered, operating_point)

COSTS = FraudCosts(chargeback_fee=15.0, margin_lost=0.3, review_cost=4.0)


def scored(n: int = 2000, seed: int = 7, ties: bool = True) -> pl.DataFrame:
    """Validation-shaped payments: frauds score higher on average; scores rounded so thresholds tie."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.05).astype(int)
    score = np.clip(rng.normal(0.25 + 0.45 * label, 0.18), 0, 1)
    if ties:
        score = np.round(score, 2)
    start = dt.datetime(2026, 3, 1)
    return pl.DataFrame({
        "merchant_id": 1, "payment_id": np.arange(n), "amount": np.round(rng.gamma(2.0, 40.0, n), 2),
        "label": label, "score": score, "probability": score,
        "paid_ts": [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 30, n)],
    })


def brute_cost(frame: pl.DataFrame, threshold: float, costs: FraudCosts) -> float:
    total = 0.0
    for row in frame.iter_rows(named=True):
        flagged = row["score"] >= threshold
        if flagged:
            total += costs.review_cost
            if row["label"] == 0:
                total += costs.margin_lost * row["amount"]
        elif row["label"] == 1:
            total += row["amount"] + costs.chargeback_fee
    return total


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return scored()


def test_cost_curve_matches_brute_force(frame):
    curve = compute_cost_curve(frame, COSTS)
    assert curve["threshold"].n_unique() == frame["score"].n_unique() + 1
    for row in curve.gather_every(7).iter_rows(named=True):
        assert row["expected_cost"] == pytest.approx(brute_cost(frame, row["threshold"], COSTS), rel=1e-9)
        assert row["flagged"] == frame.filter(pl.col("score") >= row["threshold"]).height


def test_pr_curve_matches_scikit_learn(frame):
    curve = compute_cost_curve(frame, COSTS)
    precision, recall, thresholds = precision_recall_curve(frame["label"].to_numpy(), frame["score"].to_numpy())
    mine = {round(t, 12): (p, r) for t, p, r in curve.select("threshold", "precision", "recall").iter_rows()}
    for p, r, t in zip(precision[:-1], recall[:-1], thresholds):
        assert mine[round(float(t), 12)] == pytest.approx((p, r), rel=1e-12)


def test_chosen_threshold_is_the_brute_force_minimum(frame):
    curve = compute_cost_curve(frame, COSTS)
    chosen = choose_threshold(curve)
    candidates = sorted(set(frame["score"].to_list())) + [1.01]
    brute = {t: brute_cost(frame, t, COSTS) for t in candidates}
    best = min(brute.values())
    assert brute_cost(frame, chosen, COSTS) == pytest.approx(best, rel=1e-9)
    assert chosen == pytest.approx(max(t for t, c in brute.items() if c <= best + 1e-6))
    point = operating_point(curve, chosen)
    assert point["expected_cost"] == pytest.approx(best, rel=1e-9)


def test_operating_point_between_scores_flags_the_same_payments(frame):
    curve = compute_cost_curve(frame, COSTS)
    point = operating_point(curve, 0.555)
    assert point["flagged"] == frame.filter(pl.col("score") >= 0.555).height
    assert point["expected_cost"] == pytest.approx(brute_cost(frame, 0.555, COSTS), rel=1e-9)


def test_costs_move_the_threshold(frame):
    cheap_reviews = choose_threshold(compute_cost_curve(frame, FraudCosts(15.0, 0.3, 0.01)))
    dear_reviews = choose_threshold(compute_cost_curve(frame, FraudCosts(15.0, 0.3, 200.0)))
    assert cheap_reviews < dear_reviews


def test_cases_per_day(frame):
    days = (frame["paid_ts"].max().date() - frame["paid_ts"].min().date()).days + 1
    assert days_covered(frame) == days
    assert cases_per_day(frame, 0.5) == pytest.approx((frame["score"] >= 0.5).sum() / days)


@pytest.mark.parametrize("kwargs, words", [
    ({"chargeback_fee": -1}, "chargeback fee cannot be negative"),
    ({"margin_lost": 1.5}, "between 0% and 100%"),
    ({"review_cost": "ten"}, "manual review must be a number"),
    ({"review_cost": float("nan")}, "manual review must be a number"),
    ({"margin_lost": True}, "must be a number"),
])
def test_cost_inputs_validated(kwargs, words):
    values = {"chargeback_fee": 15.0, "margin_lost": 0.3, "review_cost": 4.0, **kwargs}
    with pytest.raises(CostError, match=words):
        FraudCosts(**values)


def test_bad_frames_refused():
    with pytest.raises(CostError, match="missing score"):
        compute_cost_curve(pl.DataFrame({"amount": [1.0], "label": [0]}), COSTS)
    with pytest.raises(CostError, match="label must be 0"):
        compute_cost_curve(pl.DataFrame({"amount": [1.0], "label": [2], "score": [0.1]}), COSTS)


def test_drift_against_scipy_and_by_hand():
    rng = np.random.default_rng(3)
    train = rng.beta(2, 8, 5000)
    same = compute_drift(train, rng.beta(2, 8, 1500))
    moved = compute_drift(train, rng.beta(4, 6, 1500))
    assert not same.drifted and "No drift" in same.words
    assert moved.drifted and "drifted" in moved.words
    recent = rng.beta(4, 6, 1500)
    drift = compute_drift(train, recent)
    ks = ks_2samp(train, recent)
    assert drift.ks_statistic == pytest.approx(ks.statistic) and drift.ks_p_value == pytest.approx(ks.pvalue)
    edges = np.quantile(train, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    e = np.histogram(train, edges)[0] / train.size
    a = np.clip(np.histogram(recent, edges)[0] / recent.size, 1e-4, None)
    assert drift.psi == pytest.approx(float(np.sum((a - e) * np.log(a / e))), rel=1e-6)


def test_too_few_recent_scores_are_not_called_drift():
    rng = np.random.default_rng(4)
    few = compute_drift(rng.beta(2, 8, 5000), rng.beta(8, 2, 20))
    assert few.psi > 1 and not few.drifted and "too few" in few.words
    assert compute_drift(rng.beta(2, 8, 100), np.array([])).words.startswith("No payments")
