"""The Campaign simulator page under AppTest, for every role: opens without an exception for merchants, analysts
and admins (others are refused), reads in words, a merchant only ever sees their own merchant (choices, past
promotions, saved scenarios, target list), an uploaded list reports unknown references, the result equals the
simulation called outside the dashboard, scenarios save and compare, and names and notes with markup stay plain
text on screen and inert in the exports. Runs on a copy of the fixture warehouse through tests/apps/page_harness.py.
"""

from __future__ import annotations

import io
import os
import shutil

import duckdb
import openpyxl
import polars as pl
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard import downloads, tables
from dashboard.auth.accounts import Principal
from dashboard.campaign_columns import CAMPAIGN_COLUMNS
from dashboard.navigation import ROLES, pages_for
from data.store import Principal as StorePrincipal
from data.store import open_store
from data.store.campaign_scenarios import Scenarios
from tests.test_customers_page import HARNESS
from tests.test_hostile_names import FORBIDDEN, markdown_texts, outside_code

COLD = 120
MERCHANT, OTHER = 2, 1
HOSTILE = "<b>=HYPERLINK(\"https://evil.example\")</b> [x](https://evil.example)"
FORMULA = "=cmd|' /C calc'!A0"
PRINCIPALS = {
    "merchant": Principal("nordlicht", "Nordlicht", "merchant", frozenset({MERCHANT})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}
ALLOWED = {r for r in ROLES if "campaigns" in [p.key for p in pages_for(r)]}


@pytest.fixture(scope="module")
def served(fixture_warehouse_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaign_page")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    con = duckdb.connect(str(path))
    try:  # one customer of merchant 2 gets a formula as its reference
        customer = con.execute("SELECT min(customer_id) FROM main.customers WHERE merchant_id = ?",
                               [MERCHANT]).fetchone()[0]
        con.execute("UPDATE main.customers SET external_id = ? WHERE customer_id = ?", [FORMULA, customer])
        refs = [r[0] for r in con.execute("SELECT external_id FROM main.customers WHERE merchant_id = ? AND "
                                          "external_id IS NOT NULL ORDER BY customer_id DESC LIMIT 3", [MERCHANT]).fetchall()]
        theirs = con.execute("SELECT external_id FROM main.customers WHERE merchant_id = ? AND external_id IS NOT NULL "
                             "LIMIT 1", [OTHER]).fetchone()[0]
    finally:
        con.close()
    state_url = f"sqlite:///{folder / 'state.sqlite'}"
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY", "RETAIL_PULSE_STATE_URL",
             "RETAIL_PULSE_TRAIN_IN_APP")
    before = {k: os.environ.get(k) for k in names}
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_MODELS_DIR": str(folder / "models"),
                       "RETAIL_PULSE_MODEL_KEY": "campaign-page-test-key-0123456789",
                       "RETAIL_PULSE_STATE_URL": state_url, "RETAIL_PULSE_TRAIN_IN_APP": "off"})
    store = open_store(state_url)
    Scenarios(store).save(StorePrincipal.staff("other-analyst"), OTHER, "Other shop's secret plan",
                          {"audience": {"label": "x"}, "offer": {}, "response": {}, "result": {}, "design": {}},
                          request_id="other-1")
    store.close()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield {"path": path, "refs": refs, "theirs": theirs, "state_url": state_url}
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def deferred(monkeypatch) -> dict:
    seen: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        seen[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return seen


def open_page(who: str, **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[who]
    at.session_state["harness_page"] = "campaigns"
    for key, value in state.items():
        at.session_state[key] = value
    at.run(timeout=COLD)
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown_text(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
                    + [w.value for w in at.warning] + [e.value for e in at.error])


def download(at: AppTest, deferred: dict, key: str) -> bytes:
    button = at.download_button(key=key)
    return deferred[button.proto.deferred_file_id]()


@pytest.mark.parametrize("role", ROLES)
def test_every_role(served, role):
    at = open_page(role)
    if role not in ALLOWED:
        # Navigation never lists the page for this role: another page opens instead.
        assert "Campaign simulator" not in [t.value for t in at.title]
        return
    assert [t.value for t in at.title] == ["Campaign simulator"]
    text = shown_text(at)
    assert "Chance of losing money" in [m.label for m in at.metric]
    assert "Break-even response rate" in text or "No response rate makes this campaign pay" in text
    assert "No demand forecast is saved" in text  # no model in this folder: said, not guessed
    for frame in at.dataframe:  # every heading has words in the registry (the comparison's are scenario names)
        if "Figure" not in frame.value.columns:
            assert not tables.unknown_columns(frame.value.columns, CAMPAIGN_COLUMNS), list(frame.value.columns)
    assert "null" not in text and "None" not in text


@pytest.fixture(scope="module")
def oracle(served, fixture_warehouse_path):
    """A read-only connection to the warehouse the served copy was made from (same orders and customers; the
    served file itself is held by the page's engine)."""
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield con
    con.close()


def test_merchant_sees_only_their_own(served, deferred, oracle):
    at = open_page("merchant")
    assert not [s for s in at.selectbox if s.label == "Merchant"]  # one shop: no merchant picker
    assert "Other shop's secret plan" not in str([m.options for m in at.multiselect])
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "cp_target_csv")), infer_schema_length=0)
    mine = {r[0] for r in oracle.execute("SELECT customer_id FROM main.customers WHERE merchant_id = ?",
                                         [MERCHANT]).fetchall()}
    assert csv.height and {int(x) for x in csv["customer_id"]} <= mine
    assert set(csv["holdout"].unique()) <= {"true", "false"}


