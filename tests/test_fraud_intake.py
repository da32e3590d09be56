"""What enters the review queue: the merchant's saved threshold and switched-on rules, not only the model's own
threshold (models.fraud.commands.queue_intake and score_merchant)."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import ibis
import polars as pl
import pytest

from data.access import DataAccess, Scope
from data.store import Principal, open_store
from data.store.fraud_settings import FraudSettings
from models import registry
from models.artifacts import ModelStore
from models.fraud import outputs
from models.fraud.commands import flag_name, queue_intake, score_merchant
from models.fraud.rules import Rule

KEY = b"intake-test-key-" + b"k" * 32


def _frame() -> pl.DataFrame:
    return pl.DataFrame({
        "payment_id": [1, 2, 3, 4, 5],
        "status": ["captured", "captured", "declined", "captured", "captured"],
        "score": [0.9, 0.2, 0.95, 0.1, 0.6],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
        "cards_per_device_1h": [1.0, 5.0, 9.0, 1.0, 1.0],
        "device_id": ["dev_a", "dev_b", "dev_c", "dev_d", "dev_ok"],
    })


def test_threshold_alone_flags_live_payments_at_or_over_it():
    out = queue_intake(_frame(), 0.6, [])
    assert out["payment_id"].to_list() == [1, 5]  # 3 is a declined attempt: never queued
    assert set(out["flagged_by"]) == {"score"}


def test_rules_add_cases_and_allow_lists_keep_them_out():
    rules = [Rule("Many cards on one device!", "condition", "cards_per_device_1h", "review", ">", 3.0),
             Rule("trusted devices", "list", "device_id", "allow", entries=("dev_ok",))]
    out = queue_intake(_frame(), 0.6, rules).sort("payment_id")
    assert out["payment_id"].to_list() == [1, 2]  # 2 by the rule despite its low score; 5 allowed
    assert out["flagged_by"].to_list() == ["score", "Many_cards_on_one_device"]


def test_flag_names_fit_the_store_and_never_read_as_the_model():
    assert flag_name("score") == "score_rule"
    assert flag_name("<b>") == "b" and flag_name("!!!") == "rule"
    assert len(flag_name("x" * 500)) <= 64


def test_score_merchant_uses_the_saved_threshold_and_rules(fixture_warehouse_path, tmp_path):
    path = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        factory = lambda: ibis.duckdb.from_connection(con.cursor())  # noqa: E731
        version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
        models = ModelStore(tmp_path / "models", key=KEY)
        saved = registry.train("fraud_score", factory, 1, version, models)
        own = outputs.load_threshold(saved.payload)
        store = open_store(url=f"sqlite:///{tmp_path / 'state.sqlite'}")
        try:
            lead = Principal.staff("lead")
            settings = FraudSettings(store)
            lower = max(own / 4, 0.001)
            settings.save_threshold(lead, 1, lower, source="by hand", request_id="t-1")
            since = dt.datetime(2025, 1, 1)
            run = score_merchant(factory, models, store, lead, 1, since=since)
            assert run.threshold == pytest.approx(lower)
            from models.fraud.scoring import score_payments

            scored = score_payments(DataAccess(factory(), Scope.merchants([1])), saved.payload, since=since)
            live = scored.filter(pl.col("status") != "declined")
            assert run.flagged == live.filter(pl.col("score") >= lower).height
            assert run.flagged > live.filter(pl.col("score") >= own).height  # the saved threshold took effect
            queued = {c.payment_id for c in store.reviews.queue(lead, merchant_ids=None, limit=100_000)}
            assert queued == set(live.filter(pl.col("score") >= lower)["payment_id"].to_list())
        finally:
            store.close()
    finally:
        con.close()
