"""The fraud review queue's store (data/store/reviews.py): concurrency, crashes, order, scope, reversals,
hostile text and the migration, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from data.store import (AlreadyDecided, CaseHeld, InvalidValue, LeaseLost, OutOfScope, Principal,
                        RequestIdReused, StaleRevision, open_store)
from data.store import migration
from data.store.engine import WRITE_OPTION
from data.store.tables import audit_log, leases, metadata, review_cases, review_decisions, review_settings
from tests.store_support import postgres_server, store, store_url  # noqa: F401
from tests.test_store_scope_audit import HOSTILE

ROOT = Path(__file__).resolve().parents[1]
JOB = Principal.staff("scoring-job")
ONE = Principal.merchants("ana", [1])
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


def _payments(merchant_ids, per_merchant, seed=1, start=0):
    rng = random.Random(seed)
    return [{"merchant_id": m, "payment_id": start + m * 1_000_000 + i, "score": round(rng.random(), 3),
             "amount": float(rng.choice([5, 20, 20, 80, 300])), "currency": "EUR",
             "flagged_by": rng.choice(["score", "cards_per_device"])}
            for m in merchant_ids for i in range(per_merchant)]


def _counts(store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def _run_threads(count: int, work) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def runner(n: int) -> None:
        try:
            barrier.wait()
            work(n)
        except BaseException as exc:  # collected and reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _assert_no_overlap(intervals: dict[int, list[tuple[dt.datetime, dt.datetime, str]]]) -> None:
    """Per case, each lease (from claim to its decision or expiry, store times) starts after the last ends."""
    for case_id, spans in intervals.items():
        spans = sorted(spans)
        for (_, end, token), (start, _, other) in zip(spans, spans[1:]):
            assert start >= end, f"case {case_id}: lease {other} began at {start} while {token} ran to {end}"


THREADS, PER_THREAD, MERCHANTS = 20, 500, 4


@pytest.mark.slow
def test_20_reviewers_x_500_decisions_with_resends_leave_10000_and_no_case_decided_twice(store):
    total = THREADS * PER_THREAD
    store.reviews.enqueue_many(JOB, _payments(range(1, MERCHANTS + 1), total // MERCHANTS))
    guard = threading.Lock()
    held: dict[int, str] = {}  # case -> holder, in our books, from claim until the decision returned
    violations: list[str] = []
    intervals: dict[int, list] = defaultdict(list)
    resent = Counter()

    def work(n: int) -> None:
        who = Principal.merchants(f"reviewer{n}", [1 + n % MERCHANTS])
        rng = random.Random(n)
        pending: list[tuple] = []  # decisions to send again later (a retried click)
        claimed = store.reviews.claim_next(who, ttl=dt.timedelta(minutes=10))
        for i in range(PER_THREAD):
            assert claimed is not None, f"{who.user} found no case after {i} decisions"
            case, lease = claimed.case, claimed.lease
            with guard:
                if case.id in held:
                    violations.append(f"case {case.id} claimed by {who.user} while {held[case.id]} holds it")
                held[case.id] = who.user
            outcome = rng.choice(["approve", "decline", "escalate"])
            reason = {"approve": "known_good_history", "decline": "stolen_card", "escalate": "high_value"}[outcome]
            args = dict(outcome=outcome, reason=reason, note=f"{who.user} #{i}", request_id=f"{n}-{i}")
            with guard:  # let go in our books first: the next case comes in the same transaction
                del held[case.id]
            if i < PER_THREAD - 1:  # the way the page works: decide, and the next case comes back with it
                decision, claimed = store.reviews.decide_and_claim_next(who, lease, ttl=dt.timedelta(minutes=10),
                                                                        **args)
            else:
                decision = store.reviews.decide(who, lease, **args)
            with guard:
                intervals[case.id].append((lease.claimed_at, decision.decided_at, lease.token))
            assert not decision.duplicate and decision.case_id == case.id
            if i % 10 == 0:
                pending.append((lease, args, decision))
            if pending and rng.random() < 0.15 or i == PER_THREAD - 1:
                while pending:
                    old_lease, old_args, first = pending.pop()
                    again, nothing = store.reviews.decide_and_claim_next(who, old_lease, **old_args)
                    assert again.duplicate and again.id == first.id and again.decided_at == first.decided_at
                    assert nothing is None
                    resent[n] += 1

    started = time.perf_counter()
    errors = _run_threads(THREADS, work)
    seconds = time.perf_counter() - started
    assert not errors, errors[:3]
    assert not violations, violations[:5]
    assert sum(resent.values()) == total // 10
    with store.engine.connect() as conn:
        per_case = Counter(conn.execute(select(review_decisions.c.case_id)).scalars())
        audited = conn.execute(select(func.count()).select_from(audit_log)
                               .where(audit_log.c.entity == "review_case")).scalar_one()
        open_leases = conn.execute(select(func.count()).select_from(leases)
                                   .where(leases.c.done_at.is_(None))).scalar_one()
    assert sum(per_case.values()) == total and len(per_case) == total and set(per_case.values()) == {1}
    assert audited == total and open_leases == 0
    assert all(len(spans) == 1 for spans in intervals.values()) and len(intervals) == total
    _assert_no_overlap(intervals)
    assert store.reviews.queue(JOB) == []
    print(f"\n{store.dialect}: {total} decisions + {total // 10} re-sent from {THREADS} reviewers "
          f"in {seconds:.1f} s")


def test_expired_leases_pass_on_and_no_case_is_ever_held_by_two_live_leases(store):
    cases = 60
    store.reviews.enqueue_many(JOB, _payments([1, 2], cases // 2))
    ttl = dt.timedelta(milliseconds=300)
    guard = threading.Lock()
    intervals: dict[int, list] = defaultdict(list)
    outcomes = Counter()

    def work(n: int) -> None:
        who = Principal.merchants(f"r{n}", [1 + n % 2])
        rng = random.Random(n)
        while True:
            claimed = store.reviews.claim_next(who, ttl=ttl)
            if claimed is None:
                if not store.reviews.queue(who):  # nothing open or claimed: every case of ours is decided
                    return
                time.sleep(0.05)
                continue
            lease, roll = claimed.lease, rng.random()
            end = lease.expires_at
            if roll < 0.15:
                outcomes["abandoned"] += 1  # walks away: the lease expires and another reviewer gets the case
            else:
                if roll < 0.3:
                    time.sleep(0.35)  # too slow: the lease has expired by the time the decision comes
                try:
                    decision = store.reviews.decide(who, lease, outcome="approve", reason="known_good_history",
                                                    request_id=f"{n}-{lease.token}")
                    end = decision.decided_at
                    assert decision.claimed_at == lease.claimed_at and end < lease.expires_at
                    outcomes["decided"] += 1
                except (LeaseLost, AlreadyDecided):
                    outcomes["refused"] += 1
            with guard:
                intervals[claimed.case.id].append((lease.claimed_at, end, lease.token))

    errors = _run_threads(8, work)
    assert not errors, errors[:3]
    _assert_no_overlap(intervals)
    with store.engine.connect() as conn:
        per_case = Counter(conn.execute(select(review_decisions.c.case_id)).scalars())
    assert len(per_case) == cases and set(per_case.values()) == {1} and outcomes["decided"] == cases
    assert outcomes["abandoned"] and outcomes["refused"]  # both paths ran
    assert any(len(spans) > 1 for spans in intervals.values())


DECIDER = """
import sys, datetime as dt
from data.store import Principal, open_store
store = open_store(sys.argv[1])
who = Principal.merchants(sys.argv[2], [1])
i = 0
claimed = store.reviews.claim_next(who, ttl=dt.timedelta(seconds=2))
while True:
    rid = f"{sys.argv[2]}-{i}"
    args = dict(outcome="decline", reason="card_testing", request_id=rid, note="kill -9 test " * 20)
    if sys.argv[3] == "next":  # the page's way: the decision and the next claim in one commit
        _, following = store.reviews.decide_and_claim_next(who, claimed.lease, ttl=dt.timedelta(seconds=2), **args)
    else:
        store.reviews.decide(who, claimed.lease, **args)
        following = store.reviews.claim_next(who, ttl=dt.timedelta(seconds=2))
    print(rid, claimed.case.id, flush=True)  # printed only after the commit returned: an acknowledged decision
    claimed, i = following, i + 1
