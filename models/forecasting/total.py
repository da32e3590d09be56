"""Merchant-total daily demand: units and revenue, 90 days ahead, with 80% and 95% intervals.

The model for each series is chosen by a rolling-origin backtest (3 origins, 28 days each) among
statsforecast's seasonal naive (weekly), AutoETS and AutoTheta, by MASE. Intervals are conformal
(from backtest residuals), so they are calibrated whatever the model. With less than
``MIN_HISTORY_DAYS`` of history the kind falls back to the seasonal naive forecast and says so.

Output (``load_forecast``): series ("units" or "revenue"), day (date), forecast, lo_80, hi_80,
lo_95, hi_95 (units, or money in the merchant's currency), model (the chosen model's name).
"""

from __future__ import annotations

import io

import polars as pl

from analytics import facts
from analytics.filters import Filters
from data.access import DataAccess
from models import evaluation
from models.registry import Fitted, ModelKind, Progress, register

HORIZON = 90
BACKTEST_HORIZON = 28
ORIGINS = 3
SEASON = 7
LEVELS = (80, 95)
MIN_HISTORY_DAYS = BACKTEST_HORIZON * ORIGINS + 8 * SEASON  # enough for 3 origins and 8 weeks to fit on
CANDIDATES = ("SeasonalNaive", "AutoETS", "AutoTheta")
NAIVE = "SeasonalNaive"


def load_daily_totals(access: DataAccess) -> pl.DataFrame:
    """Daily units and revenue of the merchant(s) in scope, every day from first to last order.

    Long format: unique_id ("units" / "revenue"), ds (date), y (float; 0 on days without sales).
    Units and revenue follow analytics.facts (returns taken out on their document's day).
    """
    o = access.table("orders")
    bounds = access.to_polars(o.aggregate(first=o.order_ts.min(), last=o.order_ts.max()))
    first, last = bounds["first"][0], bounds["last"][0]
    if first is None:
        return pl.DataFrame(schema={"unique_id": pl.Utf8, "ds": pl.Date, "y": pl.Float64})
    f = Filters(first.date(), last.date())
    r = facts.revenue_lines(access, f)
    r = r.filter(r.in_revenue)
    daily = access.to_polars(r.group_by(ds=r.order_ts.date()).aggregate(
        units=r.quantity.sum(), revenue=r.line_amount.sum()))
    days = pl.DataFrame({"ds": pl.date_range(f.start, f.end, "1d", eager=True)})
    wide = days.join(daily.with_columns(pl.col("ds").cast(pl.Date)), on="ds", how="left").fill_null(0)
    return wide.unpivot(index="ds", on=["units", "revenue"], variable_name="unique_id", value_name="y").select(
        "unique_id", "ds", pl.col("y").cast(pl.Float64)).sort("unique_id", "ds")


def _models(names: tuple[str, ...], h: int = BACKTEST_HORIZON, windows: int = ORIGINS):
    """Candidate models with conformal intervals for ``h`` days from ``windows`` windows (0: the models' own)."""
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive
    from statsforecast.utils import ConformalIntervals

    conformal = ConformalIntervals(h=h, n_windows=windows) if windows else None
    make = {
        "SeasonalNaive": lambda: SeasonalNaive(SEASON, prediction_intervals=conformal),
        "AutoETS": lambda: AutoETS(season_length=SEASON, prediction_intervals=conformal),
        "AutoTheta": lambda: AutoTheta(season_length=SEASON, prediction_intervals=conformal),
    }
    return [make[n]() for n in names]


def backtest(history: pl.DataFrame, names: tuple[str, ...] = CANDIDATES) -> pl.DataFrame:
    """Rolling-origin cross-validation: ORIGINS windows of BACKTEST_HORIZON days (statsforecast's frame)."""
    from statsforecast import StatsForecast

    sf = StatsForecast(models=_models(names), freq="1d", n_jobs=1)
    return sf.cross_validation(df=history, h=BACKTEST_HORIZON, n_windows=ORIGINS, step_size=BACKTEST_HORIZON,
                               level=list(LEVELS))


def choose_models(scores: pl.DataFrame) -> dict[str, str]:
    """Per series, the candidate with the lowest MASE (ties and missing MASE: WAPE, then the naive one)."""
    out = {}
    for uid, part in scores.group_by("unique_id"):
        ranked = part.with_columns(pl.col("mase").fill_null(float("inf")), pl.col("wape").fill_null(float("inf")),
                                   (pl.col("model") != NAIVE).alias("not_naive")).sort("mase", "wape", "not_naive")
        out[uid[0]] = ranked["model"][0]
    return out


