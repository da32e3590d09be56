"""Demand forecasts at every level (kind ``demand_forecast``): total, category, store and SKU, units and revenue.

``train_forecasts`` reads one merchant's history through ``data.access``, turns sales into demand
(``censoring``: out-of-stock days are censored, their demand estimated), backtests and chooses a model per
aggregate series (``aggregate``) and per SKU demand pattern (``sku``), forecasts ``horizon`` days, and
reconciles SKUs with categories and the total (``hierarchy``). Stores are forecast on their own (their sales
are not split by SKU here). With less than ``total.MIN_HISTORY_DAYS`` days it makes naive forecasts only
(repeat last week; a SKU's recent mean) and every row's model says "naive".

The result (``Forecasts``, saved as the model's payload by ``outputs``):

- ``forecast``: level ("total", "category", "store", "sku"), key (str: "total", the category name, the
  store id, the product id), measure ("units" or "revenue"), day (date), mean, lo_80, hi_80, lo_95, hi_95
  (units per day, or money per day in the merchant's currency), model (the chosen model's name).
  Total, category and SKU rows are coherent: a category's mean is the sum of its SKUs' means, and so on.
- ``skus``: product_id, category, pattern, model, dispersion (negative binomial size k of a day's units),
  unit_price (money per unit, promotions not included).
- ``shares``: product_id, store_id, share (of the product's units sold from that stock location).
- ``lost``: product_id, category, day, censored, lost_units, lost_revenue for each out-of-stock day.
- ``global_model``: the SKU-level XGBoost model in XGBoost's JSON (None when no SKU class chose it); a refresh
  forecasts with it rather than learning it again.
- ``metrics``: backtest figures per series and level (MASE, WAPE, bias, coverage, vs seasonal naive, in words).
  SKU coverage_80/95 count a day on a whole-unit bound by the share of its probability inside the interval
  (``sku.calibrated_coverage``: 80%/95% when calibrated); days_inside_80/95 is the plain share of days inside
  the bounds, more than 80%/95% for the small counts most SKUs sell.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from data.access import DataAccess
from models import evaluation
from models.forecasting import aggregate, censoring, hierarchy, sku, total
from models.forecasting import demand_data as dd
from models.registry import Progress

DEFAULT_HORIZON = 28
MAX_HORIZON = 90
NAIVE_LABEL = "naive (too little history)"
TOTAL_IDS = ("total/units", "total/revenue")


@dataclass
class Forecasts:
    forecast: pl.DataFrame
    skus: pl.DataFrame
    shares: pl.DataFrame
    lost: pl.DataFrame
    metrics: dict
    params: dict = field(default_factory=dict)
    window: tuple[str, str] | None = None
    rows: int = 0
    notes: tuple[str, ...] = ()
    global_model: bytes | None = None  # the global XGBoost model's trees (XGBoost JSON), reused by a refresh


def _aggregate_history(demand: pl.DataFrame, stores: pl.DataFrame) -> pl.DataFrame:
    """unique_id ("total/units", "category/<name>/revenue", "store/<id>/units"...), ds, y: demand per day."""
    d = demand.with_columns((pl.col("revenue") + pl.col("lost_revenue")).alias("rev_demand"))
    tot = d.group_by("day").agg(pl.col("demand").sum().alias("units"), pl.col("rev_demand").sum().alias("revenue"))
    cat = d.group_by("category", "day").agg(pl.col("demand").sum().alias("units"),
                                            pl.col("rev_demand").sum().alias("revenue"))
    parts = [tot.unpivot(index="day", on=["units", "revenue"], variable_name="m", value_name="y")
             .select(pl.format("total/{}", "m").alias("unique_id"), pl.col("day").alias("ds"), "y"),
             cat.unpivot(index=["category", "day"], on=["units", "revenue"], variable_name="m", value_name="y")
             .select(pl.format("category/{}/{}", "category", "m").alias("unique_id"), pl.col("day").alias("ds"), "y"),
             stores]
    full = pl.concat([p.with_columns(pl.col("ds").cast(pl.Date), pl.col("y").cast(pl.Float64)) for p in parts])
    days = pl.DataFrame({"ds": pl.date_range(full["ds"].min(), full["ds"].max(), "1d", eager=True)})
    grid = full.select("unique_id").unique().join(days, how="cross")
    return grid.join(full, on=["unique_id", "ds"], how="left").with_columns(pl.col("y").fill_null(0.0)) \
        .sort("unique_id", "ds")


def _unit_prices(demand: pl.DataFrame, promos: pl.DataFrame) -> pl.DataFrame:
    """product_id, unit_price: money per unit on the last 91 days without a promotion (else all days)."""
    last = demand["day"].max()
    d = demand.join(promos, on=["day", "category"], how="left").with_columns(pl.col("discount_pct").fill_null(0.0))
    recent = d.filter((pl.col("day") > last - dt.timedelta(days=91)) & (pl.col("discount_pct") == 0))
    calm = recent.group_by("product_id").agg((pl.col("revenue").sum() / pl.col("units").sum()).alias("p1"))
    every = d.group_by("product_id").agg((pl.col("revenue").sum() / pl.col("units").sum()).alias("p2"))
    out = every.join(calm, on="product_id", how="left").with_columns(
        pl.coalesce(pl.col("p1").fill_nan(None), pl.col("p2").fill_nan(None), pl.lit(0.0)).alias("unit_price"))
    return out.select("product_id", "unit_price")


def _sku_inputs(demand, promos, calendar, horizon):
    """(history: unique_id, ds, y and sku.EXOG over the last sku.HISTORY_DAYS; future: unique_id, ds and
    sku.EXOG over the horizon; statics: unique_id, price_level, category_code)."""
    last = demand["day"].max()
    # Every SKU model reads at most HISTORY_DAYS; a SKU's rows run without a gap from its first day to the last,
    # so "at least MIN_DAYS of history" reads the same on the cut history.
    hist = demand.filter(pl.col("day") > last - dt.timedelta(days=sku.HISTORY_DAYS)).select(
        pl.col("product_id").cast(pl.Utf8).alias("unique_id"), "category", pl.col("day").alias("ds"),
        pl.col("demand").clip(lower_bound=0).alias("y"), pl.col("censored").cast(pl.Float64).alias("out_of_stock"))
    future = hist.select("unique_id", "category").unique().join(pl.DataFrame({"ds": pl.date_range(
        last + dt.timedelta(days=1), last + dt.timedelta(days=horizon), "1d", eager=True)}), how="cross")
    # The history carries its own features (a join on (SKU, day) of millions of rows cost a second a fit).
    hist = sku.build_exog(hist, promos, calendar)
    future = sku.build_exog(future, promos, calendar)
    price = demand.group_by("product_id").agg(
        (pl.col("revenue").sum() / pl.col("units").sum()).fill_nan(0.0).fill_null(0.0).log1p().alias("price_level"),
        pl.col("category").first())
    statics = price.select(pl.col("product_id").cast(pl.Utf8).alias("unique_id"), "price_level",
                           pl.col("category").cast(pl.Categorical).to_physical().cast(pl.Float64).alias("category_code"))
    return hist, future, statics


def _sku_backtest(y, statics, classes):
    cv = sku.stats_cross_validation(y).with_columns(pl.col("ds").cast(pl.Date), pl.col("cutoff").cast(pl.Date))
    gcv = sku.global_cross_validation(y.filter(pl.col("unique_id").is_in(cv["unique_id"].unique().implode())),
                                      statics)
    cv = cv.join(gcv.drop("cutoff"), on=["unique_id", "ds"], how="left").with_columns(
        [pl.col(m).fill_nan(None).fill_null(0.0) for m in sku.CANDIDATES])
    chosen, scores = sku.choose(cv, classes)
    cv = cv.join(classes.select("unique_id", "pattern"), on="unique_id", how="left")
    disp, ys, fs, ks, bounds = {}, [], [], [], {lv: ([], []) for lv in (80, 95)}
    for pattern, model in chosen.items():
        part = cv.filter(pl.col("pattern") == pattern)
        disp[pattern] = sku.dispersion(part["y"].to_numpy(), part[model].to_numpy())
        q = sku.quantiles(part[model].to_numpy(), disp[pattern])
        ys.append(part["y"].to_numpy()), fs.append(part[model].to_numpy())
        ks.append(np.full(part.height, disp[pattern]))
        for lv, (lo, hi) in bounds.items():
            lo.append(q[f"lo_{lv}"]), hi.append(q[f"hi_{lv}"])
    y_all, f_all, k_all = np.concatenate(ys), np.concatenate(fs), np.concatenate(ks)
    naive = cv["SeasonalNaive"].to_numpy()
    metrics = {
        "models_by_pattern": chosen, "wape": evaluation.wape(y_all, f_all), "bias": evaluation.bias(y_all, f_all),
        **{f"coverage_{lv}": sku.calibrated_coverage(y_all, f_all, k_all, lv) for lv in bounds},
        **{f"days_inside_{lv}": evaluation.coverage(y_all, np.concatenate(lo), np.concatenate(hi))
           for lv, (lo, hi) in bounds.items()},
        "naive_wape": evaluation.wape(cv["y"].to_numpy(), naive), "skus_backtested": cv["unique_id"].n_unique(),
        "patterns": dict(classes.group_by("pattern").len().iter_rows()),
    }
    metrics["summary"] = evaluation.describe_gain(metrics["wape"], metrics["naive_wape"])
    return chosen, disp, metrics


def _sku_forecast(y, future, statics, classes, chosen, disp, horizon, saved_global=None):
    """(forecast: unique_id, ds, model, mean, pattern, dispersion; the global model's bytes, or None).

    ``saved_global``: a training's global model (``sku.global_model_bytes``): a refresh forecasts with it
    instead of learning it again."""
    long_ids = y.group_by("unique_id").len().filter(pl.col("len") >= sku.MIN_DAYS)["unique_id"]
    ly = y.filter(pl.col("unique_id").is_in(long_ids.implode()))
    pick = classes.select("unique_id", "pattern").with_columns(
        pl.col("pattern").replace_strict(chosen, default=sku.NAIVE).alias("model"))
    parts, global_bytes = [], None
    if ly.height:
        # Each SKU runs only its chosen model: series are forecast independently, so this is what running every
        # model and keeping the chosen one gave, for a fraction of the work.
        model_of = ly.select("unique_id").unique().join(pick, on="unique_id", how="inner")
        wanted = {m: model_of.filter(pl.col("model") == m)["unique_id"] for m in model_of["model"].unique().sort()}
        if sku.GLOBAL in wanted:  # learns from every long SKU (as chosen), forecasts those that chose it
            full = ly.filter(pl.col("ds") > ly["ds"].max() - dt.timedelta(days=sku.EXOG_DAYS))
            if saved_global:
                fitted, global_bytes = sku.restore_global(saved_global, full, statics), saved_global
            else:
                fitted = sku.fit_global(full, statics)
                global_bytes = sku.global_model_bytes(fitted)
            gl = sku.predict_global(fitted, full.filter(pl.col("unique_id").is_in(wanted[sku.GLOBAL].implode())),
                                    statics, future, horizon)
            parts.append(gl.unpivot(index=["unique_id", "ds"], variable_name="model", value_name="mean"))
        for model in (m for m in sku.STATS if m in wanted):
            st = sku.stats_forecast(ly.filter(pl.col("unique_id").is_in(wanted[model].implode())), horizon, (model,))
            parts.append(st.unpivot(index=["unique_id", "ds"], variable_name="model", value_name="mean"))
    fc = pl.concat([p.with_columns(pl.col("ds").cast(pl.Date), pl.col("mean").cast(pl.Float64))
                    for p in parts]) if parts else None
    out = fc.join(pick, on=["unique_id", "model"], how="inner") if fc is not None else None
    short = y.filter(~pl.col("unique_id").is_in(long_ids.implode()))
    if short.height:  # too little history for a tested model: the mean of the last 28 days, labelled naive
        last = y["ds"].max()
        m = short.filter(pl.col("ds") > last - dt.timedelta(days=28)).group_by("unique_id").agg(pl.col("y").mean().alias("mean"))
        days = pl.DataFrame({"ds": pl.date_range(last + dt.timedelta(days=1), last + dt.timedelta(days=horizon), "1d",
                                                 eager=True)})
        naive = m.join(days, how="cross").with_columns(pl.lit(NAIVE_LABEL).alias("model"), pl.lit("short").alias("pattern"))
        out = naive.select("unique_id", "ds", "model", "mean", "pattern") if out is None else pl.concat(
            [out.select("unique_id", "ds", "model", "mean", "pattern"), naive.select("unique_id", "ds", "model", "mean",
                                                                                     "pattern")])
    k = out["pattern"].replace_strict(disp, default=1.0, return_dtype=pl.Float64)
    return out.with_columns(pl.col("mean").fill_nan(0.0).fill_null(0.0).clip(lower_bound=0.0),
                            k.alias("dispersion")), global_bytes


def _with_bounds(rec: pl.DataFrame, agg_fc: pl.DataFrame, sku_fc: pl.DataFrame, prices: pl.DataFrame,
                 measure: str) -> pl.DataFrame:
    """Reconciled means with intervals: aggregates keep their interval widths around the new mean; SKU bounds
    are negative binomial quantiles of the reconciled mean (revenue: units quantiles x unit price)."""
    agg = rec.filter(pl.col("level") != "sku").with_columns(
        pl.when(pl.col("level") == "total").then(pl.format("total/{}", pl.lit(measure)))
        .otherwise(pl.format("category/{}/{}", pl.col("key"), pl.lit(measure))).alias("unique_id"))
    agg = agg.join(agg_fc, on=["unique_id", "day"], how="left", suffix="_b").with_columns(
        [(pl.col(c) + pl.col("mean") - pl.col("mean_b")).clip(lower_bound=0).alias(c)
         for c in ("lo_80", "hi_80", "lo_95", "hi_95")])
    agg = agg.select("level", "key", "day", "mean", "lo_80", "hi_80", "lo_95", "hi_95", "model")
    s = rec.filter(pl.col("level") == "sku").join(
        sku_fc.select(pl.col("unique_id").alias("key"), pl.col("ds").alias("day"), "model", "dispersion"),
        on=["key", "day"], how="left").join(prices.select(pl.col("product_id").cast(pl.Utf8).alias("key"),
                                                          "day", "unit_price", "factor"), on=["key", "day"], how="left")
    units = s["mean"].to_numpy() / np.where(measure == "revenue", np.maximum(s["unit_price"] * s["factor"], 1e-9), 1.0)
    q = sku.quantiles(units, s["dispersion"].fill_null(1.0).to_numpy())
    scale = (s["unit_price"] * s["factor"]).to_numpy() if measure == "revenue" else 1.0
    s = s.with_columns([pl.Series(c, q[c] * scale) for c in ("lo_80", "hi_80", "lo_95", "hi_95")])
    return pl.concat([agg, s.select(agg.columns)]).with_columns(pl.lit(measure).alias("measure"))


def train_forecasts(access: DataAccess, *, until: dt.date | None = None, horizon: int = MAX_HORIZON,
                    progress: Progress | None = None, reuse: dict | None = None) -> Forecasts:
    """Backtest, choose, forecast ``horizon`` days after ``until`` (default: the last day of data), reconcile.

    ``reuse``: a saved payload's params, metrics and global model (``outputs.read_payload``): forecast with the
    models it chose, without backtesting, and with its global SKU model as it was learnt (a refresh); its
    metrics are kept.
    """
    report = progress or (lambda f, t: None)
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"forecast horizon must be 1 to {MAX_HORIZON} days, got {horizon}")
    bounds = dd.data_bounds(access)
    if bounds is None:
        raise ValueError("this merchant has no orders yet: nothing to forecast")
    if until is not None:
        bounds = (bounds[0], min(bounds[1], until))
    first, last = bounds
    report(0.05, "Reading sales, stock and promotions")
    demand = censoring.compute_demand(dd.load_sku_days(access, bounds))
    if demand.is_empty():
        raise ValueError("this merchant has no product sales yet: nothing to forecast")
    promos_raw, country = dd.load_promotions(access), dd.load_country(access)
    cats = sorted(demand["category"].unique().to_list())
    horizon_end = last + dt.timedelta(days=horizon)
    promos = dd.promo_calendar(promos_raw, cats, first, horizon_end)
    calendar = dd.calendar_features(pl.date_range(first, horizon_end, "1d", eager=True), country)
    agg_hist = _aggregate_history(demand, dd.load_store_days(access, bounds))
    days = (last - first).days + 1
    enough = days >= total.MIN_HISTORY_DAYS
    notes: list[str] = []
    features = dd.promo_calendar(promos_raw, ["(all)"], first, horizon_end).rename({"day": "ds"}) \
        .join(calendar.rename({"day": "ds"}), on="ds").select("ds", "discount_pct", "payday")
    y, future, statics = _sku_inputs(demand, promos, calendar, horizon)
    classes = sku.classify(y.filter(pl.col("ds") > last - dt.timedelta(days=sku.CLASS_DAYS)))
    saved_global = None
    if reuse is not None and reuse.get("params", {}).get("aggregate_models"):
        p, saved_global = reuse["params"], reuse.get("global_model")
        chosen_agg = {u: p["aggregate_models"].get(u, total.NAIVE) for u in agg_hist["unique_id"].unique().to_list()}
        agg_fc, agg_metrics = aggregate.forecast_aggregates(agg_hist, horizon, features=features, country=country,
                                                            chosen=chosen_agg, previous=p.get("aggregate_widths"),
                                                            specs=p.get("aggregate_ets_specs"))
        chosen, disp, sku_metrics = dict(p["sku_models_by_pattern"]), dict(p["sku_dispersion"]), {}
        enough = True
    elif enough:
        report(0.15, "Backtesting total, category and store models over 3 origins")
        agg_fc, agg_metrics = aggregate.forecast_aggregates(agg_hist, horizon, prophet_ids=TOTAL_IDS,
                                                            features=features, country=country)
        report(0.5, "Backtesting SKU models (statistical and the global XGBoost model)")
        chosen, disp, sku_metrics = _sku_backtest(y, statics, classes)
    else:
        notes.append(f"Only {days} days of history (a tested forecast needs {total.MIN_HISTORY_DAYS}): these are "
                     "naive forecasts (repeat last week; a SKU's recent mean), not backtested.")
        naive = {u: total.NAIVE for u in agg_hist["unique_id"].unique().to_list()}
        agg_fc, agg_metrics = aggregate.forecast_aggregates(agg_hist, horizon, chosen=naive)
        agg_fc = agg_fc.with_columns(pl.lit(NAIVE_LABEL).alias("model"))
        chosen, disp, sku_metrics = {}, {}, {}
    report(0.75, "Forecasting SKUs")
    sku_fc, global_bytes = (_sku_forecast(y, future, statics, classes, chosen, disp, horizon, saved_global)
                            if enough else (_naive_skus(y, horizon), None))
    report(0.9, "Reconciling SKUs with categories and the total")
    prices = _unit_prices(demand, promos)
    factor = promos.filter(pl.col("day") > last).with_columns((1 - pl.col("discount_pct") / 100).alias("factor"))
    sku_cat = demand.select("product_id", "category").unique()
    price_days = sku_cat.join(factor, on="category", how="left").join(prices, on="product_id", how="left") \
        .select("product_id", "day", "unit_price", "factor")
    frames = []
    for measure in ("units", "revenue"):
        sku_mean = sku_fc.select(pl.col("unique_id").alias("key"), pl.col("ds").alias("day"), "mean")
        if measure == "revenue":
            sku_mean = sku_mean.join(price_days.select(pl.col("product_id").cast(pl.Utf8).alias("key"), "day",
                                                       (pl.col("unit_price") * pl.col("factor")).alias("p")),
                                     on=["key", "day"], how="left").select("key", "day",
                                                                           (pl.col("mean") * pl.col("p").fill_null(0.0)).alias("mean"))
        aggs = agg_fc.filter(pl.col("unique_id").str.ends_with("/" + measure) & ~pl.col("unique_id").str.starts_with("store/"))
        base = pl.concat([
            aggs.select(pl.when(pl.col("unique_id").str.starts_with("total/")).then(pl.lit("total"))
                        .otherwise(pl.col("unique_id").str.slice(9).str.replace(f"/{measure}$", "")).alias("key"),
                        pl.when(pl.col("unique_id").str.starts_with("total/")).then(pl.lit("total"))
                        .otherwise(pl.lit("category")).alias("level"), "day", "mean"),
            sku_mean.select("key", pl.lit("sku").alias("level"), "day", "mean")])
        rec = hierarchy.reconcile(base, sku_cat)
        frames.append(_with_bounds(rec, aggs, sku_fc, price_days, measure))
    stores = agg_fc.filter(pl.col("unique_id").str.starts_with("store/")).with_columns(
        pl.col("unique_id").str.split("/").alias("_p")).select(
        pl.lit("store").alias("level"), pl.col("_p").list.get(1).alias("key"), "day", "mean", "lo_80", "hi_80",
        "lo_95", "hi_95", "model", pl.col("_p").list.get(2).alias("measure"))
    forecast = pl.concat([f.select(stores.columns) for f in frames] + [stores]) \
        .select("level", "key", "measure", "day", "mean", "lo_80", "hi_80", "lo_95", "hi_95", "model") \
        .sort("level", "key", "measure", "day")
    sku_info = classes.select(pl.col("unique_id").cast(pl.Int64).alias("product_id"), "pattern").join(
        sku_fc.group_by("unique_id").agg(pl.col("model").first(), pl.col("dispersion").first())
        .select(pl.col("unique_id").cast(pl.Int64).alias("product_id"), "model", "dispersion"), on="product_id", how="right") \
        .join(sku_cat, on="product_id", how="left").join(prices, on="product_id", how="left")
    # The form AutoETS chose per series is a choice a refresh reuses (params), not a backtest figure for the card.
    ets_specs = {k: v.pop("ets_spec") for k, v in agg_metrics.items() if "ets_spec" in v}
    metrics = {"total": {k.split("/")[1]: v for k, v in agg_metrics.items() if k.startswith("total/")},
               "category": {k[9:]: v for k, v in agg_metrics.items() if k.startswith("category/")},
               "store": {k[6:]: v for k, v in agg_metrics.items() if k.startswith("store/")},
               "sku": sku_metrics, "origins": total.ORIGINS if enough else 0,
               "horizon_days": total.BACKTEST_HORIZON if enough else 0}
    params = {"horizon_days": horizon, "levels": [80, 95], "season": total.SEASON,
              "aggregate_models": {k: v["model"] for k, v in agg_metrics.items() if "model" in v},
              "aggregate_widths": {k: {n: x for n, x in v.items() if n.startswith("halfwidth_")}
                                   for k, v in agg_metrics.items()},
              "aggregate_ets_specs": ets_specs,
              "sku_models_by_pattern": chosen, "sku_dispersion": disp}
    if reuse is not None:  # a refresh keeps the training's choices and backtest figures
        params, metrics = {**reuse["params"], "horizon_days": horizon}, reuse.get("metrics", {})
    return Forecasts(
        forecast=forecast, skus=sku_info.select("product_id", "category", "pattern", "model", "dispersion", "unit_price"),
        shares=dd.load_location_shares(access, last),
        lost=demand.filter(pl.col("censored")).select("product_id", "category", "day", "censored", "lost_units",
                                                      "lost_revenue"),
        metrics=metrics, window=(str(first), str(last)), rows=demand.height, notes=tuple(notes),
        params=params, global_model=global_bytes)


def _naive_skus(y: pl.DataFrame, horizon: int) -> pl.DataFrame:
    last = y["ds"].max()
    m = y.filter(pl.col("ds") > last - dt.timedelta(days=28)).group_by("unique_id").agg(pl.col("y").mean().alias("mean"))
    days = pl.DataFrame({"ds": pl.date_range(last + dt.timedelta(days=1), last + dt.timedelta(days=horizon), "1d",
                                             eager=True)})
    return m.join(days, how="cross").with_columns(pl.lit(NAIVE_LABEL).alias("model"), pl.lit("short").alias("pattern"),
                                                  pl.lit(1.0).alias("dispersion"))
