"""The Fraud review page under AppTest, checked against the operational store and the warehouse.

The page runs through tests/apps/page_harness.py on a copy of the fixture warehouse with a store of its own
(a SQLite file in the module's folder). Cases are enqueued through the store (as the scoring job does) from
real payments of merchants 1 and 2, with two review deadlines, so the expected order is computed here
independently (deadline, then amount and score, highest first). Decisions are read back from the store and its
audit log; linked payments and exports are checked against plain SQL on the fixture file.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard import cache
from dashboard import review_data as rd
from dashboard import tables
from dashboard.auth.accounts import Principal
from dashboard.navigation import ROLES, may_open
from tests.fraud_support import fraud_models  # noqa: F401
from tests.test_hostile_names import FORBIDDEN, NOT_MARKDOWN, outside_code, proto_texts

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
PER_MERCHANT = 24  # cases enqueued per merchant (half with a 2-hour deadline, half with the default 24 hours)
HOSTILE_NOTE = '<a href="https://evil.example">called</a> **md** [x](https://evil.example) =HYPERLINK("y")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PRINCIPALS = {
    "merchant": Principal("shop1", "Shop", "merchant", frozenset({1})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}


# ---------------------------------------------------------------------------------------------- plumbing


@pytest.fixture(scope="module")
def environment():
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_STATE_URL", "RETAIL_PULSE_CREDENTIALS", "RETAIL_PULSE_MODELS_DIR",
             "RETAIL_PULSE_MODEL_KEY")
    before = {k: os.environ.get(k) for k in names}
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    st.cache_data.clear()
    st.cache_resource.clear()


def open_store(folder: Path):
    from data.store import open_store as opener

    return opener(f"sqlite:///{folder / 'state.sqlite'}")


def pick_payments(path: Path) -> pl.DataFrame:
    """PER_MERCHANT payments of merchants 1 and 2 (the largest with a device and a card used more than once, so
    each has linked payments), with a made-up score each, and the merchant's currency."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        frame = pl.from_arrow(con.sql(
            """WITH used AS (SELECT *, count(*) OVER (PARTITION BY merchant_id, card_fingerprint) AS card_uses
                             FROM payments WHERE card_fingerprint IS NOT NULL AND device_id IS NOT NULL)
               SELECT p.merchant_id, p.payment_id, p.amount, m.currency FROM used p JOIN merchants m USING (merchant_id)
               WHERE p.merchant_id IN (1, 2) AND p.card_uses > 1
               QUALIFY row_number() OVER (PARTITION BY p.merchant_id ORDER BY p.amount DESC, p.payment_id) <= ?
               ORDER BY p.merchant_id, p.payment_id""", params=[PER_MERCHANT]).to_arrow_table())
    finally:
        con.close()
    return frame.with_columns(((pl.int_range(pl.len()) * 37 % 100) / 100 + 0.005).round(3).alias("score"),
                              pl.col("amount").cast(pl.Float64))


@pytest.fixture(scope="module")
def served(environment, fixture_warehouse_path, tmp_path_factory):
    """(folder, enqueued payments with their deadline group)."""
    from data.store import Principal as StorePrincipal

    folder = tmp_path_factory.mktemp("review_page")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    payments = pick_payments(path).with_columns((pl.int_range(pl.len()) % 2 == 0).alias("urgent"))
    store = open_store(folder)
    job = StorePrincipal.staff("scoring-job")
    try:
        for urgent in (False, True):  # the urgent ones enter later but are due first
            if urgent:
                for m in (1, 2):
                    store.reviews.set_sla(job, merchant_id=m, sla=dt.timedelta(hours=2), request_id=f"sla-{m}")
            batch = payments.filter(pl.col("urgent") == urgent)
            store.reviews.enqueue_many(job, [{**r, "flagged_by": "score" if r["score"] >= 0.3 else "cards_per_device"}
                                             for r in batch.select("merchant_id", "payment_id", "score", "amount",
                                                                   "currency").iter_rows(named=True)])
    finally:
        store.close()
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path),
                       "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 'state.sqlite'}"})
    st.cache_data.clear()
    st.cache_resource.clear()
    return folder, payments


def expected_order(payments: pl.DataFrame, merchant: int) -> list[int]:
    """Deadline first (the urgent ones), then amount and score, highest first: computed here, not by the store."""
    return payments.filter(pl.col("merchant_id") == merchant).sort(
        ["urgent", "amount", "score", "payment_id"], descending=[True, True, True, False])["payment_id"].to_list()


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


