"""How far to trust a forecast, in words: the trust panel beside the Forecast page's chart.

Pure (no streamlit): built from the saved model's backtest metrics (``models.forecasting.demand`` module doc:
per level and series, MASE, WAPE, bias, 80% and 95% coverage, the same for repeating last week) and the
model each series was given. Aggregates (total, category, store) have metrics of their own series; SKUs are
backtested together, so a SKU shows the figures of all SKUs with its own model and demand pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models import evaluation
from models.forecasting import demand

NAIVE_WORDS = "naive forecast: too little history"
MODEL_WORDS: dict[str, str] = {
    "SeasonalNaive": "Repeat last week (seasonal naive)",
    "AutoETS": "Exponential smoothing (ETS)",
    "Theta": "Theta method",
    "Prophet": "Prophet: trend, weekly and yearly seasons, public holidays, promotions and paydays",
    "CrostonOptimized": "Croston's method for intermittent demand",
    "TSB": "TSB method for intermittent demand (tracks how often it sells)",
    "XGBoost": "One gradient-boosted model (XGBoost) learnt over all SKUs: recent sales, calendar, price, "
               "promotions and stock-outs",
    demand.NAIVE_LABEL: "Naive forecast: too little history (repeats last week, or the recent daily average)",
}
PATTERN_WORDS: dict[str, str] = {
    "smooth": "sells most days, in steady amounts",
    "erratic": "sells most days, in very different amounts",
    "intermittent": "sells on few days, in similar amounts",
    "lumpy": "sells on few days, in very different amounts",
    "short": "too little history to tell",
}
NAIVE_PAST = "repeating last week"


@dataclass(frozen=True)
class Trust:
    model: str  # the chosen model in words
    naive: bool  # too little history: a naive forecast, not backtested
    headline: str  # "23% more accurate than repeating last week", or NAIVE_WORDS
    about: str  # what the figures describe: "this category", "all SKUs together"
    rows: tuple[tuple[str, str], ...]  # (what, in words)


def model_words(name: str | None) -> str:
    if name is None:
        return "Unknown"
    return MODEL_WORDS.get(name, name)


def series_metrics(metrics: Mapping[str, Any], level: str, key: str, measure: str) -> Mapping[str, Any] | None:
    """The backtest figures of one series (SKUs: of all SKUs together), or None when there are none."""
    if level == "total":
        found = (metrics.get("total") or {}).get(measure)
    elif level in ("category", "store"):
        found = (metrics.get(level) or {}).get(f"{key}/{measure}")
    elif level == "sku":
        found = metrics.get("sku") or None
    else:
        raise ValueError(f"unknown forecast level {level!r}")
    return found if found and found.get("wape") is not None else None


def bias_words(bias: float) -> str:
    if abs(bias) < 0.005:
        return "none to speak of (under 0.5%)"
    return f"forecasts ran {abs(bias):.1%} {'high' if bias > 0 else 'low'}"


def coverage_words(share: float, level: int) -> str:
    return f"held {share:.0%} of the actual days (it should hold {level}%)"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def compute_trust(metrics: Mapping[str, Any], level: str, key: str, measure: str, model: str | None,
                  pattern: str | None = None) -> Trust:
    """The trust panel of one series: ``model`` is the series' model name (the forecast frame's ``model``;
    a SKU's from the ``skus`` frame) and ``pattern`` a SKU's demand pattern."""
    about = {"total": "the whole shop", "category": "this category", "store": "this store",
             "sku": "all SKUs together"}[level]
    words = model_words(model)
    rows: list[tuple[str, str]] = [("Model", words)]
    if pattern is not None:
        rows.append(("Demand pattern", PATTERN_WORDS.get(pattern, pattern)))
    found = series_metrics(metrics, level, key, measure)
    if model == demand.NAIVE_LABEL or found is None:
        naive = model == demand.NAIVE_LABEL
        rows.append(("Backtest", "none: too little history to test a model" if naive
                     else "none saved for this series"))
        return Trust(words, naive, NAIVE_WORDS if naive else "not backtested", about, tuple(rows))
    wape, naive_wape = _number(found.get("wape")), _number(found.get("naive_wape"))
    headline = evaluation.describe_gain(wape, naive_wape, NAIVE_PAST)
    rows.append(("Against repeating last week", headline))
    mase, naive_mase = _number(found.get("mase")), _number(found.get("naive_mase"))
    if mase is not None:
        rows.append(("Scaled error (MASE)", f"{mase:.2f}" + (f"; repeating last week {naive_mase:.2f}"
                                                             if naive_mase is not None else "")
                     + " (below 1 beats repeating last week)"))
    if wape is not None:
        rows.append(("Share of demand missed (WAPE)", f"{wape:.0%}" + (f"; repeating last week {naive_wape:.0%}"
                                                                      if naive_wape is not None else "")))
    if (bias := _number(found.get("bias"))) is not None:
        rows.append(("Bias", bias_words(bias)))
    for lv in (80, 95):
        if (share := _number(found.get(f"coverage_{lv}"))) is not None:
            rows.append((f"{lv}% range", coverage_words(share, lv)))
    origins, days = metrics.get("origins"), metrics.get("horizon_days")
    if origins and days:
        rows.append(("Backtest", f"{origins} rolling origins of {days} days each, on data before each origin"))
    return Trust(words, False, headline, about, tuple(rows))
