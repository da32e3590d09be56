"""The dashboard's own alert check (dashboard/alerts_schedule.py) on the warehouse it holds read-write, while
`python -m models alerts check` runs from cron at the same moment: the cron run cannot open the file, skips
detection and delivers what is queued; between them each notification reaches its receiver exactly once.
Detection is the fixed one of tests/test_alerts_check.py (exact counts); delivery goes to a real local
webhook receiver."""

from __future__ import annotations

import threading
import time

import pytest

from dashboard import alerts_schedule
from data import settings
from data.store import open_store
from data.warehouse import Warehouse
from models.alerts import incidents as inc
from tests.test_alerts_check import BASE, _channels, _expected, _merchants, _received, _run, receivers  # noqa: F401


def fixed(access, merchant_id, *, since, until, rules=None, grain="hour"):
    start = inc.dt.datetime(2026, 3, 2, 14)
    return [inc.Incident(merchant_id=merchant_id, key=f"m{merchant_id}-{n}", metric="orders", dimension="region",
                         dimension_value=f"<b>North {n}</b>", direction="drop", start=start,
                         end=start + inc.dt.timedelta(hours=2), observed=40.0, expected=100.0, low=80.0, high=120.0,
                         score=6.0, anomalies=(), causes=()) for n in range(2)]


@pytest.fixture
def held(tmp_path, writable_warehouse, receivers, monkeypatch):  # noqa: F811
    """The dashboard's read-write handle on the warehouse, its store, the receivers and the store url."""
    monkeypatch.setattr(inc, "find_incidents", fixed)
    monkeypatch.setenv("RETAIL_PULSE_PUBLIC_URL", BASE)  # as the cron run's (the receivers read the link)
    store_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    http, smtp = receivers
    merchants = _merchants(writable_warehouse)  # before the read-write handle: one configuration per process
    _channels(store_url, merchants, http, smtp)
    wh = Warehouse(writable_warehouse)
    store = open_store(store_url)
    yield wh, store, store_url, http, smtp, merchants
    store.close()
    wh.close()


def test_the_dashboards_check_and_a_cron_run_at_once_send_each_notification_once(held, writable_warehouse):
    wh, store, store_url, http, smtp, merchants = held
    cron = _run(store_url, writable_warehouse, start=time.time() + 3)
    schedule = alerts_schedule.Schedule(every_seconds=0.5, first_delay=2.5)
    worker = threading.Thread(target=alerts_schedule._loop, args=(schedule, wh, store), kwargs={"runs": 2})
    worker.start()
    out, err = cron.communicate(timeout=240)
    worker.join(timeout=240)
    assert cron.returncode == 75 and "detection skipped" in err, err[-2000:] + out
    assert schedule.runs == 2 and schedule.last_error == "", schedule.last_error
    assert "0 new incidents" in schedule.last_summary  # the second run found the same keys: nothing new
    assert dict(_received(http)) == _expected(merchants)
    assert len(smtp.messages) == 2


def test_a_failing_check_is_recorded_and_the_next_one_runs(held, monkeypatch):
    wh, store, _url, http, _smtp, _merchants_ = held
    real, calls = alerts_schedule.run_once, []

    def flaky(engine, store):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("warehouse busy for a moment")
        return real(engine, store)

    monkeypatch.setattr(alerts_schedule, "run_once", flaky)
    schedule = alerts_schedule.Schedule(every_seconds=0.1, first_delay=0.0)
    alerts_schedule._loop(schedule, wh, store, runs=2)
    assert schedule.runs == 2 and schedule.last_error == "" and "new incidents" in schedule.last_summary
    assert http.posts, "the second run delivered"


@pytest.mark.parametrize("raw, minutes", [("15", 15), ("off", None), ("1", 1)])
def test_the_setting(raw, minutes):
    assert _minutes({"RETAIL_PULSE_ALERTS_EVERY_MINUTES": raw}) == minutes


@pytest.mark.parametrize("raw", ["0", "-5", "soon", "1441"])
def test_a_bad_setting_names_itself(raw):
    with pytest.raises(settings.SettingError, match="RETAIL_PULSE_ALERTS_EVERY_MINUTES"):
        _minutes({"RETAIL_PULSE_ALERTS_EVERY_MINUTES": raw})


def _minutes(env):
    return alerts_schedule.every_minutes(env)



def test_a_bad_setting_leaves_the_check_off_and_logs_why(monkeypatch, caplog):
    # app.py calls start_for on every run: a raised SettingError was a traceback on every page.
    monkeypatch.setenv("RETAIL_PULSE_ALERTS_EVERY_MINUTES", "every 5")

    class NoCache:
        def store(self):
            raise AssertionError("not opened for a check that is off")

    with caplog.at_level("ERROR", logger="retail_pulse.alerts"):
        assert alerts_schedule.start_for(NoCache()) is None
        assert alerts_schedule.start_for(NoCache()) is None
    said = [r.getMessage() for r in caplog.records if "RETAIL_PULSE_ALERTS_EVERY_MINUTES" in r.getMessage()]
    assert len(said) == 1 and "'every 5'" in said[0]
