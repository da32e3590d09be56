"""The Stock-out risk page under AppTest, checked against an independent call of the risk engine.

The page runs through tests/apps/page_harness.py with saved demand forecasts (the session fixture
``trained_models``) and an operational store of its own (a SQLite file in the test's folder). The oracle
loads the same saved model outside the dashboard and calls ``compute_stockout_risk`` itself; actions are
read back through the store and its audit log; downloads are fetched by calling the callable Streamlit
registered for the button (what a click does) and parsed back with polars and openpyxl.
"""

from __future__ import annotations

import io
import os
import shutil
import time
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
from data.access import DataAccess, Scope
from models.artifacts import ModelStore
from models.forecasting.outputs import compute_location_demand
from tests.test_pages_apptest import deferred, ok  # noqa: F401 (deferred: a fixture)
from tests.test_pages_apptest import open_page as shared_open_page
from tests.test_hostile_names import EVIL, FORBIDDEN, make_hostile, markdown_texts, outside_code

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
MERCHANT = 2
DEFAULT_MIN = 0.10  # the page's default "chance of a stock-out at least"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PRINCIPALS = {
    "merchant": Principal("nordlicht", "Nordlicht", "merchant", frozenset({MERCHANT})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}


# ---------------------------------------------------------------------------------------------- plumbing


@pytest.fixture(scope="module")
def environment():
    """Restore the variables and caches this module changes."""
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY",
             "RETAIL_PULSE_STATE_URL", "RETAIL_PULSE_CREDENTIALS")
    before = {k: os.environ.get(k) for k in names}
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    st.cache_data.clear()
    st.cache_resource.clear()


def serve(path: Path, models_env: dict[str, str], folder: Path) -> None:
    """Point the dashboard at ``path`` with the models of ``models_env`` and a store and users in ``folder``."""
    from dashboard.auth import accounts

    creds = folder / "credentials.yaml"
    if not creds.exists():
        accounts.add_user("ops2", "ops2-password-1", "operations", None, path=creds, rounds=4, name="Olga")
        accounts.add_user("shop1", "shop1-password-1", "merchant", [1], path=creds, rounds=4, name="Other shop")
        accounts.add_user("shop2", "shop2-password-1", "merchant", [MERCHANT], path=creds, rounds=4, name="Nina")
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_CREDENTIALS": str(creds),
                       "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 'state.sqlite'}", **models_env})
    st.cache_data.clear()
    st.cache_resource.clear()
    cache.engine.clear()


@pytest.fixture(scope="module")
def served(environment, fixture_warehouse_path, trained_models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stockout_page")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    serve(path, trained_models, folder)
    return folder


@pytest.fixture
def app(served) -> Path:
    if os.environ.get("RETAIL_PULSE_STATE_URL") != f"sqlite:///{served / 'state.sqlite'}":
        serve(served / "served.duckdb", {k: os.environ[k] for k in ("RETAIL_PULSE_MODELS_DIR",
                                                                    "RETAIL_PULSE_MODEL_KEY")}, served)
    return served


@pytest.fixture(scope="module")
def engine_risk(fixture_warehouse_path, trained_models):
    """merchant id, service level -> compute_stockout_risk called outside the dashboard on the saved model."""
    from models.stockout.risk import compute_stockout_risk

    store = ModelStore(trained_models["RETAIL_PULSE_MODELS_DIR"], key=trained_models["RETAIL_PULSE_MODEL_KEY"].encode())
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    memo: dict = {}

    def risk(merchant: int, service_level: float = 0.95) -> pl.DataFrame:
        if (merchant, service_level) not in memo:
            saved = store.latest_usable("demand_forecast", merchant)
            access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([merchant]))
            demand = compute_location_demand(saved.payload, days=90)
            memo[merchant, service_level] = compute_stockout_risk(access, demand, service_level=service_level).sort(
                "revenue_at_risk", descending=True, maintain_order=True)
        return memo[merchant, service_level]

    yield risk
    con.close()


def open_page(role: str, **state) -> AppTest:
    return ok(shared_open_page(PRINCIPALS[role], "stockout", **state))


def run(at: AppTest) -> AppTest:
    return ok(at.run(timeout=COLD))


def alert_list(at: AppTest) -> pl.DataFrame:
    found = [d.value for d in at.dataframe if "stockout_probability" in d.value.columns]
    assert len(found) == 1
    return pl.from_pandas(found[0])


