"""The ``customer_value`` kind end to end: trained through the registry for one merchant (its scores hold that
merchant's customers and no one else's), and the too-little-data answer on real data with one purchase per
customer (the customer shopping dataset, imported through the real importer)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import ibis
import numpy as np
import pandas as pd
import polars as pl
import pytest
import xgboost as xgb
from streamlit.testing.v1 import AppTest

from data.access import DataAccess, Scope
from data.importers import import_file
from data.warehouse import open_for_loading
from models import registry
from models.artifacts import ModelStore
from models import card as card_module
from models.card import build_model_card
from models.customers import features, outputs, scores, train, warehouse
from models.customers.readiness import check_history

KEY = b"customer-value-test-key-" + b"k" * 32
MERCHANT = 2


def _train(path, merchant_id: int, root) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
    store = ModelStore(root, key=KEY)
    saved = registry.train(outputs.KEY, lambda: ibis.duckdb.from_connection(con.cursor()), merchant_id, version, store)
    return con, saved, version


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cv_models")


@pytest.fixture(scope="module")
def demo_model(demo_warehouse, store_root):
    con, saved, version = _train(demo_warehouse, MERCHANT, store_root)
    yield con, saved, version
    con.close()


@pytest.fixture(scope="module")
def shopping_model(datasets_dir, tmp_path_factory, store_root):
    """The customer shopping dataset imported through the real importer (merchant 1 of its own warehouse),
    its model saved beside the demo merchant's."""
    path = tmp_path_factory.mktemp("shop") / "shop.duckdb"
    open_for_loading(path).close()
    result = import_file(path, datasets_dir / "customer_shopping_data.csv.gz", preset="customer_shopping",
                         create_merchant=("Istanbul Shopping Malls", "TR", "TRY"))
    assert result.status == "loaded", result.message
    con, saved, _ = _train(path, 1, store_root)
    con.close()
    return path, saved


def test_a_merchants_model_holds_only_its_customers(demo_model):
    con, saved, _ = demo_model
    scored = outputs.load_scores(saved.payload)
    buyers = con.execute("SELECT DISTINCT customer_id FROM main.orders WHERE merchant_id = ? AND order_type = 'sale' "
                         "AND status <> 'cancelled' AND customer_id IS NOT NULL", [MERCHANT]).fetchall()
    others = con.execute("SELECT count(*) FROM main.customers WHERE merchant_id <> ?", [MERCHANT]).fetchone()[0]
    assert others > 0
    assert set(scored["customer_id"].to_list()) == {r[0] for r in buyers}
    foreign = con.execute("SELECT count(*) FROM main.customers WHERE merchant_id <> ? AND customer_id IN "
                          "(SELECT unnest(?::BIGINT[]))", [MERCHANT, scored["customer_id"].to_list()]).fetchone()[0]
    assert foreign == 0
    assert scored.columns == list(scores.SCORE_COLUMNS)


def test_rescoring_with_the_saved_models_gives_the_saved_scores(demo_model):
    con, saved, _ = demo_model
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([MERCHANT]))
    again = outputs.rescore(access, saved.payload)
    saved_scores = outputs.load_scores(saved.payload)
    assert again.height == saved_scores.height
    for name in scores.SCORE_COLUMNS[1:]:
        assert (again[name] - saved_scores[name]).abs().max() < 1e-4, name


def test_the_card_says_which_model_won(demo_model):
    _, saved, version = demo_model
    card = build_model_card(saved, version)
    notes = " ".join(card.notes)
    print("\n" + "\n".join(card.notes))
    assert "Churn in 90 days:" in notes and "won the backtest" in notes and "Value over 180 days:" in notes
    assert outputs.load_shortfall(saved.payload) is None
    metrics = dict(card.metrics)
    print("\n".join(f"{k}: {v}" for k, v in card.metrics))
    assert "Churn in 90 days: AUC of XGBoost (1 is perfect, 0.5 is chance)" in metrics
    assert "Value over 180 days: Mean absolute error of BG/NBD + Gamma-Gamma (orders, or money for value)" in metrics
    # Every measure, setting and value in words: no raw keys such as "churn_90" or "bgnbd".
    for label, value in card.metrics + card.params:
        assert "_" not in label and "_" not in value, (label, value)
        assert value not in ("bgnbd", "xgboost", "time", "customers"), (label, value)
    assert dict(card.params)["Model for churn in 90 days"] in ("XGBoost", "BG/NBD + Gamma-Gamma")


