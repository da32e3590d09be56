"""SKU-level daily demand: one global XGBoost model (mlforecast) against statsforecast's simple methods.

Every SKU is classed by its demand pattern (Syntetos-Boylan: ADI, the mean days between sales, and CV²,
the squared variation of non-zero sales; smooth, erratic, intermittent, lumpy). The candidates, backtested
over ``ORIGINS`` rolling origins of ``BACKTEST_HORIZON`` days on demand (censored days estimated, see
``censoring``), are seasonal naive (repeat last week), Croston (optimised), TSB and the global model; the
class's winner by RMSE forecasts its SKUs. The global model learns from all SKUs at once: lags 7/14/28,
rolling means of 7 to 91 days, weekday, day of month, month, the merchant country's holidays, paydays, the
discount of any promotion scheduled for the SKU's category, its price level, its category, and whether it
was out of stock. The backtest fits it once at the first origin and forecasts the later ones from their
own history (cheaper; if anything it understates the refitted model's accuracy).

Intervals: demand counts are drawn from a negative binomial around the forecast mean, with the dispersion
of each class measured on the backtest errors, so the quantiles are calibrated on held-out days.

SKUs with less than ``MIN_DAYS`` of history get the mean of the days they have, labelled "naive".

Output of ``predict`` (one row per SKU and day): product_id, day, model, mean (units/day), sd (units),
lo_80, hi_80, lo_95, hi_95 (units; quantiles 10/90 and 2.5/97.5 of the day's demand), dispersion (the
negative binomial size k: variance = mean + mean²/k).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from models import evaluation

SEASON = 7
ORIGINS = 3
BACKTEST_HORIZON = 28
MIN_DAYS = 119  # the longest lag window (28 + 91) must fit before a SKU joins the global model
TRAIN_DAYS = 182  # days of history each fit of the global model learns from (plus the lag warm-up)
MAX_TRAIN_SERIES = 1_000  # SKUs the global model learns from: it learns a shared shape, more add little
STATS = ("SeasonalNaive", "CrostonOptimized", "TSB")
GLOBAL = "XGBoost"
CANDIDATES = (*STATS, GLOBAL)
NAIVE = "SeasonalNaive"
# Days before the last day of data whose features a fit or backtest of the global model reads: the first
# backtest origin, then TRAIN_DAYS to learn from and MIN_DAYS of lag warm-up. Older days are never read.
EXOG_DAYS = ORIGINS * BACKTEST_HORIZON + TRAIN_DAYS + MIN_DAYS
CLASS_DAYS = 365  # a SKU's demand pattern is read from its last year
HISTORY_DAYS = max(EXOG_DAYS, CLASS_DAYS)  # days of SKU demand any SKU model reads (a SKU's rows run to the last day)
EXOG = ("discount_pct", "holiday", "payday", "out_of_stock", "dow", "dom", "month")


def classify(history: pl.DataFrame) -> pl.DataFrame:
    """unique_id, adi, cv2, pattern (smooth / erratic / intermittent / lumpy) from ``history`` (unique_id, y)."""
    nz = history.filter(pl.col("y") > 0)
    days = history.group_by("unique_id").agg(pl.len().alias("n"))
    stats = nz.group_by("unique_id").agg(pl.len().alias("k"), pl.col("y").mean().alias("m"), pl.col("y").std().alias("s"))
    out = days.join(stats, on="unique_id", how="left").with_columns(
        (pl.col("n") / pl.col("k").fill_null(0).clip(lower_bound=1)).alias("adi"),
        ((pl.col("s").fill_null(0.0) / pl.col("m")) ** 2).fill_null(0.0).fill_nan(0.0).alias("cv2"))
    pattern = (pl.when(pl.col("adi") < 1.32).then(pl.when(pl.col("cv2") < 0.49).then(pl.lit("smooth"))
                                                  .otherwise(pl.lit("erratic")))
               .otherwise(pl.when(pl.col("cv2") < 0.49).then(pl.lit("intermittent")).otherwise(pl.lit("lumpy"))))
    return out.select("unique_id", "adi", "cv2", pattern.alias("pattern"))


def build_exog(days: pl.DataFrame, promos: pl.DataFrame, calendar: pl.DataFrame) -> pl.DataFrame:
    """unique_id, ds (y where ``days`` has it) and the EXOG columns for each (unique_id, category, ds) row of ``days``.

    ``promos``: day, category, discount_pct (``demand_data.promo_calendar``); ``calendar``: day, holiday, payday.
    ``days`` may carry out_of_stock (1.0/0.0); future days have none, which means in stock.
    """
    out = days.join(promos.rename({"day": "ds"}), on=["ds", "category"], how="left") \
        .join(calendar.rename({"day": "ds"}), on="ds", how="left")
    if "out_of_stock" not in out.columns:
        out = out.with_columns(pl.lit(0.0).alias("out_of_stock"))
    return out.with_columns(
        pl.col("discount_pct").fill_null(0.0), pl.col("holiday").fill_null(0.0), pl.col("payday").fill_null(0.0),
        pl.col("out_of_stock").fill_null(0.0),
        pl.col("ds").dt.weekday().cast(pl.Float64).alias("dow"), pl.col("ds").dt.day().cast(pl.Float64).alias("dom"),
        pl.col("ds").dt.month().cast(pl.Float64).alias("month")).select(
        "unique_id", "ds", *(["y"] if "y" in days.columns else []), *EXOG)


def _global_model(seed: int = 0):
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean
    from xgboost import XGBRegressor

    # Poisson loss: demand counts, and the prediction is a mean (what the intervals are built around).
    # n_jobs=1: on a shared 2-core machine two threads spin-wait and ran 6x slower than one.
    xgb = XGBRegressor(n_estimators=100, max_depth=6, learning_rate=0.08, subsample=0.8, colsample_bytree=0.8,
                       objective="count:poisson", tree_method="hist", max_bin=64, n_jobs=1, random_state=seed)
    return MLForecast(models={GLOBAL: xgb}, freq="1d", lags=[7, 14, 28],
                      lag_transforms={7: [RollingMean(7), RollingMean(28)], 28: [RollingMean(28), RollingMean(91)]})


def fit_global(train: pl.DataFrame, statics: pl.DataFrame, seed: int = 0):
    """Fit the global model on ``train`` (unique_id, ds, y, EXOG) joined with ``statics`` (unique_id,
    price_level, category_code); returns the fitted MLForecast."""
    last = train["ds"].max()
    recent = train.filter(pl.col("ds") > last - dt.timedelta(days=TRAIN_DAYS + MIN_DAYS))
    recent = recent.filter(pl.len().over("unique_id") >= MIN_DAYS)
    ids = recent["unique_id"].unique().sort()
    if ids.len() > MAX_TRAIN_SERIES:
        ids = ids.sample(MAX_TRAIN_SERIES, seed=seed)
    frame = recent.filter(pl.col("unique_id").is_in(ids.implode())).join(statics, on="unique_id", how="left")
    fc = _global_model(seed)
    fc.fit(frame, static_features=["price_level", "category_code"], keep_last_n=MIN_DAYS + 7)
    return fc


def predict_global(fc, history: pl.DataFrame, statics: pl.DataFrame, future_exog: pl.DataFrame, h: int) -> pl.DataFrame:
    """Forecast ``h`` days after ``history`` with a fitted global model: unique_id, ds, XGBoost (units)."""
    last = history["ds"].max()
    recent = history.filter(pl.col("ds") > last - dt.timedelta(days=MIN_DAYS + 7)).join(statics, on="unique_id",
                                                                                        how="left")
    ids = recent["unique_id"].unique()
    x = future_exog.filter(pl.col("unique_id").is_in(ids.implode()) & (pl.col("ds") > last)
                           & (pl.col("ds") <= last + dt.timedelta(days=h)))
    out = fc.predict(h, new_df=recent, X_df=x)
    return out.with_columns(pl.col(GLOBAL).clip(lower_bound=0.0))


def _stats_models(names: tuple[str, ...] = STATS):
    from statsforecast.models import TSB, CrostonOptimized, SeasonalNaive

    make = {"SeasonalNaive": lambda: SeasonalNaive(SEASON), "CrostonOptimized": CrostonOptimized,
            "TSB": lambda: TSB(alpha_d=0.1, alpha_p=0.1)}
    return [make[n]() for n in names]


def stats_cross_validation(history: pl.DataFrame) -> pl.DataFrame:
    """statsforecast's rolling-origin backtest of STATS: unique_id, ds, cutoff, y, one column per model."""
    from statsforecast import StatsForecast

    last = history["ds"].max()
    recent = history.filter(pl.col("ds") > last - dt.timedelta(days=TRAIN_DAYS + ORIGINS * BACKTEST_HORIZON))
    # statsforecast 2.1.1 fails on polars input holding series too short for the windows: backtest long ones
    recent = recent.filter(pl.len().over("unique_id") >= MIN_DAYS)
    sf = StatsForecast(models=_stats_models(), freq="1d", n_jobs=1)
    return sf.cross_validation(df=recent.select("unique_id", "ds", "y"), h=BACKTEST_HORIZON, n_windows=ORIGINS,
                               step_size=BACKTEST_HORIZON)