def listed(frame: pl.DataFrame) -> list[tuple]:
    return list(zip(frame["sku"].to_list(), frame["location"].to_list()))


def download(at: AppTest, deferred: dict, key: str) -> bytes:
    button = at.download_button(key=key)
    assert not button.disabled
    return deferred[button.proto.deferred_file_id]()


def states_in_store(folder: Path, who: str, merchants) -> dict:
    from data.store import Principal as StorePrincipal, open_store

    store = open_store(f"sqlite:///{folder / 'state.sqlite'}")
    try:
        return store.alerts.states(StorePrincipal.merchants(who, merchants))
    finally:
        store.close()


def audit_entries(folder: Path, merchant: int, entity: str) -> list:
    from data.store import Principal as StorePrincipal, open_store

    store = open_store(f"sqlite:///{folder / 'state.sqlite'}")
    try:
        return store.audit.entries(StorePrincipal.staff("test"), merchant_ids=[merchant], entity=entity)
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", [r for r in ROLES if "stockout" in [p.key for p in pages_for(r)]])
def test_every_allowed_role_sees_the_alert_list(app, role):
    at = open_page(role)
    assert at.title[0].value == "Stock-out risk"
    frame = alert_list(at)
    assert frame.height > 0
    assert [m.label for m in at.metric] == ["SKUs at risk", "Revenue at risk", "Stock-outs expected"]
    offered = at.selectbox(key="so_assignee").options
    assert any("(ops2)" in o for o in offered) == (role != "merchant")  # staff accounts are listed to staff only


def test_fraud_reviewer_is_refused(app):
    assert "stockout" not in [p.key for p in pages_for("fraud_reviewer")]
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "stockout.py"))
    from dashboard.context import PageContext, publish  # noqa: F401 - the context a page would get

    at.session_state["rp_page_context"] = PageContext(PRINCIPALS["fraud_reviewer"], (1, 2, 3), None, 1, None)
    at.run(timeout=COLD)
    assert [e.value for e in at.error] == ["You do not have access to Stock-out risk."]
    assert not at.dataframe


# ---------------------------------------------------------------------------------------------- the list


def test_list_equals_the_engine_sorted_by_revenue_at_risk(app, engine_risk):
    at = open_page("merchant")
    expected = engine_risk(MERCHANT).filter(pl.col("stockout_probability") >= DEFAULT_MIN)
    shown = alert_list(at)
    assert listed(shown) == listed(expected.head(500))
    assert shown["revenue_at_risk"].to_list() == pytest.approx(expected.head(500)["revenue_at_risk"].to_list())
    assert shown["revenue_at_risk"].to_list() == sorted(shown["revenue_at_risk"].to_list(), reverse=True)
    run(at.slider(key="so_min_prob").set_value(0))
    everything = engine_risk(MERCHANT)
    assert listed(alert_list(at)) == listed(everything.head(500))
    # KPI line over the listed alerts, in the merchant's currency
    currency = everything["currency"][0]
    revenue = at.metric[1].value
    assert revenue.startswith(currency + " ")
    assert float(at.metric[2].value.replace(",", "")) == pytest.approx(everything["stockout_probability"].sum(), abs=0.05)
    assert int(at.metric[0].value.replace(",", "")) == everything["product_id"].n_unique()