def open_page(role: str, merchants=(1,), **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[role]
    at.session_state["harness_page"] = "review"
    for key, value in state.items():
        at.session_state[key] = value
    run(at)
    if PRINCIPALS[role].merchant_ids is None and merchants is not None:  # the sidebar's merchant choice
        at.multiselect(key="flt_merchants").set_value(list(merchants))
        run(at)
    return at


def run(at: AppTest) -> AppTest:
    at.run(timeout=COLD)
    assert not at.exception, [e.message for e in at.exception]
    return at


def grid(at: AppTest, key_column: str) -> pl.DataFrame:
    found = [d.value for d in at.dataframe if key_column in d.value.columns]
    assert found, [list(d.value.columns) for d in at.dataframe]
    return pl.from_pandas(found[0])


def queue(at: AppTest) -> pl.DataFrame:
    return grid(at, "time_left")


def markdown_texts(at: AppTest) -> list[str]:
    """What Streamlit reads as markdown: every label, body, help and caption except st.text (shown verbatim,
    never parsed) and grids."""
    return [t for node in at._tree if getattr(node, "proto", None) is not None
            and node.type not in NOT_MARKDOWN | {"text"} for t in proto_texts(node.proto)]


def texts(at: AppTest) -> str:
    return " ".join(t.value for t in at.text)


# ---------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", list(ROLES))
def test_only_fraud_reviewers_and_admins_open_the_page(served, role):
    allowed = role in ("fraud_reviewer", "admin")
    assert may_open(role, "review") == allowed
    if allowed:
        at = open_page(role)
        assert at.title[0].value == "Fraud review"
        assert queue(at).height > 0
        return
    from dashboard.context import PageContext

    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "review.py"))
    at.session_state["rp_page_context"] = PageContext(PRINCIPALS[role], (1, 2, 3), None, 1, None)
    at.run(timeout=COLD)
    assert [e.value for e in at.error] == ["You do not have access to Fraud review."]
    assert not at.dataframe and not at.button


# ---------------------------------------------------------------------------------------------- the queue


def test_queue_is_in_deadline_then_amount_then_score_order_and_only_the_merchants(served):
    folder, payments = served
    for merchant in (1, 2):
        at = open_page("fraud_reviewer", merchants=(merchant,))
        shown = queue(at)
        assert shown["payment_id"].to_list() == expected_order(payments, merchant)
        mine = payments.filter(pl.col("merchant_id") == merchant)
        assert shown["amount"].to_list() == pytest.approx(
            [mine.filter(pl.col("payment_id") == p)["amount"][0] for p in shown["payment_id"].to_list()])
        # the urgent ones (2-hour deadline) come first and say so in words
        urgent = mine.filter(pl.col("urgent")).height
        assert all(" h" in t or "min" in t for t in shown["time_left"].to_list()[:urgent])
        assert all(t.startswith("1 h") or t.startswith("2 h") for t in shown["time_left"].to_list()[:urgent])
        assert all(t.startswith("23 h") or t.startswith("1 d") for t in shown["time_left"].to_list()[urgent:])
        assert set(shown["flagged_by"].to_list()) <= {"Score over the threshold", "Rule: cards per device"}


def test_filters_narrow_the_queue(served):
    _, payments = served
    at = open_page("fraud_reviewer", merchants=(1,))
    mine = payments.filter(pl.col("merchant_id") == 1)
    threshold = float(mine["amount"].median())
    at.number_input(key="rv_min_amount").set_value(threshold)
    at.slider(key="rv_min_score").set_value(40)
    run(at)
    expected = [p for p in expected_order(payments, 1)
                if mine.filter(pl.col("payment_id") == p).row(0, named=True)["amount"] >= threshold
                and mine.filter(pl.col("payment_id") == p)["score"][0] >= 0.40]
    assert expected and queue(at)["payment_id"].to_list() == expected
    at.selectbox(key="rv_state").set_value("approve")
    run(at)
    assert "No case passes these filters." in texts(at)


