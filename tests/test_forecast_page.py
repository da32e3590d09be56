"""The Forecast page under AppTest, checked against the saved model's payload and independent SQL.

Pages run through tests/apps/page_harness.py (the real frame, the principal put in session_state) on a copy of
the fixture warehouse with the ``trained_models`` demand forecasts. The forecast shown must be the payload's
(``outputs.load_forecast``), the past sales plain SQL's, the trust panel's words the backtest metrics', and a
merchant sees only its own categories and SKUs, in the pickers and in the exported CSV. Without a saved model
the page says so, and with background training on it queues a job and shows its progress.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import threading
import types
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import demand_history
from dashboard import forecast_data, models_ui, tables
from dashboard.context import PageContext
from dashboard.forecast_charts import NAMES
from dashboard.forecast_trust import NAIVE_WORDS, compute_trust
from dashboard.navigation import PAGES_BY_KEY, ROLES, pages_for
from dashboard.plain_text import markdown_text, plotly_text
from models.artifacts import ModelStore
from models.forecasting import demand, outputs
from models.jobs import TrainingQueue
from tests.test_pages_apptest import COLD, HARNESS, PRINCIPALS, deferred, frame_csv, ok  # noqa: F401

MERCHANT = 2  # the merchant user's own (PRINCIPALS["merchant"])
KIND = "demand_forecast"
SALES = """
SELECT CAST(o.order_ts AS DATE) AS day, sum(l.quantity)::DOUBLE AS units, sum(l.line_amount)::DOUBLE AS revenue
FROM order_lines l JOIN orders o USING (order_id) JOIN products p ON p.product_id = l.product_id
WHERE p.is_merchandise AND o.order_type = 'sale' AND o.status <> 'cancelled' AND o.merchant_id = $m
  AND CAST(o.order_ts AS DATE) BETWEEN $start AND $end {extra}
