"""The demand_forecast kind on the tiny warehouse: trained through the registry, read back, refreshed;
naive forecasts when history is short; the small pure parts (demand patterns, Prophet wrapper)."""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import polars as pl
import pytest

from data.access import DataAccess, Scope
from models import registry
from models.artifacts import ModelStore
from models.card import build_model_card
from models.forecasting import demand, outputs, prophet_model, sku


@pytest.fixture(scope="module")
def saved(fixture_warehouse_path, tmp_path_factory):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    store = ModelStore(tmp_path_factory.mktemp("models"), key=b"k" * 32)
    steps = []
    model = registry.train("demand_forecast", lambda: ibis.duckdb.from_connection(con.cursor()), 1, 5, store,
                           progress=lambda f, t: steps.append((f, t)))
    yield con, store, model, steps
    con.close()


def test_the_kind_trains_through_the_registry_with_progress_and_a_card(saved):
    con, store, model, steps = saved
    assert "demand_forecast" in registry.load_families()
    again = store.load("demand_forecast", 1)  # signed and verified
    assert again.version == model.version
    assert [f for f, _ in steps] == sorted(f for f, _ in steps) and steps[-1] == (1.0, "Saved")
    card = build_model_card(again, 5)
    assert not card.stale and any("repeating last week" in v for _, v in card.metrics)


def test_forecast_frame_has_every_level_and_measure_for_the_days_asked(saved):
    _, _, model, _ = saved
    fc = outputs.load_forecast(model.payload)
    assert fc["day"].n_unique() == demand.DEFAULT_HORIZON
    assert set(fc["level"].unique()) == {"total", "category", "store", "sku"}
    assert set(fc["measure"].unique()) == {"units", "revenue"}
    assert (fc["lo_95"] <= fc["lo_80"]).all() and (fc["lo_80"] <= fc["hi_80"]).all()
    assert (fc["hi_80"] <= fc["hi_95"]).all() and (fc["mean"] >= 0).all()
    assert outputs.load_forecast(model.payload, days=90)["day"].n_unique() == 90
    with pytest.raises(ValueError, match="1 to 90"):
        outputs.load_forecast(model.payload, days=91)


def test_location_demand_splits_each_sku_over_its_stock_locations(saved):
    con, _, model, _ = saved
    loc = outputs.compute_location_demand(model.payload, days=14)
    assert loc.columns == ["product_id", "store_id", "day", "mean", "sd", "lo_80", "hi_80", "lo_95", "hi_95",
                           "dispersion", "model"]
    stocked = con.execute("SELECT DISTINCT store_id FROM main.inventory_daily WHERE merchant_id = 1").fetchall()
    assert set(loc["store_id"].unique()) <= {s for (s,) in stocked}
    sku_units = outputs.load_forecast(model.payload, days=14).filter(
        (pl.col("level") == "sku") & (pl.col("measure") == "units")).select(
        pl.col("key").cast(pl.Int64).alias("product_id"), "day", pl.col("mean").alias("sku_mean"))
    summed = loc.group_by("product_id", "day").agg(pl.col("mean").sum()).join(sku_units, on=["product_id", "day"])
    assert summed.height > 0
    assert (summed["mean"] - summed["sku_mean"]).abs().max() < 1e-9
    assert (loc["lo_80"] <= loc["hi_80"]).all() and (loc["sd"] > 0).all()


def test_refresh_reuses_the_chosen_models_without_backtesting(saved, monkeypatch):
    con, _, model, _ = saved

    def no_backtest(*args, **kwargs):
        raise AssertionError("a refresh must not backtest")

    monkeypatch.setattr(demand, "_sku_backtest", no_backtest)
    monkeypatch.setattr("models.forecasting.aggregate._stat_cv", no_backtest)
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
    fresh = outputs.read_payload(outputs.refresh(access, model.payload))
    old = outputs.read_payload(model.payload)
    assert fresh["params"]["aggregate_models"] == old["params"]["aggregate_models"]
    assert fresh["metrics"] == old["metrics"]
    assert fresh["forecast"].height == old["forecast"].height


def test_too_little_history_gives_a_naive_forecast_labelled_as_naive(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([2]))
        first = con.execute("SELECT min(order_ts)::DATE FROM main.orders WHERE merchant_id = 2").fetchone()[0]
        result = demand.train_forecasts(access, until=first + dt.timedelta(days=80), horizon=14)
    finally:
        con.close()
    assert set(result.forecast["model"].unique()) == {demand.NAIVE_LABEL}
    assert "naive" in result.notes[0] and result.metrics["origins"] == 0
    assert (result.forecast["hi_80"] >= result.forecast["lo_80"]).all()


def test_demand_patterns_follow_adi_and_cv2():
    def series(uid, values):
        return pl.DataFrame({"unique_id": uid, "y": [float(v) for v in values]})

    frame = pl.concat([series("smooth", [5, 6, 5, 6] * 10), series("erratic", [1, 20, 2, 30] * 10),
                       series("intermittent", [0, 0, 5, 0, 0, 5] * 10), series("lumpy", [0, 0, 1, 0, 0, 40] * 10)])
    got = dict(sku.classify(frame).select("unique_id", "pattern").iter_rows())
    assert got == {"smooth": "smooth", "erratic": "erratic", "intermittent": "intermittent", "lumpy": "lumpy"}


def test_prophet_wrapper_builds_prophet_inside_fit_and_can_fit_twice():
    days = pl.date_range(dt.date(2025, 1, 1), dt.date(2025, 6, 30), "1d", eager=True)
    y = [10.0 + 5 * (d.weekday() >= 5) + 8 * (d.day == 1) for d in days]
    hist = pl.DataFrame({"ds": days, "y": y})
    feats = pl.DataFrame({"ds": pl.date_range(days[0], days[-1] + dt.timedelta(days=14), "1d", eager=True)}) \
        .with_columns((pl.col("ds").dt.day() == 1).cast(pl.Float64).alias("payday"))
    est = prophet_model.ProphetForecaster(country="GB", regressors=("payday",), yearly=False)
    assert not hasattr(est, "model_")  # __init__ only stores settings
    first = est.fit(hist, feats).predict(14, feats)
    second = est.fit(hist.head(150), feats).predict(14, feats)  # a second fit: a new Prophet inside
    assert first.height == second.height == 14 and est.last_day_ == hist["ds"][149]
    weekend = first.filter(pl.col("ds").dt.weekday() >= 6)["Prophet"].mean()
    weekday = first.filter(pl.col("ds").dt.weekday() < 6)["Prophet"].mean()
    assert weekend > weekday + 3