def test_headings_are_words_and_no_null(served):
    at = open_page("admin", merchants=(1, 2))  # two currencies: the picker shows one at a time
    for frame in at.dataframe:
        columns = list(frame.value.columns)
        assert not tables.unknown_columns(columns, rd.REVIEW_COLUMNS), columns
        labels = [tables.label_for(c, "GBP", rd.REVIEW_COLUMNS) for c in columns]
        assert not tables.snake_case_labels(labels), labels
        cells = {str(v) for col in columns for v in frame.value[col].tolist() if isinstance(v, str)}
        assert not {"null", "None", "nan", "NaT"} & cells
    shown = " ".join(outside_code(t) for t in markdown_texts(at)) + " " + texts(at)  # commands in code spans aside
    assert "null" not in shown and " None" not in shown
    assert not tables.SNAKE.findall(shown), [shown[max(0, m.start() - 40): m.end() + 40]
                                             for m in tables.SNAKE.finditer(shown)]


# ---------------------------------------------------------------------------------------------- claim, decide, next


def history_of(folder: Path, who: str, merchant: int, case_id: int):
    from data.store import Principal as StorePrincipal

    store = open_store(folder)
    try:
        return store.reviews.history(StorePrincipal.merchants(who, [merchant]), case_id)
    finally:
        store.close()


def audit_of(folder: Path, merchant: int):
    from data.store import Principal as StorePrincipal

    store = open_store(folder)
    try:
        return store.audit.entries(StorePrincipal.staff("test"), merchant_ids=[merchant], entity="review_case")
    finally:
        store.close()


def test_claim_decide_and_the_next_case_loads(served, fixture_warehouse_path):
    folder, payments = served
    order = expected_order(payments, 2)
    at = open_page("fraud_reviewer", merchants=(2,))
    at.button(key="rv_claim_next").click()
    run(at)
    held = at.session_state[rd_claim()]
    assert held.case.payment_id == order[0] and held.case.merchant_id == 2
    assert at.subheader[0].value == f"Case {held.case.id}: payment {order[0]}"
    assert at.button(key="rv_claim_next").disabled
    # the payment as the warehouse has it, and its linked payments: all of merchant 2, each sharing a signal
    facts = grid(at, "about")
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        paid = con.execute("SELECT paid_ts, card_fingerprint, device_id, ip_prefix, email_domain FROM payments "
                           "WHERE payment_id = ?", [order[0]]).fetchone()
        linked = grid(at, "linked_by")
        owners = dict(con.execute("SELECT payment_id, merchant_id FROM payments WHERE payment_id IN "
                                  f"({','.join(map(str, linked['payment_id'].to_list() or [0]))})").fetchall())
        by_card = {r[0] for r in con.execute("SELECT payment_id FROM payments WHERE merchant_id = 2 AND "
                                             "card_fingerprint = ? AND payment_id <> ?", [paid[1], order[0]]).fetchall()}
        everything = {r[0] for r in con.execute(
            "SELECT payment_id FROM payments WHERE merchant_id = 2 AND payment_id <> ? AND (card_fingerprint = ? "
            "OR device_id = ? OR ip_prefix = ? OR (email_domain = ? AND (SELECT count(*) FROM payments WHERE "
            "merchant_id = 2 AND email_domain = ?) <= 50))",
            [order[0], paid[1], paid[2], paid[3], paid[4], paid[4]]).fetchall()}
    finally:
        con.close()
    assert f"{paid[0]:%d %b %Y, %H:%M}" in facts["detail"].to_list()
    assert set(owners.values()) <= {2}
    assert by_card and by_card <= set(linked["payment_id"].to_list())  # every payment with the same card is listed
    assert set(linked["payment_id"].to_list()) == everything if len(everything) <= 200 else linked.height == 200
    import json

    chart = json.loads(at.get("plotly_chart")[0].proto.spec)  # the small picture: the same payments, and this one
    points = sorted(y for trace in chart["data"] for y in trace["y"])
    assert points == pytest.approx(sorted([float(a) for a in linked["amount"].to_list()] + [facts_amount(facts)]))
    assert all(("card" in w) == (p in by_card) for p, w in zip(linked["payment_id"].to_list(),
                                                               linked["linked_by"].to_list()))

    at.radio(key="rv_outcome").set_value("decline")
    run(at)
    at.selectbox(key="rv_reason_decline").set_value("stolen_card")
    at.text_area(key="rv_note").input(HOSTILE_NOTE)
    at.button(key="rv_decide").click()
    run(at)
    decided = history_of(folder, "fred", 2, held.case.id)
    assert [(d.outcome, d.reason, d.note, d.reviewer) for d in decided] == [
        ("decline", "stolen_card", HOSTILE_NOTE, "fred")]
    entry = [e for e in audit_of(folder, 2) if e.entity_id == str(held.case.id)]
    assert [(e.action, e.actor) for e in entry] == [("decide:decline", "fred")]
    # the next case loaded by itself: the second in order
    following = at.session_state[rd_claim()]
    assert following.case.payment_id == order[1]
    assert at.subheader[0].value == f"Case {following.case.id}: payment {order[1]}"
    assert any(f"Case {held.case.id} declined. Next: case {following.case.id}." in s.value for s in at.success)
    # the decided case left the waiting queue; the decision list shows it with the note as plain text
    assert order[0] not in queue(at)["payment_id"].to_list()
    at.button(key="rv_release").click()
    run(at)
    at.selectbox(key="rv_state").set_value("decline")
    run(at)
    assert queue(at)["payment_id"].to_list() == [order[0]]
    at.selectbox(key="rv_pick").set_value(held.case.id)
    at.button(key="rv_claim_one").click()
    run(at)
    history = grid(at, "outcome_text")
    assert history["note"].to_list() == [HOSTILE_NOTE] and history["reason_text"].to_list() == ["Stolen card"]
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, bad[:3]

    # a reversal is a new decision: the history shows both
    at.radio(key="rv_rev_outcome").set_value("approve")
    run(at)
    at.selectbox(key="rv_rev_reason").set_value("customer_confirmed")
    at.text_area(key="rv_rev_note").input("customer called back")
    at.button(key="rv_reverse").click()
    run(at)
    decided = history_of(folder, "fred", 2, held.case.id)
    assert [(d.outcome, d.reason, d.reverses) for d in decided] == [
        ("decline", "stolen_card", None), ("approve", "customer_confirmed", decided[0].id)]
    assert grid(at, "outcome_text")["outcome_text"].to_list() == [
        "Declined", f"Approved (reverses decision {decided[0].id})"]
    assert [e.action for e in audit_of(folder, 2) if e.entity_id == str(held.case.id)] == [
        "decide:decline", "reverse:approve"]


