"""Forecast accuracy, as small pure functions over long frames (unique_id, ds, y, and one column per model).

The same functions score backtests for the model card, the page's trust panel and the tests.
``mase`` scales by the in-sample error of a seasonal naive forecast (Hyndman and Koehler, 2006),
so a value below 1 beats repeating last season on the training data.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl


def wape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Sum of absolute errors / sum of actuals (None when actuals sum to 0)."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    total = np.abs(actual).sum()
    return None if total == 0 else float(np.abs(actual - forecast).sum() / total)


def bias(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """(sum of forecasts - sum of actuals) / sum of actuals: positive means over-forecasting."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    total = actual.sum()
    return None if total == 0 else float((forecast.sum() - total) / total)


def seasonal_scale(history: np.ndarray, season: int = 7) -> float | None:
    """Mean absolute seasonal difference of the training series (MASE's denominator)."""
    history = np.asarray(history, float)
    if history.size <= season:
        return None
    scale = float(np.abs(history[season:] - history[:-season]).mean())
    return scale if scale > 0 else None


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int = 7) -> float | None:
    """Mean absolute error scaled by the seasonal naive in-sample error of ``history``."""
    scale = seasonal_scale(history, season)
    if scale is None:
        return None
    return float(np.abs(np.asarray(actual, float) - np.asarray(forecast, float)).mean() / scale)


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float | None:
    """Share of actuals inside [lo, hi]."""
    actual = np.asarray(actual, float)
    if actual.size == 0:
        return None
    return float(((actual >= np.asarray(lo, float)) & (actual <= np.asarray(hi, float))).mean())


def score_backtest(backtest: pl.DataFrame, history: pl.DataFrame, models: list[str], season: int = 7,
                   level: int = 80) -> pl.DataFrame:
    """One row per model: mase, wape, bias and coverage (of the ``level``% interval, where present).

    ``backtest``: unique_id, ds, cutoff, y, and per model a point column ``<model>`` and optionally
    ``<model>-lo-<level>`` / ``<model>-hi-<level>``. ``history``: unique_id, ds, y (all training data;
    each window's MASE scale uses the history before its cutoff). Metrics are pooled over windows
    and series: WAPE and bias over all points, MASE as the mean over (series, window) pairs.
    """
    rows = []
    for model in models:
        mases, actual_all, fc_all, lo_all, hi_all = [], [], [], [], []
        has_interval = f"{model}-lo-{level}" in backtest.columns
        for (uid, cutoff), part in backtest.group_by(["unique_id", "cutoff"], maintain_order=True):
            past = history.filter((pl.col("unique_id") == uid) & (pl.col("ds") <= cutoff)).sort("ds")["y"].to_numpy()
            value = mase(part["y"].to_numpy(), part[model].to_numpy(), past, season)
            if value is not None and math.isfinite(value):
                mases.append(value)
            actual_all.append(part["y"].to_numpy())
            fc_all.append(part[model].to_numpy())
            if has_interval:
                lo_all.append(part[f"{model}-lo-{level}"].to_numpy())
                hi_all.append(part[f"{model}-hi-{level}"].to_numpy())
        actual = np.concatenate(actual_all) if actual_all else np.array([])
        fc = np.concatenate(fc_all) if fc_all else np.array([])
        rows.append({
            "model": model,
            "mase": float(np.mean(mases)) if mases else None,
            "wape": wape(actual, fc),
            "bias": bias(actual, fc),
            "coverage": coverage(actual, np.concatenate(lo_all), np.concatenate(hi_all)) if has_interval else None,
        })
    return pl.DataFrame(rows, schema={"model": pl.Utf8, "mase": pl.Float64, "wape": pl.Float64,
                                      "bias": pl.Float64, "coverage": pl.Float64})


def describe_gain(model_wape: float | None, naive_wape: float | None, naive_words: str = "repeating last week") -> str:
    """Plain words for a model's WAPE against the naive one, e.g. '23% more accurate than repeating last week'."""
    if model_wape is None or naive_wape is None or naive_wape == 0:
        return "accuracy against the naive forecast cannot be computed (no sales in the test weeks)"
    gain = 1 - model_wape / naive_wape
    if abs(gain) < 0.01:
        return f"about as accurate as {naive_words}"
    word = "more" if gain > 0 else "less"
    return f"{abs(gain):.0%} {word} accurate than {naive_words}"
