"""The Overview's lost-sales card and its drill-down, against the saved demand models' own lost frames.

The oracle reads each merchant's saved model straight from the models folder (``ModelStore.load``), sums its
``load_lost_sales`` frame over the period with polars, and gets the products from plain SQL; the page reads the
same models through ``dashboard.models_ui`` and its caches. Pages run through tests/apps/page_harness.py.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics.filters import Filters
from dashboard import lost_sales, tables
from dashboard.auth.accounts import Principal
from dashboard.formatting import format_change, format_money
from dashboard.plain_text import markdown_text
from dashboard.widgets import compact_figure
from models.artifacts import ModelStore
from models.forecasting.censoring import compute_lost_sales
from models.forecasting.outputs import load_lost_sales

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
LABEL = "Revenue lost to stock-outs"
MERCHANT = 2
MERCHANT_USER = Principal("nordlicht", "Nordlicht", "merchant", frozenset({MERCHANT}))
STAFF = Principal("ana", "Ana", "analyst", None)
EVIL = '<a href="https://evil.example/">Sale</a> **bold** `tick`'
ENV_KEYS = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY")


@pytest.fixture(scope="module", autouse=True)
def restore_environment():
    before = {k: os.environ.get(k) for k in ENV_KEYS}
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def serve(warehouse: Path, models: dict[str, str]) -> None:
    """Point the dashboard at ``warehouse`` and the models folder; drop every cached engine, store and result."""
    os.environ["RETAIL_PULSE_WAREHOUSE"] = str(warehouse)
    for key in ("RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY"):
        if key in models:
            os.environ[key] = models[key]
        else:
            os.environ.pop(key, None)
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def served_copy(fixture_warehouse_path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lost") / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    return path


@pytest.fixture
def with_models(served_copy, trained_models) -> dict[str, str]:
    serve(served_copy, trained_models)
    return trained_models


@pytest.fixture(scope="module")
def sql(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)

    def run(body: str, **params) -> pl.DataFrame:
        cur = con.cursor()
        try:
            return pl.from_arrow(cur.sql(body, params=params or None).to_arrow_table())
        finally:
            cur.close()

    yield run
    con.close()


def saved_lost(models: dict[str, str], merchant: int) -> pl.DataFrame:
    store = ModelStore(models["RETAIL_PULSE_MODELS_DIR"], key=models["RETAIL_PULSE_MODEL_KEY"].encode())
    return load_lost_sales(store.load("demand_forecast", merchant).payload)


def period(sql, merchant: int, days: int = 30) -> tuple[dt.date, dt.date]:
    last = sql("SELECT max(order_ts)::DATE AS d FROM orders WHERE merchant_id = $m", m=merchant).item()
    return last - dt.timedelta(days=days - 1), last


def in_period(lost: pl.DataFrame, start: dt.date, end: dt.date, categories=()) -> pl.DataFrame:
    d = lost.filter((pl.col("day") >= start) & (pl.col("day") <= end))
    return d.filter(pl.col("category").is_in(list(categories))) if categories else d


def open_page(principal: Principal, **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = principal
    at.session_state["harness_page"] = "overview"
    for key, value in state.items():
        at.session_state[key] = value
    return ok(at.run(timeout=COLD))


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def card(at: AppTest):
    found = [m for m in at.metric if m.label == LABEL]
    assert len(found) == 1
    return found[0]


def shown_money(value: float, currency: str) -> str:
    return compact_figure(format_money(value, currency))[0]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def products_table(at: AppTest) -> pl.DataFrame:
    found = [d.value for d in at.dataframe if "stockout_days" in d.value.columns]
    assert len(found) == 1
    return pl.from_pandas(found[0])


# ---------------------------------------------------------------------------------------------- the card


def test_card_equals_the_saved_lost_frame_over_the_period(with_models, sql):
    start, end = period(sql, MERCHANT)
    lost = saved_lost(with_models, MERCHANT)
    now = in_period(lost, start, end)
    prev = in_period(lost, start - dt.timedelta(days=30), start - dt.timedelta(days=1))
    assert now.height > 0 and prev.height > 0  # the fixture has stock-outs in both periods
    at = open_page(MERCHANT_USER)
    currency = sql("SELECT currency FROM merchants WHERE merchant_id = $m", m=MERCHANT).item()
    revenue, before = float(now["lost_revenue"].sum()), float(prev["lost_revenue"].sum())
    metric = card(at)
    assert metric.value == shown_money(revenue, currency)
    assert metric.proto.delta == format_change("money", revenue - before, (revenue - before) / before)
    note = f"About {now['lost_units'].sum():,.0f} units on {now.height:,} days out of stock, " \
           f"{now['product_id'].n_unique():,} products"
    assert any(c.startswith(note) for c in captions(at)), captions(at)
    assert "category filter applies; the region, store, channel and payment filters do not" in metric.proto.help
    assert len(at.metric) == 12  # the eleven KPI cards and this one


def test_category_filter_applies(with_models, sql):
    start, end = period(sql, MERCHANT)
    now = in_period(saved_lost(with_models, MERCHANT), start, end)
    category = now.group_by("category").agg(pl.len()).sort("len", "category")["category"][0]  # not the top one
    at = open_page(MERCHANT_USER)
    ok(at.multiselect(key="flt_categories").select(category).run(timeout=COLD))
    currency = sql("SELECT currency FROM merchants WHERE merchant_id = $m", m=MERCHANT).item()
    want = in_period(now, start, end, [category])
    assert 0 < want.height < now.height
    assert card(at).value == shown_money(float(want["lost_revenue"].sum()), currency)
    ok(at.toggle(key=lost_sales.TOGGLE_KEY).set_value(True).run(timeout=COLD))
    assert set(products_table(at)["category"]) == {category}


def test_staff_see_the_chosen_currency_only(with_models, sql):
    merchant = 3  # alone in its currency in the fixture
    currency = sql("SELECT currency FROM merchants WHERE merchant_id = $m", m=merchant).item()
    at = open_page(STAFF)
    ok(at.selectbox(key="currency_pick").select(currency).run(timeout=COLD))
    start, end = period(sql, merchant)
    want = in_period(saved_lost(with_models, merchant), start, end)
    assert card(at).value == shown_money(float(want["lost_revenue"].sum()), currency)


# ---------------------------------------------------------------------------------------------- drill-down


def test_drill_down_lists_compute_lost_sales_rows_with_names(with_models, sql):
    start, end = period(sql, MERCHANT)
    at = open_page(MERCHANT_USER)
    assert not [d for d in at.dataframe if "stockout_days" in d.value.columns]  # closed: nothing read
    ok(at.toggle(key=lost_sales.TOGGLE_KEY).set_value(True).run(timeout=COLD))
    got = products_table(at)
    want = compute_lost_sales(saved_lost(with_models, MERCHANT), start, end)
    assert got["product_id"].to_list() == want["product_id"].to_list()  # same rows, largest first
    assert got["stockout_days"].to_list() == want["stockout_days"].to_list()
    assert got["lost_units"].to_list() == pytest.approx(want["lost_units"].to_list())
    assert got["lost_revenue"].to_list() == pytest.approx(want["lost_revenue"].to_list())
    assert got["category"].to_list() == want["category"].to_list()
    names = sql("SELECT product_id, sku, name AS product_name, merchant_id FROM products")
    joined = got.select("product_id", "sku", "product_name").join(names, on="product_id", how="left")
    assert joined["sku"].to_list() == joined["sku_right"].to_list()
    assert joined["product_name"].to_list() == joined["product_name_right"].to_list()
    # A merchant sees only their products, in the table and its download.
    assert set(joined["merchant_id"]) == {MERCHANT}
    assert not tables.unknown_columns(got.columns)  # every heading in words, with its unit (dashboard.tables)
    csv = [b for b in at.download_button if b.key == "ov_lost_products_table_csv"]
    assert csv and str(got.height) in csv[0].label


# ---------------------------------------------------------------------------------------------- honest pages


def test_no_model_shows_a_calm_line(served_copy, tmp_path):
    serve(served_copy, {"RETAIL_PULSE_MODELS_DIR": str(tmp_path / "no-models"),
                        "RETAIL_PULSE_MODEL_KEY": "k" * 40})
    at = open_page(MERCHANT_USER)
    assert lost_sales.NO_MODEL in captions(at)
    assert not [m for m in at.metric if m.label == LABEL] and len(at.metric) == 11
    assert not at.toggle  # no drill-down without figures
    texts = [*captions(at), *(i.value for i in at.info), *(m.value for m in at.markdown)]
    assert not [t for t in texts if "null" in t.lower() or "None" in t or "Traceback" in t]


def test_hostile_product_names_are_shown_as_text(trained_models, served_copy, sql, tmp_path):
    start, end = period(sql, MERCHANT)
    top = compute_lost_sales(saved_lost(trained_models, MERCHANT), start, end)["product_id"][0]
    path = tmp_path / "hostile.duckdb"
    shutil.copy(served_copy, path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE products SET name = $n, sku = $n WHERE product_id = $p", {"n": EVIL, "p": top})
    con.close()
    serve(path, trained_models)
    at = open_page(MERCHANT_USER, **{lost_sales.TOGGLE_KEY: True})
    got = products_table(at)
    row = got.filter(pl.col("product_id") == top)
    assert row["product_name"].to_list() == [EVIL] and row["sku"].to_list() == [EVIL]  # verbatim, in the grid
    assert not [c for c in captions(at) if "evil.example" in c and markdown_text(EVIL) not in c]


# ---------------------------------------------------------------------------------------------- pure


def _merchant(merchant: int, rows: list[tuple], window=(dt.date(2026, 1, 1), dt.date(2026, 1, 31))):
    frame = pl.DataFrame(rows, schema={"product_id": pl.Int64, "category": pl.Utf8, "day": pl.Date,
                                       "censored": pl.Boolean, "lost_units": pl.Float64, "lost_revenue": pl.Float64},
                         orient="row")
    return lost_sales.MerchantLost(merchant, None, frame, window)


def test_totals_add_merchants_of_one_currency_and_say_when_the_model_stops():
    d = dt.date
    a = _merchant(1, [(10, "Toys", d(2026, 1, 20), True, 2.0, 20.0), (10, "Toys", d(2026, 1, 10), True, 1.0, 10.0)])
    b = _merchant(2, [(20, "Shoes", d(2026, 1, 21), True, 3.0, 45.0)], window=(d(2026, 1, 1), d(2026, 1, 25)))
    none = lost_sales.MerchantLost(3, None, None, None)
    f = Filters(d(2026, 1, 16), d(2026, 1, 30))
    t = lost_sales.compute_lost_totals([a, b, none], f)
    assert (t.units, t.revenue, t.products, t.stockout_days) == (5.0, 65.0, 2, 2)
    assert t.as_of == d(2026, 1, 25)  # merchant 2's model ends before the period does
    assert t.previous_revenue is None  # so no comparison
    covered = lost_sales.compute_lost_totals([a], Filters(d(2026, 1, 16), d(2026, 1, 30)))
    assert covered.previous_revenue == 10.0 and covered.as_of is None
    shoes = Filters(d(2026, 1, 16), d(2026, 1, 30), categories=("Shoes",))
    assert lost_sales.compute_lost_totals([a], shoes).revenue == 0
    assert lost_sales.compute_lost_totals([none], f) is None
    labels = pl.DataFrame({"product_id": [10, 20], "sku": ["T-1", "S-1"], "product_name": ["Kite", None]})
    rows = lost_sales.compute_lost_products([a, b], f, labels)
    assert rows.columns == ["product_id", "sku", "product_name", "category", "stockout_days", "lost_units",
                            "lost_revenue"]
    assert rows["product_id"].to_list() == [20, 10]