def facts_amount(facts: pl.DataFrame) -> float:
    amount = facts.filter(pl.col("about") == "Amount")["detail"][0]
    return float(amount.split(" ", 1)[1].replace(",", ""))


def rd_claim() -> str:
    from dashboard.review_actions import CLAIM

    return CLAIM


# ---------------------------------------------------------------------------------------------- scope


def warehouse_owner(path: Path, payment_ids) -> dict[int, int]:
    ids = sorted({int(p) for p in payment_ids}) or [0]
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT payment_id, merchant_id FROM payments WHERE list_contains(?, payment_id)",
                                [ids]).fetchall())
    finally:
        con.close()


def download(at: AppTest, deferred: dict, key: str) -> pl.DataFrame:
    button = at.download_button(key=key)
    return pl.read_csv(io.BytesIO(deferred[button.proto.deferred_file_id]()), infer_schema_length=None)


def test_a_reviewer_of_merchant_1_never_sees_merchant_2(served, fixture_warehouse_path, deferred):
    from data.store import OutOfScope, Principal as StorePrincipal

    folder, payments = served
    store = open_store(folder)
    try:  # a decision of merchant 2 exists, to be kept out of merchant 1's export
        job = StorePrincipal.staff("other")
        other = store.reviews.queue(job, merchant_ids=[2], limit=1)[0]
        store.reviews.decide_bulk(job, [other.id], outcome="approve", reason="known_good_history",
                                  request_id="scope-test-m2")
    finally:
        store.close()
    at = open_page("fraud_reviewer", merchants=(1,))
    shown = queue(at)
    assert set(warehouse_owner(fixture_warehouse_path, shown["payment_id"].to_list()).values()) == {1}
    assert "merchant" not in shown.columns
    at.button(key="rv_claim_next").click()
    run(at)
    held = at.session_state[rd_claim()]
    assert held.case.merchant_id == 1
    assert not [d for d in at.dataframe if "shares" in d.value.columns]  # the latest payments: drawn when opened
    from dashboard.review_panels import HISTORY_OPEN

    at.session_state[HISTORY_OPEN] = True
    run(at)
    linked = grid(at, "linked_by")["payment_id"].to_list() + grid(at, "shares")["payment_id"].to_list()
    assert linked and set(warehouse_owner(fixture_warehouse_path, linked).values()) == {1}
    at.button(key="rv_release").click()
    run(at)
    # a merchant 2 case named in the session (a forged pick) is not shown, and the store refuses a claim of it
    at.session_state["rv_view"] = other.id
    run(at)
    assert not [s for s in at.subheader if s.value.startswith(f"Case {other.id}:")]
    who = rd.review_principal(PRINCIPALS["fraud_reviewer"], [1])
    with pytest.raises(OutOfScope):
        cache.store().reviews.claim(who, other.id)
    for key in ("rv_queue_csv", "rv_decisions_csv"):
        frame = download(at, deferred, key)
        if frame.height:
            assert set(warehouse_owner(fixture_warehouse_path, frame["Payment"].to_list()).values()) == {1}, key
    assert other.payment_id not in download(at, deferred, "rv_decisions_csv")["Payment"].to_list() if \
        download(at, deferred, "rv_decisions_csv").height else True
    # the admin choosing merchant 2 sees that decision
    admin = open_page("admin", merchants=(2,))
    admin.selectbox(key="rv_state").set_value("all")
    run(admin)
    assert other.payment_id in download(admin, deferred, "rv_decisions_csv")["Payment"].to_list()