def test_an_old_card_with_raw_metric_keys_reads_in_words():
    """Models saved before the metrics were named in words carried {"churn_90": {"bgnbd": ...}}."""
    rows = dict(card_module._flatten({"churn_90": {"xgboost": 0.81, "bgnbd": 0.77, "winner": "bgnbd",
                                                   "split": "time"}}))
    assert rows == {"Churn in 90 days: Score of XGBoost (AUC for churn, else mean absolute error)": "0.810",
                    "Churn in 90 days: Score of BG/NBD (AUC for churn, else mean absolute error)": "0.770",
                    "Churn in 90 days: Won the backtest": "BG/NBD", "Churn in 90 days: Checked on": "later period"}


def test_customer_shopping_is_too_little_data(datasets_dir, shopping_model):
    _, saved = shopping_model
    raw = pl.read_csv(datasets_dir / "customer_shopping_data.csv.gz", infer_schema=False)
    shortfall = outputs.load_shortfall(saved.payload)
    print(f"\nCustomer shopping dataset: {shortfall.message}")
    assert shortfall is not None and shortfall.reason == "few_repeat_buyers"
    assert shortfall.repeat_buyers == 0 and shortfall.customers == raw["customer_id"].n_unique()
    assert "none of them bought on more than one day" in shortfall.message
    assert outputs.load_scores(saved.payload).height == 0
    assert saved.meta["notes"] == [shortfall.message]


def _purchases(customers: int, repeat: int, days: int = 400) -> pl.DataFrame:
    rows = [(c, dt.date(2025, 1, 1) + dt.timedelta(days=c % days)) for c in range(customers)]
    rows += [(c, dt.date(2025, 1, 1) + dt.timedelta(days=c % days + 1)) for c in range(repeat)]
    return pl.DataFrame(rows, schema={"customer_id": pl.Int64, "day": pl.Date}, orient="row")


def test_a_shop_with_few_repeat_buyers_is_told_so():
    few = check_history(_purchases(5_000, 99), min_days=210)
    assert few is not None and few.reason == "few_repeat_buyers" and few.repeat_buyers == 99
    assert "only 99 bought on more than one day" in few.message
    assert check_history(_purchases(5_000, 100), min_days=210) is None
    short = check_history(_purchases(5_000, 500, days=100), min_days=210)
    assert short is not None and short.reason == "history" and short.history_days == 101
    empty = check_history(_purchases(0, 0), min_days=210)
    assert empty is not None and empty.reason == "no_customers"


def _section() -> None:
    """AppTest script: the predicted-value section for the merchant in session_state."""
    import types

    import streamlit as st

    from dashboard.customer_value_panels import render_value_section

    ctx = types.SimpleNamespace(data_version=st.session_state["version"])
    render_value_section(ctx, st.session_state["merchant"])


