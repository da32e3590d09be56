"""The Customers page under AppTest for every role that may open it, checked against ``analytics.rfm`` called
outside the dashboard: every tab opens without an exception and reads in words; a merchant sees only their own
customers (segments, movement, target list and its files); staff pick a merchant; hostile customer references
(``=cmd``, ``<b>``, a link) stay plain text on screen and inert in the CSV and Excel files.

The page runs through tests/apps/page_harness.py on a copy of the fixture warehouse whose customers of one
merchant carry hostile references; downloads are fetched by calling what Streamlit registered for the button.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
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

from analytics import rfm, segments
from dashboard import tables
from dashboard.auth.accounts import Principal
from dashboard.navigation import ROLES, pages_for
from data.access import DataAccess, Scope
from tests.test_pages_apptest import deferred, ok  # noqa: F401 (deferred: a fixture)
from tests.test_pages_apptest import open_page as shared_open_page
from tests.test_hostile_names import FORBIDDEN, markdown_texts, outside_code

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
MERCHANT, OTHER = 2, 1
TABS = ("Segments", "Movement", "Clusters", "Customer", "Target list", "Predicted value")
FORMULA = "=cmd|' /C calc'!A0"
MARKUP = "<b>bold</b> https://evil.example/x"
PRINCIPALS = {
    "merchant": Principal("nordlicht", "Nordlicht", "merchant", frozenset({MERCHANT})),
    "other_merchant": Principal("wren", "Wren", "merchant", frozenset({OTHER})),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "admin": Principal("adm", "Adm", "admin", None),
}
ROLES_ALLOWED = [r for r in ROLES if "customers" in [p.key for p in pages_for(r)]]


@pytest.fixture(scope="module")
def served(fixture_warehouse_path, tmp_path_factory):
    """A fixture-warehouse copy with hostile references on merchant 2's two best customers, served to the
    harness; environment and caches restored afterwards."""
    folder = tmp_path_factory.mktemp("customers_page")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    con = duckdb.connect(str(path))
    try:
        last = con.execute("SELECT CAST(max(order_ts) AS DATE) FROM main.orders WHERE merchant_id = ?",
                           [MERCHANT]).fetchall()[0][0]
        best = rfm.compute_rfm(DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted()),
                               MERCHANT, last).sort("monetary", descending=True)["customer_id"].head(2).to_list()
        for customer, ref in zip(best, (FORMULA, MARKUP)):
            con.execute("UPDATE main.customers SET external_id = ? WHERE customer_id = ?", [ref, customer])
    finally:
        con.close()
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY", "RETAIL_PULSE_STATE_URL")
    before = {k: os.environ.get(k) for k in names}
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_MODELS_DIR": str(folder / "models"),
                       "RETAIL_PULSE_MODEL_KEY": "customers-page-test-key-0123456789",
                       "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 'state.sqlite'}"})
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def oracle(served, fixture_warehouse_path):
    """merchant id -> (as-of date, compute_rfm frame), computed outside the dashboard (on the fixture warehouse
    the served copy was made from: the same orders, only references differ; the served file is the page's)."""
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    memo = {}

    def get(merchant: int, as_of: dt.date | None = None):
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
        if as_of is None:
            as_of = con.execute("SELECT CAST(max(order_ts) AS DATE) FROM main.orders WHERE merchant_id = ?",
                                [merchant]).fetchall()[0][0]
        if (merchant, as_of) not in memo:
            memo[merchant, as_of] = rfm.compute_rfm(access, merchant, as_of)
        return as_of, memo[merchant, as_of]

    yield get
    con.close()


def open_page(who: str, **state) -> AppTest:
    return ok(shared_open_page(PRINCIPALS[who], "customers", **state))


def frame_with(at: AppTest, column: str) -> pl.DataFrame:
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with {column}"
    return pl.from_pandas(found[0])


def download(at: AppTest, deferred: dict, key: str) -> bytes:
    button = at.download_button(key=key)
    assert not button.disabled
    return deferred[button.proto.deferred_file_id]()


def check_for_people(at: AppTest, where: str) -> None:
    """Headings in words (the column registry), no "None"/"null" shown, data never read as markup."""
    for d in at.dataframe:
        columns = list(d.value.columns)
        assert not tables.unknown_columns(columns, tables.CUSTOMER_COLUMNS), (where, columns)
        config = json.loads(d.proto.columns or "{}")
        labels = [config.get(c, {}).get("label") for c in columns]
        assert all(labels) and not tables.snake_case_labels(labels), f"{where}: {labels}"
        assert not d.value.astype(str).isin(["None", "null", "nan", "NaN"]).any().any(), where
    for t in at.table:
        cells = [str(v) for v in t.value.to_numpy().ravel()] + list(map(str, t.value.columns))
        assert not [c for c in cells if c in ("None", "null", "nan") or tables.snake_case_labels([c])], where
    for spec in (json.loads(c.proto.spec) for c in at.get("plotly_chart")):
        names = [d.get("name") for d in spec["data"] if d.get("name")]
        assert not tables.snake_case_labels(names + [spec["layout"]["title"]["text"]]), where
        text = json.dumps(spec["data"]) + json.dumps(spec["layout"]["title"])
        assert "<b>" not in text and "<a" not in text, where
    texts = [x.value for x in (*at.markdown, *at.caption, *at.info, *at.warning, *at.subheader, *at.title)]
    texts += [w.label for w in (*at.selectbox, *at.multiselect, *at.button, *at.download_button, *at.date_input)]
    assert not [t for t in texts if "null" in t.split() or "None" in t.split() or tables.snake_case_labels([t])], where
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, f"{where}: data read as markdown: {bad[:3]}"


# ---------------------------------------------------------------------------------------------- every role, every tab


@pytest.mark.parametrize("role", ROLES_ALLOWED)
def test_every_tab_opens_and_reads_in_words(served, role):
    for tab in TABS:
        at = open_page(role, cu_tab=tab)
        assert at.title[0].value == "Customers"
        check_for_people(at, f"{role} {tab}")


def test_remembered_dates_out_of_range_fall_back_to_the_defaults(served, oracle):
    as_of, _ = oracle(MERCHANT)
    at = open_page("analyst", cu_merchant=MERCHANT, cu_tab="Movement", cu_as_of=dt.date(1990, 1, 1),
                   cu_from=as_of + dt.timedelta(days=400))
    assert at.date_input(key="cu_as_of").value == as_of
    assert at.date_input(key="cu_from").value == as_of - dt.timedelta(days=91)


def test_roles_without_the_page_are_refused(served):
    for role in ROLES:
        if role in ROLES_ALLOWED:
            continue
        at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "customers.py"))
        from dashboard.context import PageContext

        at.session_state["rp_page_context"] = PageContext(Principal("x", "X", role, None), (1, 2, 3), None, 1, None)
        at.run(timeout=COLD)
        assert [e.value for e in at.error] == ["You do not have access to Customers."]
        assert not at.dataframe