def test_an_expired_claim_is_claimable_again_and_the_holder_is_shown(served):
    from data.store import Principal as StorePrincipal

    folder, payments = served
    store = open_store(folder)
    try:
        bob = StorePrincipal.merchants("bob", [1])
        target = store.reviews.queue(bob, states=["open"], merchant_ids=[1], limit=1)[0]
        store.reviews.claim(bob, target.id, ttl=dt.timedelta(seconds=3))
    finally:
        store.close()
    at = open_page("fraud_reviewer", merchants=(1,))
    row = queue(at).filter(pl.col("case_id") == target.id)
    assert row["state_text"][0].startswith("Claimed by bob until ")
    at.selectbox(key="rv_pick").set_value(target.id)
    run(at)
    assert at.button(key="rv_claim_one").label == "Look at this case"
    time.sleep(3.5)
    run(at)
    assert queue(at).filter(pl.col("case_id") == target.id)["state_text"][0] == "Open"
    assert at.button(key="rv_claim_one").label == "Claim this case"
    at.button(key="rv_claim_one").click()
    run(at)
    assert at.session_state[rd_claim()].case.id == target.id
    at.button(key="rv_release").click()
    run(at)
    assert f"Case {target.id} is back in the queue." in [s.value for s in at.success]


# ---------------------------------------------------------------------------------------------- bulk, hostile text, stats


def test_bulk_decision_asks_first_then_decides_every_listed_open_case(served):
    folder, payments = served
    at = open_page("fraud_reviewer", merchants=(1,))
    at.slider(key="rv_min_score").set_value(60)
    run(at)
    listed = queue(at)
    wanted = listed.filter(pl.col("state_text") == "Open")
    assert wanted.height >= 2
    at.radio(key="rv_bulk_outcome").set_value("decline")
    run(at)
    at.selectbox(key="rv_bulk_reason_decline").set_value("card_testing")
    at.text_area(key="rv_bulk_note").input("burst of small attempts")
    at.button(key="rv_bulk_ask").click()
    run(at)
    total = payments.filter(pl.col("payment_id").is_in(wanted["payment_id"].to_list()))["amount"].sum()
    warning = [w.value for w in at.warning if "cases" in w.value]
    assert warning == [f"Decline {wanted.height:,} cases, GBP {total:,.2f} in all? Each gets its own decision and "
                       "audit entry."]
    assert not [d for c in wanted["case_id"].to_list() for d in history_of(folder, "fred", 1, c)]  # nothing yet
    at.button(key="rv_bulk_no").click()
    run(at)
    assert not [w for w in at.warning if "cases" in w.value]
    at.button(key="rv_bulk_ask").click()
    run(at)
    at.button(key="rv_bulk_yes").click()
    run(at)
    for case_id in wanted["case_id"].to_list():
        decided = history_of(folder, "fred", 1, case_id)
        assert [(d.outcome, d.reason, d.note, d.mode) for d in decided] == [
            ("decline", "card_testing", "burst of small attempts", "bulk")]
    audited = {e.entity_id for e in audit_of(folder, 1) if e.action == "decide:decline" and e.actor == "fred"}
    assert {str(c) for c in wanted["case_id"].to_list()} <= audited
    left = [d.value for d in at.dataframe if "time_left" in d.value.columns]
    assert not left or not set(wanted["case_id"].to_list()) & set(left[0]["case_id"].tolist())