def test_result_equals_the_simulation_outside_the_dashboard(served, oracle):
    from analytics.campaigns import audience as aud
    from analytics.campaigns import design, history, simulation, uplift
    from data.access import DataAccess, Scope
    import ibis

    at = open_page("analyst", cp_source="Entered by hand", cp_low=1.1, cp_high=1.4)
    merchant = at.session_state["cu_merchant"] if "cu_merchant" in at.session_state else None
    from analytics import rfm

    con = oracle
    mid = merchant or con.execute("SELECT min(merchant_id) FROM main.merchants").fetchone()[0]
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
    as_of = con.execute("SELECT CAST(max(order_ts) AS DATE) FROM main.orders WHERE merchant_id = ?",
                        [mid]).fetchone()[0]
    table = rfm.compute_rfm(access, mid, as_of)
    top = table.group_by("segment").len().sort(["len", "segment"], descending=[True, False])["segment"][0]
    frame = table.filter(pl.col("segment") == top).select("customer_id", pl.col("segment").alias("stratum"))
    activity = history.load_activity(access, mid, as_of, 365)
    offer = simulation.Offer("discount", 15.0, (), (), "Email", 0.01, 500.0, 14)
    flagged = design.assign_holdout(frame, 0.1, 7)
    stats = aud.build_stats(aud.without(frame, flagged), activity, days=14, lookback_days=365)
    sim = simulation.simulate(stats, offer, uplift.manual_prior(1.1, 1.4), draws=10_000, seed=7)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Chance of losing money"] == f"{sim.loss_probability:.0%}"


def test_upload_reports_unknown_references(served, oracle):
    refs = served["refs"]
    content = ("external_id\n" + "\n".join(refs[:2]) + "\nno-such-customer\n" + served["theirs"] + "\n").encode()
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS["merchant"]
    at.session_state["harness_page"] = "campaigns"
    at.session_state["cp_audience_kind"] = "Uploaded list"
    at.run(timeout=COLD)
    uploader = [u for u in at.get("file_uploader") if u.proto.label.startswith("List of customer references")]
    assert uploader, "no uploader"
    # AppTest cannot upload; the page's parsing and matching are the functions below, run as the page would.
    from analytics.campaigns import audience as aud
    parsed = aud.parse_references(content)
    import ibis
    from analytics.campaigns import history
    from data.access import DataAccess, Scope
    access = DataAccess(ibis.duckdb.from_connection(oracle.cursor()), Scope.merchants([MERCHANT]))
    matched, unknown = aud.match_references(parsed, history.load_external_ids(access, MERCHANT, parsed.values))
    assert matched.height == 2
    # The other merchant's customer is unknown here, reported with its line like a made-up one.
    assert unknown.select("line", "reference").rows() == [(4, "no-such-customer"), (5, served["theirs"])]


