"""What the Fraud thresholds page reads and draws: the fraud model's held-out payments, the labelled history that
rules are backtested on, this week's scores, the saved versions with their metrics, and the figures.

Everything model-derived is read once per model version (``models_ui.read_payload``) or once per (model
version, data version) and shared by sessions (``cache.shared_result``); the merchant is always an argument.
The costs, threshold and rules live in the operational store (``data.store.fraud_settings``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import plotly.graph_objects as go
import polars as pl

from dashboard import cache, models_ui
from dashboard.auth.accounts import Principal
from data.store.principal import Principal as StorePrincipal
from models.artifacts import SavedModel

KIND = "fraud_score"
RECENT_DAYS = 7
DEFAULT_COSTS = {"chargeback_fee": 15.0, "margin_lost": 0.30, "review_cost": 3.0}


def store_principal(principal: Principal) -> StorePrincipal:
    return StorePrincipal(principal.username, principal.merchant_ids)


def _validation(payload: bytes) -> pl.DataFrame:
    from models.fraud.outputs import load_validation

    return load_validation(payload)


def _training_scores(payload: bytes) -> np.ndarray:
    from models.fraud.outputs import load_training_scores

    return np.asarray(load_training_scores(payload), dtype=float)


def _model_threshold(payload: bytes) -> float:
    from models.fraud.outputs import load_threshold

    return float(load_threshold(payload))


models_ui.register_reader("fraud_validation", _validation)
models_ui.register_reader("fraud_training_scores", _training_scores)
models_ui.register_reader("fraud_model_threshold", _model_threshold)


def validation(saved: SavedModel) -> pl.DataFrame:
    """The model's held-out matured payments: merchant_id, payment_id, paid_ts, amount, label, score, probability."""
    return models_ui.read_payload(saved, "fraud_validation")


def model_threshold(saved: SavedModel) -> float:
    """The threshold the model chose at training (the queue's fallback until the merchant saves one)."""
    return models_ui.read_payload(saved, "fraud_model_threshold")


def training_scores(saved: SavedModel) -> np.ndarray:
    return models_ui.read_payload(saved, "fraud_training_scores")


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=16)
def _history(merchant_id: int, model_version: str, data_version: int, _saved: SavedModel) -> pl.DataFrame:
    from models.fraud.features import compute_features

    labelled = validation(_saved).select("payment_id", pl.col("label").cast(pl.Int8), "score")
    if not labelled.height:
        return labelled
    window = validation(_saved)["paid_ts"]
    features = compute_features(cache.access((merchant_id,)), since=window.min(), until=window.max())
    return features.join(labelled, on="payment_id", how="inner")


def history(saved: SavedModel, data_version: int) -> pl.DataFrame:
    """The held-out matured payments with their features and signals (``compute_features``), label and score:
    what rules and lists are backtested on."""
    return _history(saved.merchant_id, saved.version, data_version, saved)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=16)
def _recent(merchant_id: int, model_version: str, data_version: int, until: dt.date, _saved: SavedModel) -> np.ndarray:
    from models.fraud.scoring import score_payments

    end = dt.datetime.combine(until, dt.time.max)
    # Scores only (no reason is above 2), and only payments that went through: training scored no declined attempt.
    scored = score_payments(cache.access((merchant_id,)), _saved.payload,
                            since=end - dt.timedelta(days=RECENT_DAYS), until=end, reasons_from=2.0)
    return scored.filter(pl.col("status") != "declined")["score"].cast(pl.Float64).to_numpy()


def recent_scores(saved: SavedModel, data_version: int, until: dt.date) -> np.ndarray:
    """Scores of the payments (not declined attempts) of the last RECENT_DAYS days up to ``until`` (the drift
    panel's "this week")."""
    return _recent(saved.merchant_id, saved.version, data_version, until, saved)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=256)
def _meta(kind: str, merchant_id: int, version: str) -> dict | None:
    try:
        return dict(models_ui.model_store().load(kind, merchant_id, version).meta)
    except Exception:  # noqa: BLE001 - a refused version is listed as refused, never loaded
        return None