GROUP BY 1
"""

# ---------------------------------------------------------------------------------------------- plumbing


def clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()  # the engine, models_ui.model_store / training_queue and the payload readers


@pytest.fixture(scope="module")
def forecast_env(fixture_warehouse_path, trained_models, tmp_path_factory):
    """The dashboard pointed at a copy of the fixture warehouse and the trained models, training off."""
    path = tmp_path_factory.mktemp("forecast_page") / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    env = {"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_TRAIN_IN_APP": "off", **trained_models}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    clear_caches()
    yield env
    clear_caches()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def oracle(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)

    def sql(body: str, **params) -> pl.DataFrame:
        cur = con.cursor()
        try:
            return pl.from_arrow(cur.sql(body, params=params or None).to_arrow_table())
        finally:
            cur.close()

    yield sql
    con.close()


def saved_model(env: dict, merchant: int):
    store = ModelStore(Path(env["RETAIL_PULSE_MODELS_DIR"]), key=env["RETAIL_PULSE_MODEL_KEY"].encode())
    return store.latest_usable(KIND, merchant)


def payload_series(env: dict, merchant: int, level: str, key: str, measure: str, days: int) -> pl.DataFrame:
    fc = outputs.load_forecast(saved_model(env, merchant).payload, days)
    return fc.filter((pl.col("level") == level) & (pl.col("key") == key) & (pl.col("measure") == measure)).sort("day")


def open_forecast(role: str, **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[role]
    at.session_state["harness_page"] = "forecast"
    for key, value in state.items():
        at.session_state[key] = value
    return ok(at.run(timeout=COLD))


def rerun(at: AppTest) -> AppTest:
    return ok(at.run(timeout=COLD))


def charts_by_title(at: AppTest) -> dict[str, dict]:
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {s["layout"]["title"]["text"]: s for s in specs}


def main_chart(at: AppTest) -> dict:
    return next(s for t, s in charts_by_title(at).items() if "per day" in t)


def trace(spec: dict, name: str) -> dict:
    return next(d for d in spec["data"] if d.get("name") == name)


def as_day(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def trust_rows(at: AppTest) -> dict[str, str]:
    table = next(t.value for t in at.table if "In words" in t.value.columns)
    return dict(zip(table["About"], table["In words"]))


def download(at: AppTest, deferred: dict, key: str) -> pl.DataFrame:
    if key not in [b.key for b in at.download_button]:
        at.session_state["fc_table"] = True  # open the table's expander
        rerun(at)
    return frame_csv(deferred[at.download_button(key=key).proto.deferred_file_id]())


def assert_shows(at: AppTest, expected: pl.DataFrame) -> None:
    """The chart's forecast line and ranges are the payload's rows, day by day."""
    spec = main_chart(at)
    line = trace(spec, NAMES["forecast"])
    assert [as_day(x) for x in line["x"]] == expected["day"].to_list()
    assert line["y"] == pytest.approx(expected["mean"].to_list())
    band = trace(spec, NAMES["range_80"])
    n = expected.height
    assert band["y"][:n] == pytest.approx(expected["hi_80"].to_list())
    assert band["y"][n:] == pytest.approx(expected["lo_80"].to_list()[::-1])


# ---------------------------------------------------------------------------------------------- every role

ALLOWED = [role for role in ROLES if "forecast" in [p.key for p in pages_for(role)]]


def test_forecast_is_offered_to_every_role_but_the_fraud_reviewer():
    assert sorted(ALLOWED) == sorted(r for r in ROLES if r != "fraud_reviewer")


@pytest.mark.parametrize("role", ALLOWED)
def test_page_opens_for_every_allowed_role(forecast_env, role):
    at = open_forecast(role)
    assert at.title[0].value == "Demand forecast"
    assert NAMES["forecast"] in [d["name"] for d in main_chart(at)["data"]]
    assert "fc_merchant" in [s.key for s in at.selectbox] or role == "merchant"
    assert any(e.label.startswith("Model card") for e in at.expander)


def test_fraud_reviewer_is_refused_by_the_page_itself(forecast_env):
    ctx = PageContext(PRINCIPALS["fraud_reviewer"], (1, 2, 3), None, 1, None)
    at = AppTest.from_file(str(PAGES_BY_KEY["forecast"].path))
    at.session_state["rp_page_context"] = ctx
    at.run(timeout=COLD)
    assert [e.value for e in at.error] == ["You do not have access to Forecast."]
    assert not at.get("plotly_chart") and not at.download_button and not at.selectbox


# ---------------------------------------------------------------------------------------------- numbers


def test_forecast_and_history_equal_the_payload_and_sql(forecast_env, oracle, deferred):
    at = open_forecast("analyst", fc_merchant=3)
    assert at.selectbox(key="fc_merchant").value == 3
    expected = payload_series(forecast_env, 3, "total", "total", "units", 28)
    assert expected.height == 28
    assert_shows(at, expected)
    # Past sales: the last 120 days before the forecast, from plain SQL (0 on days without a sale).
    last = expected["day"][0] - dt.timedelta(days=1)
    start = last - dt.timedelta(days=119)
    sold = oracle(SALES.format(extra=""), m=3, start=start, end=last)
    by_day = dict(zip(sold["day"].to_list(), sold["units"].to_list()))
    past = trace(main_chart(at), NAMES["history"])
    assert [as_day(x) for x in past["x"]] == [start + dt.timedelta(days=i) for i in range(120)]
    assert past["y"] == pytest.approx([by_day.get(as_day(x), 0.0) for x in past["x"]])
    # Same weeks last year: the sales of 364 days before each day drawn.
    year = oracle(SALES.format(extra=""), m=3, start=start - dt.timedelta(days=364), end=last)
    ly_by_day = dict(zip(year["day"].to_list(), year["units"].to_list()))
    ly = trace(main_chart(at), NAMES["last_year"])
    assert ly["y"] == pytest.approx([ly_by_day.get(as_day(x) - dt.timedelta(days=364), 0.0) for x in ly["x"]])
    assert as_day(ly["x"][-1]) == expected["day"][-1]
    # Before the data starts there is no data, not zero sales: nothing is drawn there.
    first = oracle("SELECT min(order_ts)::DATE AS d FROM orders WHERE merchant_id = 3").item()
    assert as_day(ly["x"][0]) - dt.timedelta(days=364) == max(first, start - dt.timedelta(days=364))

    # Revenue over 60 days: the payload's revenue rows, in the merchant's currency.
    at.radio(key="fc_measure").set_value("revenue")
    at.slider(key="fc_days").set_value(60)
    rerun(at)
    expected = payload_series(forecast_env, 3, "total", "total", "revenue", 60)
    assert_shows(at, expected)
    currency = oracle("SELECT currency FROM merchants WHERE merchant_id = 3").item()
    assert currency in main_chart(at)["layout"]["yaxis"]["title"]["text"]
    csv = download(at, deferred, "fc_csv")
    assert csv["forecast_revenue"].to_list() == pytest.approx(expected["mean"].to_list())
    assert csv["high_95_revenue"].to_list() == pytest.approx(expected["hi_95"].to_list())
    labels = json.loads(next(d for d in at.dataframe if "forecast_revenue" in d.value.columns).proto.columns)
    assert labels["forecast_revenue"]["label"] == f"Forecast revenue ({currency})"


def test_drill_to_a_category_and_a_sku_changes_the_chart(forecast_env, oracle):
    at = open_forecast("merchant")
    index = forecast_data.read_index(saved_model(forecast_env, MERCHANT).payload)
    categories = at.selectbox(key="fc_category").options[1:]
    assert categories == sorted(index.skus["category"].unique().to_list())
    total = main_chart(at)
    category = categories[0]
    rerun(at.selectbox(key="fc_category").select(category))
    assert_shows(at, payload_series(forecast_env, MERCHANT, "category", category, "units", 28))
    assert main_chart(at)["data"] != total["data"]
    assert plotly_text(category) in main_chart(at)["layout"]["title"]["text"]
    assert any(markdown_text(category) in m.value for m in at.markdown)  # the breadcrumb
    # The category's past sales from SQL.
    fc = payload_series(forecast_env, MERCHANT, "category", category, "units", 28)
    last = fc["day"][0] - dt.timedelta(days=1)
    sold = oracle(SALES.format(extra="AND p.category = $c"), m=MERCHANT, start=last - dt.timedelta(days=119),
                  end=last, c=category)
    assert sum(trace(main_chart(at), NAMES["history"])["y"]) == pytest.approx(sold["units"].sum())

    # The SKU picker: this category's SKUs, labelled with their code and name from the products table.
    picker = at.selectbox(key="fc_sku")
    products = oracle("SELECT product_id, sku, name FROM products WHERE merchant_id = $m AND category = $c",
                      m=MERCHANT, c=category)
    skus = sorted(index.skus.filter(pl.col("category") == category)["product_id"].to_list())
    assert set(skus) <= set(products["product_id"].to_list())
    codes = dict(zip(products["product_id"], products["sku"]))
    assert [o.split(" · ")[0] for o in picker.options[1:]] == [codes[p] for p in skus]
    sku = skus[0]
    rerun(picker.select(sku))
    assert_shows(at, payload_series(forecast_env, MERCHANT, "sku", str(sku), "units", 28))
    assert codes[sku] in main_chart(at)["layout"]["title"]["text"]
    sold = oracle(SALES.format(extra="AND l.product_id = $p"), m=MERCHANT, start=last - dt.timedelta(days=119),
                  end=last, p=sku)
    assert sum(trace(main_chart(at), NAMES["history"])["y"]) == pytest.approx(sold["units"].sum())
    model = index.skus.filter(pl.col("product_id") == sku)["model"].item()
    assert trust_rows(at)["Model"] == compute_trust(index.metrics, "sku", str(sku), "units", model).model

    rerun(at.button(key="fc_sku_back").click())  # back to the category
    assert at.selectbox(key="fc_sku").value is None
    assert_shows(at, payload_series(forecast_env, MERCHANT, "category", category, "units", 28))
    rerun(at.button(key="fc_category_back").click())  # back to the whole shop
    assert at.selectbox(key="fc_category").value is None
    assert_shows(at, payload_series(forecast_env, MERCHANT, "total", "total", "units", 28))


def test_store_view_shows_each_stores_forecast(forecast_env, oracle):
    at = open_forecast("operations", fc_merchant=MERCHANT, fc_view="stores")
    stores = at.selectbox(key="fc_store").options[1:]
    index = forecast_data.read_index(saved_model(forecast_env, MERCHANT).payload)
    assert len(stores) == len(forecast_data.keys(index, "store")) > 0
    key = forecast_data.keys(index, "store")[0]
    rerun(at.selectbox(key="fc_store").select(key))
    fc = payload_series(forecast_env, MERCHANT, "store", key, "units", 28)
    assert_shows(at, fc)
    name = oracle("SELECT name FROM stores WHERE store_id = $s", s=int(key)).item()
    assert plotly_text(name) in main_chart(at)["layout"]["title"]["text"]
    last = fc["day"][0] - dt.timedelta(days=1)
    sold = oracle(SALES.format(extra="AND o.store_id = $s"), m=MERCHANT, start=last - dt.timedelta(days=119),
                  end=last, s=int(key))
    assert sum(trace(main_chart(at), NAMES["history"])["y"]) == pytest.approx(sold["units"].sum())


# ---------------------------------------------------------------------------------------------- trust panel


def gain_words(model_wape: float, naive_wape: float) -> str:
    gain = 1 - model_wape / naive_wape
    return f"{abs(gain):.0%} {'more' if gain > 0 else 'less'} accurate than repeating last week"


def test_trust_panel_words_match_the_metrics(forecast_env):
    metrics = saved_model(forecast_env, MERCHANT).meta["metrics"]
    at = open_forecast("merchant")
    m = metrics["total"]["units"]
    rows = trust_rows(at)
    assert rows["Against repeating last week"] == gain_words(m["wape"], m["naive_wape"])
    assert f"**{gain_words(m['wape'], m['naive_wape']).capitalize()}**" in [x.value for x in at.markdown]
    assert rows["Scaled error (MASE)"].startswith(f"{m['mase']:.2f}; repeating last week {m['naive_mase']:.2f}")
    assert rows["Share of demand missed (WAPE)"] == f"{m['wape']:.0%}; repeating last week {m['naive_wape']:.0%}"
    assert rows["80% range"] == f"held {m['coverage_80']:.0%} of the actual days (it should hold 80%)"
    assert rows["95% range"] == f"held {m['coverage_95']:.0%} of the actual days (it should hold 95%)"
    assert f"{abs(m['bias']):.1%} {'high' if m['bias'] > 0 else 'low'}" in rows["Bias"]
    category = at.selectbox(key="fc_category").options[1]
    at.radio(key="fc_measure").set_value("revenue")
    rerun(at.selectbox(key="fc_category").select(category))
    c = metrics["category"][f"{category}/revenue"]
    assert trust_rows(at)["Against repeating last week"] == gain_words(c["wape"], c["naive_wape"])


def test_trust_words_for_naive_and_worse_forecasts():
    naive = compute_trust({"total": {"units": {"halfwidth_80": 3.0}}}, "total", "total", "units", demand.NAIVE_LABEL)
    assert naive.naive and naive.headline == NAIVE_WORDS == "naive forecast: too little history"
    assert dict(naive.rows)["Backtest"].startswith("none: too little history")
    worse = compute_trust({"category": {"a/b/units": {"wape": 0.6, "naive_wape": 0.5, "bias": 0.1}}},
                          "category", "a/b", "units", "AutoETS")
    assert worse.headline == "20% less accurate than repeating last week"
    assert dict(worse.rows)["Bias"] == "forecasts ran 10.0% high"
    assert dict(worse.rows)["Model"] == "Exponential smoothing (ETS)"
    sku = compute_trust({"sku": {"wape": 0.8, "naive_wape": 1.0}}, "sku", "7", "units", demand.NAIVE_LABEL, "short")
    assert sku.naive and dict(sku.rows)["Demand pattern"] == "too little history to tell"


def test_history_window_reads_the_weeks_drawn_and_not_the_months_between():
    last = dt.date(2026, 10, 31)
    period, skip = demand_history.history_window(last, 120, 90)
    drawn = {last - dt.timedelta(days=i) for i in range(120)}  # the 120 days of sales
    first_drawn = last - dt.timedelta(days=119)
    last_year = {d - dt.timedelta(days=364) for d in (first_drawn + dt.timedelta(days=i) for i in range(120 + 90))}
    read = {period.start + dt.timedelta(days=i) for i in range(period.days)}
    read -= {skip[0] + dt.timedelta(days=i) for i in range((skip[1] - skip[0]).days + 1)}
    assert read == drawn | last_year
    assert demand_history.history_window(last, 300, 90)[1] is None  # the two touch: nothing to leave out


# ---------------------------------------------------------------------------------------------- merchant scope


def test_a_merchant_sees_only_its_own_categories_and_skus(forecast_env, oracle, deferred):
    other = oracle("SELECT min(category) AS c FROM products WHERE merchant_id = 1 AND category NOT IN "
                   "(SELECT category FROM products WHERE merchant_id = $m)", m=MERCHANT).item()
    foreign_sku = oracle("SELECT min(product_id) AS p FROM products WHERE merchant_id = 1").item()
    at = open_forecast("merchant", fc_merchant=1, fc_category=other, fc_sku=foreign_sku)
    assert "fc_merchant" not in [s.key for s in at.selectbox]  # a merchant's forecast is its own
    assert at.selectbox(key="fc_category").value is None  # the forged category is not one of its own
    ours = oracle("SELECT product_id, category FROM products WHERE merchant_id = $m", m=MERCHANT)
    categories = at.selectbox(key="fc_category").options[1:]
    assert other not in categories and set(categories) <= set(ours["category"].to_list())
    for category in categories[:2]:
        rerun(at.selectbox(key="fc_category").select(category))
        options = at.selectbox(key="fc_sku").options[1:]
        codes = set(oracle("SELECT sku FROM products WHERE merchant_id = $m AND category = $c", m=MERCHANT,
                           c=category)["sku"].to_list())
        assert options and {o.split(" · ")[0] for o in options} <= codes
    rerun(at.button(key="fc_category_back").click())
    every = download(at, deferred, "fc_skus_csv")
    index = forecast_data.read_index(saved_model(forecast_env, MERCHANT).payload)
    assert set(every["product_id"].to_list()) == set(index.skus["product_id"].to_list())
    assert set(every["product_id"].to_list()) <= set(ours["product_id"].to_list())
    assert every.height == index.skus.height * 28
    shown = download(at, deferred, "fc_csv")
    expected = payload_series(forecast_env, MERCHANT, "total", "total", "units", 28)
    assert shown["forecast_units"].to_list() == pytest.approx(expected["mean"].to_list())


# ---------------------------------------------------------------------------------------------- words


def check_for_people(at: AppTest, where: str) -> None:
    for d in at.dataframe:
        columns = list(d.value.columns)
        assert not tables.unknown_columns(columns, forecast_data.FORECAST_COLUMNS), where
        config = json.loads(d.proto.columns or "{}")
        labels = [config.get(c, {}).get("label") for c in columns]
        assert all(labels) and not tables.snake_case_labels(labels), f"{where}: {labels}"
        assert not d.value.astype(str).isin(["None", "null", "nan", "NaN"]).any().any(), where
    for t in at.table:
        cells = [str(v) for v in t.value.to_numpy().ravel()] + list(map(str, t.value.columns))
        assert not [c for c in cells if c in ("None", "null", "nan") or tables.snake_case_labels([c])], where
    for spec in map(lambda c: json.loads(c.proto.spec), at.get("plotly_chart")):
        names = [d.get("name") for d in spec["data"] if d.get("name")]
        assert not tables.snake_case_labels(names + [spec["layout"]["title"]["text"]]), where
        assert "null" not in json.dumps([d.get("y") for d in spec["data"]]), where
    texts = [x.value for x in (*at.markdown, *at.caption, *at.info, *at.warning)]
    texts += [w.label for w in (*at.selectbox, *at.radio, *at.slider, *at.button, *at.download_button)]
    assert not [t for t in texts if "null" in t.split() or "None" in t.split()], where


def test_page_reads_as_words_everywhere(forecast_env):
    at = open_forecast("analyst", fc_merchant=1)
    at.session_state["fc_table"] = True
    check_for_people(rerun(at), "total")
    category = at.selectbox(key="fc_category").options[1]
    check_for_people(rerun(at.selectbox(key="fc_category").select(category)), "category")
    index = forecast_data.read_index(saved_model(forecast_env, 1).payload)
    sku = forecast_data.category_skus(index, category)[0]
    check_for_people(rerun(at.selectbox(key="fc_sku").select(sku)), "sku")
    at.radio(key="fc_measure").set_value("revenue")
    check_for_people(rerun(at), "category revenue")
    check_for_people(rerun(at.radio(key="fc_view").set_value("stores")), "stores")


# ---------------------------------------------------------------------------------------------- no model yet


def data_version(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def no_models(fixture_warehouse_path, tmp_path, monkeypatch):
    path = tmp_path / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    monkeypatch.setenv("RETAIL_PULSE_WAREHOUSE", str(path))
    monkeypatch.setenv("RETAIL_PULSE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("RETAIL_PULSE_MODEL_KEY", "empty-model-key-" + "k" * 32)
    clear_caches()
    yield types.SimpleNamespace(root=tmp_path, data_version=data_version(fixture_warehouse_path))
    clear_caches()


def test_without_a_model_and_without_training_the_page_says_so(no_models, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_TRAIN_IN_APP", "off")
    at = open_forecast("merchant")
    body = " ".join(i.value for i in at.info)
    assert "No forecast is saved for" in body and "python -m models train" in body
    assert not at.get("plotly_chart") and not at.download_button and not at.get("progress")


def test_without_a_model_training_is_queued_and_its_progress_shown(no_models, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_TRAIN_IN_APP", "on")
    release, asked = threading.Event(), []
    queue = blocking_queue(no_models.root / "models", release, asked)
    monkeypatch.setattr(models_ui, "training_queue", lambda: queue)
    try:
        at = open_forecast("merchant")
        job = queue.status(KIND, MERCHANT)
        assert job is not None and job.active and job.data_version == no_models.data_version
        progress = at.get("progress")
        assert progress and "Training the first model in the background" in progress[0].proto.text
        assert any("being trained in the background" in i.value for i in at.info)
        assert not at.get("plotly_chart")
    finally:
        release.set()
        queue.wait(30)
    assert [a[:2] for a in asked] == [(KIND, MERCHANT)]  # one job, for the merchant's own forecast
    assert queue.status(KIND, MERCHANT).version == "not-saved"


# ---------------------------------------------------------------------------------------------- hostile names


@pytest.fixture(scope="module")
def hostile_forecast(fixture_warehouse_path, tmp_path_factory):
    """A warehouse whose names are links, markup and formulas, with merchant 2's forecast trained on it."""
    import ibis

    from models import registry
    from tests.test_hostile_names import make_hostile

    tmp = tmp_path_factory.mktemp("hostile_forecast")
    path = tmp / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    make_hostile(path)
    key = "hostile-model-key-" + "k" * 32
    store = ModelStore(tmp / "models", key=key.encode())
    con = duckdb.connect(str(path), read_only=True)
    try:
        version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
        registry.load_families()
        registry.train(KIND, lambda: ibis.duckdb.from_connection(con.cursor()), MERCHANT, version, store)
    finally:
        con.close()
    env = {"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_MODELS_DIR": str(tmp / "models"),
           "RETAIL_PULSE_MODEL_KEY": key, "RETAIL_PULSE_TRAIN_IN_APP": "off"}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    clear_caches()
    yield env
    clear_caches()
    for k, value in before.items():
        if value is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = value


