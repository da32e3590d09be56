"""Anomaly incidents in the operational store, the open-alert list, and "was this useful?" per rule.

``record`` is what detection calls: in ONE write transaction it stores the incidents found (a new key is
inserted; a known one gets its later end and figures) and queues one notification per new incident and
instant channel (``data.store.alert_outbox``). Nothing is sent before that commit, so a process killed after
it still has every notification queued, and one killed before it has stored nothing: the next run finds
the same incidents (their keys are stable) and does it all again.

What people do with an incident (acknowledge, assign, snooze, resolve, feedback, comment) is an alert
action of kind ``incident`` (``data.store.alert_actions``), keyed by the incident key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from data.store import alert_outbox, audit
from data.store.alert_rules import rule_key
from data.store.principal import Principal
from data.store.tables import KEY, alert_actions, alert_incidents

if TYPE_CHECKING:
    from data.store.store import Store

KIND = "incident"
ACTOR = "alert-detection"
_FIGURES = ("ended_at", "observed", "expected", "low", "high", "score", "anomalies", "causes")


@dataclass(frozen=True)
class StoredIncident:
    id: int
    merchant_id: int
    incident_key: str
    rule_key: str
    grain: str
    metric: str
    dimension: str
    dimension_value: str | None
    direction: str
    started_at: dt.datetime
    ended_at: dt.datetime
    observed: float
    expected: float
    low: float
    high: float
    score: float
    anomalies: int
    causes: list  # [{kind, label, evidence, weight}], best first
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


@dataclass(frozen=True)
class Recorded:
    new: list[str]  # incident keys stored for the first time
    updated: list[str]  # keys already stored whose end or figures changed
    queued: int  # notifications added to the outbox


def _row(incident: Any) -> dict:
    """Columns of one incident (any object with ``models.alerts.incidents.Incident``'s fields)."""
    causes = [{"kind": c.kind, "label": c.label, "evidence": c.evidence, "weight": float(c.weight)}
              for c in incident.causes]
    value = incident.dimension_value
    return {"merchant_id": int(incident.merchant_id), "incident_key": str(incident.key),
            "rule_key": rule_key(incident.metric, incident.dimension), "grain": getattr(incident, "grain", "hour"),
            "metric": incident.metric, "dimension": incident.dimension,
            "dimension_value": None if value is None else str(value)[:KEY], "direction": incident.direction,
            "started_at": _utc(incident.start), "ended_at": _utc(incident.end),
            "observed": float(incident.observed), "expected": float(incident.expected),
            "low": float(incident.low), "high": float(incident.high), "score": float(incident.score),
            "anomalies": len(incident.anomalies), "causes": causes}


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class AlertIncidents:
    def __init__(self, store: Store):
        self._store = store

    def record(self, merchant_id: int, incidents: Iterable[Any], *, channels: Mapping[str, Mapping],
               message_for: Callable[[Any], dict], owner: str | None = None) -> Recorded:
        """Store a detection run's incidents of one merchant and queue their notifications, in one transaction.

        ``channels``: the merchant's channels (``AlertChannels.urls_for``); each ``instant`` one gets a row per
        new incident. ``message_for(incident)`` builds the message kept in the outbox row. ``owner``: the rules'
        owner, to whom each new incident is assigned (an alert action by the detection job)."""
        found = [(i, _row(i)) for i in incidents]
        if any(r["merchant_id"] != merchant_id for _, r in found):
            raise ValueError(f"record(merchant {merchant_id}) was given another merchant's incident")
        new, updated, queued = [], [], 0
        t = alert_incidents
        with self._store.transaction() as conn:
            now = self._store.now()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            for incident, row in found:
                inserted = conn.execute(dialect.insert(t).values(**row, first_seen_at=now, last_seen_at=now)
                                        .on_conflict_do_nothing(index_elements=["merchant_id", "incident_key"])
                                        .returning(t.c.id)).first()
                if inserted is not None:
                    new.append(row["incident_key"])
                    audit.append(conn, at=now, actor=ACTOR, merchant_id=merchant_id, entity=f"alert:{KIND}",
                                 entity_id=row["incident_key"], action="detect", before=None,
                                 after={k: row[k] for k in ("rule_key", "dimension_value", "direction",
                                                            "started_at", "observed", "expected", "score")})
                    if owner:
                        self._store.alerts.record(Principal.staff(ACTOR), request_id=f"owner:{merchant_id}:"
                                                  f"{row['incident_key']}", merchant_id=merchant_id,
                                                  alert_key=row["incident_key"], action="assign", assignee=owner,
                                                  alert_kind=KIND)
                    message = message_for(incident)
                    queued += alert_outbox.enqueue(conn, [
                        {"merchant_id": merchant_id, "kind": KIND, "subject_key": row["incident_key"],
                         "channel_id": cid, "message": message}
                        for cid, ch in sorted(channels.items()) if ch.get("instant")], now)
                    continue
                old = conn.execute(select(t).where(t.c.merchant_id == merchant_id,
                                                   t.c.incident_key == row["incident_key"])).mappings().one()
                changes = {k: row[k] for k in _FIGURES if old[k] != row[k]}
                conn.execute(update(t).where(t.c.id == old["id"]).values(**changes, last_seen_at=now))
                if changes:
                    updated.append(row["incident_key"])
                    audit.append(conn, at=now, actor=ACTOR, merchant_id=merchant_id, entity=f"alert:{KIND}",
                                 entity_id=row["incident_key"], action="update",
                                 before={k: old[k] for k in changes if k != "causes"},
                                 after={k: v for k, v in changes.items() if k != "causes"})
        return Recorded(new, updated, queued)

    def incidents(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None,
                  since: dt.datetime | None = None, keys: Iterable[str] | None = None,
                  limit: int = 1000) -> list[StoredIncident]:
        """Stored incidents in scope, newest start first."""
        visible = principal.visible(merchant_ids, "alert incidents")
        t = alert_incidents
        query = select(t).order_by(t.c.started_at.desc(), t.c.id.desc()).limit(limit)
        if visible is not None:
            query = query.where(t.c.merchant_id.in_(sorted(visible)))
        if since is not None:
            query = query.where(t.c.ended_at >= since)
        if keys is not None:
            query = query.where(t.c.incident_key.in_(sorted(set(keys))))
        with self._store.read() as conn:
            return [StoredIncident(**row) for row in conn.execute(query).mappings()]

    def incident(self, principal: Principal, merchant_id: int, key: str) -> StoredIncident | None:
        principal.require(merchant_id, "alert incidents")
        found = self.incidents(principal, merchant_ids=[merchant_id], keys=[key], limit=1)
        return found[0] if found else None

    def feedback_by_rule(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None) -> pl.DataFrame:
        """Per merchant and rule: ``incidents`` stored, ``useful`` and ``not_useful`` votes, ``useful_share``
        (useful / votes; null without votes), noisiest rules (most "not useful") first. A person's vote on an
        incident counts once, as their latest answer: a re-clicked button or a changed mind is not a second
        vote (the workflow history keeps every click)."""
        stored = self.incidents(principal, merchant_ids=merchant_ids, limit=1_000_000)
        votes_of = self._votes(principal, merchant_ids)
        counts: dict[tuple[int, str], list[int]] = {}
        for inc in stored:
            entry = counts.setdefault((inc.merchant_id, inc.rule_key), [0, 0, 0])
            entry[0] += 1
            useful, not_useful = votes_of.get((inc.merchant_id, inc.incident_key), (0, 0))
            entry[1] += useful
            entry[2] += not_useful
        frame = pl.DataFrame([{"merchant_id": m, "rule_key": r, "incidents": n, "useful": u, "not_useful": x}
                              for (m, r), (n, u, x) in counts.items()],
                             schema={"merchant_id": pl.Int64, "rule_key": pl.Utf8, "incidents": pl.Int64,
                                     "useful": pl.Int64, "not_useful": pl.Int64})
        votes = pl.col("useful") + pl.col("not_useful")
        return (frame.with_columns(pl.when(votes > 0).then(pl.col("useful") / votes).otherwise(None)
                                   .alias("useful_share"))
                .sort(["not_useful", "merchant_id", "rule_key"], descending=[True, False, False]))

    def _votes(self, principal: Principal, merchant_ids: Iterable[int] | None) -> dict[tuple[int, str], tuple[int, int]]:
        """(merchant, incident key) -> (useful, not useful): each person's latest feedback on the incident."""
        t = alert_actions
        visible = principal.visible(merchant_ids, "alerts")
        query = (select(t.c.merchant_id, t.c.alert_key, t.c.actor, t.c.reason)
                 .where(t.c.alert_kind == KIND, t.c.action == "feedback").order_by(t.c.id))
        if visible is not None:
            query = query.where(t.c.merchant_id.in_(sorted(visible)))
        latest: dict[tuple[int, str, str], str] = {}
        with self._store.read() as conn:
            for merchant_id, key, actor, reason in conn.execute(query):
                latest[(merchant_id, key, actor)] = reason
        out: dict[tuple[int, str], tuple[int, int]] = {}
        for (merchant_id, key, _actor), reason in latest.items():
            useful, not_useful = out.get((merchant_id, key), (0, 0))
            out[(merchant_id, key)] = (useful + (reason == "useful"), not_useful + (reason != "useful"))
        return out


OPEN_COLUMNS = ("kind", "merchant_id", "alert_key", "title", "started_at", "severity", "status", "status_text",
                "assignee")


def list_open_alerts(store: Store, principal: Principal, merchant_ids: Iterable[int], *,
                     stockout_risk: pl.DataFrame | None = None, min_probability: float = 0.1,
                     since: dt.datetime | None = None, include_closed: bool = False) -> pl.DataFrame:
    """Open alerts of both kinds for the page's one list, most severe first.

    Columns: ``kind`` (``incident`` or ``stockout``), ``merchant_id``, ``alert_key`` (the incident key, or the
    stock-out key ``product:<id>@store:<id>``), ``title`` (plain text built from data: escape it where it is
    shown), ``started_at`` (incidents; null for stock-outs), ``severity`` (0-1: an incident's score squashed,
    a stock-out's probability), ``status`` / ``status_text`` / ``assignee`` as in
    ``analytics.stockout_alerts.attach_states``. ``stockout_risk`` is the stock-out risk frame the caller
    computed (``models.stockout.risk``), rows below ``min_probability`` left out; resolved and snoozed alerts
    are left out unless ``include_closed``."""
    ids = sorted(set(merchant_ids))
    now = store.now()
    rows = []
    incident_states = store.alerts.states(principal, alert_kind=KIND, merchant_ids=ids)
    for inc in AlertIncidents(store).incidents(principal, merchant_ids=ids, since=since):
        where = "" if inc.dimension == "total" else f" ({inc.dimension.replace('_', ' ')}: {inc.dimension_value})"
        verb = "dropped" if inc.direction == "drop" else "spiked"
        rows.append({"kind": KIND, "merchant_id": inc.merchant_id, "alert_key": inc.incident_key,
                     "title": f"{inc.metric.replace('_', ' ').capitalize()} {verb}{where}",
                     "started_at": inc.started_at, "severity": inc.score / (inc.score + 3.0),
                     "state": incident_states.get((inc.merchant_id, inc.incident_key))})
    if stockout_risk is not None and stockout_risk.height:
        stock_states = store.alerts.states(principal, alert_kind="stockout", merchant_ids=ids)
        risky = stockout_risk.filter(pl.col("merchant_id").is_in(ids)
                                     & (pl.col("stockout_probability") >= min_probability))
        for r in risky.iter_rows(named=True):
            rows.append({"kind": "stockout", "merchant_id": r["merchant_id"], "alert_key": r["alert_key"],
                         "title": f"Stock-out risk: {r['product']} at {r['location']}", "started_at": None,
                         "severity": float(r["stockout_probability"]),
                         "state": stock_states.get((r["merchant_id"], r["alert_key"]))})
    out = []
    for row in rows:
        state = row.pop("state")
        status, text = status_words(state, now)
        if include_closed or status in ("open", "acknowledged"):
            out.append({**row, "status": status, "status_text": text,
                        "assignee": None if state is None else state.assignee})
    schema = {"kind": pl.Utf8, "merchant_id": pl.Int64, "alert_key": pl.Utf8, "title": pl.Utf8,
              "started_at": pl.Datetime("us", "UTC"), "severity": pl.Float64, "status": pl.Utf8,
              "status_text": pl.Utf8, "assignee": pl.Utf8}
    return pl.DataFrame(out, schema=schema).sort("severity", descending=True, maintain_order=True)


def status_words(state: Any, now: dt.datetime) -> tuple[str, str]:
    if state is None:
        return "open", "Open"
    if state.resolved_reason is not None:
        return "resolved", f"Resolved: {state.resolved_reason}"
    if state.snoozed_until is not None and state.snoozed_until > now:
        return "snoozed", f"Snoozed until {state.snoozed_until:%d %b %Y %H:%M} UTC"
    if state.acknowledged_by is not None:
        return "acknowledged", f"Acknowledged by {state.acknowledged_by}"
    return "open", "Open"