def test_scenarios_save_compare_export_as_plain_text(served, deferred):
    at = open_page("merchant", cp_source="Entered by hand")
    at.text_input(key="cp_name").set_value(HOSTILE)
    at.text_area(key="cp_note").set_value(FORMULA)
    at.button(key="cp_save").click()
    at.run(timeout=COLD)
    assert not at.exception
    assert any("Saved as revision" in s.value for s in at.success)
    compare = [d.value for d in at.dataframe if "Figure" in d.value.columns]
    assert compare and HOSTILE in compare[0].columns
    for text in markdown_texts(at):
        assert not any(bad in outside_code(text) for bad in FORBIDDEN), text
    csv = download(at, deferred, "cp_scen_csv").decode()
    assert "'" + FORMULA in csv and "\n=cmd" not in csv and ",=cmd" not in csv
    book = openpyxl.load_workbook(io.BytesIO(download(at, deferred, "cp_scen_xlsx")))
    cells = [c for row in book.active.iter_rows() for c in row if c.value == FORMULA or c.value == HOSTILE]
    assert cells and all(c.data_type == "s" for c in cells)  # text, not a formula
    store = open_store(served["state_url"])
    try:
        mine = Scenarios(store).list(StorePrincipal.merchants("nordlicht", [MERCHANT]), MERCHANT)
        assert [s.name for s in mine] == [HOSTILE] and mine[0].author == "nordlicht"
    finally:
        store.close()


def test_comparison_keeps_every_scenario_whatever_its_name(served):
    """A scenario named like the comparison's label column ("Figure") broke the page for everyone opening that
    merchant (duplicate column); one named "measure" replaced the figures' names. Formula names stay inert in
    the CSV's heading row too."""
    import datetime as dt

    from data.store.campaign_scenarios import Scenario
    from dashboard.campaign_saved import compare_frame, inert_headings

    body = {"audience": {"label": "x"}, "offer": {"currency": "GBP"}, "response": {}, "result": {}, "design": {}}
    names = ["Figure", "measure", FORMULA, "'" + FORMULA, "Plain"]
    frame = compare_frame([Scenario(str(i), 1, MERCHANT, n, None, body, "me", dt.datetime(2026, 1, 1, 9, i))
                           for i, n in enumerate(names)])
    assert frame.width == 1 + len(names) and frame["Figure"][0] == "Audience"
    assert frame.columns[1].startswith("Figure (") and frame.columns[2] == "measure"
    csv = downloads.csv_bytes(inert_headings(frame)).decode()
    heading = next(iter(csv.splitlines()))
    assert ",=" not in heading and ",\"=" not in heading and "'" + FORMULA in heading
    assert pl.read_csv(io.StringIO(csv)).width == frame.width
    at = open_page("analyst")  # a saved "Figure" scenario: the page still opens and compares it
    store = open_store(served["state_url"])
    try:
        Scenarios(store).save(StorePrincipal.staff("ana"), at.session_state["cu_merchant"] if "cu_merchant" in
                              at.session_state else 1, "Figure", body, request_id="figure-1")
    finally:
        store.close()
    at = open_page("analyst")
    assert any("Figure (" in c for d in at.dataframe for c in d.value.columns)