def test_hostile_names_show_as_text(hostile_forecast):
    from tests.test_hostile_names import EVIL, assert_plain, hostile_option

    at = open_forecast("merchant")
    assert_plain(at, "total")
    category = hostile_option(at.selectbox(key="fc_category").options)
    assert EVIL in category
    rerun(at.selectbox(key="fc_category").select(category))
    texts = assert_plain(at, "category")
    assert f"**{markdown_text(category)}**" in "".join(texts)  # the breadcrumb shows it, verbatim
    assert plotly_text(category) in main_chart(at)["layout"]["title"]["text"]
    index = forecast_data.read_index(saved_model(hostile_forecast, MERCHANT).payload)
    sku = forecast_data.category_skus(index, category)[0]
    rerun(at.selectbox(key="fc_sku").select(sku))
    assert_plain(at, "sku")
    assert EVIL in main_chart(at)["layout"]["title"]["text"]  # the SKU's code, escaped (assert_plain)
    rerun(at.radio(key="fc_view").set_value("stores"))
    assert_plain(at, "stores")
    store = forecast_data.keys(index, "store")[0]
    rerun(at.selectbox(key="fc_store").select(store))
    assert EVIL in main_chart(at)["layout"]["title"]["text"]
    assert_plain(at, "store")


def blocking_queue(root: Path, release: threading.Event, asked: list, fail: bool = False) -> TrainingQueue:
    def train(kind, backend_factory, merchant_id, data_version, store, progress):
        asked.append((kind, merchant_id, data_version))
        progress(0.4, "Backtesting SKU models")
        release.wait(30)
        if fail:
            raise ValueError("this merchant has no product sales yet: nothing to forecast")
        return types.SimpleNamespace(version="not-saved")

    return TrainingQueue(ModelStore(root, key=b"k" * 40), lambda: None, train=train)