def test_model_reasons_and_notes_are_plain_text(served, monkeypatch):
    from dashboard import review_scoring

    hostile = ['<a href="https://evil.example">5 payments</a> from this device in 10 minutes', "**md** [x](https://evil.example)"]
    monkeypatch.setattr(review_scoring, "reasons", lambda m, ids, v: {p: list(hostile) for p in ids})
    at = open_page("fraud_reviewer", merchants=(1,))
    assert set(queue(at)["top_reason"].to_list()) == {hostile[0]}
    at.button(key="rv_claim_next").click()
    run(at)
    assert [t.value for t in at.text if t.value.startswith("• ")] == [f"• {h}" for h in hostile]
    bad = [t for t in markdown_texts(at) if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, bad[:3]
    at.button(key="rv_release").click()
    run(at)


def test_reviewer_stats_against_the_store_and_the_chargebacks(served, fixture_warehouse_path):
    import sqlite3

    folder, _ = served
    from dashboard.review_panels import STATS_OPEN

    at = open_page("admin", merchants=(1, 2))
    at.selectbox(key="currency_pick").set_value("GBP")
    run(at)
    assert not [d for d in at.dataframe if "cases_per_hour" in d.value.columns]  # computed only when opened
    at.session_state[STATS_OPEN] = True
    run(at)
    stats = grid(at, "cases_per_hour")
    con = sqlite3.connect(folder / "state.sqlite")
    try:
        rows = con.execute("SELECT id, payment_id, merchant_id, reviewer, outcome, reverses, mode FROM review_decisions "
                           "WHERE merchant_id = 1").fetchall()
    finally:
        con.close()
    reversed_ids = {r[5] for r in rows if r[5] is not None}
    firsts = {}
    for r in rows:
        if r[6] != "reversal":
            firsts[r[3]] = firsts.get(r[3], 0) + 1
    assert dict(zip(stats["reviewer"].to_list(), stats["decisions"].to_list())) == firsts
    wh = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        facts = dict((p, (cb, ts)) for p, cb, ts in wh.execute(
            "SELECT payment_id, chargeback, paid_ts FROM payments WHERE merchant_id = 1").fetchall())
    finally:
        wh.close()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    expected = {}
    for r in rows:
        if r[0] in reversed_ids or r[4] not in ("approve", "decline"):
            continue
        charged, paid = facts[r[1]]
        truth = "fraud" if charged else "good" if paid <= now - dt.timedelta(days=90) else None
        if truth is not None:
            judged, agreed = expected.get(r[3], (0, 0))
            expected[r[3]] = (judged + 1, agreed + ((r[4] == "decline") == (truth == "fraud")))
    got = {r["reviewer"]: (r["judged"], r["agreement"]) for r in stats.iter_rows(named=True) if r["judged"]}
    assert expected and got == {k: (j, pytest.approx(a / j)) for k, (j, a) in expected.items()}


# ---------------------------------------------------------------------------------------------- with the fraud model


@pytest.fixture(scope="module")
def served_model(environment, fixture_warehouse_path, fraud_models, tmp_path_factory) -> Path:
    """A fresh copy and an empty store, with merchant 1's fraud model: the page scores and enqueues by itself."""
    folder = tmp_path_factory.mktemp("review_model")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path),
                       "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 'state.sqlite'}", **fraud_models})
    st.cache_data.clear()
    st.cache_resource.clear()
    return folder


