"""Scoring payments with a saved fraud model: features, probability, anomaly, the blended score, SHAP reasons.

Every payment in scope is scored, declined attempts included (their score shows on the case view and in
backtests), but only payments that went through (status not ``declined``) are sent to the review queue
(``flagged_payments``): a declined attempt moved no money and has nothing to approve or decline. Reasons are
written for payments scoring at least ``reasons_from`` (default REASONS_FROM, 5%; None: the model's threshold,
i.e. the flagged ones; ``explain`` gives any payment's): the queue and the case view need them, and exact
TreeSHAP for a million ordinary payments would be most of the scoring time (about 0.2 ms a payment on 2 busy
cores).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import polars as pl

from data.access import DataAccess
from models.fraud import outputs
from models.fraud.features import compute_features
from models.fraud.reasons import compute_reasons
from models.fraud.train import matrix, predict

REASONS_FROM = 0.05


def score_features(features: pl.DataFrame, payload: bytes, *,
                   reasons_from: float | None = REASONS_FROM) -> pl.DataFrame:
    """``features`` (compute_features' frame) plus probability, anomaly, score (0..1) and reasons (list[str]),
    sorted by paid_ts then payment_id."""
    model = outputs.load_model(payload)
    reasons_from = model.threshold if reasons_from is None else reasons_from
    features = _sorted(features)
    x = matrix(features)
    booster = outputs.booster_of(model)
    parts = predict(model, x, booster=booster)
    scored = features.with_columns(**{k: pl.Series(k, v, dtype=pl.Float64) for k, v in parts.items()})
    wanted = np.flatnonzero(parts["score"] >= reasons_from) if scored.height else np.empty(0, dtype=np.int64)
    said: list[list[str]] = []
    if len(wanted):
        import xgboost as xgb

        contributions = booster.predict(xgb.DMatrix(x[wanted]), pred_contribs=True)
        said = compute_reasons(contributions, scored[wanted])
    # Only the rows with reasons go through Python; the others get an empty list in one column operation.
    written = pl.DataFrame({"_row": pl.Series(wanted, dtype=pl.UInt32),
                            "reasons": pl.Series(said, dtype=pl.List(pl.Utf8))})
    return (scored.with_row_index("_row").join(written, on="_row", how="left", maintain_order="left")
            .with_columns(pl.col("reasons").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))).drop("_row"))


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` by paid_ts then payment_id; compute_features' frames already are, and re-sorting a million
    wide rows costs a second, so only check it then."""
    if frame.height < 2:
        return frame
    ts, pid = frame["paid_ts"].to_numpy(), frame["payment_id"].to_numpy()
    later, same = ts[1:] > ts[:-1], ts[1:] == ts[:-1]
    if bool(np.all(later | (same & (pid[1:] > pid[:-1])))):
        return frame
    return frame.sort("paid_ts", "payment_id")


def score_payments(access: DataAccess, payload: bytes, *, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, reasons_from: float | None = REASONS_FROM,
                   payment_ids: Iterable[int] | None = None) -> pl.DataFrame:
    """Payments in scope with paid_ts in [since, until] (only ``payment_ids`` when given: the features still read
    the window's history, but only those payments are scored and explained, e.g. the cases a page shows):
    compute_features' columns, then probability (calibrated chance of a
    chargeback, 0..1), anomaly (0..1: share of training payments less unusual), score (the blend thresholds
    apply to, 0..1) and reasons (up to 3 sentences), sorted by paid_ts."""
    features = compute_features(access, since=since, until=until, payment_ids=payment_ids)
    return score_features(features, payload, reasons_from=reasons_from)


def explain(features: pl.DataFrame, payload: bytes) -> pl.DataFrame:
    """``score_features`` with reasons for every row given (a case view's linked payments, a backtest sample)."""
    return score_features(features, payload, reasons_from=0.0)


def flagged_payments(scored: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Scored payments that went through (not declined) with score >= threshold: the review queue's intake."""
    return scored.filter((pl.col("status") != "declined") & (pl.col("score") >= threshold))