def test_filters_narrow_the_list(app, engine_risk):
    risk = engine_risk(MERCHANT)
    at = open_page("merchant")
    run(at.slider(key="so_min_prob").set_value(30))
    expected = risk.filter(pl.col("stockout_probability") >= 0.30)
    assert listed(alert_list(at)) == listed(expected.head(500))
    category = expected["category"].mode().sort()[0]
    run(at.multiselect(key="so_category").select(category))
    expected = expected.filter(pl.col("category") == category)
    assert listed(alert_list(at)) == listed(expected.head(500))
    at.multiselect(key="so_category").unselect(category)
    run(at.slider(key="so_min_prob").set_value(0))
    abc = "A"
    run(at.multiselect(key="so_abc").select(abc))
    expected = risk.filter(pl.col("abc_class") == abc)
    assert listed(alert_list(at)) == listed(expected.head(500))
    store_id = expected["store_id"][0]
    run(at.multiselect(key="so_location").select(store_id))
    expected = expected.filter(pl.col("store_id") == store_id)
    assert listed(alert_list(at)) == listed(expected.head(500))
    at.multiselect(key="so_abc").unselect(abc)
    run(at.multiselect(key="so_location").unselect(store_id))
    sku = risk["sku"][len(risk) // 2]
    run(at.text_input(key="so_search").input(sku.lower()))
    expected = risk.filter(pl.col("sku").str.to_lowercase().str.contains(sku.lower(), literal=True)
                           | pl.col("product").str.to_lowercase().str.contains(sku.lower(), literal=True))
    assert sku in alert_list(at)["sku"].to_list()
    assert listed(alert_list(at)) == listed(expected.head(500))


def test_headings_are_words_with_units_and_no_null(app):
    at = open_page("operations", so_min_prob=0)
    for frame in at.dataframe:
        columns = list(frame.value.columns)
        assert not tables.unknown_columns(columns, tables.STOCKOUT_COLUMNS), columns
        labels = [tables.label_for(c, "EUR", tables.STOCKOUT_COLUMNS) for c in columns]
        assert not tables.snake_case_labels(labels)
        cells = {str(v) for col in frame.value.columns for v in frame.value[col].tolist() if isinstance(v, str)}
        assert not {"null", "None", "nan", "NaT"} & cells
    money = [tables.label_for("revenue_at_risk", "EUR", tables.STOCKOUT_COLUMNS)]
    assert money == ["Revenue at risk (EUR)"]
    texts = " ".join(markdown_texts(at))
    assert "null" not in texts and " None" not in texts


# ---------------------------------------------------------------------------------------------- actions


def test_acknowledge_assign_snooze_go_to_the_store_and_change_the_status(app, engine_risk):
    at = open_page("merchant", so_min_prob=0)
    first = alert_list(at)
    picked = at.selectbox(key="so_pick").value
    merchant, key = picked.split("|", 1)
    assert int(merchant) == MERCHANT
    assert first["sku"][0] in at.selectbox(key="so_pick").format_func(picked)

    run(at.button(key="so_ack").click())
    state = states_in_store(app, "nordlicht", [MERCHANT])[MERCHANT, key]
    assert state.acknowledged_by == "nordlicht"
    everything = engine_risk(MERCHANT)
    rest = everything.filter(~((pl.col("merchant_id") == MERCHANT) & (pl.col("alert_key") == key)))
    assert rest.height == everything.height - 1
    assert listed(alert_list(at)) == listed(rest.head(500))  # "open" no longer lists it
    assert at.selectbox(key="so_pick").value == picked  # the alert acted on stays open below
    run(at.selectbox(key="so_status").set_value("acknowledged"))
    ack = alert_list(at)
    assert ack.height == 1 and ack["status_text"][0] == "Acknowledged by nordlicht"

    at.selectbox(key="so_assignee").set_value("shop2")
    run(at.button(key="so_assign").click())
    assert states_in_store(app, "nordlicht", [MERCHANT])[MERCHANT, key].assignee == "shop2"
    offered = at.selectbox(key="so_assignee").options
    assert any("(shop2)" in o for o in offered)
    assert not any("(shop1)" in o or "(ops2)" in o for o in offered)  # no other merchant's user, no staff account
    assert alert_list(at)["assignee"][0] == "shop2"
    at.selectbox(key="so_assignee").set_value("nordlicht")
    run(at.button(key="so_assign").click())
    run(at.selectbox(key="so_status").set_value("mine"))
    assert alert_list(at)["sku"].to_list() == [ack["sku"][0]]

    run(at.button(key="so_snooze").click())
    state = states_in_store(app, "nordlicht", [MERCHANT])[MERCHANT, key]
    assert state.snoozed_until is not None
    run(at.selectbox(key="so_status").set_value("snoozed"))
    snoozed = alert_list(at)
    assert snoozed.height == 1 and snoozed["status_text"][0].startswith("Snoozed until ")

    note = '<a href="https://evil.example">called</a> =1+1'
    at.text_input(key="so_comment").input(note)
    run(at.button(key="so_comment_add").click())
    history = [pl.from_pandas(d.value) for d in at.dataframe if "action_text" in d.value.columns][0]
    assert history["action_text"][0] == f"comment: {note}"  # newest first, verbatim, in a grid (plain text)
    assert history["actor"].to_list() == ["nordlicht"] * 5

    actions = [e.action for e in audit_entries(app, MERCHANT, "alert:stockout") if e.entity_id == key]
    assert actions == ["acknowledge", "assign", "assign", "snooze", "comment"]
    # another merchant's user sees nothing of it
    assert not states_in_store(app, "shop1", [1])


def test_service_level_is_stored_per_merchant_and_drives_the_list(app, engine_risk):
    at = open_page("merchant", so_min_prob=0, so_status="all")
    at.number_input(key=f"so_level_{MERCHANT}").set_value(80.0)
    run(at.button(key="so_level_save").click())
    entries = audit_entries(app, MERCHANT, "stockout_settings")
    assert entries[-1].after["body"] == {"service_level": 0.8}
    expected = engine_risk(MERCHANT, 0.8)
    shown = alert_list(at)
    assert listed(shown) == listed(expected.head(500))
    assert shown["reorder_point"].to_list() == pytest.approx(expected.head(500)["reorder_point"].to_list())
    assert "80.0%" in at.expander[0].label
    at.number_input(key=f"so_level_{MERCHANT}").set_value(95.0)
    run(at.button(key="so_level_save").click())


def test_a_filter_change_does_not_recompute_the_risk(app, monkeypatch):
    import models.stockout.risk as risk_module

    open_page("operations")  # warm
    calls = []
    original = risk_module.compute_stockout_risk
    monkeypatch.setattr(risk_module, "compute_stockout_risk", lambda *a, **k: calls.append(1) or original(*a, **k))
    at = open_page("operations")
    started = time.perf_counter()
    run(at.slider(key="so_min_prob").set_value(50))
    warm = time.perf_counter() - started
    run(at.selectbox(key="so_status").set_value("all"))
    assert calls == []
    print(f"stock-out page, filter change (warm): {warm:.2f} s")


# ---------------------------------------------------------------------------------------------- exports


def test_exports_hold_only_the_merchants_skus_and_no_formula(app, engine_risk, deferred, fixture_warehouse_path):
    at = open_page("merchant", so_min_prob=0, so_status="all")
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        own = {r[0] for r in con.execute("SELECT sku FROM products WHERE merchant_id = ?", [MERCHANT]).fetchall()}
        others = {r[0] for r in con.execute("SELECT sku FROM products WHERE merchant_id <> ?", [MERCHANT]).fetchall()}
    finally:
        con.close()
    risk = engine_risk(MERCHANT)
    lines = risk.filter(pl.col("order_quantity").ceil() > 0)
    currency = risk["currency"][0]
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "so_po_csv")), infer_schema_length=None)
    assert csv.columns == ["SKU", "Product", "Location", "Quantity (units)", f"Unit price ({currency})",
                           f"Expected value ({currency})", "Reason"]
    assert csv.height == lines.height
    assert set(csv["SKU"].to_list()) <= own and not set(csv["SKU"].to_list()) & (others - own)
    assert csv["Quantity (units)"].to_list() == lines["order_quantity"].ceil().cast(pl.Int64).to_list()
    book = openpyxl.load_workbook(io.BytesIO(download(at, deferred, "so_po_xlsx")))
    rows = list(book.active.iter_rows(values_only=True))
    assert list(rows[0]) == csv.columns
    assert [r[0] for r in rows[1:]] == csv["SKU"].to_list()
    for row in rows[1:]:
        assert not any(isinstance(v, str) and v.startswith(FORMULA_START) for v in row)
    assert all(cell.data_type != "f" for row in book.active.iter_rows() for cell in row)


