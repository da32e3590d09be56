"""`python -m models alerts check`: detect incidents for every merchant, store them, then deliver.

The order is what makes it safe to run from cron while the dashboard runs, twice at once, or after a
``kill -9``:

1. **Detection** reads the warehouse (read-only) and, per merchant, stores the incidents found and queues
   their notifications in ONE store transaction (``AlertIncidents.record``). Incident keys are stable, so a
   second run (or a concurrent one) finds the same keys and queues nothing new: the outbox's unique
   (merchant, kind, subject, channel) refuses a second row.
2. **Digests**: past a merchant's digest hour (UTC), one digest row per digest channel and day.
3. **Delivery** (``delivery.deliver_pending``) claims due rows, sends, marks each sent after the receiver
   accepted it. A run killed before step 3 leaves everything queued for the next run.

The detection window: for each merchant, the ``lookback`` hours before its last complete hour of orders
(the warehouse's clock, the shop's local time), or before ``until`` when given.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from data.store.alert_channels import AlertChannels
from data.store.alert_incidents import AlertIncidents, status_words
from data.store.alert_outbox import Backoff
from data.store.alert_outbox import enqueue as enqueue_notifications
from data.store.alert_rules import rules_for
from data.store.principal import Principal
from models.alerts import messages
from models.alerts.delivery import DeliveryReport, Sender, deliver_pending, send

JOB = Principal.staff("alert-detection")
# Test hook: seconds to sleep after detection has committed and before delivery starts (kill -9 tests).
PAUSE_ENV = "RETAIL_PULSE_ALERTS_PAUSE_AFTER_DETECTION"
GRAINS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}


@dataclass
class CheckReport:
    merchants: int = 0
    new_incidents: int = 0
    updated_incidents: int = 0
    queued: int = 0
    digests: int = 0
    detection_seconds: float = 0.0
    delivery_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    detection_skipped: str | None = None
    names: dict[int, str] = field(default_factory=dict)  # merchant id -> name, of the merchants detected
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


def watch_rules(body: dict) -> list | None:
    """The saved rules as ``WatchRule`` (None: the detection's defaults; switched-off rules left out)."""
    from models.alerts.watch import WatchRule

    if body["rules"] is None:
        return None
    return [WatchRule(metric=r["metric"], dimension=r["dimension"], sensitivity=r["sensitivity"],
                      direction=r["direction"], min_volume=r["min_volume"], quiet_hours=frozenset(r["quiet_hours"]))
            for r in body["rules"] if r["enabled"]]


def merchant_clock(access, merchant_ids: Iterable[int] | None = None) -> dict[int, tuple[str, dt.datetime | None]]:
    """merchant id -> (name, time of its last order) for the merchants in ``access``'s scope."""
    merchants = access.to_polars(access.table("merchants").select("merchant_id", "name"))
    orders = access.table("orders")
    last = access.to_polars(orders.group_by("merchant_id").aggregate(last=orders.order_ts.max()))
    latest = dict(zip(last["merchant_id"].to_list(), last["last"].to_list()))
    wanted = None if merchant_ids is None else set(merchant_ids)
    return {m: (n, latest.get(m)) for m, n in zip(merchants["merchant_id"].to_list(), merchants["name"].to_list())
            if wanted is None or m in wanted}


def _floor(value: dt.datetime, grain: str) -> dt.datetime:
    value = value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if grain == "day" else value


def detect(store, access, *, merchant_ids: Iterable[int] | None = None, lookback: dt.timedelta = dt.timedelta(hours=24),
           until: dt.datetime | None = None, grains: tuple[str, ...] = ("hour",), base_url: str = "",
           find: Callable | None = None, report: CheckReport | None = None,
           progress: Callable[[str], None] = lambda _text: None) -> CheckReport:
    """Step 1 for every merchant in scope: find incidents, store them and queue their notifications."""
    if find is None:
        from models.alerts.incidents import find_incidents as find
    report = report or CheckReport()
    started = time.perf_counter()
    incidents_store, channels = AlertIncidents(store), AlertChannels(store)
    clock = merchant_clock(access, merchant_ids)
    for unknown in sorted(set(merchant_ids or ()) - set(clock)):
        report.failures.append(f"merchant {unknown}: no such merchant in the warehouse")
    for merchant_id, (name, last) in sorted(clock.items()):
        report.merchants += 1
        report.names[merchant_id] = name
        body = rules_for(store, merchant_id)
        rules = watch_rules(body)
        if last is None or rules == []:
            progress(f"merchant {merchant_id}: {'no orders yet' if last is None else 'every rule is off'}")
            continue
        for grain in grains:
            end = _floor(until or last, grain)
            since = end - max(lookback, GRAINS[grain])
            try:
                found = find(access, merchant_id, since=since, until=end, rules=rules, grain=grain)
                recorded = incidents_store.record(
                    merchant_id, found, channels=channels.urls_for(merchant_id), owner=body["owner"],
                    message_for=lambda i, name=name: messages.incident_message(i, merchant_name=name,
                                                                                base_url=base_url))
            except Exception as exc:  # noqa: BLE001 - one merchant's failure must not stop the others
                report.failures.append(f"merchant {merchant_id} ({grain}): {type(exc).__name__}: {exc}")
                continue
            report.new_incidents += len(recorded.new)
            report.updated_incidents += len(recorded.updated)
            report.queued += recorded.queued
            progress(f"merchant {merchant_id} ({grain}, {since:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}): "
                     f"{len(found)} incidents, {len(recorded.new)} new, {recorded.queued} notifications queued")
    report.detection_seconds = time.perf_counter() - started
    return report


def queue_digests(store, names: dict[int, str], *, now: dt.datetime, base_url: str = "") -> int:
    """Step 2: each merchant past its digest hour gets today's digest queued once per digest channel, when
    incidents were found in the 24 hours before ``now``. Returns the rows added."""
    added = 0
    incidents_store, channels = AlertIncidents(store), AlertChannels(store)
    for merchant_id, name in sorted(names.items()):
        hour = rules_for(store, merchant_id)["digest_hour"]
        targets = sorted(cid for cid, ch in channels.urls_for(merchant_id).items() if ch["digest"])
        if hour is None or now.hour < hour or not targets:
            continue
        recent = [i for i in incidents_store.incidents(JOB, merchant_ids=[merchant_id], limit=500)
                  if i.first_seen_at >= now - dt.timedelta(hours=24)]
        if not recent:
            continue
        states = store.alerts.states(JOB, alert_kind="incident", merchant_ids=[merchant_id])
        words = {i.incident_key: status_words(states.get((merchant_id, i.incident_key)), now)[1] for i in recent}
        message = messages.digest_message(recent, words, merchant_name=name, day=now.date(), base_url=base_url)
        with store.transaction() as conn:
            added += enqueue_notifications(conn, [
                {"merchant_id": merchant_id, "kind": "digest", "subject_key": f"digest:{now.date().isoformat()}",
                 "channel_id": cid, "message": message} for cid in targets], store.now())
    return added


def run_check(store, access, *, merchant_ids: Iterable[int] | None = None, lookback=dt.timedelta(hours=24),
              until: dt.datetime | None = None, grains: tuple[str, ...] = ("hour",), base_url: str = "",
              sender: Sender = send, backoff: Backoff = Backoff(), find: Callable | None = None,
              skipped: str | None = None, progress: Callable[[str], None] = lambda _text: None) -> CheckReport:
    """Detection (unless ``access`` is None: ``skipped`` says why), digests, then delivery."""
    report = CheckReport(detection_skipped=skipped)
    if access is not None:
        detect(store, access, merchant_ids=merchant_ids, lookback=lookback, until=until, grains=grains,
               base_url=base_url, find=find, report=report, progress=progress)
    pause = os.environ.get(PAUSE_ENV, "").strip()
    if pause:
        print("detection stored", flush=True)
        sys.stdout.flush()
        time.sleep(float(pause))
    report.digests = queue_digests(store, report.names, now=store.now(), base_url=base_url)
    started = time.perf_counter()
    report.delivery = deliver_pending(store, sender=sender, backoff=backoff, merchant_ids=merchant_ids)
    report.delivery_seconds = time.perf_counter() - started
    return report


class WarehouseUnreadable(RuntimeError):
    """The warehouse cannot be read now (missing, or held by a writer); the message says which."""


def open_access(path) -> tuple[object, Callable[[], None]]:
    """A read-only ``DataAccess`` over every merchant, and the function that closes it.

    DuckDB: a read-only, hardened connection (many readers at once). A DuckDB file held open read-write by
    another process (a dashboard) cannot be opened at all, not even read-only: then WarehouseUnreadable,
    and the caller still delivers what is queued. The Spark backend reads Parquet and never waits on that.
    """
    from data import settings
    from data import warehouse as wh
    from data.access import DataAccess, Scope

    if settings.get("backend").strip().lower() == "spark":
        from data.engines import open_engine

        engine = open_engine(path)
        return DataAccess(engine.backend(), Scope.unrestricted()), engine.close
    try:
        con = wh.open_for_reading(path)
    except (wh.WarehouseBusy, wh.WarehouseMissing) as exc:
        raise WarehouseUnreadable(str(exc)) from None
    con.execute("SET enable_external_access = false")
    wh.harden(con)
    return DataAccess(wh.ibis_backend(con.cursor()), Scope.unrestricted()), con.close