def versions(merchant_id: int) -> pl.DataFrame:
    """One row a saved version, newest first: version, when trained, data version, its held-out metrics
    (``models.fraud.train.evaluate``: PR-AUC, Brier score and the base rate's, precision and recall at the model's
    own threshold) and whether it is usable (a refused file is listed, never loaded)."""
    rows = []
    for version in reversed(models_ui.model_store().versions(KIND, merchant_id)):
        meta = _meta(KIND, merchant_id, version) or {}
        metrics = meta.get("metrics", {}) or {}
        rows.append({"Version": version, "Trained": str(meta.get("trained_at") or meta.get("saved_at") or ""),
                     "Data version": meta.get("data_version"),
                     **{label: _float(metrics.get(key)) for key, label in METRICS.items()},
                     "Usable": "yes" if meta else "no: refused (changed on disk or not from this installation)"})
    schema = {"Version": pl.Utf8, "Trained": pl.Utf8, "Data version": pl.Int64,
              **{label: pl.Float64 for label in METRICS.values()}, "Usable": pl.Utf8}
    return pl.DataFrame(rows, schema=schema)


METRICS = {"pr_auc": "PR-AUC", "brier": "Brier score", "brier_base_rate": "Brier score of the base rate",
           "precision": "Precision at its threshold", "recall": "Recall at its threshold",
           "validation_payments": "Held-out payments", "validation_chargebacks": "Held-out chargebacks"}


def _float(value) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _figure(title: str, x: str, y: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=340, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def build_cost_figure(curve: pl.DataFrame, point: dict, currency: str) -> go.Figure:
    """Expected cost (and its three parts) against the threshold, with the chosen threshold marked."""
    data = curve.filter(pl.col("threshold") <= 1.0).sort("threshold")
    fig = _figure("Expected cost across thresholds", "Threshold (score at or above goes to review)",
                  f"Cost over the held-out period ({currency})")
    for column, name in (("expected_cost", "Expected cost"), ("chargeback_cost", "Chargebacks let through"),
                         ("margin_lost", "Margin lost on good orders"), ("review_cost", "Manual reviews")):
        fig.add_scatter(x=data["threshold"].to_list(), y=data[column].to_list(), name=name, mode="lines",
                        line=dict(width=3 if column == "expected_cost" else 1.5))
    fig.add_vline(x=point["threshold"], line_dash="dash", annotation_text="chosen")
    # Reviewing nearly everything costs far more than anything else: cut the axis above letting every fraud
    # through (or the chosen cost), so the costs near the useful thresholds stay readable.
    nothing = float(curve.sort("threshold")["expected_cost"][-1])
    fig.update_yaxes(range=[0, 1.5 * max(nothing, point["expected_cost"], 1e-9)])
    return fig


def build_pr_figure(curve: pl.DataFrame, point: dict) -> go.Figure:
    """Precision against recall, with the chosen operating point."""
    data = curve.filter(pl.col("precision").is_not_null()).sort("threshold", descending=True)
    fig = _figure("Precision and recall", "Recall (share of frauds sent to review)",
                  "Precision (share of reviews that are fraud)")
    fig.add_scatter(x=data["recall"].to_list(), y=data["precision"].to_list(), mode="lines", name="All thresholds")
    fig.add_scatter(x=[point["recall"]], y=[point["precision"]], mode="markers", name="Chosen threshold",
                    marker=dict(size=12, symbol="diamond"))
    fig.update_xaxes(range=[0, 1.02])
    fig.update_yaxes(range=[0, 1.02])
    return fig


def build_drift_figure(training: np.ndarray, recent: np.ndarray) -> go.Figure:
    fig = _figure("Score distribution: training and this week", "Score", "Share of payments")
    for values, name in ((training, "Training"), (recent, "This week")):
        fig.add_histogram(x=list(map(float, values)), name=name, histnorm="probability", opacity=0.6,
                          xbins=dict(start=0, end=1, size=0.05))
    fig.update_layout(barmode="overlay")
    return fig
