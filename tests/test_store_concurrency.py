"""The operational store under concurrent writers and crashes, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from data.store import LeaseLost, Principal, open_store
from data.store.tables import alert_actions, audit_log
from tests.store_support import postgres_server, store, store_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
THREADS, PER_THREAD, RESEND_EVERY = 20, 200, 10


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


@pytest.mark.slow
def test_20_threads_x_200_acknowledgements_with_resends_leave_one_each(store):
    duplicates = Counter()

    def work(n: int) -> None:
        merchant = 1 + n % 4
        who = Principal.merchants(f"user{n}", [merchant])
        sends = [(f"t{n}-{i}", f"product:{n * PER_THREAD + i}@store:1") for i in range(PER_THREAD)]
        # 10% are sent twice (a retried click), the second copy at a random later point in the stream.
        resends = [s for i, s in enumerate(sends) if i % RESEND_EVERY == 0]
        stream = sends + resends
        random.Random(n).shuffle(stream)
        seen = set()
        for rid, key in stream:
            done = store.alerts.acknowledge(who, merchant_id=merchant, alert_key=key, request_id=rid)
            assert done.duplicate == (rid in seen)
            duplicates[n] += done.duplicate
            seen.add(rid)

    started = time.perf_counter()
    errors = _run_threads(THREADS, work)
    seconds = time.perf_counter() - started
    assert not errors, errors[:3]
    total = THREADS * PER_THREAD
    with store.engine.connect() as conn:
        per_alert = conn.execute(select(alert_actions.c.alert_key, func.count())
                                 .group_by(alert_actions.c.alert_key)).all()
        audited = conn.execute(select(func.count()).select_from(audit_log)
                               .where(audit_log.c.action == "acknowledge")).scalar_one()
    assert len(per_alert) == total and {n for _, n in per_alert} == {1}
    assert audited == total
    assert sum(duplicates.values()) == total // RESEND_EVERY
    states = store.alerts.states(Principal.staff("check"))
    assert len(states) == total and all(s.acknowledged and s.actions == 1 for s in states.values())
    print(f"{store.dialect}: {total + total // RESEND_EVERY} acknowledgements from {THREADS} threads "
          f"in {seconds:.2f} s")


WRITER = """
import sys
from data.store import Principal, open_store
store = open_store(sys.argv[1])
who = Principal.staff("writer")
prefix = sys.argv[2]
i = 0
while True:
    rid = f"{prefix}-{i}"
    store.alerts.acknowledge(who, merchant_id=1, alert_key=f"product:{i}@store:1", request_id=rid,
                             note="kill -9 test " * 20)
    print(rid, flush=True)  # printed only after the commit returned: an acknowledged change
    i += 1
"""


@pytest.mark.slow
def test_kill_9_mid_stream_loses_no_acknowledged_change(store_url):
    open_store(store_url).close()  # migrated before the writers start, so every kill lands in a write
    acknowledged: list[str] = []
    rng = random.Random(8)
    for round_ in range(3):
        child = subprocess.Popen([sys.executable, "-c", WRITER, store_url, f"r{round_}"], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        target = rng.randint(40, 250)
        lines = []
        while len(lines) < target:
            line = child.stdout.readline()
            assert line, f"writer stopped early: {child.stderr.read()[-2000:]}"
            lines.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        acknowledged += lines + [line for line in rest.splitlines() if line.strip()]
    reopened = open_store(store_url)  # opens cleanly after the crashes
    try:
        with reopened.engine.connect() as conn:
            stored = set(conn.execute(select(alert_actions.c.request_id)).scalars())
            if reopened.dialect == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        missing = [rid for rid in acknowledged if rid not in stored]
        assert not missing, f"{len(missing)} acknowledged changes lost, e.g. {missing[:5]}"
        assert len(acknowledged) >= 3 * 40
        # The store keeps working: one more write after the crashes.
        assert not reopened.alerts.acknowledge(Principal.staff("after"), merchant_id=1, alert_key="after",
                                               request_id="after-crash").duplicate
    finally:
        reopened.close()


def test_no_item_is_ever_held_by_two_live_leases(store):
    staff = Principal.staff("jobs")
    items = [(1 + i % 2, f"payment:{i}") for i in range(150)]
    for merchant, key in items:
        assert store.leases.enqueue(staff, queue="fraud_review", merchant_id=merchant, item_key=key, rank=float(key[8:]))
    assert not store.leases.enqueue(staff, queue="fraud_review", merchant_id=1, item_key="payment:0")
    held: dict[str, str] = {}
    guard = threading.Lock()
    violations: list[str] = []
    completed = Counter()

    def work(n: int) -> None:
        who = Principal.merchants(f"reviewer{n}", [1 + n % 2])
        rng = random.Random(n)
        while True:
            lease = store.leases.claim_next(who, queue="fraud_review", holder=who.user,
                                            ttl=dt.timedelta(minutes=5))
            if lease is None:
                return
            with guard:
                if lease.item_key in held:
                    violations.append(f"{lease.item_key} held by {held[lease.item_key]} and {who.user}")
                held[lease.item_key] = who.user
            time.sleep(rng.random() / 500)
            store.leases.verify(lease)
            with guard:  # let go in our books before the store lets anyone else take it
                del held[lease.item_key]
            if rng.random() < 0.25:
                store.leases.release(who, lease)
            else:
                store.leases.complete(who, lease)
                with guard:
                    completed[lease.item_key] += 1

    errors = _run_threads(THREADS, work)
    assert not errors, errors[:3]
    assert not violations, violations[:5]
    assert completed == Counter({key: 1 for _, key in items})
    entries = store.audit.entries(staff, entity="queue:fraud_review", limit=100_000)
    assert Counter(e.entity_id for e in entries if e.action == "complete") == completed


def test_an_expired_lease_passes_to_the_next_holder_and_the_first_loses_it(store_url):
    now = [dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone.utc)]
    store = open_store(store_url, clock=lambda: now[0])
    try:
        staff, ana, bob = Principal.staff("jobs"), Principal.merchants("ana", [1]), Principal.merchants("bob", [1])
        store.leases.enqueue(staff, queue="fraud_review", merchant_id=1, item_key="payment:7")
        first = store.leases.claim(ana, queue="fraud_review", item_key="payment:7", holder="ana",
                                   ttl=dt.timedelta(minutes=10))
        assert first is not None
        now[0] += dt.timedelta(minutes=9)
        assert store.leases.claim(bob, queue="fraud_review", item_key="payment:7", holder="bob",
                                  ttl=dt.timedelta(minutes=10)) is None  # still live
        assert store.leases.claim_next(bob, queue="fraud_review", holder="bob", ttl=dt.timedelta(minutes=10)) is None
        now[0] += dt.timedelta(minutes=2)  # ana's lease has expired
        second = store.leases.claim_next(bob, queue="fraud_review", holder="bob", ttl=dt.timedelta(minutes=10))
        assert second is not None and second.item_key == "payment:7" and second.token != first.token
        with pytest.raises(LeaseLost, match="expired or was taken over"):
            store.leases.complete(ana, first)
        renewed = store.leases.renew(bob, second, dt.timedelta(minutes=30))
        assert renewed.expires_at == now[0] + dt.timedelta(minutes=30)
        store.leases.complete(bob, renewed)
        now[0] += dt.timedelta(hours=1)
        assert store.leases.claim_next(staff, queue="fraud_review", holder="x", ttl=dt.timedelta(minutes=1)) is None
    finally:
        store.close()