# ---------------------------------------------------------------------------------------------- figures and scope


def test_segments_equal_the_engine(served, oracle):
    as_of, expected = oracle(MERCHANT)
    at = open_page("merchant")
    assert "cu_merchant" not in [s.key for s in at.selectbox]  # one shop: nothing to pick
    shown = frame_with(at, "customer_share")
    summary = rfm.summarise_segments(expected)
    assert shown["segment"].to_list() == list(segments.SEGMENT_ORDER)
    assert shown["customers"].to_list() == summary["customers"].to_list()
    assert shown["customers"].sum() == expected.height
    assert shown["revenue"].to_list() == pytest.approx(summary["revenue"].to_list())


def test_movement_equals_the_engine(served, oracle):
    as_of, after = oracle(MERCHANT)
    start = as_of - dt.timedelta(days=91)
    _, before = oracle(MERCHANT, start)
    at = open_page("merchant", cu_tab="Movement")
    shown = frame_with(at, "from_segment")
    expected = rfm.compute_movement(before, after)
    assert shown.to_dicts() == expected.to_dicts()
    assert shown["customers"].sum() == after.height
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and json.loads(charts[0].proto.spec)["data"][0]["type"] == "sankey"


def test_target_list_files_hold_only_the_merchants_customers(served, oracle, deferred):
    _, mine = oracle(MERCHANT)
    _, theirs = oracle(OTHER)
    at = open_page("merchant", cu_tab="Target list", cu_targets=list(segments.SEGMENT_ORDER))
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "cu_targets_csv")), infer_schema_length=0)
    ids = {int(v) for v in csv["Customer"].to_list()}
    assert ids == set(mine["customer_id"].to_list())
    assert not ids & set(theirs["customer_id"].to_list())
    book = openpyxl.load_workbook(io.BytesIO(download(at, deferred, "cu_targets_xlsx")))
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert "Customer" in header and "Customer reference" in header and not tables.snake_case_labels(header)
    col = header.index("Customer")
    assert {int(r[col]) for r in sheet.iter_rows(min_row=2, values_only=True)} == ids
    # One segment: exactly its customers.
    at = open_page("merchant", cu_tab="Target list", cu_targets=["Champions"])
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "cu_targets_csv")), infer_schema_length=0)
    champions = set(mine.filter(pl.col("segment") == "Champions")["customer_id"].to_list())
    assert {int(v) for v in csv["Customer"].to_list()} == champions


