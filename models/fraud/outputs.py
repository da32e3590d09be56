"""The ``fraud_score`` kind: its saved payload, its training (``fit``) and the functions that read it back.

Payload: a zip holding
- ``model.json``: the XGBoost classifier in XGBoost's own JSON (no pickle);
- ``iforest.skops``: the PyOD Isolation Forest's fitted sklearn forest in skops' format, loaded only when
  every type in it is sklearn's or numpy's (no pickle runs);
- ``model.json``'s companions in ``params.json``: calibration curve, anomaly quantiles, threshold, metrics;
- ``validation.parquet``: the held-out payments (``load_validation``);
- ``training_scores.parquet``: the training slice's blended scores (``load_training_scores``).
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np
import polars as pl

from data.access import DataAccess
from models.fraud import train
from models.fraud.features import FEATURE_NAMES, compute_features
from models.registry import Fitted, ModelKind, Progress, register

KEY = "fraud_score"
VALIDATION_COLUMNS = ("merchant_id", "payment_id", "paid_ts", "amount", "label", "score", "probability")


def to_payload(model: train.FraudModel, validation: pl.DataFrame, params: dict, metrics: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.json", model.booster_json)
        z.writestr("iforest.skops", model.iforest_skops)
        z.writestr("params.json", json.dumps({
            "features": list(FEATURE_NAMES), "threshold": model.threshold,
            "anomaly_quantiles": model.anomaly_quantiles, "calibration_x": model.calibration_x,
            "calibration_y": model.calibration_y, "params": params, "metrics": metrics}))
        for name, frame in (("validation", validation.select(VALIDATION_COLUMNS)),
                            ("training_scores", pl.DataFrame({"score": model.training_scores}))):
            part = io.BytesIO()
            frame.write_parquet(part)
            z.writestr(f"{name}.parquet", part.getvalue())
    return buf.getvalue()


def _read(payload: bytes, name: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            return z.read(name)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"not a fraud_score model payload ({name}: {exc}); retrain the model") from None


def load_params(payload: bytes) -> dict:
    """threshold, features, calibration, anomaly quantiles, the training params and metrics."""
    return json.loads(_read(payload, "params.json"))


@functools.lru_cache(maxsize=train.LOADED_MODELS)
def load_model(payload: bytes) -> train.FraudModel:
    p = load_params(payload)
    if tuple(p["features"]) != FEATURE_NAMES:
        raise ValueError("the saved fraud model was trained on other features than this version computes; "
                         "retrain it (python -m models train --kind fraud_score)")
    return train.FraudModel(booster_json=_read(payload, "model.json"), iforest_skops=_read(payload, "iforest.skops"),
                            anomaly_quantiles=p["anomaly_quantiles"], calibration_x=p["calibration_x"],
                            calibration_y=p["calibration_y"], threshold=float(p["threshold"]),
                            training_scores=np.empty(0))


def booster_of(model: train.FraudModel):
    return train.load_booster(model.booster_json)


def load_threshold(payload: bytes) -> float:
    """The score from which a payment is flagged (chosen at training by F2 on the calibration slice)."""
    return float(load_params(payload)["threshold"])


def load_validation(payload: bytes) -> pl.DataFrame:
    """Held-out payments (the last 15% of the matured ones by time): merchant_id, payment_id, paid_ts,
    amount (merchant currency), label (True: chargeback), score, probability (0..1)."""
    return pl.read_parquet(io.BytesIO(_read(payload, "validation.parquet")))


def load_training_scores(payload: bytes) -> np.ndarray:
    """Blended scores (0..1) of the training payments: the drift panel's baseline distribution."""
    return pl.read_parquet(io.BytesIO(_read(payload, "training_scores.parquet")))["score"].to_numpy()


def train_on(access: DataAccess, progress: Progress | None = None, *, window_days: int | None = None,
             decisions: pl.DataFrame | None = None) -> Trained:
    """Fit on every payment in scope (see ``train``'s module doc for labels, split and blend). ``decisions``:
    reviewer decisions as labels (``train.decision_labels``; a decline counts as fraud)."""
    report = progress or (lambda f, t: None)
    report(0.05, "Computing payment features")
    features = compute_features(access)
    if features.height == 0:
        raise train.NotEnoughLabels("no payments in scope to train on")
    t = access.table("payments")
    chargebacks = access.to_polars(t.select("payment_id", "chargeback", "chargeback_date"))
    return train_from_features(features, chargebacks, report, window_days=window_days, decisions=decisions)


def reviewer_labels(store, merchant_id: int) -> pl.DataFrame:
    """The merchant's current reviewer decisions in the operational store as labels for ``train_on``
    (payment_id, outcome; see ``train.decision_labels``)."""
    from data.store import Principal

    who = Principal.merchants("fraud-training", [int(merchant_id)])
    return train.decision_labels(store.reviews.decision_log(who, merchant_ids=[int(merchant_id)]))