def test_a_stale_model_stays_on_screen_while_a_new_one_trains(fixture_warehouse_path, trained_models, tmp_path,
                                                             monkeypatch):
    path = tmp_path / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    newer = data_version(path) + 1
    con = duckdb.connect(str(path))  # as an import would: the data version moves past the models'
    con.execute("UPDATE main.meta SET value = ? WHERE key = 'data_version'", [str(newer)])
    con.close()
    env = {"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_TRAIN_IN_APP": "on", **trained_models}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clear_caches()
    release, asked = threading.Event(), []
    queue = blocking_queue(tmp_path / "models", release, asked)
    monkeypatch.setattr(models_ui, "training_queue", lambda: queue)
    try:
        at = open_forecast("merchant")
        job = queue.status(KIND, MERCHANT)
        assert job is not None and job.active and job.data_version == newer
        text = at.get("progress")[0].proto.text
        assert "Training a new version of this model" in text and "last good model meanwhile" in text
        # The last good model is what shows, with its numbers.
        assert_shows(at, payload_series(trained_models, MERCHANT, "total", "total", "units", 28))
        card = next(t.value for t in at.table if "About" in t.value.columns and "Version" in list(t.value["About"]))
        assert "older than the warehouse" in dict(zip(card["About"], card["Value"]))["Data version"]
    finally:
        release.set()
        queue.wait(30)
        clear_caches()


