"""The Fraud thresholds page under AppTest, for every role, against the pure functions called independently.

The page runs through tests/apps/page_harness.py on the tiny fixture warehouse with its own operational store.
The fraud model's outputs are stood in for: a signed model version per merchant is saved with placeholder bytes,
and the payload readers (``load_validation``, ``load_training_scores``), the backtest history and this week's
scores return seeded frames of the documented shape, different per merchant (so showing another merchant's
figures would be seen). The oracle computes the same figures with analytics.fraud_costs and plain polars.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics.fraud_costs import FraudCosts, cases_per_day, choose_threshold, compute_cost_curve
from dashboard import cache, fraud_thresholds, models_ui
from dashboard.auth.accounts import Principal
from dashboard.context import PageContext
from models.artifacts import ModelStore
from tests.test_hostile_names import FORBIDDEN, markdown_texts, outside_code

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 60
MERCHANT = 2
KEY = "fraud-page-test-key-0123456789abcdef"
FEATURES = {"cards_per_device_1h": "Distinct cards used on this device in the hour (count)",
            "amount_vs_customer_mean": "Amount divided by the customer's mean earlier payment"}
HOSTILE = '<a href="https://evil.example">x</a> **md** [click](https://evil.example)'
PRINCIPALS = {
    "merchant": Principal("nordlicht", "Nordlicht", "merchant", frozenset({MERCHANT})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}
DEFAULT = FraudCosts(**fraud_thresholds.DEFAULT_COSTS)


def held_out(merchant: int) -> pl.DataFrame:
    rng = np.random.default_rng(100 + merchant)
    n = 1500
    label = (rng.random(n) < 0.04 * merchant).astype(int)
    score = np.round(np.clip(rng.normal(0.2 + 0.5 * label, 0.15), 0, 1), 3)
    start = dt.datetime(2026, 1, 1)
    return pl.DataFrame({
        "merchant_id": merchant, "payment_id": np.arange(n) + 10_000 * merchant,
        "paid_ts": [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 20, n)],
        "amount": np.round(rng.gamma(2, 30, n), 2), "label": label, "score": score, "probability": score})


def history(merchant: int) -> pl.DataFrame:
    frame = held_out(merchant)
    rng = np.random.default_rng(7 + merchant)
    return frame.with_columns(
        pl.Series("cards_per_device_1h", rng.poisson(1 + 3 * frame["label"].to_numpy()).astype(float)),
        pl.Series("amount_vs_customer_mean", rng.normal(1, 0.3, frame.height)),
        pl.Series("device_id", [f"dev-{i % 50}" for i in range(frame.height)]))


def merchant_of(payload: bytes) -> int:
    return int(payload.decode().split("-")[-1])


@pytest.fixture(scope="module")
def served(fixture_warehouse_path, tmp_path_factory):
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_MODELS_DIR", "RETAIL_PULSE_MODEL_KEY",
             "RETAIL_PULSE_STATE_URL", "RETAIL_PULSE_TRAIN_IN_APP")
    before = {k: os.environ.get(k) for k in names}
    folder = tmp_path_factory.mktemp("fraud_rules_page")
    shutil.copy(fixture_warehouse_path, folder / "served.duckdb")
    models = ModelStore(folder / "models", key=KEY.encode())
    for merchant in (1, MERCHANT):
        for pr_auc in (0.81, 0.86):  # two versions, newest last
            models.save("fraud_score", merchant, f"fake-{merchant}".encode(),
                        {"data_version": 10**6, "metrics": {"pr_auc": pr_auc, "brier": 0.03}})
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(folder / "served.duckdb"),
                       "RETAIL_PULSE_MODELS_DIR": str(folder / "models"), "RETAIL_PULSE_MODEL_KEY": KEY,
                       "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 'state.sqlite'}"})
    st.cache_data.clear()
    st.cache_resource.clear()
    cache.engine.clear()
    yield folder
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def model_outputs(served, monkeypatch, request):
    """The fraud model's readers, stood in for (see the module doc), except in the real model's tests."""
    if "real_model" in request.node.name:
        yield
        return
    monkeypatch.setitem(models_ui._READERS, "fraud_model_threshold", lambda payload: 0.5)
    monkeypatch.setitem(models_ui._READERS, "fraud_validation", lambda payload: held_out(merchant_of(payload)))
    monkeypatch.setitem(models_ui._READERS, "fraud_training_scores",
                        lambda payload: np.random.default_rng(1).beta(2, 8, 3000))
    monkeypatch.setattr(fraud_thresholds, "history", lambda saved, dv: history(saved.merchant_id))
    monkeypatch.setattr(fraud_thresholds, "recent_scores",
                        lambda saved, dv, until: np.random.default_rng(2).beta(5, 5, 700))
    monkeypatch.setattr("models.fraud.rules.known_features", lambda: dict(FEATURES))
    monkeypatch.setenv("RETAIL_PULSE_TRAIN_IN_APP", "off")
    st.cache_resource.clear()
    yield


def store():
    from data.store import open_store

    return open_store(os.environ["RETAIL_PULSE_STATE_URL"])


def open_page(role: str) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[role]
    at.session_state["harness_page"] = "fraud_rules"
    return run(at)


def run(at) -> AppTest:
    at = at.run(timeout=COLD)  # an AppTest, or a widget whose run() returns its AppTest
    assert not at.exception, [e.message for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def submit(at: AppTest, label_start: str) -> AppTest:
    button = next(b for b in at.button if b.label.startswith(label_start))
    return run(button.click())


def no_markup(at: AppTest) -> None:
    plain = {t.value for t in at.text}  # st.text is shown verbatim, never read as markdown
    bad = [t for t in markdown_texts(at) if t not in plain and any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad
    assert any(HOSTILE in t for t in plain)  # the name is shown, as text


# ---------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", ["merchant", "fraud_reviewer", "admin"])
def test_allowed_roles_see_the_costed_threshold(role):
    at = open_page(role)
    assert at.title[0].value == "Fraud thresholds"
    picker = at.selectbox(key="fr_merchant")
    if role == "merchant":
        assert picker.value == MERCHANT and len(picker.options) == 1
    merchant = picker.value
    frame = held_out(merchant)
    chosen = choose_threshold(compute_cost_curve(frame, DEFAULT))
    assert metric(at, "Review cases a day") == f"{cases_per_day(frame, chosen):,.1f}"
    assert f"lowest expected cost is at {chosen:.3f}" in " ".join(c.value for c in at.caption)
    versions = [d.value for d in at.dataframe if "PR-AUC" in d.value.columns]
    assert len(versions) == 1 and versions[0]["PR-AUC"].tolist() == [0.86, 0.81]
    assert any("No drift" in t.value or "drift" in t.value for t in at.text)


@pytest.mark.parametrize("role", ["analyst", "operations"])
def test_other_roles_are_refused(role):
    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "fraud_rules.py"))
    at.session_state["rp_page_context"] = PageContext(PRINCIPALS[role], (1, 2, 3), None, 1, None)
    at.run(timeout=COLD)
    assert [e.value for e in at.error] == ["You do not have access to Fraud thresholds."]
    assert not at.metric and not at.dataframe


def test_another_merchants_settings_are_not_reachable():
    at = open_page("merchant")
    assert at.selectbox(key="fr_merchant").options == [at.selectbox(key="fr_merchant").format_func(MERCHANT)]


# ---------------------------------------------------------------------------------------------- costs, threshold


def test_costs_saved_with_audit_and_bad_costs_refused():
    at = open_page("merchant")
    at.number_input(key="fr_margin").set_value(150.0)
    at = submit(at, "Save the costs")
    assert any("between 0% and 100%" in e.value for e in at.error)
    at.number_input(key="fr_fee").set_value(25.0)
    at.number_input(key="fr_margin").set_value(12.0)
    at.number_input(key="fr_review").set_value(1.5)
    at = submit(at, "Save the costs")
    s = store()
    try:
        from data.store.fraud_settings import FraudSettings
        from data.store.principal import Principal as SP

        body = FraudSettings(s).get(SP.merchants("x", [MERCHANT]), MERCHANT)
        assert body["costs"] == {"chargeback_fee": 25.0, "margin_lost": 0.12, "review_cost": 1.5}
        audit = s.audit.entries(SP.staff("t"), merchant_ids=[MERCHANT], entity="fraud_settings")
        assert audit and audit[-1].actor == "nordlicht"
    finally:
        s.close()
    frame = held_out(MERCHANT)
    chosen = choose_threshold(compute_cost_curve(frame, FraudCosts(25.0, 0.12, 1.5)))
    assert metric(at, "Review cases a day") == f"{cases_per_day(frame, chosen):,.1f}"
    at = submit(at, "Save this threshold")
    from data.store.fraud_settings import threshold_for

    s = store()
    try:
        assert threshold_for(s, MERCHANT) == pytest.approx(chosen)
    finally:
        s.close()
    at.radio(key="fr_mode").set_value("by hand")
    at = run(at)
    at = run(at.slider(key="fr_threshold").set_value(0.9))
    assert metric(at, "Review cases a day") == f"{cases_per_day(frame, 0.9):,.1f}"


# ---------------------------------------------------------------------------------------------- rules


def test_rule_backtested_before_switching_on_and_shown_as_text():
    at = open_page("fraud_reviewer")
    at.text_input(key="fr_rule_name").set_value(HOSTILE)
    at.selectbox(key="fr_rule_feature").set_value("cards_per_device_1h")
    at.selectbox(key="fr_rule_cmp").set_value(">")
    at.text_input(key="fr_rule_value").set_value("three")
    at.selectbox(key="fr_rule_action").set_value("decline")
    at = submit(at, "Save the rule")
    assert any("must be a number" in e.value for e in at.error)
    at.text_input(key="fr_rule_value").set_value("3")
    at = submit(at, "Save the rule")
    merchant = at.selectbox(key="fr_merchant").value
    at = run(at.button(key="fr_switch").click())
    assert any("backtest" in e.value for e in at.error)
    at = run(at.button(key="fr_backtest").click())
    frame = history(merchant)
    hit = frame.filter(pl.col("cards_per_device_1h") > 3)
    frauds, good = hit.filter(pl.col("label") == 1), hit.filter(pl.col("label") == 0)
    table = next(d.value for d in at.dataframe if "Frauds caught" in d.value.columns)
    assert table["Name"].tolist() == [HOSTILE]
    assert table["Frauds caught"].tolist() == [frauds.height] and table["Good orders stopped"].tolist() == [good.height]
    assert table.filter(like="Fraud amount").iloc[0, 0] == pytest.approx(frauds["amount"].sum())
    at = run(at.button(key="fr_switch").click())
    assert any(s.value.startswith("Switched on") for s in at.success)
    no_markup(at)
    from data.store.fraud_settings import enabled_rules

    s = store()
    try:
        assert [r["name"] for r in enabled_rules(s, merchant)] == [HOSTILE]
    finally:
        s.close()


def test_hostile_list_entries_are_text():
    at = open_page("admin")
    at.text_input(key="fr_list_name").set_value(HOSTILE)
    at.selectbox(key="fr_list_field").set_value("device_id")
    at.selectbox(key="fr_list_action").set_value("block")
    at.text_area(key="fr_list_entries").set_value('dev-1\n<img src=x onerror=alert(1)>')
    at = submit(at, "Save the list")
    assert any(s.value.startswith("List saved with 2 entries") for s in at.success)
    pick = at.selectbox(key="fr_rule_pick")
    at = run(pick.select_index(len(pick.options) - 1))  # the list just saved is the last one
    at = run(at.button(key="fr_backtest").click())
    frame = history(at.selectbox(key="fr_merchant").value)
    row = next(d.value for d in at.dataframe if "Frauds caught" in d.value.columns).iloc[-1]
    assert row["Rule"].startswith("decline payments whose device is one of 2 listed")
    caught = frame.filter(pl.col("device_id") == "dev-1")
    assert (row["Frauds caught"], row["Good orders stopped"]) == (caught["label"].sum(), (caught["label"] == 0).sum())
    no_markup(at)


def test_retrain_button_queues_training_even_when_current(monkeypatch):
    calls = []

    class Queue:
        def submit(self, kind, merchant, data_version, *, retry=False):
            calls.append((kind, merchant, retry))

        def status(self, kind, merchant):
            return None

    monkeypatch.setenv("RETAIL_PULSE_TRAIN_IN_APP", "on")
    monkeypatch.setattr(models_ui, "training_queue", lambda: Queue())
    at = open_page("merchant")
    assert not calls  # the saved model is current: nothing is queued by opening the page
    at = run(at.button(key="fr_retrain").click())
    assert calls == [("fraud_score", MERCHANT, True)]
    assert any("Training queued" in s.value for s in at.success)


def test_merchant_without_a_model_can_still_set_costs_and_rules():
    at = open_page("admin")
    picker = at.selectbox(key="fr_merchant")
    without = [m for m in cache.filter_options((1, 2, 3, 4), 0)["merchants"]["merchant_id"].to_list()
               if m not in (1, MERCHANT)]
    at = run(picker.set_value(without[0]))
    assert any("No fraud model" in i.value for i in at.info)
    assert not at.metric and not any("PR-AUC" in d.value.columns for d in at.dataframe)
    assert any(b.label.startswith("Save the costs") for b in at.button)


# ---------------------------------------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def real_models(served):
    """The fraud model trained for MERCHANT on the served warehouse, in a models folder of its own."""
    pytest.importorskip("models.fraud.outputs")
    from models import registry

    root = served / "real-models"
    store = ModelStore(root, key=KEY.encode())
    registry.load_families()
    # The dashboard's engine holds the file: train through it, as its background worker does.
    saved = registry.train("fraud_score", cache.engine().backend, MERCHANT, cache.current_data_version(), store)
    return root, saved


def test_real_model_figures_backtest_and_drift(real_models, monkeypatch):
    from analytics.fraud_costs import compute_drift
    from models.fraud.features import compute_features
    from models.fraud.outputs import load_training_scores, load_validation
    from models.fraud.scoring import score_payments

    root, saved = real_models
    monkeypatch.setenv("RETAIL_PULSE_MODELS_DIR", str(root))
    st.cache_resource.clear()
    at = open_page("merchant")
    validation = load_validation(saved.payload)
    chosen = choose_threshold(compute_cost_curve(validation, DEFAULT))
    assert metric(at, "Review cases a day") == f"{cases_per_day(validation, chosen):,.1f}"

    at.text_input(key="fr_rule_name").set_value("busy devices")
    at.selectbox(key="fr_rule_feature").set_value("cards_per_device_1h")
    at.selectbox(key="fr_rule_cmp").set_value(">=")
    at.text_input(key="fr_rule_value").set_value("2")
    at = submit(at, "Save the rule")
    at = run(at.button(key="fr_backtest").click())

    access = cache.access((MERCHANT,))  # the dashboard holds the file; the oracle reads through its engine
    features = compute_features(access, since=validation["paid_ts"].min(), until=validation["paid_ts"].max())
    end = dt.datetime.combine(at.session_state["rp_page_context"].as_of, dt.time.max)
    recent = score_payments(access, saved.payload, since=end - dt.timedelta(days=7), until=end).filter(
        pl.col("status") != "declined")
    hit = features.join(validation.select("payment_id", "label"), on="payment_id").filter(
        pl.col("cards_per_device_1h") >= 2)
    assert hit.height and recent.height  # the comparison is not between two empty sets
    table = next(d.value for d in at.dataframe if "Frauds caught" in d.value.columns).iloc[-1]
    assert (table["Frauds caught"], table["Good orders stopped"]) == (hit["label"].sum(), (~hit["label"]).sum())
    drift = compute_drift(load_training_scores(saved.payload), recent["score"].to_numpy())
    assert drift.words in [t.value for t in at.text]