"""


@pytest.mark.slow
def test_kill_9_during_decisions_loses_no_acknowledged_decision(store_url):
    setup = open_store(store_url)
    setup.reviews.enqueue_many(JOB, _payments([1], 1_500))
    setup.close()
    acknowledged: dict[str, int] = {}
    rng = random.Random(9)
    for round_ in range(3):
        mode = "next" if round_ % 2 else "apart"
        child = subprocess.Popen([sys.executable, "-c", DECIDER, store_url, f"r{round_}", mode], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        lines = []
        for _ in range(rng.randint(40, 200)):
            line = child.stdout.readline()
            assert line, f"decider stopped early: {child.stderr.read()[-2000:]}"
            lines.append(line)
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        acknowledged.update(line.split() for line in lines + rest.splitlines() if line.strip())
    reopened = open_store(store_url)
    try:
        with reopened.engine.connect() as conn:
            stored = dict(conn.execute(select(review_decisions.c.request_id, review_decisions.c.case_id)).all())
            audited = set(conn.execute(select(audit_log.c.request_id)
                                       .where(audit_log.c.entity == "review_case")).scalars())
            if reopened.dialect == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        missing = [rid for rid in acknowledged if rid not in stored]
        assert not missing, f"{len(missing)} acknowledged decisions lost, e.g. {missing[:5]}"
        assert {rid: str(case) for rid, case in stored.items() if rid in acknowledged} == acknowledged
        assert len(set(stored.values())) == len(stored) and audited == set(stored)  # one each, all audited
        assert len(acknowledged) >= 3 * 40
        claimed = reopened.reviews.claim_next(ONE)  # the store keeps working after the crashes
        assert not reopened.reviews.decide(ONE, claimed.lease, outcome="approve", reason="known_good_history",
                                           request_id="after-crash").duplicate
    finally:
        reopened.close()


def _store_at(store_url, now):
    return open_store(store_url, clock=lambda: now[0])


def test_cases_come_in_order_of_time_left_then_amount_then_score(store_url):
    now = [T0]
    store = _store_at(store_url, now)
    try:
        staff = Principal.staff("lead")
        assert store.reviews.sla(staff, 1) == dt.timedelta(hours=24)  # the default
        assert store.reviews.set_sla(staff, merchant_id=1, sla=dt.timedelta(hours=1), request_id="sla1")
        assert not store.reviews.set_sla(staff, merchant_id=1, sla=dt.timedelta(hours=1), request_id="sla1")
        store.reviews.set_sla(staff, merchant_id=2, sla=dt.timedelta(hours=4), request_id="sla2")
        rng, expected = random.Random(3), []
        for batch in range(4):
            payments = [{"merchant_id": 1 + i % 2, "payment_id": batch * 100 + i, "score": rng.choice([0.5, 0.9]),
                         "amount": float(rng.choice([10, 50])), "currency": "EUR", "flagged_by": "score"}
                        for i in range(12)]
            for p, added in zip(payments, store.reviews.enqueue_many(JOB, payments)):
                sla = dt.timedelta(hours=1 if p["merchant_id"] == 1 else 4)
                expected.append((now[0] + sla, -p["amount"], -p["score"], added.case_id))
            now[0] += dt.timedelta(minutes=50)  # later merchant-1 batches can be due before earlier merchant-2 ones
        expected.sort()
        listed = store.reviews.queue(staff, limit=1000)
        assert [c.id for c in listed] == [e[-1] for e in expected]
        assert all(c.due_at == e[0] and c.state == "open" for c, e in zip(listed, expected))
        order = []
        while (claimed := store.reviews.claim_next(staff)) is not None:
            order.append(claimed.case.id)
        assert order == [e[-1] for e in expected]
        only_two = Principal.merchants("bo", [2])
        assert {c.merchant_id for c in store.reviews.queue(only_two, states=["claimed"])} == {2}
    finally:
        store.close()


def test_a_payment_enters_the_queue_once(store):
    first = store.reviews.enqueue(JOB, merchant_id=1, payment_id=7, score=0.9, amount=10.0, currency="EUR",
                                  flagged_by="score")
    again = store.reviews.enqueue(JOB, merchant_id=1, payment_id=7, score=0.1, amount=99.0, currency="USD",
                                  flagged_by="velocity_rule")
    other = store.reviews.enqueue(JOB, merchant_id=2, payment_id=7, score=0.9, amount=10.0, currency="EUR",
                                  flagged_by="score")
    assert first.added and not again.added and again.case_id == first.case_id and other.added
    case = store.reviews.case(JOB, first.case_id)
    assert (case.score, case.amount, case.currency, case.flagged_by) == (0.9, 10.0, "EUR", "score")
    assert case.due_at - case.entered_at == dt.timedelta(hours=24)
    assert _counts(store)["review_cases"] == 2 and _counts(store)["leases"] == 2


def test_a_reviewer_of_merchant_1_cannot_claim_decide_or_read_merchant_2(store):
    two = store.reviews.enqueue(JOB, merchant_id=2, payment_id=1, score=0.9, amount=1.0, currency="EUR",
                                flagged_by="score").case_id
    decided = store.reviews.enqueue(JOB, merchant_id=2, payment_id=2, score=0.9, amount=1.0, currency="EUR",
                                    flagged_by="score").case_id
    bob = Principal.merchants("bob", [2])
    bobs = store.reviews.claim(bob, decided)
    first = store.reviews.decide(bob, bobs.lease, outcome="decline", reason="stolen_card", request_id="b1")
    held = store.reviews.claim(bob, two)
    before = _counts(store)
    attempts = [
        lambda: store.reviews.claim(ONE, two),
        lambda: store.reviews.claim_next(ONE, merchant_ids=[2]),
        lambda: store.reviews.decide(ONE, held.lease, outcome="approve", reason="known_good_history", request_id="x"),
        lambda: store.reviews.decide_bulk(ONE, [two], outcome="approve", reason="known_good_history", request_id="y"),
        lambda: store.reviews.reverse(ONE, first.id, outcome="approve", reason="new_evidence", request_id="z"),
        lambda: store.reviews.enqueue(ONE, merchant_id=2, payment_id=3, score=0.5, amount=1.0, currency="EUR",
                                      flagged_by="score"),
        lambda: store.reviews.set_sla(ONE, merchant_id=2, sla=dt.timedelta(hours=2), request_id="s"),
        lambda: store.reviews.release(ONE, held.lease),
        lambda: store.reviews.case(ONE, two),
        lambda: store.reviews.history(ONE, decided),
        lambda: store.reviews.queue(ONE, merchant_ids=[2]),
        lambda: store.reviews.decision_log(ONE, merchant_ids=[2]),
        lambda: store.reviews.reviewer_stats(ONE, merchant_ids=[1, 2]),
        lambda: store.reviews.sla(ONE, 2),
    ]
    for attempt in attempts:
        with pytest.raises(OutOfScope, match="'ana' may not touch merchant 2"):
            attempt()
    assert _counts(store) == before  # nothing written, not even an audit entry
    assert store.reviews.claim_next(ONE) is None
    assert store.reviews.queue(ONE, states=None) == [] and store.reviews.decision_log(ONE) == []
    assert store.reviews.reviewer_stats(ONE) == [] and {e.merchant_id for e in store.audit.entries(ONE)} == set()


def test_decisions_are_never_edited_a_reversal_is_a_new_decision(store):
    ids = [e.case_id for e in store.reviews.enqueue_many(JOB, _payments([1], 3))]
    claimed = store.reviews.claim(ONE, ids[0])
    assert claimed.case.state == "claimed" and claimed.case.holder == "ana"
    first = store.reviews.decide(ONE, claimed.lease, outcome="decline", reason="stolen_card", note="n1",
                                 request_id="d1")
    assert store.reviews.case(ONE, ids[0]).state == "decline"
    assert store.reviews.claim(ONE, ids[0]) is None  # decided: out of the queue
    with pytest.raises(AlreadyDecided, match=rf"case {ids[0]} .* already decided: decline by 'ana' .* reversal"):
        store.reviews.decide(ONE, claimed.lease, outcome="approve", reason="known_good_history", request_id="d2")
    with pytest.raises(RequestIdReused):
        store.reviews.decide(ONE, claimed.lease, outcome="approve", reason="known_good_history", request_id="d1")
    with pytest.raises(InvalidValue, match="already 'decline': a reversal changes the outcome"):
        store.reviews.reverse(ONE, first.id, outcome="decline", reason="new_evidence", request_id="v0")
    reversal = store.reviews.reverse(ONE, first.id, outcome="approve", reason="customer_confirmed", request_id="v1")
    assert (reversal.sequence, reversal.reverses, reversal.mode) == (2, first.id, "reversal")
    assert store.reviews.reverse(ONE, first.id, outcome="approve", reason="customer_confirmed",
                                 request_id="v1").duplicate
    with pytest.raises(StaleRevision, match=f"already reversed; its current decision is {reversal.id}"):
        store.reviews.reverse(ONE, first.id, outcome="escalate", reason="new_evidence", request_id="v2")
    history = store.reviews.history(ONE, ids[0])
    assert [(d.id, d.outcome, d.note) for d in history] == [(first.id, "decline", "n1"), (reversal.id, "approve", None)]
    assert store.reviews.case(ONE, ids[0]).state == "approve"
    assert {d.id: d.current for d in store.reviews.decision_log(ONE)} == {first.id: False, reversal.id: True}
    entries = store.audit.entries(ONE, entity="review_case", entity_id=str(ids[0]))
    assert [e.action for e in entries] == ["decide:decline", "reverse:approve"]
    assert entries[0].before == {"state": "claimed", "holder": "ana"} and entries[0].after["outcome"] == "decline"
    assert entries[1].before["outcome"] == "decline" and entries[1].after["reverses"] == first.id
    assert all(e.actor == "ana" and e.recorded_at.tzinfo for e in entries)

    # Bulk: all or nothing, a re-sent bulk returns the first results.
    other = Principal.merchants("cy", [1])
    held = store.reviews.claim(other, ids[1])
    before = _counts(store)
    with pytest.raises(CaseHeld, match=f"1 of the 2 cases are being reviewed by someone else \\(case {ids[1]}\\)"):
        store.reviews.decide_bulk(ONE, ids[1:], outcome="approve", reason="known_good_history", request_id="b")
    with pytest.raises(AlreadyDecided, match=f"case {ids[0]}"):
        store.reviews.decide_bulk(ONE, ids, outcome="approve", reason="known_good_history", request_id="b")
    assert _counts(store) == before
    store.reviews.release(other, held.lease)
    bulk = store.reviews.decide_bulk(ONE, ids[1:], outcome="approve", reason="known_good_history", request_id="b")
    assert [d.case_id for d in bulk] == ids[1:] and {d.mode for d in bulk} == {"bulk"}
    again = store.reviews.decide_bulk(ONE, ids[1:], outcome="approve", reason="known_good_history", request_id="b")
    assert [d.id for d in again] == [d.id for d in bulk] and all(d.duplicate for d in again)
    assert store.reviews.queue(ONE) == []


@pytest.mark.parametrize("table", [review_cases, review_decisions, review_settings])
def test_review_tables_refuse_update_and_delete(store, table):
    store.reviews.set_sla(ONE, merchant_id=1, sla=dt.timedelta(hours=2), request_id="s")
    store.reviews.decide_bulk(ONE, [store.reviews.enqueue(ONE, **_payments([1], 1)[0]).case_id],
                              outcome="decline", reason="card_testing", request_id="b")
    for statement in [f"UPDATE {table.name} SET merchant_id = 3", f"DELETE FROM {table.name}"]:
        with pytest.raises(DBAPIError, match=f"{table.name} is append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))


def test_hostile_notes_are_stored_verbatim_and_never_interpreted(store):
    notes = [h for h in HOSTILE if len(h) <= 2_000] + ["y" * 2_000]
    ids = [e.case_id for e in store.reviews.enqueue_many(JOB, _payments([1], len(notes)))]
    for n, note in enumerate(notes):
        claimed = store.reviews.claim_next(ONE)
        decision = store.reviews.decide(ONE, claimed.lease, outcome="escalate", reason="needs_senior_review",
                                        note=note, request_id=f"h{n}")
        [stored] = store.reviews.history(ONE, claimed.case.id)
        assert stored.note == note == decision.note
        [entry] = store.audit.entries(ONE, entity="review_case", entity_id=str(claimed.case.id))
        assert entry.after["note"] == note
    assert set(inspect(store.engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
    assert _counts(store)["review_decisions"] == len(ids)


@pytest.mark.parametrize("call, message", [
    (dict(outcome="maybe"), "one of approve, decline, escalate, not 'maybe'"),
    (dict(reason="stolen_card"), "reason code for 'approve' must be one of verified_with_customer"),
    (dict(reason="<b>bad</b>"), "not '<b>bad</b>'"),
    (dict(reason="new_evidence"), "reason code for 'approve'"),  # reversal reasons are for reversals only
    (dict(note="x" * 2_001), "at most 2,000"),
    (dict(note="a\x00b"), "NUL"),
    (dict(request_id=""), "request id must be non-empty"),
])
def test_bad_decisions_are_refused_with_a_clear_message_and_nothing_written(store, call, message):
    store.reviews.enqueue(JOB, **_payments([1], 1)[0])
    claimed = store.reviews.claim_next(ONE)
    before = _counts(store)
    args = {"outcome": "approve", "reason": "known_good_history", "request_id": "r", **call}
    with pytest.raises(InvalidValue, match=message):
        store.reviews.decide(ONE, claimed.lease, **args)
    assert _counts(store) == before


@pytest.mark.parametrize("change, message", [
    ({"score": 1.5}, "score must be a number from 0 to 1"), ({"amount": float("nan")}, "amount must be a number"),
    ({"currency": "eur"}, "three-letter ISO 4217"), ({"flagged_by": "rule; DROP"}, "flagged_by must be 'score'"),
    ({"payment_id": "12"}, "payment_id must be a non-negative whole number"), ({"score": None}, "score"),
])
def test_bad_payments_are_refused_by_position_and_none_enqueued(store, change, message):
    payments = _payments([1], 3)
    payments[1] = {**payments[1], **change}
    with pytest.raises(InvalidValue, match=f"payment 2: .*{message}"):
        store.reviews.enqueue_many(JOB, payments)
    assert _counts(store)["review_cases"] == 0
    with pytest.raises(InvalidValue, match="review SLA must be a duration"):
        store.reviews.set_sla(JOB, merchant_id=1, sla=dt.timedelta(days=90), request_id="s")


def test_a_decision_needs_the_deciders_own_live_lease(store_url):
    now = [T0]
    store = _store_at(store_url, now)
    try:
        case_id = store.reviews.enqueue(JOB, **_payments([1], 1)[0]).case_id
        mine = store.reviews.claim(ONE, case_id, ttl=dt.timedelta(minutes=5))
        colleague = Principal.merchants("cy", [1])
        with pytest.raises(LeaseLost, match="is held by 'ana', not by 'cy'"):
            store.reviews.decide(colleague, mine.lease, outcome="approve", reason="known_good_history", request_id="c")
        now[0] += dt.timedelta(minutes=6)
        with pytest.raises(LeaseLost, match="expired or was taken over"):
            store.reviews.decide(ONE, mine.lease, outcome="approve", reason="known_good_history", request_id="a")
        theirs = store.reviews.claim_next(colleague)
        assert theirs.case.id == case_id and theirs.lease.token != mine.lease.token
        done = store.reviews.decide(colleague, theirs.lease, outcome="approve", reason="known_good_history",
                                    request_id="c2")
        assert done.claimed_at == now[0] and store.reviews.case(ONE, case_id).decided_by == "cy"
    finally:
        store.close()


def test_reviewer_stats_match_a_recount_of_the_scenario(store_url):
    now = [T0]
    store = _store_at(store_url, now)
    try:
        store.reviews.enqueue_many(JOB, _payments([1], 8))
        cy = Principal.merchants("cy", [1])
        # (reviewer, minutes after 09:00 the claim starts, seconds to decide)
        plan = [(ONE, 0, 60), (ONE, 10, 120), (ONE, 20, 300), (ONE, 70, 30), (cy, 5, 45), (cy, 130, 15)]
        decisions = []
        for n, (who, start, wait) in enumerate(sorted(plan, key=lambda p: p[1])):
            now[0] = T0 + dt.timedelta(minutes=start)
            claimed = store.reviews.claim_next(who)
            now[0] += dt.timedelta(seconds=wait)
            decisions.append(store.reviews.decide(who, claimed.lease, outcome="approve", request_id=f"s{n}",
                                                  reason="known_good_history"))
        now[0] = T0 + dt.timedelta(minutes=135)
        left = [c.id for c in store.reviews.queue(cy)]
        assert len(left) == 2
        store.reviews.decide_bulk(cy, left, outcome="decline", reason="card_testing", request_id="bulk")
        store.reviews.reverse(cy, decisions[0].id, outcome="decline", reason="new_evidence", request_id="rev")
        stats = {s.reviewer: s for s in store.reviews.reviewer_stats(ONE)}
        ana, cys = stats["ana"], stats["cy"]
        assert (ana.decisions, ana.bulk_decisions, ana.reversals, ana.active_hours) == (4, 0, 0, 2)
        assert ana.cases_per_hour == 2.0 and ana.median_seconds_to_decision == statistics.median([60, 120, 300, 30])
        # cy: 09:05 and 11:10 decisions, then 2 bulk decisions and a reversal at 11:15 -> hours 9 and 11.
        assert (cys.decisions, cys.bulk_decisions, cys.reversals, cys.active_hours) == (4, 2, 1, 2)
        assert cys.cases_per_hour == 2.0 and cys.median_seconds_to_decision == statistics.median([45, 15])
        window = store.reviews.reviewer_stats(ONE, since=T0 + dt.timedelta(hours=1), until=T0 + dt.timedelta(hours=2))
        assert [(s.reviewer, s.decisions) for s in window] == [("ana", 1)]
        log = store.reviews.decision_log(ONE)
        assert len(log) == 9 and sum(not d.current for d in log) == 1
        assert {d.payment_id for d in log} == {p["payment_id"] for p in _payments([1], 8)}
    finally:
        store.close()


def _migrate(engine, target: str, down: bool = False) -> None:
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        (command.downgrade if down else command.upgrade)(migration._config(conn), target)


def test_migration_0003_upgrades_a_0002_store_and_downgrades_only_without_decisions(store_url):
    old = open_store(store_url, migrate=False)
    try:
        _migrate(old.engine, "0002")
        with old.engine.begin() as conn:
            conn.execute(leases.insert().values(queue="fraud_review", item_key="payment:old", merchant_id=1, rank=0.0,
                                                enqueued_at=T0))
        assert "review_cases" not in inspect(old.engine).get_table_names()
    finally:
        old.close()
    store = open_store(store_url)  # upgrades to head, keeping what was there
    try:
        assert migration.current_revision(store.engine) == migration.head_revision() == "0004"
        case_id = store.reviews.enqueue(JOB, **_payments([1], 1)[0]).case_id
        assert _counts(store)["leases"] == 2
        _migrate(store.engine, "0002", down=True)  # only cases (from scoring): allowed
        assert "review_cases" not in inspect(store.engine).get_table_names()
        with store.engine.connect() as conn:
            assert conn.execute(select(leases.c.item_key)).scalars().all() == ["payment:old"]
        _migrate(store.engine, "head")
        case_id = store.reviews.enqueue(JOB, **_payments([1], 1)[0]).case_id
        store.reviews.decide_bulk(ONE, [case_id], outcome="approve", reason="known_good_history", request_id="b")
        with pytest.raises(RuntimeError, match="holds 1 review decisions; it is not downgraded"):
            _migrate(store.engine, "0002", down=True)
        assert migration.current_revision(store.engine) == "0004" and _counts(store)["review_decisions"] == 1
    finally:
        store.close()