def test_failed_first_training_is_said_in_words(no_models, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_TRAIN_IN_APP", "on")
    release, asked = threading.Event(), []
    queue = blocking_queue(no_models.root / "models", release, asked, fail=True)
    monkeypatch.setattr(models_ui, "training_queue", lambda: queue)
    release.set()
    queue.submit(KIND, MERCHANT, no_models.data_version)
    queue.wait(30)
    at = open_forecast("merchant")
    assert any("no product sales yet" in w.value for w in at.warning)
    assert any("training failed" in i.value for i in at.info)
    assert not at.get("plotly_chart") and not at.get("progress")


def test_a_naive_forecast_is_labelled_as_such(fixture_warehouse_path, trained_models, tmp_path, monkeypatch):
    """A shop with too little history gets naive forecasts (demand.NAIVE_LABEL on every row, no backtest): the
    page says so beside the chart instead of backtest figures."""
    saved = saved_model(trained_models, MERCHANT)
    parts = outputs.read_payload(saved.payload)
    naive = demand.Forecasts(
        forecast=parts["forecast"].with_columns(pl.lit(demand.NAIVE_LABEL).alias("model")),
        skus=parts["skus"].with_columns(pl.lit(demand.NAIVE_LABEL).alias("model"), pl.lit("short").alias("pattern")),
        shares=parts["shares"], lost=parts["lost"], metrics={"total": {}, "category": {}, "store": {}, "sku": {},
                                                             "origins": 0, "horizon_days": 0})
    store = ModelStore(tmp_path / "models", key=b"naive-model-key-" + b"k" * 32)
    store.save(KIND, MERCHANT, outputs.to_payload(naive), {**saved.meta, "metrics": naive.metrics})
    path = tmp_path / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    env = {"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_TRAIN_IN_APP": "off",
           "RETAIL_PULSE_MODELS_DIR": str(tmp_path / "models"), "RETAIL_PULSE_MODEL_KEY": "naive-model-key-" + "k" * 32}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clear_caches()
    try:
        at = open_forecast("merchant")
        assert any(w.value.startswith("Naive forecast: too little history") for w in at.warning)
        assert trust_rows(at)["Backtest"] == "none: too little history to test a model"
        category = at.selectbox(key="fc_category").options[1]
        rerun(at.selectbox(key="fc_category").select(category))
        assert trust_rows(at)["Model"].startswith("Naive forecast: too little history")
        assert_shows(at, naive.forecast.filter((pl.col("level") == "category") & (pl.col("key") == category)
                                               & (pl.col("measure") == "units")).sort("day").head(28))
    finally:
        clear_caches()
