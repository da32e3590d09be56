"""The Baskets page under AppTest, for every role, on a copy of the fixture warehouse whose product names,
SKUs and merchant names are hostile (``<a href>``, ``=HYPERLINK(``, markdown, bare URLs; tests.test_hostile_names).

``basket_rules`` models of every merchant are trained through the model layer into a copy of the session's
models folder (which holds the demand forecasts, so the bundles' run-out rule uses the stock-out risk too).
Checked: each allowed role sees the four sections and the model card, refused roles see nothing; a merchant
sees only their own products and customers (and cannot pick another merchant through the session state);
names stay plain text on screen and in the CSV and Excel downloads; every table heading is registered.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import duckdb
import ibis
import openpyxl
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import cache, tables
from dashboard.auth.accounts import Principal
from dashboard.navigation import ROLES, pages_for
from models import registry
from models.artifacts import ModelStore
from tests.test_pages_apptest import deferred, ok  # noqa: F401 (deferred: a fixture)
from tests.test_pages_apptest import open_page as shared_open_page
from tests.test_hostile_names import EVIL, FORBIDDEN, make_hostile, markdown_texts, outside_code

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
MERCHANT = 2
ALLOWED = [r for r in ROLES if "baskets" in [p.key for p in pages_for(r)]]
PRINCIPALS = {
    "merchant": Principal("shop2", "Nina", "merchant", frozenset({MERCHANT})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def served(fixture_warehouse_path, trained_models, tmp_path_factory):
    """(warehouse path, {merchant: set of its SKUs}, {merchant: set of its customer references})."""
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY", "RETAIL_PULSE_STATE_URL")
    before = {k: os.environ.get(k) for k in names}
    folder = tmp_path_factory.mktemp("baskets_page")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    make_hostile(path)
    con = duckdb.connect(str(path))
    try:  # the planted bundles' products (always in the rules) get a script tag in their names as well
        con.execute(f"UPDATE main.products SET name = '{SCRIPT} ' || name WHERE product_id IN "
                    "(SELECT product_id FROM truth.bundles)")
    finally:
        con.close()
    models = folder / "models"
    shutil.copytree(trained_models["RETAIL_PULSE_MODELS_DIR"], models)
    key = trained_models["RETAIL_PULSE_MODEL_KEY"]
    store = ModelStore(models, key=key.encode())
    con = duckdb.connect(str(path), read_only=True)
    try:
        version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
        merchants = [r[0] for r in con.execute("SELECT merchant_id FROM main.merchants ORDER BY 1").fetchall()]
        registry.load_families()
        for m in merchants:
            registry.train("basket_rules", lambda: ibis.duckdb.from_connection(con.cursor()), m, version, store)
        skus = {m: {r[0] for r in con.execute("SELECT sku FROM main.products WHERE merchant_id = ?", [m]).fetchall()}
                for m in merchants}
        refs = {m: {r[0] for r in con.execute("SELECT external_id FROM main.customers WHERE merchant_id = ?",
                                             [m]).fetchall()} for m in merchants}
    finally:
        con.close()
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_MODELS_DIR": str(models),
                       "RETAIL_PULSE_MODEL_KEY": key, "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 's.sqlite'}"})
    st.cache_data.clear()
    st.cache_resource.clear()
    cache.engine.clear()
    yield path, skus, refs
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    st.cache_data.clear()
    st.cache_resource.clear()


def open_page(role: str, **state) -> AppTest:
    return ok(shared_open_page(PRINCIPALS[role], "baskets", **state))


def frames(at: AppTest) -> dict[str, pl.DataFrame]:
    """The page's tables, keyed by their first column's name (each section's first column differs)."""
    out = {}
    for d in at.dataframe:
        frame = pl.from_pandas(d.value)
        out[frame.columns[0]] = frame
    return out


def shown_skus(at: AppTest) -> set[str]:
    found = frames(at)
    skus = set()
    for name in ("sku",):
        for frame in found.values():
            if name in frame.columns:
                skus |= {s for s in frame[name].to_list() if s}
    return skus


@pytest.mark.parametrize("role", ALLOWED)
def test_every_allowed_role_sees_rules_together_suggestions_and_bundles(served, role):
    at = open_page(role)
    assert at.title[0].value == "Baskets"
    assert [t.label for t in at.tabs] == ["Rules", "Bought together", "Suggestions for a customer", "Bundles"]
    found = frames(at)
    assert {"if_products", "sku", "rank", "day"} <= set(found), sorted(found)
    rules = found["if_products"]
    assert rules.height and {"support", "confidence", "lift", "baskets"} <= set(rules.columns)
    assert rules["lift"].to_list() == sorted(rules["lift"].to_list(), reverse=True)
    for d in at.dataframe:  # headings in words, registered; no empty cell shown as None
        columns = list(d.value.columns)
        assert not tables.unknown_columns(columns, tables.BASKET_COLUMNS), columns
        labels = [json.loads(d.proto.columns or "{}").get(c, {}).get("label") for c in columns]
        assert all(labels) and not tables.snake_case_labels(labels), labels
        assert not d.value.isna().any().any()
        assert not d.value.astype(str).isin(["None", "null", "nan", "NaN"]).any().any()
    assert any(e.label.startswith("Model card") for e in at.expander)
    pickers = [s for s in at.selectbox if s.key == "bk_merchant"]
    assert (len(pickers[0].options) if pickers else 1) == (1 if role == "merchant" else 3)


@pytest.mark.parametrize("role", [r for r in ROLES if r not in ALLOWED])
def test_other_roles_are_refused(served, role):
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[role]
    at.session_state["harness_page"] = "baskets"
    at.run(timeout=COLD)
    assert not any(t.value == "Baskets" for t in at.title)  # the role's own first page opened instead
    assert not [w for w in at.selectbox if str(w.key).startswith("bk_")]
    assert "if_products" not in frames(at)


def test_a_merchant_sees_only_their_own_products_and_customers(served):
    path, skus, refs = served
    at = open_page("merchant", bk_merchant=1)  # another merchant's id in the state is dropped, not used
    assert not [s for s in at.selectbox if s.key == "bk_merchant"]
    shown = shown_skus(at)
    assert shown and shown <= skus[MERCHANT]
    rules = frames(at)["if_products"]
    # Cells are "SKU · name + SKU · name"; no hostile value holds " + " or " · ".
    named = {part.split(" · ")[0] for cell in rules["if_products"].to_list() + rules["then_products"].to_list()
             for part in cell.split(" + ")}
    assert named and named <= skus[MERCHANT]
    customers = at.selectbox(key="bk_customer").options
    assert customers and all(any(str(r) in o for r in refs[MERCHANT]) for o in customers)
    products = at.selectbox(key="bk_product").options
    assert products and all(o.split(" · ")[0] in skus[MERCHANT] for o in products)


def test_staff_switch_merchants_and_see_that_merchants_products(served):
    path, skus, _ = served
    at = open_page("analyst")
    at.selectbox(key="bk_merchant").set_value(3).run(timeout=COLD)
    assert not at.exception
    shown = shown_skus(at)
    assert shown and shown <= skus[3]


def test_hostile_names_stay_plain_text_on_screen_and_in_downloads(served, deferred):
    at = open_page("admin")
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in (*FORBIDDEN, "<script"))]
    assert not bad, bad[:3]
    rules = frames(at)["if_products"]
    assert any(EVIL in t for t in rules["if_products"].to_list())  # names shown, as the text they are
    assert any("HYPERLINK" in t for t in rules["if_products"].to_list() + rules["then_products"].to_list())
    assert any(SCRIPT in t for t in rules["if_products"].to_list())
    for key in ("bk_rules", "bk_bundles"):
        buttons = [b for b in at.get("download_button") if b.proto.id and key in str(b.proto)]
        assert buttons, key
        csv_file = deferred[at.download_button(key=f"{key}_csv").proto.deferred_file_id]()
        frame = pl.read_csv(io.BytesIO(csv_file), infer_schema_length=0)
        cells = [v for col in frame.columns for v in frame[col].to_list() if isinstance(v, str)]
        assert any(EVIL in c for c in cells) and any(SCRIPT in c for c in cells)
        assert not [c for c in cells if c.startswith(FORMULA_START) and not c.lstrip("-").replace(".", "").isdigit()]
        book = openpyxl.load_workbook(io.BytesIO(deferred[at.download_button(key=f"{key}_xlsx").proto.deferred_file_id]()))
        cells = [c for row in book.active.iter_rows() for c in row]
        assert any(isinstance(c.value, str) and EVIL in c.value for c in cells)
        assert all(c.data_type != "f" for c in cells)  # text cells, never formulas