def test_the_page_scores_new_payments_and_shows_the_models_reasons(served_model, fixture_warehouse_path,
                                                                   fraud_models):
    """Opening the page scores merchant 1's last 7 days with its model and queues what passes the model's
    threshold; the queue and the case show the model's reasons. Checked against the scoring functions called
    here on the fixture file with the saved model; a second view queues nothing new."""
    import ibis

    from data.access import DataAccess, Scope
    from models.artifacts import ModelStore
    from models.fraud import outputs
    from models.fraud.scoring import flagged_payments, score_payments

    saved = ModelStore(fraud_models["RETAIL_PULSE_MODELS_DIR"],
                       key=fraud_models["RETAIL_PULSE_MODEL_KEY"].encode()).load("fraud_score", 1)
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
        newest = con.execute("SELECT max(paid_ts) FROM payments WHERE merchant_id = 1").fetchone()[0]
        scored = score_payments(access, saved.payload, since=newest - dt.timedelta(days=7))
    finally:
        con.close()
    flagged = flagged_payments(scored, outputs.load_threshold(saved.payload))
    assert flagged.height > 0
    at = open_page("fraud_reviewer", merchants=(1,))
    shown = queue(at)
    assert sorted(shown["payment_id"].to_list()) == sorted(flagged["payment_id"].to_list())
    words = dict(zip(flagged["payment_id"].to_list(), flagged["reasons"].to_list()))
    assert shown["top_reason"].to_list() == [words[p][0] for p in shown["payment_id"].to_list()]
    assert shown["score"].to_list() == pytest.approx(
        [flagged.filter(pl.col("payment_id") == p)["score"][0] for p in shown["payment_id"].to_list()])
    at.button(key="rv_claim_next").click()
    run(at)
    held = at.session_state[rd_claim()].case.payment_id
    assert [t.value for t in at.text if t.value.startswith("• ")] == [f"• {w}" for w in words[held]]
    at.button(key="rv_release").click()
    run(at)
    again = open_page("admin", merchants=(1,))
    assert queue(again).height == flagged.height  # scored once per model and data version; queued once anyway
    other = open_page("fraud_reviewer", merchants=(2,))
    assert any("No fraud model yet for" in i.value for i in other.info)


# ---------------------------------------------------------------------------------------------- pure parts


def test_time_left_and_flags_in_words():
    assert rd.time_left_words(dt.timedelta(hours=3, minutes=20, seconds=59)) == "3 h 20 min"
    assert rd.time_left_words(dt.timedelta(minutes=45)) == "45 min"
    assert rd.time_left_words(dt.timedelta(seconds=30)) == "0 min"
    assert rd.time_left_words(dt.timedelta(days=2, hours=5, minutes=9)) == "2 d 5 h"
    assert rd.time_left_words(-dt.timedelta(hours=2, minutes=5)) == "overdue by 2 h 5 min"
    assert rd.flag_words("score") == "Score over the threshold"
    assert rd.flag_words("cards_per_device") == "Rule: cards per device"


def test_exports_make_formulas_inert_and_use_words():
    frame = pl.DataFrame({"decision_id": [1], "case_id": [2], "payment_id": [3],
                          "decided_at": [dt.datetime(2026, 1, 2, 3, 4)], "reviewer": ["@ana"],
                          "outcome_text": ["Declined"], "reason_text": ["Stolen card"], "note": ['=HYPERLINK("x")']})
    csv = pl.read_csv(io.BytesIO(rd.lazy(lambda: frame, rd.DECISION_EXPORT)()))
    assert csv.columns == list(rd.DECISION_EXPORT.values())
    assert csv["Note"].to_list() == ["'=HYPERLINK(\"x\")"] and csv["Reviewer"].to_list() == ["'@ana"]


def test_reason_windows_are_fixed_blocks_of_four_whole_weeks():
    from dashboard.review_scoring import windows

    d = dt.date
    assert windows([]) == []
    [(first, last)] = windows([d(2026, 10, 28)])
    assert first.weekday() == 0 and last - first == dt.timedelta(days=27) and first <= d(2026, 10, 28) <= last
    # every day of a block maps to that block, and the next day after it to the next one
    assert {windows([first + dt.timedelta(days=i)])[0] for i in range(28)} == {(first, last)}
    assert windows([last + dt.timedelta(days=1)]) == [(last + dt.timedelta(days=1), last + dt.timedelta(days=28))]
    # a day's block does not depend on the other days asked about (the page after a decision reuses it)
    recent = [d(2026, 10, 1), d(2026, 10, 20), d(2026, 10, 31)]
    for day in recent:
        assert windows([day])[0] in windows([d(2025, 3, 4), *recent])
    assert windows(recent + recent) == windows(recent) == sorted(set(windows(recent)))


def test_review_columns_are_words_of_known_kinds():
    assert all(c.kind in tables.KINDS for c in rd.REVIEW_COLUMNS.values())
    assert not tables.snake_case_labels(c.label for c in rd.REVIEW_COLUMNS.values())
    assert tables.label_for("amount", "GBP", rd.REVIEW_COLUMNS) == "Amount (GBP)"
