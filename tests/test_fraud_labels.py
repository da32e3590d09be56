"""Reviewer decisions as fraud labels: a current 'decline' counts as fraud, an 'approve' leaves the chargeback's
word (legitimate once the window closed without one), a reversal replaces the decision it reverses."""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import polars as pl

from data.access import DataAccess, Scope
from data.store import Principal, open_store
from models.fraud import outputs
from models.fraud.train import label_matured

T0 = dt.datetime(2025, 1, 1)


def test_a_decline_is_fraud_an_approve_leaves_the_chargeback_and_young_payments_stay_out():
    features = pl.DataFrame({
        "payment_id": [1, 2, 3, 4, 5, 6, 7],
        "paid_ts": [T0, T0, T0, T0, T0, T0 + dt.timedelta(days=95), T0 + dt.timedelta(days=100)],
        "status": ["captured", "captured", "captured", "captured", "declined", "captured", "captured"]})
    chargebacks = pl.DataFrame({"payment_id": [1, 2, 3, 4, 5, 6, 7],
                                "chargeback": [False, True, False, False, False, False, False]})
    decisions = pl.DataFrame({"payment_id": [1, 2, 3, 5, 6], "outcome": ["decline", "approve", "escalate",
                                                                         "decline", "decline"]})
    plain = label_matured(features, chargebacks, window_days=90)
    fed = label_matured(features, chargebacks, window_days=90, decisions=decisions)
    # 1 declined by review: fraud now; 2 approved but charged back: fraud; 3 escalated, 4 undecided: legitimate
    # (matured, no chargeback); 5 a declined attempt and 6, 7 younger than the window: not labelled at all.
    assert dict(plain.select("payment_id", "label").iter_rows()) == {1: False, 2: True, 3: False, 4: False}
    assert dict(fed.select("payment_id", "label").iter_rows()) == {1: True, 2: True, 3: False, 4: False}
    assert fed.drop("label").equals(plain.drop("label"))
    empty = pl.DataFrame(schema={"payment_id": pl.Int64, "outcome": pl.Utf8})
    assert label_matured(features, chargebacks, window_days=90, decisions=empty).equals(plain)


def test_store_decisions_become_training_labels(fixture_warehouse_path, tmp_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    store = open_store(warehouse=tmp_path / "w.duckdb")
    try:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
        end = con.execute("SELECT max(paid_ts) FROM payments WHERE merchant_id = 1").fetchone()[0]
        # Six early payments that went through without a chargeback: legitimate for the chargebacks alone.
        rows = con.execute("SELECT payment_id, amount FROM payments WHERE merchant_id = 1 AND status <> 'declined' "
                           "AND NOT chargeback AND paid_ts < ? ORDER BY paid_ts LIMIT 6",
                           [end - dt.timedelta(days=200)]).fetchall()
        lead = Principal.staff("lead")
        ids = {}
        for pid, amount in rows:
            ids[pid] = store.reviews.enqueue(lead, merchant_id=1, payment_id=int(pid), score=0.9,
                                             amount=float(amount), currency="GBP", flagged_by="score").case_id
        outcomes = dict(zip(ids, ["decline", "decline", "decline", "approve", "escalate", "approve"]))
        decided = {}
        for n, (pid, outcome) in enumerate(outcomes.items()):
            claimed = store.reviews.claim(lead, ids[pid])
            reason = {"decline": "stolen_card", "approve": "known_good_history",
                      "escalate": "high_value"}[outcome]
            decided[pid] = store.reviews.decide(lead, claimed.lease, outcome=outcome, reason=reason,
                                                request_id=f"label-test-{n}")
        reversed_pid = list(outcomes)[2]  # declined, then approved on new evidence: legitimate again
        store.reviews.reverse(lead, decided[reversed_pid].id, outcome="approve", reason="new_evidence",
                              request_id="label-test-reverse")
        labels = outputs.reviewer_labels(store, 1)
        assert dict(labels.iter_rows()) == {**outcomes, reversed_pid: "approve"}
        assert outputs.reviewer_labels(store, 2).height == 0
        trained = outputs.train_on(access, window_days=30, decisions=labels)
    finally:
        store.close()
        con.close()
    labelled = pl.concat([trained.train, trained.calibration, trained.validation.select(trained.train.columns)])
    got = dict(labelled.filter(pl.col("payment_id").is_in(list(outcomes))).select("payment_id", "label").iter_rows())
    declined_now = {p for p, o in outcomes.items() if o == "decline" and p != reversed_pid}
    assert got == {p: p in declined_now for p in outcomes}
    # Everything else keeps the chargeback label (plain SQL), so the decisions changed exactly two labels.
    with duckdb.connect(str(fixture_warehouse_path), read_only=True) as c:
        charged = {p for (p,) in c.execute("SELECT payment_id FROM payments WHERE merchant_id = 1 AND chargeback")
                   .fetchall()}
    others = labelled.filter(~pl.col("payment_id").is_in(list(outcomes)))
    assert others["label"].to_list() == [p in charged for p in others["payment_id"].to_list()]


def test_training_through_the_model_layer_reads_the_decisions_from_the_operational_store(fixture_warehouse_path,
                                                                                        tmp_path):
    from models import registry
    from models.artifacts import ModelStore

    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    store = open_store(warehouse=tmp_path / "w.duckdb")
    try:
        pid, amount = con.execute("SELECT payment_id, amount FROM payments WHERE merchant_id = 1 AND "
                                  "status <> 'declined' ORDER BY paid_ts LIMIT 1").fetchone()
        lead = Principal.staff("lead")
        case = store.reviews.enqueue(lead, merchant_id=1, payment_id=int(pid), score=0.9, amount=float(amount),
                                     currency="GBP", flagged_by="score").case_id
        store.reviews.decide(lead, store.reviews.claim(lead, case).lease, outcome="decline", reason="stolen_card",
                             request_id="layer-test")
        version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
        models = ModelStore(tmp_path / "models", key=b"k" * 32)
        backend = lambda: ibis.duckdb.from_connection(con.cursor())  # noqa: E731
        saved = registry.train("fraud_score", backend, 1, version, models, operational_store=store)
        plain = registry.train("fraud_score", backend, 2, version, models)
    finally:
        store.close()
        con.close()
    assert saved.meta["params"]["reviewer_decisions"] == 1 and saved.meta["params"]["reviewer_declines"] == 1
    assert any("1 decision read, 1 decline)" in n for n in saved.meta["notes"])
    assert "reviewer_decisions" not in plain.meta["params"]
    assert any("none read" in n for n in plain.meta["notes"])