def test_a_saved_draft_purchase_order_is_in_the_store_with_an_audit_entry(app, engine_risk):
    at = open_page("merchant", so_min_prob=0, so_status="all")
    run(at.button(key="so_draft_save").click())
    entries = [e for e in audit_entries(app, MERCHANT, "purchase_order") if e.actor == "nordlicht"]
    assert entries and entries[-1].action == "create"
    lines = entries[-1].after["body"]["lines"]
    expected = engine_risk(MERCHANT).filter(pl.col("order_quantity").ceil() > 0)
    assert [(x["product_id"], x["store_id"]) for x in lines] == list(
        zip(expected["product_id"].to_list(), expected["store_id"].to_list()))


# ---------------------------------------------------------------------------------------------- edge cases


def test_without_a_model_the_page_says_so(environment, fixture_warehouse_path, tmp_path):
    path = tmp_path / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    serve(path, {"RETAIL_PULSE_MODELS_DIR": str(tmp_path / "no-models"), "RETAIL_PULSE_MODEL_KEY": "x" * 40},
          tmp_path)
    at = open_page("merchant")
    assert any("No demand forecast yet" in i.value and "python -m models train" in i.value for i in at.info)
    assert not at.dataframe


def test_hostile_names_come_out_as_text(environment, fixture_warehouse_path, trained_models, tmp_path, deferred):
    path = tmp_path / "hostile.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    make_hostile(path)  # names only: the data version and the saved models still fit
    serve(path, trained_models, tmp_path)
    at = open_page("operations", so_min_prob=0)
    frame = alert_list(at)
    assert any(EVIL in p for p in frame["product"].to_list())
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, bad[:3]
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "so_po_csv")), infer_schema_length=None)
    text_columns = [c for c, t in csv.schema.items() if t == pl.Utf8]
    for column in text_columns:
        assert not any(v.startswith(FORMULA_START) for v in csv[column].drop_nulls().to_list()), column
    assert any(v.startswith("'=HYPERLINK") for c in ("SKU", "Product") for v in csv[c].to_list())


