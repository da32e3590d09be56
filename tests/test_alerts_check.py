"""`python -m models alerts check` as cron runs it, in real processes against real local receivers, on SQLite
and PostgreSQL: two runs at once send each notification once, a run killed with SIGKILL between detection
and delivery is made good by the next run (once), and a warehouse held by a writer still lets queued
notifications go out.

Detection is replaced in the child processes by a fixed one (two incidents per merchant, names with markup),
so the receivers' counts can be compared with exact numbers; the real detection runs in the last test, on the
demo warehouse's planted bad day.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from data.store import Principal, open_store
from data.store.alert_channels import AlertChannels
from data.store.alert_incidents import AlertIncidents
from data.store.alert_outbox import Outbox
from tests.store_support import postgres_server, store_url  # noqa: F401
from tests.test_alerts_delivery import HttpReceiver, SmtpReceiver, incident

ROOT = Path(__file__).resolve().parents[1]
STAFF = Principal.staff("ops")
BASE = "https://pulse.example.com"
PER_MERCHANT = 2

CHILD = """
import datetime as dt
import sys
import time
from models.alerts import incidents as inc

def fixed(access, merchant_id, *, since, until, rules=None, grain="hour"):
    start = dt.datetime(2026, 3, 2, 14)
    return [inc.Incident(merchant_id=merchant_id, key=f"m{merchant_id}-{n}", metric="orders", dimension="region",
                         dimension_value=f"<b>North {n}</b>", direction="drop", start=start,
                         end=start + dt.timedelta(hours=2), observed=40.0, expected=100.0, low=80.0, high=120.0,
                         score=6.0, anomalies=(), causes=())
            for n in range(%d)]