def forecast(history: pl.DataFrame, chosen: dict[str, str], horizon: int = HORIZON) -> pl.DataFrame:
    """Fit each series' chosen model on all history and forecast ``horizon`` days (documented columns)."""
    from statsforecast import StatsForecast

    days = history.filter(pl.col("unique_id") == next(iter(chosen))).height
    # conformal intervals for the full horizon need two windows of it plus weeks to fit on
    windows = 2 if days >= 2 * horizon + 8 * SEASON else 0
    parts = []
    for uid, model in sorted(chosen.items()):
        sf = StatsForecast(models=_models((model,), h=horizon, windows=windows), freq="1d", n_jobs=1)
        fc = sf.forecast(df=history.filter(pl.col("unique_id") == uid), h=horizon, level=list(LEVELS))
        parts.append(fc.select(
            pl.col("unique_id").alias("series"), pl.col("ds").cast(pl.Date).alias("day"),
            pl.col(model).alias("forecast"),
            *[pl.col(f"{model}-{side}-{lv}").alias(f"{side}_{lv}") for lv in LEVELS for side in ("lo", "hi")],
            pl.lit(model).alias("model")))
    out = pl.concat(parts)
    clip = [pl.col(c).clip(lower_bound=0) for c in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95")]
    return out.with_columns(clip)  # demand is never negative


def fit(access: DataAccess, progress: Progress) -> Fitted:
    history = load_daily_totals(access)
    days = history.filter(pl.col("unique_id") == "units").height
    if days == 0:
        raise ValueError("this merchant has no orders yet: nothing to forecast")
    window = (str(history["ds"].min()), str(history["ds"].max()))
    notes: list[str] = []
    if days < MIN_HISTORY_DAYS:
        notes.append(f"Only {days} days of history (a tested forecast needs {MIN_HISTORY_DAYS}): this is a naive "
                     "forecast that repeats the last week, and it is not backtested.")
        chosen = {uid: NAIVE for uid in ("units", "revenue")}
        metrics: dict = {}
    else:
        progress(0.2, f"Backtesting {len(CANDIDATES)} models over {ORIGINS} origins")
        cv = backtest(history)
        scores = pl.concat([
            evaluation.score_backtest(cv.filter(pl.col("unique_id") == uid), history, list(CANDIDATES), SEASON)
            .with_columns(pl.lit(uid).alias("unique_id")) for uid in ("units", "revenue")])
        chosen = choose_models(scores)
        metrics = {}
        for uid, model in chosen.items():
            row = scores.filter((pl.col("unique_id") == uid) & (pl.col("model") == model)).row(0, named=True)
            naive = scores.filter((pl.col("unique_id") == uid) & (pl.col("model") == NAIVE)).row(0, named=True)
            part = cv.filter(pl.col("unique_id") == uid)
            metrics[uid] = {
                "model": model, "mase": row["mase"], "wape": row["wape"], "bias": row["bias"],
                "coverage_80": evaluation.coverage(part["y"], part[f"{model}-lo-80"], part[f"{model}-hi-80"]),
                "coverage_95": evaluation.coverage(part["y"], part[f"{model}-lo-95"], part[f"{model}-hi-95"]),
                "naive_mase": naive["mase"], "naive_wape": naive["wape"],
                "summary": evaluation.describe_gain(row["wape"], naive["wape"]),
            }
        metrics["origins"] = ORIGINS
        metrics["horizon_days"] = BACKTEST_HORIZON
    progress(0.7, "Forecasting with the chosen models")
    fc = forecast(history, chosen)
    buf = io.BytesIO()
    fc.write_parquet(buf)
    return Fitted(payload=buf.getvalue(), params={"chosen": chosen, "horizon_days": HORIZON, "season": SEASON,
                                                   "levels": list(LEVELS)},
                  window=window, metrics=metrics, rows=history.height, notes=tuple(notes))


def load_forecast(payload: bytes) -> pl.DataFrame:
    """The saved forecast frame (see the module doc for its columns)."""
    return pl.read_parquet(io.BytesIO(payload))


KIND = register(ModelKind(
    key="total_demand",
    title="Total demand forecast",
    description=("Daily units and revenue of the whole shop, 90 days ahead, with 80% and 95% intervals. For each "
                 "series the model (repeat last week, exponential smoothing or Theta) is chosen by a 3-origin "
                 "backtest of 28 days; intervals come from the backtest errors (conformal), so they hold their "
                 "stated coverage."),
    libraries=("statsforecast", "polars", "numpy"),
    fit=fit,
))