# ---------------------------------------------------------------------------------------------- pure parts


def test_purchase_order_in_several_currencies_names_each_and_adds_none():
    from dashboard import po_export

    alerts = pl.DataFrame({
        "merchant_id": [1, 2, 2], "product_id": [10, 20, 21], "store_id": [1, 2, 2],
        "sku": ["=1+1", "B", "C"], "product": ["@cmd", "Bee", "Sea"], "location": ["L1", "L2", "L2"],
        "order_quantity": [2.2, 0.0, 3.0], "unit_price": [1.5, 2.0, 4.0], "currency": ["EUR", "GBP", "GBP"],
        "reason": ["-x", "r", "r"]})
    po = po_export.build_purchase_order(alerts, {1: "One", 2: "Two"})
    assert po.columns == ["Merchant", "SKU", "Product", "Location", "Quantity (units)", "Unit price",
                          "Expected value", "Currency", "Reason"]
    assert po.rows() == [("One", "'=1+1", "'@cmd", "L1", 3, 1.5, 4.5, "EUR", "'-x"),
                         ("Two", "C", "Sea", "L2", 3, 4.0, 12.0, "GBP", "r")]
    assert po_export.store_lines(alerts) == {1: [{"product_id": 10, "store_id": 1, "quantity": 3, "sku": "=1+1"}],
                                            2: [{"product_id": 21, "store_id": 2, "quantity": 3, "sku": "C"}]}


def test_service_level_outside_the_range_is_refused():
    from dashboard.stockout_data import check_settings
    from data.store.errors import InvalidValue

    assert check_settings({"service_level": 0.9}) == {"service_level": 0.9}
    for bad in (0.5, 1.0, True, "0.9", None):
        with pytest.raises(InvalidValue):
            check_settings({"service_level": bad})


def test_several_merchants_computed_two_at_a_time_equal_the_engine_one_by_one(app, engine_risk, trained_models):
    # A staff view over several merchants computes their risks on two threads (stockout_data.risks): each frame
    # must be that merchant's own, in the order asked, equal to the engine called alone.
    from dashboard import stockout_data

    store = ModelStore(trained_models["RETAIL_PULSE_MODELS_DIR"], key=trained_models["RETAIL_PULSE_MODEL_KEY"].encode())
    merchants = [1, 2, 3]
    asked = [(store.latest_usable("demand_forecast", m), 0.95 if m != 2 else 0.9) for m in merchants]
    st.cache_resource.clear()  # computed now, on the threads, not read back from an earlier test
    frames = stockout_data.risks(asked, cache.current_data_version())
    assert len(frames) == len(merchants)
    for m, (_, level), got in zip(merchants, asked, frames):
        assert set(got["merchant_id"].to_list()) == {m}
        want = engine_risk(m, level)
        got = got.sort("revenue_at_risk", descending=True, maintain_order=True)
        assert listed(got) == listed(want)
        assert got["reorder_point"].to_list() == pytest.approx(want["reorder_point"].to_list())
        assert got["stockout_probability"].to_list() == pytest.approx(want["stockout_probability"].to_list())