@dataclass(frozen=True)
class Trained:
    payload: bytes
    params: dict
    metrics: dict
    window: tuple[str, str]
    rows: int
    train: pl.DataFrame  # the three time slices, labelled (for peers and tests)
    calibration: pl.DataFrame
    validation: pl.DataFrame  # with score and probability


def train_from_features(features: pl.DataFrame, chargebacks: pl.DataFrame, progress: Progress | None = None, *,
                        window_days: int | None = None, decisions: pl.DataFrame | None = None) -> Trained:
    report = progress or (lambda f, t: None)
    window_days = train.chargeback_window_days() if window_days is None else window_days
    labelled = train.label_matured(features, chargebacks, window_days=window_days, decisions=decisions)
    fit_rows, cal_rows, val_rows = train.split_by_time(labelled)
    if cal_rows.height == 0 or val_rows.height == 0:
        raise train.NotEnoughLabels(f"{labelled.height:,} matured payments: too few to train, calibrate and "
                                    f"validate on (payments mature {window_days} days after they are made: "
                                    "RETAIL_PULSE_CHARGEBACK_WINDOW_DAYS)")
    report(0.4, f"Training on {fit_rows.height:,} matured payments")
    model = train.fit_model(fit_rows, cal_rows, features.filter(
        (pl.col("status") != "declined") & (pl.col("paid_ts") < cal_rows["paid_ts"].min())))
    report(0.8, "Validating on the latest matured payments")
    parts = train.predict(model, train.matrix(val_rows))
    validation = val_rows.with_columns(score=pl.Series(parts["score"]), probability=pl.Series(parts["probability"]))
    metrics = train.evaluate(validation, model.threshold)
    params = {"chargeback_window_days": window_days, "threshold": round(model.threshold, 4),
              "anomaly_weight": train.ANOMALY_WEIGHT, "anomaly_power": train.ANOMALY_POWER,
              "trees": train.XGB_PARAMS["n_estimators"], "depth": train.XGB_PARAMS["max_depth"]}
    window = (str(fit_rows["paid_ts"].min().date()), str(cal_rows["paid_ts"].max().date()))
    return Trained(to_payload(model, validation, params, metrics), params, metrics, window,
                   fit_rows.height + cal_rows.height, fit_rows, cal_rows, validation)


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def fit(access: DataAccess, progress: Progress, decisions: pl.DataFrame | None = None) -> Fitted:
    trained = train_on(access, progress, decisions=decisions)
    params = dict(trained.params)
    if decisions is not None:
        params["reviewer_decisions"] = int(decisions.height)
        params["reviewer_declines"] = int((decisions["outcome"] == "decline").sum()) if decisions.height else 0
    notes = ("Declined attempts feed the velocity and burst features but are not trained on, and never enter "
             "the review queue: they carry no chargeback.",
             f"Payments younger than {params['chargeback_window_days']} days without a chargeback are left out: "
             "their label is not known yet (RETAIL_PULSE_CHARGEBACK_WINDOW_DAYS).",
             f"Blend: score = max(probability, {train.ANOMALY_WEIGHT} x anomaly^{train.ANOMALY_POWER:g}). The "
             "classifier knows the fraud chargebacks have taught it; the Isolation Forest needs no labels, so a "
             "new pattern can show before its chargebacks arrive. The power keeps its lift to the strangest few "
             f"payments in a thousand, and to at most {train.ANOMALY_WEIGHT}: they reach review when the "
             "merchant's cost-based threshold is that low, never past this model's own threshold, and a high "
             "probability is never lowered.",
             "Reviewer decisions are labels too: a payment declined in review counts as fraud (it never gets a "
             "chargeback), an approved one waits for its chargeback window like any other"
             + (f" ({_count(params['reviewer_decisions'], 'decision')} read, "
                f"{_count(params['reviewer_declines'], 'decline')})."
                if decisions is not None else " (none read: trained without the operational store)."))
    return Fitted(payload=trained.payload, params=params, window=trained.window, metrics=trained.metrics,
                  rows=trained.rows, notes=notes)


KIND = register(ModelKind(
    key=KEY,
    title="Fraud score",
    description=("Scores every payment from 0 to 1 with features known at the time it was made: payments per "
                 "card, device, network, email domain and customer in the 10 minutes, hour and day before; the "
                 "amount against the customer's own history; card, billing, IP and shipping countries; account "
                 "age; cards per device; declines in a burst. An XGBoost classifier trained on matured "
                 "chargebacks (time split) gives a calibrated probability; a PyOD Isolation Forest flags payments "
                 "unlike any seen. Reasons are the SHAP contributions said in words."),
    libraries=("xgboost-cpu", "pyod", "scikit-learn", "skops", "shap", "polars", "numpy"),
    fit=fit,
    feedback=reviewer_labels,
    fit_with_feedback=fit,
))