def test_churn_band_audience_is_the_value_models_customers(served, oracle, deferred, monkeypatch):
    """With a saved customer value model, the churn-risk band targets exactly the merchant's customers whose
    churn_90 falls in it (scores of the model contract, ``models.customers.outputs.load_scores``, stubbed)."""
    from dashboard import campaign_data, models_ui

    ids = [r[0] for r in oracle.execute("SELECT customer_id FROM main.customers WHERE merchant_id = ? ORDER BY 1",
                                        [MERCHANT]).fetchall()]
    scores = pl.DataFrame({"customer_id": ids, "churn_90": [0.7 if i % 3 == 0 else 0.1 for i in ids],
                           "clv_180": [float(i % 7) for i in ids]})
    high = {i for i in ids if i % 3 == 0}

    class Saved:
        kind, merchant_id, version, payload = "customer_value", MERCHANT, "v1", b"stub"

    real = models_ui.current_model
    monkeypatch.setattr(models_ui, "current_model", lambda kind, merchant_id, version: (Saved(), None)
                        if kind == campaign_data.VALUE_KIND else real(kind, merchant_id, version))
    monkeypatch.setattr(models_ui, "read_payload", lambda saved, name, *args: scores)
    at = open_page("merchant", cp_audience_kind="Churn-risk band", cp_source="Entered by hand")
    assert "not trained yet" not in shown_text(at)
    csv = pl.read_csv(io.BytesIO(download(at, deferred, "cp_target_csv")), infer_schema_length=0)
    assert {int(x) for x in csv["customer_id"]} == high


def test_a_one_day_campaign_reads_in_words(served):
    text = shown_text(open_page("analyst", cp_days=1, cp_source="Entered by hand"))
    assert "within 1 day anyway" in text and "1 days" not in text


def test_headings_read_in_words():
    for name, column in CAMPAIGN_COLUMNS.items():
        assert not tables.snake_case_labels([column.label]), (name, column.label)


def test_stock_check_with_a_saved_forecast(served, oracle, trained_models):
    """With the merchant's saved demand forecast the page flags exactly the promoted product-locations that
    ``compute_stock_flags`` flags on the stock-out risk computed here from the same saved model."""
    import ibis

    from analytics import rfm
    from analytics.campaigns import audience as aud
    from analytics.campaigns import design, history, stock, uplift
    from data.access import DataAccess, Scope
    from models.artifacts import ModelStore
    from models.forecasting.outputs import compute_location_demand
    from models.stockout.risk import compute_stockout_risk

    before = {k: os.environ.get(k) for k in trained_models}
    os.environ.update(trained_models)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = open_page("merchant", cp_source="Entered by hand")
        text = shown_text(at)
    finally:
        for key, value in before.items():
            os.environ[key] = value
        st.cache_data.clear()
        st.cache_resource.clear()
    assert "No demand forecast is saved" not in text
    access = DataAccess(ibis.duckdb.from_connection(oracle.cursor()), Scope.merchants([MERCHANT]))
    as_of = oracle.execute("SELECT CAST(max(order_ts) AS DATE) FROM main.orders WHERE merchant_id = ?",
                           [MERCHANT]).fetchone()[0]
    table = rfm.compute_rfm(access, MERCHANT, as_of)
    top = table.group_by("segment").len().sort(["len", "segment"], descending=[True, False])["segment"][0]
    frame = table.filter(pl.col("segment") == top).select("customer_id", pl.col("segment").alias("stratum"))
    activity = history.load_activity(access, MERCHANT, as_of, 365)
    contacted = aud.without(frame, design.assign_holdout(frame, 0.1, 7))
    reach = min(contacted.height / max(activity.height, 1), 1.0)
    models = ModelStore(trained_models["RETAIL_PULSE_MODELS_DIR"],
                        key=trained_models["RETAIL_PULSE_MODEL_KEY"].encode())
    saved = models.latest_usable("demand_forecast", MERCHANT)
    risk = compute_stockout_risk(access, compute_location_demand(saved.payload, days=90), service_level=0.95)
    flags = stock.compute_stock_flags(risk, categories=(), product_ids=(), uplift=uplift.manual_prior(1.05, 1.3).median,
                                      reach=reach, days=14)
    if flags.is_empty():
        assert "Every promoted product has enough stock" in text
    else:
        assert f"{flags.height:,} promoted product-locations may run out" in text
        shown = [d.value for d in at.dataframe if "shortfall" in d.value.columns]
        assert shown and shown[0]["sku"].tolist() == flags["sku"].head(500).to_list()