def stats_forecast(history: pl.DataFrame, h: int, models: tuple[str, ...] = STATS) -> pl.DataFrame:
    """unique_id, ds and one column per model of ``models`` (units): each series fits on its own, so a
    series' forecast does not depend on which other series or models run beside it."""
    from statsforecast import StatsForecast

    last = history["ds"].max()
    recent = history.filter(pl.col("ds") > last - dt.timedelta(days=TRAIN_DAYS))
    sf = StatsForecast(models=_stats_models(models), freq="1d", n_jobs=1)
    return sf.forecast(df=recent.select("unique_id", "ds", "y"), h=h)


def global_cross_validation(history: pl.DataFrame, statics: pl.DataFrame) -> pl.DataFrame:
    """The global model's backtest at the same origins as statsforecast's: unique_id, ds, cutoff, XGBoost.

    ``history``: unique_id, ds, y and the EXOG columns (``build_exog``)."""
    last = history["ds"].max()
    cutoffs = [last - dt.timedelta(days=BACKTEST_HORIZON * k) for k in range(ORIGINS, 0, -1)]
    full = history.filter(pl.col("ds") > last - dt.timedelta(days=EXOG_DAYS))
    fc = fit_global(full.filter(pl.col("ds") <= cutoffs[0]), statics)
    exog = full.drop("y")
    parts = []
    for cutoff in cutoffs:
        past = full.filter(pl.col("ds") <= cutoff)
        part = predict_global(fc, past, statics, exog, BACKTEST_HORIZON)
        parts.append(part.with_columns(pl.lit(cutoff).alias("cutoff")))
    return pl.concat(parts).with_columns(pl.col("ds").cast(pl.Date))


