"""Training the fraud model: matured labels, a time split, XGBoost, a PyOD detector, a calibration, a threshold.

Labels. A payment is fraud when a chargeback arrived for it, or when a reviewer declined it (its current
decision in the review queue, ``label_matured``'s ``decisions``: a stopped payment never gets a chargeback). It
counts as legitimate only once its
chargeback window (``RETAIL_PULSE_CHARGEBACK_WINDOW_DAYS``, default 90) has closed by the newest payment in the
data (the data's "now"): younger payments are left out of training and evaluation, fraud and legitimate alike,
so the base rate of the recent weeks is not inflated by chargebacks that arrived early. Declined attempts carry
no chargeback (no money moved), so they feed the features but are neither trained nor evaluated on.

Time split of the matured payments, oldest first: 70% train the classifier and the detector, the next 15%
calibrate (isotonic regression of the classifier's output on a later slice, so the probability is honest about
payments it has not seen) and choose the threshold, the last 15% are held out for validation (the model card's
figures, ``outputs.load_validation``).

Blend. ``score = max(probability, ANOMALY_WEIGHT x anomaly^ANOMALY_POWER)``. The classifier knows the fraud
that chargebacks have taught it; the detector (PyOD Isolation Forest, no labels) ranks payments by how unlike
the bulk they are, so a new pattern can show before its chargebacks arrive. The power keeps the lift to the
strangest few payments in a thousand and the weight caps it at 0.3: such a payment reaches review when a
merchant's cost-based threshold is that low, never past a threshold chosen here, and a high probability is
never lowered. On the demo the lift costs held-out PR-AUC 0.93 -> 0.90 on the known patterns (the price of
looking at what the labels have not seen).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from data import settings
from models.fraud.features import FEATURE_NAMES

TRAIN_SHARE, CALIBRATION_SHARE = 0.70, 0.15
ANOMALY_WEIGHT, ANOMALY_POWER = 0.3, 64.0
ANOMALY_SAMPLE = 50_000  # rows the detector is fitted on (Isolation Forest sub-samples 256 a tree anyway)
# 150 trees of depth 4: on the demo as good as 300 of depth 5 (held-out PR-AUC 0.93 vs 0.92) and TreeSHAP,
# whose cost grows with leaves x depth^2 per tree, about 6x cheaper.
XGB_PARAMS = {"n_estimators": 150, "max_depth": 4, "learning_rate": 0.1, "subsample": 0.9,
              "colsample_bytree": 0.9, "min_child_weight": 1.0, "tree_method": "hist", "n_jobs": 2,
              "random_state": 0, "eval_metric": "aucpr"}
MIN_FRAUD = 5  # fewer chargebacks than this in the training slice: no classifier can be learnt


class NotEnoughLabels(ValueError):
    """Too few matured payments or chargebacks to train on; the message says how many and what is needed."""


def chargeback_window_days(environ: dict[str, str] | None = None) -> int:
    return settings.whole_number("chargeback_window_days", 1, 730, environ)


def label_matured(features: pl.DataFrame, chargebacks: pl.DataFrame, *, window_days: int,
                  decisions: pl.DataFrame | None = None) -> pl.DataFrame:
    """Payments that went through (not declined) whose chargeback window closed by the data's newest payment,
    with ``label`` (True: fraud). ``chargebacks``: payment_id, chargeback (bool), and optionally chargeback_date
    (a chargeback dated after the data's newest payment is not known yet).

    ``decisions`` (payment_id, outcome: the current reviewer decision of each reviewed payment, see
    ``decision_labels``): a ``decline`` counts as fraud. A payment stopped by review never gets a chargeback,
    so without its decision the fraud the reviewers caught would be learnt as legitimate. An ``approve`` adds
    nothing the chargebacks do not say: the payment is legitimate once its window closed without one, fraud
    if one arrived after all; an ``escalate`` says nothing yet."""
    now = features["paid_ts"].max()
    known = pl.col("chargeback").fill_null(False)
    if "chargeback_date" in chargebacks.columns:
        known = known & (pl.col("chargeback_date").is_null() | (pl.col("chargeback_date") <= now.date()))
    matured = features.filter((pl.col("status") != "declined")
                              & (pl.col("paid_ts") <= now - dt.timedelta(days=window_days)))
    labelled = matured.join(chargebacks.select("payment_id", known.alias("label")), on="payment_id",
                            how="left").with_columns(pl.col("label").fill_null(False))
    if decisions is None or decisions.height == 0:
        return labelled
    declined = decisions.filter(pl.col("outcome") == "decline").select("payment_id").unique()
    return labelled.with_columns(pl.col("label") | pl.col("payment_id").is_in(declined["payment_id"].implode()))


def decision_labels(decisions) -> pl.DataFrame:
    """payment_id, outcome of each payment's current decision, from the store's decision log
    (``store.reviews.decision_log``: reversed decisions are left out, a reversal stands for them)."""
    rows = [(d.payment_id, d.outcome) for d in decisions if d.current]
    return pl.DataFrame(rows, schema={"payment_id": pl.Int64, "outcome": pl.Utf8}, orient="row")


def evaluate(validation: pl.DataFrame, threshold: float) -> dict:
    """PR-AUC, Brier score (and the base rate's), precision and recall at ``threshold`` against ``label``."""
    from sklearn.metrics import average_precision_score, brier_score_loss

    y = validation["label"].to_numpy().astype(int)
    p, s = validation["probability"].to_numpy(), validation["score"].to_numpy()
    flagged = s >= threshold
    base = float(y.mean()) if len(y) else 0.0
    out = {"validation_payments": int(len(y)), "validation_chargebacks": int(y.sum()),
           "threshold": round(float(threshold), 4)}
    if len(y) and 0 < y.sum() < len(y):
        out.update(pr_auc=float(average_precision_score(y, s)), brier=float(brier_score_loss(y, p)),
                   brier_base_rate=base * (1 - base))
    out.update(recall=float((flagged & (y == 1)).sum() / max(y.sum(), 1)),
               precision=float((flagged & (y == 1)).sum() / max(flagged.sum(), 1)),
               flagged_share=float(flagged.mean()) if len(y) else 0.0)
    return out


def split_by_time(labelled: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(train, calibration, validation): consecutive slices of the matured payments by paid_ts."""
    frame = labelled.sort("paid_ts", "payment_id")
    n = frame.height
    a, b = int(n * TRAIN_SHARE), int(n * (TRAIN_SHARE + CALIBRATION_SHARE))
    return frame[:a], frame[a:b], frame[b:]


def matrix(frame: pl.DataFrame) -> np.ndarray:
    # Cast in polars (one copy, not numpy's astype of a float64 copy), rows contiguous: the tree walks of XGBoost
    # and the Isolation Forest read a row at a time (about 15% faster than column order at 1M rows).
    return frame.select(pl.col(FEATURE_NAMES).cast(pl.Float32)).to_numpy(order="c")


@dataclass
class FraudModel:
    """The fitted parts, each in a format that loads without pickle (see outputs.to_payload)."""

    booster_json: bytes  # XGBoost's own JSON
    iforest_skops: bytes  # the Isolation Forest, skops format (loads only trusted sklearn types)
    anomaly_quantiles: list[float]  # detector scores at 0..100% of the training payments (for the 0..1 scale)
    calibration_x: list[float]  # isotonic fit: raw classifier output -> probability (piecewise linear)
    calibration_y: list[float]
    threshold: float
    training_scores: np.ndarray = field(repr=False)  # blended scores of the training slice (drift baseline)


def calibrate(raw: np.ndarray, x: list[float], y: list[float]) -> np.ndarray:
    return np.interp(raw, np.asarray(x), np.asarray(y))


def anomaly_scale(raw: np.ndarray, quantiles: list[float]) -> np.ndarray:
    """0..1: the share of training payments less anomalous than this one."""
    q = np.asarray(quantiles)
    return np.interp(raw, q, np.linspace(0.0, 1.0, len(q)))


def blend(probability: np.ndarray, anomaly: np.ndarray) -> np.ndarray:
    return np.maximum(probability, ANOMALY_WEIGHT * np.power(anomaly, ANOMALY_POWER))


def choose_threshold(score: np.ndarray, label: np.ndarray) -> float:
    """The score that maximises F2 on the calibration slice (recall weighs twice precision: a missed fraud
    costs a chargeback, a needless review a few minutes). The cost-based choice is the thresholds page's."""
    if label.sum() == 0:
        return 0.5
    order = np.argsort(-score, kind="stable")
    s, y = score[order], label[order].astype(np.float64)
    tp = np.cumsum(y)
    k = np.arange(1, len(s) + 1)
    f2 = 5 * tp / (k + 4 * y.sum())  # (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP), b = 2
    last = np.r_[s[1:] != s[:-1], True]  # only cut between distinct scores
    best = int(np.argmax(np.where(last, f2, -1)))
    return float(s[best])


def fit_model(train: pl.DataFrame, calibration: pl.DataFrame, unlabelled: pl.DataFrame) -> FraudModel:
    """Fit classifier on ``train``, detector on ``unlabelled`` (a sample), calibration and threshold on
    ``calibration``. Raises NotEnoughLabels when a slice lacks chargebacks."""
    import xgboost as xgb
    from pyod.models.iforest import IForest
    from skops.io import dumps
    from sklearn.isotonic import IsotonicRegression

    fraud = int(train["label"].sum())
    if fraud < MIN_FRAUD or calibration.height == 0:
        raise NotEnoughLabels(f"{fraud} chargebacks among {train.height:,} matured training payments; at least "
                              f"{MIN_FRAUD} are needed (labels mature {chargeback_window_days()} days after "
                              "payment: RETAIL_PULSE_CHARGEBACK_WINDOW_DAYS)")
    clf = xgb.XGBClassifier(**XGB_PARAMS)
    clf.fit(matrix(train), train["label"].to_numpy())
    booster = clf.get_booster()
    raw_cal = booster.inplace_predict(matrix(calibration))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(raw_cal, calibration["label"].to_numpy().astype(float))
    sample = unlabelled.sample(min(ANOMALY_SAMPLE, unlabelled.height), seed=0) if unlabelled.height else train
    detector = IForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=1)
    detector.fit(matrix(sample))
    quantiles = np.quantile(detector.decision_scores_, np.linspace(0, 1, 1001)).tolist()
    model = FraudModel(booster_json=bytes(booster.save_raw("json")), iforest_skops=dumps(detector.detector_),
                       anomaly_quantiles=quantiles, calibration_x=iso.X_thresholds_.tolist(),
                       calibration_y=iso.y_thresholds_.tolist(), threshold=0.5, training_scores=np.empty(0))
    cal_score = predict(model, matrix(calibration), booster=booster, detector=detector.detector_)["score"]
    model.threshold = choose_threshold(cal_score, calibration["label"].to_numpy())
    model.training_scores = predict(model, matrix(train), booster=booster, detector=detector.detector_)["score"]
    return model


def predict(model: FraudModel, x: np.ndarray, *, booster=None, detector=None) -> dict[str, np.ndarray]:
    """probability, anomaly and score (0..1 each) for the rows of ``x`` (FEATURE_NAMES order)."""
    booster = booster or load_booster(model.booster_json)
    detector = detector if detector is not None else load_detector(model.iforest_skops)
    probability = calibrate(booster.inplace_predict(x), model.calibration_x, model.calibration_y)
    # PyOD's IForest scores are the negated sklearn decision function (larger: more anomalous).
    anomaly = anomaly_scale(-detect(detector, x), model.anomaly_quantiles) if len(x) else np.empty(0)
    return {"probability": probability, "anomaly": anomaly, "score": blend(probability, anomaly)}


THREADED_FROM = 200_000  # rows from which the detector is split among threads (below, starting them costs more)


def detect(detector, x: np.ndarray, threads: int = 2) -> np.ndarray:
    """The detector's decision function, its rows split among ``threads`` (sklearn walks the trees one after
    another on one core; its tree walk releases the GIL). Each row's sum over the trees runs in the same
    order as in one call, so the numbers are identical."""
    if len(x) < THREADED_FROM or threads < 2:
        return detector.decision_function(x)
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, len(x), threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(lambda i: detector.decision_function(x[bounds[i]:bounds[i + 1]]), range(threads))
        return np.concatenate(list(parts))


# Loaded models per saved bytes: a page's reasons and the scoring of each merchant reuse them (loading the
# detector's 100 trees takes about 0.25 s). Both predict from several threads safely.
LOADED_MODELS = 16


@functools.lru_cache(maxsize=LOADED_MODELS)
def load_booster(raw: bytes):
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    booster.set_param({"nthread": 2})
    return booster


@functools.lru_cache(maxsize=LOADED_MODELS)
def load_detector(raw: bytes):
    from skops.io import get_untrusted_types, loads

    untrusted = get_untrusted_types(data=raw)
    allowed = [t for t in untrusted if t.startswith(("sklearn.", "numpy."))]
    if len(allowed) != len(untrusted):
        raise ValueError(f"anomaly detector holds types that are not sklearn's: {sorted(set(untrusted) - set(allowed))}")
    return loads(raw, trusted=allowed)
