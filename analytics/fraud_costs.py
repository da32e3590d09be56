"""What a fraud threshold costs: expected cost across thresholds, the precision-recall curve, the operating point,
review cases a day, and whether this week's scores drifted from the training ones.

Input is a frame of scored payments with known outcomes (the model's held-out matured payments,
``models.fraud.outputs.load_validation``): ``amount`` (money), ``label`` (1 = chargeback / fraud, 0 = good),
``score`` (0..1) and ``paid_ts``. A payment is *flagged* when its score is at or above the threshold.

The cost of a threshold, in the merchant's currency, over the frame's payments:

    reviews          every flagged payment costs one manual review;
    lost margin      a flagged good order is counted as lost (declined, or abandoned while held): margin% x amount;
    chargebacks      a fraud below the threshold gets through and comes back as amount + chargeback fee.

Counting flagged good orders as lost is the cautious side: a review that clears a good order only lowers the cost.
Everything here is pure (polars and numpy in, frames and dataclasses out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

PSI_SMALL, PSI_LARGE = 0.10, 0.25  # the usual reading of a population stability index
KS_ALPHA = 0.01
MIN_RECENT = 50  # fewer recent scores than this say little about drift
DRIFT_BINS = 10


class CostError(ValueError):
    """A cost input that cannot be used; the message names the field and the value."""


@dataclass(frozen=True)
class FraudCosts:
    """What each outcome costs the merchant: a chargeback's fee (on top of the amount lost), the margin lost on a
    declined good order (a fraction of its amount, 0..1), and one manual review (money)."""

    chargeback_fee: float
    margin_lost: float
    review_cost: float

    def __post_init__(self) -> None:
        for name, words, top in (("chargeback_fee", "The chargeback fee", None),
                                 ("margin_lost", "The margin lost on a declined good order", 1.0),
                                 ("review_cost", "The cost of a manual review", None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise CostError(f"{words} must be a number, got {value!r}")
            if value < 0:
                raise CostError(f"{words} cannot be negative, got {value!r}")
            if top is not None and value > top:
                raise CostError(f"{words} is a share of the order's amount between 0% and 100%, got {value:.0%}")
            object.__setattr__(self, name, float(value))


REQUIRED = ("amount", "label", "score")
CURVE_COLUMNS = ("threshold", "flagged", "frauds_caught", "good_flagged", "precision", "recall",
                 "review_cost", "margin_lost", "chargeback_cost", "expected_cost")


def _checked(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise CostError(f"scored payments need the columns {', '.join(REQUIRED)}; missing {', '.join(missing)}")
    out = frame.select(pl.col("amount").cast(pl.Float64), pl.col("label").cast(pl.Int8),
                       pl.col("score").cast(pl.Float64)).drop_nulls()
    bad = out.filter(~pl.col("label").is_in([0, 1]))
    if bad.height:
        raise CostError(f"label must be 0 (good) or 1 (fraud), got {bad['label'][0]!r}")
    return out


def compute_cost_curve(frame: pl.DataFrame, costs: FraudCosts) -> pl.DataFrame:
    """One row per distinct score (the thresholds that change anything), highest first, plus a last row above
    every score (flag nothing). Columns: ``CURVE_COLUMNS``; money columns in the frame's currency; precision is
    null where nothing is flagged."""
    data = _checked(frame)
    frauds_total = int(data["label"].sum())
    fraud_money = float(data.filter(pl.col("label") == 1)["amount"].sum()) + costs.chargeback_fee * frauds_total
    by_score = (data.group_by("score").agg(
        pl.len().alias("n"), pl.col("label").sum().cast(pl.Int64).alias("tp"),
        (pl.col("amount") * pl.col("label")).sum().alias("tp_amount"),
        (pl.col("amount") * (1 - pl.col("label"))).sum().alias("fp_amount"))
        .sort("score", descending=True))
    cum = by_score.select(
        pl.col("score").alias("threshold"), pl.col("n").cum_sum().alias("flagged"),
        pl.col("tp").cum_sum().alias("frauds_caught"), pl.col("tp_amount").cum_sum().alias("tp_amount"),
        pl.col("fp_amount").cum_sum().alias("fp_amount"))
    nothing = pl.DataFrame({"threshold": [math.nextafter(float(data["score"].max() if data.height else 1.0), math.inf)],
                            "flagged": [0], "frauds_caught": [0], "tp_amount": [0.0], "fp_amount": [0.0]},
                           schema=cum.schema)
    cum = pl.concat([nothing, cum])
    return cum.with_columns(
        (pl.col("flagged") - pl.col("frauds_caught")).alias("good_flagged"),
        pl.when(pl.col("flagged") > 0).then(pl.col("frauds_caught") / pl.col("flagged")).alias("precision"),
        (pl.col("frauds_caught") / frauds_total if frauds_total else pl.lit(0.0)).alias("recall"),
        (pl.col("flagged") * costs.review_cost).alias("review_cost"),
        (pl.col("fp_amount") * costs.margin_lost).alias("margin_lost"),
        (fraud_money - pl.col("tp_amount") - costs.chargeback_fee * pl.col("frauds_caught")).alias("chargeback_cost"),
    ).with_columns(
        (pl.col("review_cost") + pl.col("margin_lost") + pl.col("chargeback_cost")).alias("expected_cost"),
    ).select(CURVE_COLUMNS)


def choose_threshold(curve: pl.DataFrame) -> float:
    """The threshold of the lowest expected cost; among equal costs the highest threshold (fewest reviews)."""
    best = curve["expected_cost"].min()
    tied = curve.filter(pl.col("expected_cost") <= best + 1e-9 * max(1.0, abs(best)))
    return float(tied["threshold"].max())


def operating_point(curve: pl.DataFrame, threshold: float) -> dict:
    """The curve's row for ``threshold``: the lowest listed threshold at or above it (the same payments flagged)."""
    rows = curve.filter(pl.col("threshold") >= threshold).sort("threshold")
    row = rows.row(0, named=True) if rows.height else curve.sort("threshold").row(-1, named=True)
    return {**row, "threshold": float(threshold)}