def test_a_merchant_cannot_pick_another_merchant(served, oracle):
    _, theirs = oracle(OTHER)
    at = open_page("merchant", cu_merchant=OTHER, cu_tab="Target list", cu_targets=list(segments.SEGMENT_ORDER))
    assert "cu_merchant" not in [s.key for s in at.selectbox]
    listed = set(frame_with(at, "customer_ref")["customer_id"].to_list())
    assert listed and not listed & set(theirs["customer_id"].to_list())


def test_staff_pick_a_merchant(served, oracle, deferred):
    _, theirs = oracle(OTHER)
    at = open_page("analyst", cu_merchant=OTHER, cu_tab="Target list", cu_targets=list(segments.SEGMENT_ORDER))
    assert at.selectbox(key="cu_merchant").value == OTHER
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "cu_targets_csv")), infer_schema_length=0)
    assert {int(v) for v in csv["Customer"].to_list()} == set(theirs["customer_id"].to_list())


# ---------------------------------------------------------------------------------------------- hostile references


def test_hostile_references_stay_plain_text(served, oracle, deferred):
    at = open_page("merchant", cu_tab="Customer")
    options = at.selectbox(key="cu_customer").options
    assert any(MARKUP in o for o in options) and any(FORMULA in o for o in options)
    for ref in (MARKUP, FORMULA):
        at = open_page("merchant", cu_tab="Customer", cu_find=ref)
        check_for_people(at, f"drill-down {ref}")
        title = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]
        assert "&lt;b&gt;" in title if ref == MARKUP else FORMULA in title
        assert frame_with(at, "order_ref").height > 0
        assert frame_with(at, "as_of")["segment"].to_list()[-1] in segments.SEGMENT_ORDER
    at = open_page("merchant", cu_tab="Customer", cu_find="<i>nobody</i>")
    assert any("`<i>nobody</i>`" in i.value for i in at.info)
    at = open_page("merchant", cu_tab="Target list", cu_targets=list(segments.SEGMENT_ORDER))
    shown = frame_with(at, "customer_ref")["customer_ref"].to_list()
    assert MARKUP in shown and FORMULA in shown  # the grid shows the text as it is
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "cu_targets_csv")), infer_schema_length=0)
    refs = csv["Customer reference"].to_list()
    assert "'" + FORMULA in refs and MARKUP in refs and FORMULA not in refs
    book = openpyxl.load_workbook(io.BytesIO(download(at, deferred, "cu_targets_xlsx")))
    cells = [c for row in book.active.iter_rows(min_row=2) for c in row if c.value == FORMULA]
    assert cells and all(c.data_type == "s" for c in cells)  # text, not a formula


