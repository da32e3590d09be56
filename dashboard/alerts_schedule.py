"""The dashboard's own alert check: detection and delivery every few minutes, on the warehouse it holds.

DuckDB lets no other process open the warehouse while the dashboard holds it, so a cron-run
``python -m models alerts check`` beside a running dashboard can only deliver what is queued. The dashboard
therefore runs the same check (``models.alerts.check.run_check``) itself, on a daemon thread with its own
cursors, every ``RETAIL_PULSE_ALERTS_EVERY_MINUTES``. Both go through the operational store's outbox, so a cron
run and the dashboard's run at the same moment send nothing twice. One thread per process (``cache_resource``);
a failed run is logged and the next one tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import streamlit as st

from data import settings

log = logging.getLogger("retail_pulse.alerts")


def every_minutes(environ: dict[str, str] | None = None) -> int | None:
    """The ``alerts_every_minutes`` setting as minutes, or None when it is `off`."""
    raw = settings.get("alerts_every_minutes", environ).strip().lower()
    if raw == "off":
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1440:
        raise settings.SettingError(
            f"RETAIL_PULSE_ALERTS_EVERY_MINUTES must be `off` or whole minutes from 1 to 1440, not {raw!r}")
    return int(raw)


@dataclass
class Schedule:
    """What the page can say about the in-app check: when it last ran and what it found."""

    every_seconds: float
    first_delay: float = 60.0  # let the first page views of a fresh start have the CPU
    runs: int = 0  # checks finished, failed ones included
    last_finished: float | None = None  # time.time()
    last_summary: str = ""
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_once(engine, store) -> str:
    """One check over every merchant on ``engine``'s cursors; returns a one-line summary."""
    from data.access import DataAccess, Scope
    from models.alerts import check

    access = DataAccess(engine.backend(), Scope.unrestricted())
    report = check.run_check(store, access, base_url=settings.get("public_url"))
    d = report.delivery
    summary = (f"{report.merchants} merchants, {report.new_incidents} new incidents, sent {d.sent}, "
               f"retrying {d.retrying}")
    if report.failures:
        summary += f"; {len(report.failures)} failed: {report.failures[0]}"
    return summary


def _loop(schedule: Schedule, engine, store, *, runs: int | None = None) -> None:
    """Run the check every ``schedule.every_seconds``: ``runs`` times (tests), or for ever."""
    time.sleep(min(schedule.first_delay, schedule.every_seconds))
    while True:
        started = time.time()
        try:
            summary, error = run_once(engine, store), ""
            log.info("alert check: %s", summary)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive one bad run
            summary, error = "", f"{type(exc).__name__}: {exc}"
            log.exception("alert check failed")
        with schedule.lock:
            schedule.runs += 1
            schedule.last_finished = time.time()
            schedule.last_summary, schedule.last_error = summary or schedule.last_summary, error
        if runs is not None and schedule.runs >= runs:
            return
        time.sleep(max(0.0, schedule.every_seconds - (time.time() - started)))


_logged: set[str] = set()


def _log_once(message: str) -> None:
    # start_for runs on every rerun of every session: the log needs the message once per process
    if message not in _logged:
        _logged.add(message)
        log.error(message)


@st.cache_resource(show_spinner=False)
def start(_engine, _store) -> Schedule | None:
    """Start the process's check thread once (None when the setting is `off`)."""
    minutes = every_minutes()
    if minutes is None:
        return None
    schedule = Schedule(minutes * 60.0)
    threading.Thread(target=_loop, args=(schedule, _engine, _store), name="alert-check", daemon=True).start()
    return schedule


def start_for(cache) -> Schedule | None:
    """``start`` on the dashboard's engine and store; a store that cannot open leaves alerts to the command
    (the Alerts page says why the store is unavailable). A bad ``alerts_every_minutes`` leaves it off and says
    so in the server log, instead of failing every page of every session."""
    try:
        if every_minutes() is None:
            return None
    except settings.SettingError as exc:
        _log_once(f"the dashboard's own alert check is off: {exc}")
        return None
    from data.store.errors import StoreError

    try:
        store = cache.store()
    except StoreError:
        return None
    return start(cache.engine(), store)
