"""The operational store's rules: merchant scope on every read and write, an append-only audit log with
before and after, idempotent request ids, and free text kept verbatim. Same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from data.store import InvalidValue, OutOfScope, Principal, RequestIdReused, StaleRevision
from data.store.tables import alert_actions, audit_log, document_revisions, leases, metadata
from tests.store_support import postgres_server, store, store_url  # noqa: F401

STAFF = Principal.staff("staff")
ONE = Principal.merchants("ana", [1])
LINES = [{"product_id": 5, "store_id": 2, "quantity": 12, "sku": "SKU-5", "unit_cost": 3.5}]


def _counts(store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def test_a_principal_of_merchant_1_cannot_read_or_write_merchant_2(store):
    store.alerts.acknowledge(STAFF, merchant_id=2, alert_key="product:9@store:1", request_id="m2-ack", note="m2")
    store.alerts.acknowledge(ONE, merchant_id=1, alert_key="product:1@store:1", request_id="m1-ack")
    draft = store.purchase_orders.draft(STAFF, merchant_id=2, lines=LINES, request_id="m2-po")
    store.leases.enqueue(STAFF, queue="fraud_review", merchant_id=2, item_key="payment:2")
    before = _counts(store)

    writes = [
        lambda: store.alerts.acknowledge(ONE, merchant_id=2, alert_key="product:9@store:1", request_id="x1"),
        lambda: store.alerts.snooze(ONE, merchant_id=2, alert_key="product:9@store:1", request_id="x2",
                                    until=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)),
        lambda: store.purchase_orders.draft(ONE, merchant_id=2, lines=LINES, request_id="x3"),
        lambda: store.purchase_orders.set_status(ONE, document_id=draft.document_id, base_revision=1,
                                                 status="cancelled", request_id="x4"),
        lambda: store.leases.enqueue(ONE, queue="fraud_review", merchant_id=2, item_key="payment:3"),
        lambda: store.leases.claim(ONE, queue="fraud_review", item_key="payment:2", holder="ana",
                                   ttl=dt.timedelta(minutes=5)),
    ]
    reads = [
        lambda: store.alerts.states(ONE, merchant_ids=[2]),
        lambda: store.alerts.history(ONE, merchant_id=2, alert_key="product:9@store:1"),
        lambda: store.purchase_orders.current(ONE, draft.document_id),
        lambda: store.purchase_orders.latest(ONE, merchant_ids=[1, 2]),
        lambda: store.audit.entries(ONE, merchant_ids=[2]),
    ]
    for attempt in writes + reads:
        with pytest.raises(OutOfScope, match="'ana' may not touch .*merchant"):
            attempt()
    assert _counts(store) == before  # nothing written, not even to the audit log

    # Unfiltered reads return only the principal's own merchant.
    assert set(store.alerts.states(ONE)) == {(1, "product:1@store:1")}
    assert store.purchase_orders.latest(ONE) == []
    assert {e.merchant_id for e in store.audit.entries(ONE)} == {1}
    assert store.leases.claim_next(ONE, queue="fraud_review", holder="ana", ttl=dt.timedelta(minutes=5)) is None
    assert store.leases.claim_next(STAFF, queue="fraud_review", holder="s", ttl=dt.timedelta(minutes=5))
    assert Principal.merchants("nobody", []).visible(None, "alerts") == frozenset()


def test_a_request_id_of_another_merchant_is_refused_without_revealing_its_change(store):
    store.alerts.acknowledge(STAFF, merchant_id=2, alert_key="secret-key", request_id="shared", note="secret note")
    with pytest.raises(RequestIdReused) as refused:
        store.alerts.acknowledge(ONE, merchant_id=1, alert_key="mine", request_id="shared")
    assert "secret" not in str(refused.value)
    assert store.alerts.states(ONE) == {}


def test_every_write_is_audited_once_with_before_and_after(store):
    key = "product:1@store:1"
    until = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    store.alerts.acknowledge(ONE, merchant_id=1, alert_key=key, request_id="a1")
    store.alerts.assign(ONE, merchant_id=1, alert_key=key, assignee="bob", request_id="a2", note="yours")
    store.alerts.assign(ONE, merchant_id=1, alert_key=key, assignee="bob", request_id="a2", note="yours")  # re-sent
    store.alerts.snooze(ONE, merchant_id=1, alert_key=key, until=until, request_id="a3")
    store.alerts.record(ONE, merchant_id=1, alert_key=key, action="resolve", reason="reordered", request_id="a4")
    draft = store.purchase_orders.draft(ONE, merchant_id=1, lines=LINES, request_id="p1", supplier="ACME")
    store.purchase_orders.revise(ONE, document_id=draft.document_id, base_revision=1, request_id="p2",
                                 lines=[{**LINES[0], "quantity": 20}])
    store.purchase_orders.revise(ONE, document_id=draft.document_id, base_revision=1, request_id="p2",
                                 lines=[{**LINES[0], "quantity": 20}])  # re-sent

    entries = store.audit.entries(ONE)
    assert [e.request_id for e in entries] == ["a1", "a2", "a3", "a4", "p1", "p2"]
    assert all(e.actor == "ana" and e.merchant_id == 1 and e.recorded_at.tzinfo for e in entries)
    ack, assign, snooze, resolve, create, revise = entries
    assert (ack.entity, ack.entity_id, ack.action) == ("alert:stockout", key, "acknowledge")
    assert ack.before["acknowledged_by"] is None and ack.after["acknowledged_by"] == "ana"
    assert assign.before["assignee"] is None and assign.after["assignee"] == "bob"
    assert snooze.before["snoozed_until"] is None and snooze.after["snoozed_until"] == until.isoformat()
    assert resolve.after["resolved_reason"] == "reordered" and resolve.before["resolved_reason"] is None
    assert create.before is None and create.after["body"]["supplier"] == "ACME"
    assert revise.before["body"]["lines"][0]["quantity"] == 12 and revise.after["body"]["lines"][0]["quantity"] == 20

    # Current state is derived from the rows; history keeps every row.
    state = store.alerts.states(ONE)[(1, key)]
    assert state.acknowledged and state.assignee == "bob" and state.resolved and state.snoozed(until - dt.timedelta(1))
    assert len(store.alerts.history(ONE, merchant_id=1, alert_key=key)) == 4
    assert [r.revision for r in store.documents.history(ONE, kind="purchase_order",
                                                        document_id=draft.document_id)] == [1, 2]
    with pytest.raises(StaleRevision, match="at revision 2, not 1"):
        store.purchase_orders.set_status(ONE, document_id=draft.document_id, base_revision=1,
                                         status="submitted", request_id="p3")


@pytest.mark.parametrize("table", [audit_log, alert_actions, document_revisions])
def test_append_only_tables_refuse_update_and_delete(store, table):
    store.alerts.acknowledge(ONE, merchant_id=1, alert_key="k", request_id="r1")
    store.purchase_orders.draft(ONE, merchant_id=1, lines=LINES, request_id="r2")
    statements = [f"UPDATE {table.name} SET merchant_id = 3", f"DELETE FROM {table.name}"]
    if store.dialect == "postgresql":
        statements.append(f"TRUNCATE {table.name}")
    for statement in statements:
        with pytest.raises(DBAPIError, match=f"{table.name} is append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table).where(table.c.merchant_id == 1)).scalar_one() >= 1
    # The lease table is the one updated in place (a live claim), so it has no such trigger.
    with store.engine.begin() as conn:
        conn.execute(leases.delete())


HOSTILE = [
    "'); DROP TABLE alert_actions; --",
    "Robert'); DELETE FROM audit_log WHERE ('1'='1",
    '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "[click me](https://evil.example/phish) **bold** <a href='https://evil.example'>x</a>",
    "=HYPERLINK(\"https://evil.example\",\"ok\")", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3",
    "\u202eevil\u202c \u200b\u200d zero-width, RTL override",
    "emoji 🧨💥 and combining e\u0301 and CJK 漢字 and Ω",
    "line1\nline2\r\nline3\ttab \\backslash\\ \"double\" 'single' `back`",
    "%s %d {0} {name} $1 :param ? ?? ${x} \\x00 not a NUL",
    "  leading and trailing spaces  ", "\u2028\u2029 separators", '{"json": [1, 2]}', "x" * 10_000,
]


def test_hostile_text_round_trips_verbatim(store):
    for i, value in enumerate(HOSTILE):
        short = value[:200]
        done = store.alerts.assign(ONE, merchant_id=1, alert_key=short, assignee=short, note=value,
                                   request_id=f"h{i}")
        assert not done.duplicate
        [action] = store.alerts.history(ONE, merchant_id=1, alert_key=short)
        assert (action.alert_key, action.assignee, action.note) == (short, short, value)
        draft = store.purchase_orders.draft(ONE, merchant_id=1, supplier=short, title=value[:400], note=value,
                                            lines=[{**LINES[0], "sku": short}], request_id=f"p{i}")
        again = store.purchase_orders.current(ONE, draft.document_id)
        assert (again.title, again.note, again.body["supplier"], again.body["lines"][0]["sku"]) == \
            (value[:400], value, short, short)
        entry = store.audit.entries(ONE, entity="purchase_order", entity_id=draft.document_id)[0]
        assert entry.after["note"] == value and entry.after["body"]["supplier"] == short


@pytest.mark.parametrize("bad, reason", [("a\x00b", "NUL"), ("a\ud800b", "lone surrogate"),
                                         ("x" * 10_001, "at most 10,000")])
def test_text_a_store_cannot_keep_is_refused_with_a_reason_and_nothing_written(store, bad, reason):
    before = _counts(store)
    with pytest.raises(InvalidValue, match=reason):
        store.alerts.acknowledge(ONE, merchant_id=1, alert_key="k", note=bad, request_id="r")
    with pytest.raises(InvalidValue, match=reason):
        store.purchase_orders.draft(ONE, merchant_id=1, lines=LINES, note=bad, request_id="r")
    assert _counts(store) == before


@pytest.mark.parametrize("kwargs, message", [
    ({"action": "explode"}, "unknown alert action 'explode'"),
    ({"action": "assign"}, "needs assignee"),
    ({"action": "snooze", "snoozed_until": dt.datetime(2030, 1, 1)}, "timezone-aware"),
    ({"action": "feedback", "reason": "meh"}, "useful, not_useful"),
    ({"action": "acknowledge", "alert_kind": "weather"}, "unknown alert kind 'weather'"),
    ({"action": "acknowledge", "request_id": ""}, "request id must be non-empty"),
])
def test_bad_alert_actions_are_refused_with_a_clear_message(store, kwargs, message):
    args = {"merchant_id": 1, "alert_key": "k", "request_id": "r", **kwargs}
    with pytest.raises(InvalidValue, match=message):
        store.alerts.record(ONE, **args)
    assert _counts(store)["alert_actions"] == 0


@pytest.mark.parametrize("lines, message", [
    ([], "1 to 20,000 lines"),
    ([{"product_id": 1, "store_id": 1, "quantity": 0}], "line 1: quantity must be a positive whole number"),
    ([LINES[0], {"product_id": "5", "store_id": 1, "quantity": 1}], "line 2: product_id"),
    ([{**LINES[0], "unit_cost": float("nan")}], "unit_cost must be a non-negative number"),
    ([{**LINES[0], "colour": "red"}], "unknown fields colour"),
])
def test_bad_purchase_order_lines_are_named(store, lines, message):
    with pytest.raises(InvalidValue, match=message):
        store.purchase_orders.draft(ONE, merchant_id=1, lines=lines, request_id="r")


def test_snoozing_into_the_past_is_refused_but_a_late_retry_is_a_duplicate(store_url):
    from data.store import open_store

    now = [dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)]
    store = open_store(store_url, clock=lambda: now[0])
    try:
        with pytest.raises(InvalidValue, match="is not in the future"):
            store.alerts.snooze(ONE, merchant_id=1, alert_key="k", until=now[0], request_id="s0")
        until = now[0] + dt.timedelta(hours=1)
        assert not store.alerts.snooze(ONE, merchant_id=1, alert_key="k", until=until, request_id="s1").duplicate
        now[0] += dt.timedelta(hours=2)
        late = store.alerts.snooze(ONE, merchant_id=1, alert_key="k", until=until, request_id="s1")
        assert late.duplicate and not late.state.snoozed(now[0])
        store.alerts.acknowledge(ONE, merchant_id=1, alert_key="other", request_id="a1")
        assert set(store.alerts.states(ONE, alert_keys=["k", "never-touched"])) == {(1, "k")}
    finally:
        store.close()


def test_queue_items_are_listed_in_claiming_order_within_scope(store):
    for merchant, key, rank in [(1, "b", 2.0), (1, "a", 1.0), (2, "c", 0.0)]:
        store.leases.enqueue(STAFF, queue="fraud_review", merchant_id=merchant, item_key=key, rank=rank)
    assert [i.item_key for i in store.leases.items(STAFF, queue="fraud_review")] == ["c", "a", "b"]
    assert [i.item_key for i in store.leases.items(ONE, queue="fraud_review")] == ["a", "b"]
    lease = store.leases.claim_next(ONE, queue="fraud_review", holder="ana", ttl=dt.timedelta(minutes=5))
    assert lease.item_key == "a"
    held = {i.item_key: i.held(store.now()) for i in store.leases.items(ONE, queue="fraud_review")}
    assert held == {"a": True, "b": False}
    store.leases.renew(ONE, lease, dt.timedelta(minutes=10))
    store.leases.complete(ONE, lease)
    assert [i.item_key for i in store.leases.items(ONE, queue="fraud_review")] == ["b"]
    actions = [e.action for e in store.audit.entries(ONE, entity="queue:fraud_review", entity_id="a")]
    assert actions == ["enqueue", "claim", "renew", "complete"]


def test_writes_grouped_in_one_transaction_commit_or_roll_back_together(store):
    from data.store import LeaseLost

    store.leases.enqueue(STAFF, queue="fraud_review", merchant_id=1, item_key="payment:1")
    lease = store.leases.claim_next(ONE, queue="fraud_review", holder="ana", ttl=dt.timedelta(minutes=5))
    before = _counts(store)
    with pytest.raises(RuntimeError, match="crash"):
        with store.transaction():
            store.alerts.acknowledge(ONE, merchant_id=1, alert_key="k", request_id="t1")
            store.purchase_orders.draft(ONE, merchant_id=1, lines=LINES, request_id="t2")
            raise RuntimeError("crash before commit")
    assert _counts(store) == before  # rows and audit entries went together

    with store.transaction():  # the decision pattern: record only under a live lease, then complete it
        store.leases.verify(lease)
        store.alerts.acknowledge(ONE, merchant_id=1, alert_key="k", request_id="t1")
        store.leases.complete(ONE, lease)
    with pytest.raises(LeaseLost):
        with store.transaction():
            store.leases.verify(lease)  # completed: the lease no longer holds anything
            store.alerts.acknowledge(ONE, merchant_id=1, alert_key="k", request_id="t3")
    assert [a.request_id for a in store.alerts.history(ONE, merchant_id=1, alert_key="k")] == ["t1"]