if sys.argv[1] == "fixed":
    inc.find_incidents = fixed
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
from models.cli import app
app(sys.argv[3:], prog_name="python -m models")
""" % PER_MERCHANT


def _merchants(path: Path) -> list[int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
    finally:
        con.close()


def _run(store_url: str, warehouse: Path, *, detection="fixed", start: float = 0.0, extra_env=None,
         args=()) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if k != "RETAIL_PULSE_ALERTS_PAUSE_AFTER_DETECTION"},
           "PYTHONPATH": str(ROOT), "RETAIL_PULSE_STATE_URL": store_url,
           "RETAIL_PULSE_PUBLIC_URL": BASE, "RETAIL_PULSE_BACKEND": "duckdb", **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-c", CHILD, detection, str(start), "alerts", "check", "-w",
                             str(warehouse), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def receivers():
    http, smtp = HttpReceiver(delay=0.2), SmtpReceiver()
    yield http, smtp
    http.close()
    smtp.close()


def _channels(store_url: str, merchants: list[int], http: HttpReceiver, smtp: SmtpReceiver) -> None:
    store = open_store(store_url)
    try:
        for m in merchants:
            AlertChannels(store).save(STAFF, merchant_id=m, label="hook", url=http.url(f"m{m}"), request_id=f"h{m}",
                                      digest=False)
        AlertChannels(store).save(STAFF, merchant_id=merchants[0], label="mail", url=smtp.url("ops@one.example.com"),
                                  digest=False, request_id="mail")
    finally:
        store.close()


def _received(http: HttpReceiver) -> collections.Counter:
    """(path, incident key) -> how many times it arrived."""
    counts = collections.Counter()
    for path, body in http.posts:
        key = body["message"].split("incident=")[1].split()[0]
        counts[(path, key)] += 1
    return counts


def _expected(merchants: list[int]) -> dict:
    return {(f"/m{m}", f"m{m}-{n}"): 1 for m in merchants for n in range(PER_MERCHANT)}


def test_two_runs_at_once_send_each_notification_once(store_url, fixture_warehouse_path, receivers):
    http, smtp = receivers
    merchants = _merchants(fixture_warehouse_path)
    _channels(store_url, merchants, http, smtp)
    start = time.time() + 4  # both children are imported and waiting when the moment comes
    runs = [_run(store_url, fixture_warehouse_path, start=start) for _ in range(2)]
    outputs = [run.communicate(timeout=240) for run in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-3000:] + out[-2000:]
    assert dict(_received(http)) == _expected(merchants)
    assert len(smtp.messages) == PER_MERCHANT  # merchant 1's email channel, once per incident
    assert all("<b>" in str(m["Subject"]) for m in smtp.messages)  # plain-text email: literal, not markup
    sent = sum(int(out.split("sent ")[1].split(",")[0]) for out, _ in outputs)
    assert sent == len(merchants) * PER_MERCHANT + PER_MERCHANT  # the two runs shared the work, no overlap
    again = _run(store_url, fixture_warehouse_path)
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0 and "0 new incidents" in out and "sent 0," in out, err[-2000:]
    assert dict(_received(http)) == _expected(merchants)


def test_a_run_killed_between_detection_and_delivery_is_delivered_once_by_the_next(store_url,
                                                                                   fixture_warehouse_path, receivers):
    http, smtp = receivers
    merchants = _merchants(fixture_warehouse_path)
    _channels(store_url, merchants, http, smtp)
    run = _run(store_url, fixture_warehouse_path,
               extra_env={"RETAIL_PULSE_ALERTS_PAUSE_AFTER_DETECTION": "120"})
    deadline = time.time() + 180
    seen = ""
    while "detection stored" not in seen and time.time() < deadline and run.poll() is None:
        seen += run.stdout.readline()
    assert "detection stored" in seen, run.stderr.read()[-3000:] if run.poll() is not None else seen
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL and http.posts == [] and smtp.messages == []
    store = open_store(store_url)
    try:
        pending = Outbox(store).notifications(STAFF)
        assert len(pending) == len(merchants) * PER_MERCHANT + PER_MERCHANT
        assert {n.status for n in pending} == {"pending"}
    finally:
        store.close()
    for expected_sent in (len(pending), 0):
        nxt = _run(store_url, fixture_warehouse_path)
        out, err = nxt.communicate(timeout=240)
        assert nxt.returncode == 0 and f"sent {expected_sent}," in out, err[-3000:] + out
    assert dict(_received(http)) == _expected(merchants) and len(smtp.messages) == PER_MERCHANT


def test_a_warehouse_held_by_a_writer_skips_detection_but_still_delivers(tmp_path, writable_warehouse, receivers):
    store_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    http, _smtp = receivers
    store = open_store(store_url)
    try:
        AlertChannels(store).save(STAFF, merchant_id=1, label="hook", url=http.url("m1"), request_id="h1")
        AlertIncidents(store).record(1, [incident(1, "queued")], channels=AlertChannels(store).urls_for(1),
                                     message_for=lambda i: {"title": "t", "lines": ["queued"],
                                                            "link": f"{BASE}/alerts?incident=queued"})
    finally:
        store.close()
    holder = duckdb.connect(str(writable_warehouse))  # a dashboard holding the file read-write
    try:
        run = _run(store_url, writable_warehouse)
        out, err = run.communicate(timeout=240)
    finally:
        holder.close()
    assert run.returncode == 75, err[-2000:] + out
    assert "detection skipped" in err and "is open in" in err and "sent 1," in out
    assert [(p, b["message"].split("incident=")[1]) for p, b in http.posts] == [("/m1", "queued")]


def test_the_real_detection_run_twice_at_once_stores_and_sends_once(tmp_path, demo_warehouse, receivers):
    # The demo warehouse's planted "bad day" of 15 July 2026 (every merchant's orders fall all day). SQLite only:
    # the fixed-detection tests above cover both engines; this one checks the real detection's keys are stable.
    store_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    http, smtp = receivers
    merchants = _merchants(demo_warehouse)
    _channels(store_url, merchants, http, smtp)
    start = time.time() + 4
    runs = [_run(store_url, demo_warehouse, detection="real", start=start,
                 args=("--until", "2026-07-16T00:00", "--hours", "24")) for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=400)
        assert run.returncode == 0, err[-3000:] + out[-2000:]
    store = open_store(store_url)
    try:
        stored = AlertIncidents(store).incidents(STAFF, limit=100_000)
    finally:
        store.close()
    assert stored, "the planted bad day should give at least one incident"
    expected = {(f"/m{i.merchant_id}", i.incident_key): 1 for i in stored}
    assert dict(_received(http)) == expected
    assert len(smtp.messages) == sum(1 for i in stored if i.merchant_id == merchants[0])


def test_bad_command_lines_get_a_clear_message_and_no_traceback(tmp_path, fixture_warehouse_path, monkeypatch):
    from typer.testing import CliRunner

    from models.cli import app

    monkeypatch.setenv("RETAIL_PULSE_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    runner = CliRunner()
    bad_until = runner.invoke(app, ["alerts", "check", "-w", str(fixture_warehouse_path), "--until", "2026-13-45"])
    assert bad_until.exit_code == 2 and "--until '2026-13-45': not a date" in bad_until.output, bad_until.output
    monkeypatch.delenv("RETAIL_PULSE_STATE_URL")  # the store would be made beside the warehouse
    missing = tmp_path / "typo" / "warehouse.duckdb"
    run = runner.invoke(app, ["alerts", "check", "-w", str(missing)])
    assert run.exit_code == 2 and "no warehouse at" in run.output, run.output
    assert not missing.parent.exists()  # no stray store (nor folder) beside a mistyped path
    for result in (bad_until, run):
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