@pytest.fixture
def page_env(shopping_model, store_root, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("RETAIL_PULSE_WAREHOUSE", str(shopping_model[0]))
    monkeypatch.setenv("RETAIL_PULSE_MODELS_DIR", str(store_root))
    monkeypatch.setenv("RETAIL_PULSE_MODEL_KEY", KEY.decode())
    monkeypatch.setenv("RETAIL_PULSE_TRAIN_IN_APP", "off")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _open(merchant: int, version: int) -> AppTest:
    at = AppTest.from_function(_section)
    at.session_state["merchant"] = merchant
    at.session_state["version"] = version
    at.run(timeout=30)
    assert not at.exception, at.exception
    return at


def test_section_shows_the_saved_predictions(page_env, demo_model):
    _, saved, version = demo_model
    at = _open(MERCHANT, version)
    scored = outputs.load_scores(saved.payload)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers likely to leave"] == f"{int((scored['churn_90'] >= 0.5).sum()):,}"
    assert metrics["Expected spend, next 180 days"] == f"EUR {scored['clv_180'].sum():,.0f}"
    titles = {json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")}
    assert titles == {"Chance of no purchase in the next 90 days", "Expected spend over the next 180 days"}
    bands = at.dataframe[0].value
    assert int(bands["Customers"].sum()) == scored.height
    assert any("Model card" in e.label for e in at.expander)
    assert not at.warning


def test_section_says_when_there_is_too_little_data(page_env, shopping_model):
    _, saved = shopping_model
    at = _open(1, saved.data_version)
    assert len(at.warning) == 1 and "Not enough data" in at.warning[0].value
    assert "none of them bought on more than one day" in at.warning[0].value
    assert not at.metric and not at.get("plotly_chart")


def test_section_without_a_model_says_how_to_train(page_env):
    at = _open(3, 1)
    assert any("python -m models train" in i.value for i in at.info)
    assert not at.metric


@pytest.fixture(scope="module")
def online_retail_model(datasets_dir, tmp_path_factory, store_root):
    """Online Retail II (373 days) imported through the real importer, its model trained through the registry."""
    path = tmp_path_factory.mktemp("oretail") / "w.duckdb"
    open_for_loading(path).close()
    result = import_file(path, datasets_dir / "online_retail_II_2009_2010.csv.gz", preset="online_retail_ii",
                         create_merchant=("Online Retail II", "GB", "GBP"))
    assert result.status == "loaded", result.message
    con, saved, _ = _train(path, 1, tmp_path_factory.mktemp("oretail_models"))
    yield con, saved
    con.close()


def test_a_horizon_longer_than_the_data_comes_from_the_baseline(online_retail_model):
    """One year of data holds no 365-day label: the 365-day value is BG/NBD x Gamma-Gamma, equal to what the
    reference implementation (lifetimes) predicts with the saved parameters, and the card says so."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    con, saved = online_retail_model
    p = outputs.load_params(saved.payload)
    assert p["choices"]["clv_365"] == "bgnbd"
    assert any("No day in the data has 365 days" in n for n in saved.meta["notes"])
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
    purchases = features.load_purchases(access)
    as_of = dt.date.fromisoformat(p["params"]["scored_as_of"])
    summary = features.compute_summary(purchases, as_of)
    bg, gg = BetaGeoFitter(), GammaGammaFitter()
    bg.params_ = pd.Series(p["baseline"]["bgnbd"])
    gg.params_ = pd.Series({"p": p["baseline"]["gamma_gamma"]["p"], "q": p["baseline"]["gamma_gamma"]["q"],
                            "v": p["baseline"]["gamma_gamma"]["gamma"]})
    x, t_x, T, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary"))
    expected = bg.conditional_expected_number_of_purchases_up_to_time(365 / 7, x, t_x, T) * np.asarray(
        gg.conditional_expected_average_profit(pd.Series(x), pd.Series(m)))
    scored = outputs.load_scores(saved.payload).join(summary.select("customer_id"), on="customer_id")
    np.testing.assert_allclose(scored.sort("customer_id")["clv_365"].to_numpy(), expected, rtol=1e-6)
    print(f"\nOnline Retail II: {scored.height:,} customers; choices {p['choices']}")


def _same(a: pl.DataFrame, b: pl.DataFrame, tol: float = 1e-9) -> None:
    assert a.columns == b.columns and a["customer_id"].equals(b["customer_id"])
    for name in a.columns[1:]:
        x, y = a[name].cast(pl.Float64).to_numpy(), b[name].cast(pl.Float64).to_numpy()
        assert np.array_equal(np.isnan(x), np.isnan(y)), name
        assert np.nanmax(np.abs(x - y) / np.maximum(1.0, np.abs(x)), initial=0.0) < tol, name


def test_the_warehouse_path_scores_as_the_purchases_path_did(demo_model):
    """A rescore aggregates in the warehouse and predicts in place; it must give what the earlier path gave:
    polars features on every purchase, a DMatrix per prediction, BG/NBD's terms each computed on their own."""
    con, saved, _ = demo_model
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
    purchases = features.load_purchases(access)
    end = purchases["day"].max() + dt.timedelta(days=1)
    for cutoff in (end, end - dt.timedelta(days=100)):
        _same(features.compute_features(purchases, cutoff), warehouse.compute_features(access, cutoff))
        _same(features.compute_summary(purchases, cutoff), warehouse.compute_summary(access, cutoff))

    p = outputs.load_params(saved.payload)
    boosters = {n: outputs._read(saved.payload, f"models/{n}.json").decode() for n in p["choices"]}
    assert set(boosters) == {t.name for t in train.TARGETS}  # the demo backtests every target
    base = outputs._baseline(p)
    inputs = train.compute_inputs(purchases, end)
    dm = xgb.DMatrix(inputs.select(train.INPUTS).to_numpy(), feature_names=list(train.INPUTS))
    x, t_x, T = (features.compute_summary(purchases, end)[c].to_numpy() for c in ("frequency", "recency", "T"))
    for model in ("xgboost", "bgnbd"):
        choices = {t.name: model for t in train.TARGETS}
        fast = scores.compute_scores_in_warehouse(access, end, boosters, choices, p["intervals"], base)
        assert fast["customer_id"].equals(inputs["customer_id"])
        for h in (90, 180, 365):
            if model == "xgboost":
                before = np.maximum(scores.load_booster(boosters[f"clv_{h}"]).predict(dm), 0.0)
            else:
                spend = base.spend.expected_spend(x, features.compute_summary(purchases, end)["monetary"].to_numpy())
                before = np.maximum(base.purchases.expected_purchases(h / 7, x, t_x, T) * spend, 0.0)
            np.testing.assert_allclose(fast[f"clv_{h}"].to_numpy(), before, rtol=1e-6, atol=1e-6)
        churn = (scores.load_booster(boosters["churn_90"]).predict(dm) if model == "xgboost"
                 else base.purchases.probability_no_purchase(90 / 7, x, t_x, T))
        np.testing.assert_allclose(fast["churn_90"].to_numpy(), churn, rtol=1e-6, atol=1e-9)
