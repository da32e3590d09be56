"""Model cards: what a saved model is, when and on what it was trained, and how well it did.

Built from a saved model's metadata only (no refit, no data read), as plain text fields that
a page shows with ``st.text``/tables and a test can compare. Metric names map to words here,
so every page describes a metric the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.artifacts import SavedModel

METRIC_WORDS: dict[str, str] = {
    "mase": "Scaled error (MASE; below 1 beats repeating last week)",
    "wape": "Weighted absolute percentage error (WAPE)",
    "bias": "Bias (positive: forecasts too high)",
    "coverage_80": "Share of actual days inside the 80% interval",
    "coverage_95": "Share of actual days inside the 95% interval",
    "naive_wape": "WAPE of repeating last week",
    "naive_mase": "MASE of repeating last week",
    "origins": "Backtest origins",
    "horizon_days": "Days ahead in each backtest",
    "pr_auc": "Area under the precision-recall curve on held-out payments (1 is perfect)",
    "brier": "Brier score of the probability on held-out payments (lower is better)",
    "brier_base_rate": "Brier score of always saying the base rate",
    "validation_payments": "Held-out payments (matured)",
    "validation_chargebacks": "Chargebacks among them",
    "flagged_share": "Share of held-out payments flagged",
    "auc_xgboost": "AUC of XGBoost (1 is perfect, 0.5 is chance)",
    "auc_bgnbd": "AUC of BG/NBD",
    "mae_xgboost": "Mean absolute error of XGBoost (orders, or money for value)",
    "mae_bgnbd": "Mean absolute error of BG/NBD + Gamma-Gamma (orders, or money for value)",
    "winner": "Won the backtest",
    "validation_cutoff": "Backtest cutoff (predicted from the day before)",
    "validation_customers": "Customers in the backtest",
    "validation_split": "Checked on",
    "actual_total": "Total really spent after the cutoff (money)",
    "predicted_total": "Total predicted (money)",
    "interval_coverage": "Share of customers inside the 80% interval",
    "hours": "Hours of history learned from",
    "top_training_score": "Oddest training hour's score (an hour alerts above this plus the margin)",
    # Customer value models saved before their metrics were named in words (raw target and model keys).
    "churn_90": "Churn in 90 days",
    "expected_orders_90": "Orders in 90 days",
    "clv_90": "Value over 90 days",
    "clv_180": "Value over 180 days",
    "clv_365": "Value over 365 days",
    "xgboost": "Score of XGBoost (AUC for churn, else mean absolute error)",
    "bgnbd": "Score of BG/NBD (AUC for churn, else mean absolute error)",
    "split": "Checked on",
}
# Raw values some saved models carry (model and split keys), shown in words.
VALUE_WORDS: dict[str, str] = {"bgnbd": "BG/NBD", "xgboost": "XGBoost", "time": "later period",
                               "customers": "held-out customers"}


@dataclass(frozen=True)
class ModelCard:
    title: str
    description: str
    version: str
    trained_at: str
    training_window: str
    training_rows: int
    data_version: int
    stale: bool
    params: tuple[tuple[str, str], ...]
    metrics: tuple[tuple[str, str], ...]
    libraries: str
    notes: tuple[str, ...]


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return VALUE_WORDS.get(str(value), str(value))


def _sentence(text: str) -> str:
    # Only the first letter raised: words such as "BG/NBD" or "XGBoost" keep their capitals.
    return text[:1].upper() + text[1:]


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{METRIC_WORDS.get(key, _sentence(key.replace('_', ' ')))}: ")
        else:
            label = METRIC_WORDS.get(key, _sentence(key.replace("_", " ")))
            rows.append((prefix + label, _number(value)))
    return rows


def build_model_card(saved: SavedModel, data_version: int) -> ModelCard:
    """The card of ``saved``; ``stale`` when the warehouse's data version is newer than the model's."""
    meta = saved.meta
    window = meta.get("training_window")
    trained = meta.get("trained_at", "")
    try:
        trained = dt.datetime.fromisoformat(trained).strftime("%d %b %Y %H:%M UTC")
    except (TypeError, ValueError):
        pass
    return ModelCard(
        title=str(meta.get("title", saved.kind)),
        description=str(meta.get("description", "")),
        version=saved.version,
        trained_at=str(trained),
        training_window=f"{window[0]} to {window[1]}" if window else "n/a",
        training_rows=int(meta.get("training_rows", 0)),
        data_version=saved.data_version,
        stale=saved.data_version < int(data_version),
        params=tuple((_sentence(str(k).replace("_", " ")), _number(v))
                     for k, v in sorted(dict(meta.get("params", {})).items())),
        metrics=tuple(_flatten(dict(meta.get("metrics", {})))),
        libraries=", ".join(f"{k} {v}" for k, v in sorted(dict(meta.get("libraries", {})).items())),
        notes=tuple(str(n) for n in meta.get("notes", [])),
    )