def dispersion(y: np.ndarray, mu: np.ndarray) -> float:
    """Negative binomial size k by moments on held-out errors (var = mu + mu²/k); 1e6 means Poisson."""
    excess = float(((y - mu) ** 2).sum() - mu.sum())
    return 1e6 if excess <= 0 else max(float((mu ** 2).sum() / excess), 1e-3)


def quantiles(mean: pl.Series | np.ndarray, k: np.ndarray | float) -> dict[str, np.ndarray]:
    """sd and the 80%/95% bounds of a negative binomial day's demand with ``mean`` and size ``k``.

    scipy's ppf is iterative (3 s a million values), so per distinct k it runs on a log-spaced grid of
    means (ratio 1.003 between points) and each mean takes the quantile of the next grid point up: at
    most one grid step conservative, and 30x faster.
    """
    from scipy.stats import nbinom

    mu = np.maximum(np.asarray(mean, float), 1e-9)
    k = np.broadcast_to(np.asarray(k, float), mu.shape)
    out = {"sd": np.sqrt(mu + mu ** 2 / k)}
    probs = (("lo_80", 0.10), ("hi_80", 0.90), ("lo_95", 0.025), ("hi_95", 0.975))
    for name, _ in probs:
        out[name] = np.empty_like(mu)
    for kv in np.unique(k):
        sel = k == kv
        m = mu[sel]
        lo, hi = np.log(m.min()), np.log(m.max())
        grid = np.exp(np.arange(lo, hi + 0.003, 0.003)) if hi > lo else np.array([m.max()])
        grid[-1] = max(grid[-1], m.max())
        idx = np.minimum(np.searchsorted(grid, m), grid.size - 1)
        for name, q in probs:
            out[name][sel] = nbinom.ppf(q, kv, kv / (kv + grid)).astype(float)[idx]
    return out


def calibrated_coverage(y: np.ndarray, mean: np.ndarray, k: np.ndarray | float, level: int) -> float | None:
    """Coverage of the ``level``% interval of negative binomial day counts, a day on a bound counted by the
    share of that bound's probability inside the central ``level``% (the non-randomized PIT of Czado,
    Gneiting and Held, 2009).

    Whole-unit bounds hold more than ``level``% of small counts whatever the model ([0, 0] holds 95% of days
    at a mean of 0.05); this figure is ``level``% under a calibrated forecast at any size of count.
    """
    from scipy.stats import nbinom

    y = np.asarray(y, float)
    if y.size == 0:
        return None
    mu = np.maximum(np.asarray(mean, float), 1e-9)
    k = np.broadcast_to(np.asarray(k, float), mu.shape)
    p = k / (k + mu)
    f_y, f_below = nbinom.cdf(y, k, p), nbinom.cdf(y - 1, k, p)
    tail = (1 - level / 100) / 2
    inside = np.clip(np.minimum(f_y, 1 - tail) - np.maximum(f_below, tail), 0, None)
    return float((inside / np.maximum(f_y - f_below, 1e-300)).mean())


def choose(cv: pl.DataFrame, classes: pl.DataFrame) -> tuple[dict[str, str], pl.DataFrame]:
    """Per demand pattern, the candidate with the lowest backtest RMSE; and the scores (pattern, model, rmse, wape).

    RMSE, not WAPE, picks: on intermittent days absolute error rewards forecasting zero, and the
    forecast's job is the mean demand (what stock-out risk sums over a lead time).
    """
    joined = cv.join(classes.select("unique_id", "pattern"), on="unique_id", how="left")
    rows = []
    for (pattern,), part in joined.group_by(["pattern"]):
        for model in CANDIDATES:
            if model in part.columns:
                y, f = part["y"].to_numpy(), part[model].fill_null(0).fill_nan(0).to_numpy()
                rows.append({"pattern": pattern, "model": model, "rmse": float(np.sqrt(np.mean((y - f) ** 2))),
                             "wape": evaluation.wape(y, f)})
    scores = pl.DataFrame(rows, schema={"pattern": pl.Utf8, "model": pl.Utf8, "rmse": pl.Float64,
                                        "wape": pl.Float64})
    chosen = {}
    for (pattern,), part in scores.group_by(["pattern"]):
        ranked = part.sort("rmse", "model")
        chosen[pattern] = ranked["model"][0]
    return chosen, scores