def test_predicted_value_waits_for_the_model(served):
    at = open_page("admin", cu_tab="Predicted value")
    if importlib.util.find_spec("dashboard.customer_value_panels") is None:
        assert [i.value for i in at.info] == ["Predicted value appears once the customer value model is trained."]
    at = open_page("merchant", cu_tab="Customer")  # no model saved in this test's model store
    assert "Predicted value appears once the customer value model is trained." in [i.value for i in at.info]


def test_predicted_value_of_a_customer_from_the_model_contract(served, oracle, monkeypatch,
                                                               fixture_warehouse_path):
    """With a saved customer value model, the drill-down shows that customer's row of ``load_scores`` (the
    contract of models.customers.outputs), in words with the currency; stubbed here so the page side is tested
    whether or not the model family has landed."""
    from dashboard import customer_panels, models_ui

    as_of, table = oracle(MERCHANT)
    best = table.sort(["monetary", "customer_id"], descending=[True, False])["customer_id"][0]
    scores = pl.DataFrame({"customer_id": [best], "churn_90": [0.25], "repeat_90": [0.6], "expected_orders_90": [1.5],
                           **{f"clv_{d}{s}": [float(d) + (-1 if s == "_low" else 1 if s == "_high" else 0)]
                              for d in (90, 180, 365) for s in ("", "_low", "_high")}})

    class Saved:
        kind, merchant_id, version, payload = "customer_value", MERCHANT, "v1", b"stub"

    outputs = type("Outputs", (), {"load_scores": staticmethod(lambda payload: scores)})
    monkeypatch.setattr(customer_panels, "_value_model", lambda merchant_id, version: (Saved(), outputs))
    monkeypatch.setattr(models_ui, "read_payload", lambda saved, name, *args: models_ui._READERS[name](saved.payload))
    at = open_page("merchant", cu_tab="Customer")
    assert at.selectbox(key="cu_customer").value == best
    facts = {row["Prediction"]: row["Value"] for row in at.table[-1].value.to_dict("records")}
    assert facts["Chance of leaving within 90 days"] == "25%"
    assert facts["Expected orders in 90 days"] == "1.5"
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    currency = con.execute("SELECT currency FROM main.merchants WHERE merchant_id = ?", [MERCHANT]).fetchall()[0][0]
    con.close()
    expected = f"{currency} 180.00 (between {currency} 179.00 and {currency} 181.00)"
    assert facts["Value over the next 180 days"] == expected


def test_clusters_equal_the_engine(served, oracle):
    _, table = oracle(MERCHANT)
    expected = segments.compute_clusters(table)
    at = open_page("merchant", cu_tab="Clusters")
    shown = frame_with(at, "top_segment")
    assert shown["cluster"].to_list() == list(range(1, expected.k + 1))
    assert shown["customers"].to_list() == expected.summary["customers"].to_list()
    assert shown["description"].to_list() == expected.summary["description"].to_list()
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["type"] == "heatmap" and sum(map(sum, heat["z"])) == table.height


def test_a_customer_picked_for_one_merchant_does_not_leak_into_another(served, oracle):
    _, mine = oracle(MERCHANT)
    _, theirs = oracle(OTHER)
    foreign = theirs["customer_id"][0]
    at = open_page("analyst", cu_merchant=MERCHANT, cu_tab="Customer", cu_customer=foreign)
    assert at.selectbox(key="cu_customer").value in set(mine["customer_id"].to_list())
    at = open_page("merchant", cu_tab="Customer", cu_find=str(foreign))  # typing another merchant's number
    assert any("No customer of" in i.value for i in at.info) and not at.get("plotly_chart")