def days_covered(frame: pl.DataFrame) -> int:
    """Calendar days from the first to the last payment of ``frame`` (``paid_ts``), at least 1."""
    if "paid_ts" not in frame.columns or frame.height == 0:
        return 1
    first, last = frame["paid_ts"].min(), frame["paid_ts"].max()
    return max(1, (last.date() - first.date()).days + 1) if first is not None else 1


def cases_per_day(frame: pl.DataFrame, threshold: float) -> float:
    """Payments a day at or above ``threshold`` over the days ``frame`` covers (the review queue's daily load)."""
    return frame.filter(pl.col("score") >= threshold).height / days_covered(frame)


@dataclass(frozen=True)
class Drift:
    psi: float
    ks_statistic: float
    ks_p_value: float
    recent: int
    training: int

    @property
    def drifted(self) -> bool:
        if self.recent < MIN_RECENT:
            return False
        return self.psi >= PSI_LARGE or (self.ks_p_value < KS_ALPHA and self.psi >= PSI_SMALL)

    @property
    def words(self) -> str:
        if self.recent == 0:
            return "No payments were scored this week, so drift cannot be judged."
        if self.recent < MIN_RECENT:
            return (f"Only {self.recent:,} payments were scored this week: too few to judge drift "
                    f"(stability index {self.psi:.2f}).")
        if self.drifted:
            return (f"The scores drifted: this week's distribution differs from the training one (stability index "
                    f"{self.psi:.2f}, at or above {PSI_SMALL:.2f} is a shift). Retrain, and check the threshold.")
        if self.psi >= PSI_SMALL:
            return (f"The scores moved a little (stability index {self.psi:.2f}); not enough to call it drift. "
                    "Keep an eye on it.")
        return f"No drift: this week's scores look like the training ones (stability index {self.psi:.2f})."


def compute_drift(training: np.ndarray, recent: np.ndarray, bins: int = DRIFT_BINS) -> Drift:
    """Population stability index over ``bins`` quantile bins of the training scores, and scipy's two-sample KS."""
    from scipy.stats import ks_2samp

    train = np.asarray(training, dtype=float)
    now = np.asarray(recent, dtype=float)
    train, now = train[np.isfinite(train)], now[np.isfinite(now)]
    if not train.size or not now.size:
        return Drift(0.0, 0.0, 1.0, int(now.size), int(train.size))
    edges = np.unique(np.quantile(train, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = np.bincount(np.searchsorted(edges, train, side="right"), minlength=edges.size + 1) / train.size
    actual = np.bincount(np.searchsorted(edges, now, side="right"), minlength=edges.size + 1) / now.size
    floor = 1e-4  # an empty bin would make the index infinite
    expected, actual = np.clip(expected, floor, None), np.clip(actual, floor, None)
    psi = float(np.sum((actual - expected) * np.log(actual / expected)))
    ks = ks_2samp(train, now)
    return Drift(psi, float(ks.statistic), float(ks.pvalue), int(now.size), int(train.size))
