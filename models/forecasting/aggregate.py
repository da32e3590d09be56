"""Forecasts of aggregate daily series (merchant total, category, store), each model chosen by backtest.

Candidates per series: statsforecast's seasonal naive and AutoETS, Theta on total and category series,
and for the merchant-total
series also Prophet with the country's holidays, promotions and paydays as regressors (``prophet_model``).
All are backtested over the same ``total.ORIGINS`` rolling origins of ``total.BACKTEST_HORIZON`` days and
the lowest MASE wins.

Intervals are conformal from the backtest errors of the chosen model: the 80% (95%) half-width is the
80th (95th) percentile of its absolute errors over all origins, widened by sqrt(days ahead / 28) beyond
the 28 days the backtest saw. Reported coverage is honest: each origin's coverage uses widths learnt from
the other origins only. (statsforecast's own ConformalIntervals refit every model per window inside each
backtest window: 12 fits a model and series, 400 s for one merchant on a busy 2-core machine.)

``forecast_aggregates`` returns (forecast, metrics):
- forecast: unique_id, day, mean, lo_80, hi_80, lo_95, hi_95 (the series' unit: units or money), model;
- metrics: per unique_id a dict: model, mase, wape, bias, coverage_80, coverage_95, naive_mase,
  naive_wape, summary (plain words, e.g. "23% more accurate than repeating last week"), halfwidth_80/95.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from models import evaluation
from models.forecasting import prophet_model, total

PROPHET_REGRESSORS = ("discount_pct", "payday")
LEVELS = total.LEVELS
H = total.BACKTEST_HORIZON


CANDIDATES = ("SeasonalNaive", "AutoETS", "Theta")
THETA_ON = ("total/", "category/")  # Theta costs 3x ETS: spent on the series people plan with
STAT_DAYS = 364  # days before the first origin the statistical models fit on (their states adapt; Prophet gets all)


def _models(names):
    from statsforecast.models import AutoETS, OptimizedTheta, SeasonalNaive

    # AutoETS without trend ("ZNZ": error and season chosen) costs a sixth of the full search and the
    # trend search rarely won a 28-day backtest on daily retail series.
    make = {"SeasonalNaive": lambda: SeasonalNaive(total.SEASON),
            "AutoETS": lambda: AutoETS(season_length=total.SEASON, model="ZNZ"),
            "Theta": lambda: OptimizedTheta(season_length=total.SEASON, alias="Theta")}
    return [make[n]() for n in names]


def _stat_cv(history: pl.DataFrame) -> pl.DataFrame:
    from statsforecast import StatsForecast

    def run(frame, names):
        sf = StatsForecast(models=_models(names), freq="1d", n_jobs=1)
        return sf.cross_validation(df=frame, h=H, n_windows=total.ORIGINS, step_size=H)

    start = history["ds"].max() - dt.timedelta(days=STAT_DAYS + total.ORIGINS * H)
    history = history.filter(pl.col("ds") > start)
    cv = run(history, CANDIDATES[:2])
    theta = history.filter(pl.any_horizontal([pl.col("unique_id").str.starts_with(p) for p in THETA_ON]))
    if theta.height:
        cv = cv.join(run(theta, ("Theta",)).select("unique_id", "ds", "Theta"), on=["unique_id", "ds"], how="left")
    return cv.with_columns(pl.col("ds").cast(pl.Date), pl.col("cutoff").cast(pl.Date))


def _halfwidths(errors: np.ndarray) -> dict[int, float]:
    errors = np.abs(errors[np.isfinite(errors)])
    return {lv: float(np.quantile(errors, lv / 100)) if errors.size else 0.0 for lv in LEVELS}


def _score(part: pl.DataFrame, history: pl.DataFrame, model: str, naive: dict) -> dict:
    row = evaluation.score_backtest(part, history, [model], total.SEASON).row(0, named=True)
    out = {"model": model, "mase": row["mase"], "wape": row["wape"], "bias": row["bias"]}
    err = (part["y"] - part[model]).to_numpy()
    cutoffs = part["cutoff"].to_numpy()
    for lv in LEVELS:
        inside = []
        for c in np.unique(cutoffs):  # widths from the other origins: coverage on unseen errors
            w = _halfwidths(err[cutoffs != c])[lv]
            inside.append(np.abs(err[cutoffs == c]) <= w)
        out[f"coverage_{lv}"] = float(np.concatenate(inside).mean())
    out.update({f"halfwidth_{lv}": w for lv, w in _halfwidths(err).items()})
    out.update({"naive_mase": naive["mase"], "naive_wape": naive["wape"],
                "summary": evaluation.describe_gain(row["wape"], naive["wape"])})
    return out


def _forecast_ets(history: pl.DataFrame, horizon: int, specs: dict[str, str], metrics: dict) -> pl.DataFrame:
    """AutoETS forecasts (unique_id, ds, AutoETS). A series with a form in ``specs`` (e.g. "ANA": additive
    error, no trend, additive season, what its training's search chose) fits that form only, a sixth of the
    search; the others search, and the form each chose goes to ``metrics[uid]["ets_spec"]``."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    uids = sorted(history["unique_id"].unique().to_list())
    parts, search = [], [u for u in uids if u not in specs]
    if search:
        sf = StatsForecast(models=_models(("AutoETS",)), freq="1d", n_jobs=1)
        sf.fit(df=history.filter(pl.col("unique_id").is_in(search)))
        parts.append(sf.predict(h=horizon))
        for uid, fitted in zip(list(sf.uids), sf.fitted_[:, 0], strict=True):
            metrics.setdefault(uid, {})["ets_spec"] = "".join(fitted.model_["components"][:3])
    for spec in sorted({specs[u] for u in uids if u in specs}):
        ids = [u for u in uids if specs.get(u) == spec]
        sf = StatsForecast(models=[AutoETS(season_length=total.SEASON, model=spec)], freq="1d", n_jobs=1)
        parts.append(sf.forecast(df=history.filter(pl.col("unique_id").is_in(ids)), h=horizon))
    return pl.concat([p.select("unique_id", "ds", pl.col("AutoETS").cast(pl.Float64)) for p in parts])


def forecast_aggregates(history: pl.DataFrame, horizon: int, *, prophet_ids: tuple[str, ...] = (),
                        features: pl.DataFrame | None = None, country: str | None = None,
                        chosen: dict[str, str] | None = None, previous: dict | None = None,
                        specs: dict[str, str] | None = None) -> tuple[pl.DataFrame, dict]:
    """Backtest, choose and forecast every series of ``history`` (unique_id, ds, y); see module doc.

    ``features``: ds, discount_pct, payday for history and forecast days (Prophet's regressors).
    ``chosen``: models already chosen (a refresh, or a naive forecast): no backtest; ``previous`` (the
    metrics of the training that chose them) then gives the interval half-widths and comes back unchanged;
    ``specs``: the AutoETS form each series' training chose (metrics' "ets_spec"): a refresh fits that form.
    """
    uids = sorted(history["unique_id"].unique().to_list())
    metrics: dict = {k: dict(v) for k, v in (previous or {}).items()}
    if chosen is None:
        cv = _stat_cv(history)
        candidates = [c for c in CANDIDATES if c in cv.columns]
        use_prophet = [u for u in prophet_ids if u in uids] if features is not None else []
        if use_prophet:
            pcv = prophet_model.cross_validation(history.filter(pl.col("unique_id").is_in(use_prophet)), features,
                                                 country, PROPHET_REGRESSORS, H, total.ORIGINS)
            cv = cv.join(pcv.select("unique_id", "ds", prophet_model.NAME), on=["unique_id", "ds"], how="left")
            candidates.append(prophet_model.NAME)
        chosen = {}
        for uid in uids:
            part = cv.filter(pl.col("unique_id") == uid)
            names = [m for m in candidates if part[m].null_count() == 0 and part[m].is_nan().sum() == 0]
            scores = evaluation.score_backtest(part, history, names, total.SEASON).with_columns(
                pl.lit(uid).alias("unique_id"))
            model = total.choose_models(scores)[uid]
            naive = scores.filter(pl.col("model") == total.NAIVE).row(0, named=True)
            chosen[uid] = model
            metrics[uid] = _score(part, history, model, naive)
    last = history["ds"].max()
    for uid in uids:  # no backtest (naive forecast): widths from the series' own week-on-week changes
        if "halfwidth_80" not in metrics.get(uid, {}):
            y = history.filter(pl.col("unique_id") == uid).sort("ds")["y"].to_numpy()
            metrics.setdefault(uid, {}).update(
                {f"halfwidth_{lv}": w for lv, w in _halfwidths(y[total.SEASON:] - y[:-total.SEASON]).items()})
    stat = {u: m for u, m in chosen.items() if m != prophet_model.NAME}
    parts = []
    recent = history.filter(pl.col("ds") > last - dt.timedelta(days=STAT_DAYS + total.ORIGINS * H))
    for model in sorted(set(stat.values())):
        ids = [u for u, m in stat.items() if m == model]
        if model == "AutoETS":
            fc = _forecast_ets(recent.filter(pl.col("unique_id").is_in(ids)), horizon, specs or {}, metrics)
        else:
            from statsforecast import StatsForecast

            sf = StatsForecast(models=_models((model,)), freq="1d", n_jobs=1)
            fc = sf.forecast(df=recent.filter(pl.col("unique_id").is_in(ids)), h=horizon)
        parts.append(fc.select("unique_id", pl.col("ds").cast(pl.Date).alias("day"),
                               pl.col(model).cast(pl.Float64).alias("mean"), pl.lit(model).alias("model")))
    for uid in sorted(set(chosen) - set(stat)):
        fc = prophet_model.ProphetForecaster(country, PROPHET_REGRESSORS).fit(
            history.filter(pl.col("unique_id") == uid), features).predict(horizon, features)
        parts.append(pl.DataFrame({"unique_id": uid, "day": fc["ds"], "mean": fc[prophet_model.NAME],
                                   "model": prophet_model.NAME}))
    out = pl.concat(parts)
    ahead = (pl.col("day") - pl.lit(last)).dt.total_days()
    grow = pl.max_horizontal(pl.lit(1.0), (ahead / H).sqrt())
    widths = pl.DataFrame({"unique_id": uids, **{f"w{lv}": [float((metrics.get(u) or {}).get(f"halfwidth_{lv}", 0.0))
                                                            for u in uids] for lv in LEVELS}})
    out = out.join(widths, on="unique_id", how="left").with_columns(
        [(pl.col("mean") + sign * pl.col(f"w{lv}") * grow).alias(f"{side}_{lv}")
         for lv in LEVELS for side, sign in (("lo", -1), ("hi", 1))])
    out = out.with_columns([pl.col(c).clip(lower_bound=0) for c in ("mean", "lo_80", "hi_80", "lo_95", "hi_95")])
    return out.select("unique_id", "day", "mean", "lo_80", "hi_80", "lo_95", "hi_95", "model"), metrics
