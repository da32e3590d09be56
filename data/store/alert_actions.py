"""What people did with an alert: acknowledge, assign, snooze, resolve, comment, give feedback.

Each action is a new row (never an edit); an alert's current state is folded from its actions in order.
Stock-out alerts (issue 8) are keyed by the caller, e.g. ``"product:42@store:3"``; other alert kinds
(anomaly incidents) join the ALERT_KINDS registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, text

from data.store import audit
from data.store.errors import InvalidValue
from data.store.idempotency import checked_request_id, insert_once
from data.store.principal import Principal
from data.store.tables import KEY, NAME, alert_actions
from data.store.text import checked_text

if TYPE_CHECKING:
    from data.store.store import Store

ALERT_KINDS = {"stockout": "Stock-out risk of one product at one location (issue 8).",
               "incident": "An anomaly incident found by detection, keyed by its incident key (issue 11)."}

# action -> (fields it requires, what it means)
ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": ((), "Someone has seen the alert and is on it."),
    "assign": (("assignee",), "The alert is given to a user to handle."),
    "unassign": ((), "Nobody is assigned any more."),
    "snooze": (("snoozed_until",), "Hide the alert until a time."),
    "unsnooze": ((), "Show the alert again now."),
    "resolve": (("reason",), "Closed, with a reason."),
    "reopen": ((), "Open again: acknowledgement and resolution are cleared."),
    "comment": (("note",), "A note only."),
    "feedback": (("reason",), "Was this alert useful? reason is `useful` or `not_useful`."),
}
FEEDBACK = ("useful", "not_useful")
_SAME = ("merchant_id", "alert_kind", "alert_key", "action", "assignee", "snoozed_until", "reason", "note")


@dataclass(frozen=True)
class AlertAction:
    id: int
    request_id: str
    merchant_id: int
    alert_kind: str
    alert_key: str
    action: str
    assignee: str | None
    snoozed_until: dt.datetime | None
    reason: str | None
    note: str | None
    actor: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class AlertState:
    """An alert's state after all its actions (the default is a new alert nobody touched)."""

    merchant_id: int
    alert_kind: str
    alert_key: str
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    assignee: str | None = None
    snoozed_until: dt.datetime | None = None
    resolved_reason: str | None = None
    useful_votes: int = 0
    not_useful_votes: int = 0
    last_action_at: dt.datetime | None = None
    actions: int = 0

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_by is not None

    @property
    def resolved(self) -> bool:
        return self.resolved_reason is not None

    def snoozed(self, now: dt.datetime) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > now


def compute_state(merchant_id: int, kind: str, key: str, actions: Iterable[AlertAction]) -> AlertState:
    """Fold actions (oldest first) into the current state."""
    state = AlertState(merchant_id, kind, key)
    for a in actions:
        changes: dict = {"last_action_at": a.recorded_at, "actions": state.actions + 1}
        if a.action == "acknowledge":
            changes.update(acknowledged_by=a.actor, acknowledged_at=a.recorded_at)
        elif a.action == "assign":
            changes["assignee"] = a.assignee
        elif a.action == "unassign":
            changes["assignee"] = None
        elif a.action == "snooze":
            changes["snoozed_until"] = a.snoozed_until
        elif a.action == "unsnooze":
            changes["snoozed_until"] = None
        elif a.action == "resolve":
            changes["resolved_reason"] = a.reason
        elif a.action == "reopen":
            changes.update(acknowledged_by=None, acknowledged_at=None, resolved_reason=None)
        elif a.action == "feedback":
            field = "useful_votes" if a.reason == "useful" else "not_useful_votes"
            changes[field] = getattr(state, field) + 1
        state = replace(state, **changes)
    return state


@dataclass(frozen=True)
class Recorded:
    action: AlertAction
    state: AlertState
    duplicate: bool  # True when the request id was already stored: nothing new was written


class AlertActions:
    def __init__(self, store: Store):
        self._store = store

    def record(self, principal: Principal, *, request_id: str, merchant_id: int, alert_key: str, action: str,
               alert_kind: str = "stockout", assignee: str | None = None,
               snoozed_until: dt.datetime | None = None, reason: str | None = None,
               note: str | None = None) -> Recorded:
        """Record one action (idempotent by request id) and audit it; returns the row and the new state."""
        principal.require(merchant_id, "alerts")
        values = self._checked(principal, request_id, merchant_id, alert_kind, alert_key, action,
                               assignee, snoozed_until, reason, note)
        with self._store.transaction() as conn:
            _lock_alert(conn, merchant_id, alert_kind, alert_key)
            values["recorded_at"] = self._store.now()
            if snoozed_until is not None and snoozed_until <= values["recorded_at"] and not _stored(conn, request_id):
                # (A retry of a snooze that was stored in time is still recognised as a duplicate.)
                raise InvalidValue(f"snooze until {snoozed_until.isoformat()} is not in the future")
            earlier = _actions(conn, merchant_id, alert_kind, alert_key)
            before = compute_state(merchant_id, alert_kind, alert_key, earlier)
            row, inserted = insert_once(conn, alert_actions, values, _SAME)
            stored = AlertAction(**row)
            if not inserted:
                return Recorded(stored, before, duplicate=True)
            after = compute_state(merchant_id, alert_kind, alert_key, [*earlier, stored])
            audit.append(conn, at=stored.recorded_at, actor=principal.user, merchant_id=merchant_id,
                         entity=f"alert:{alert_kind}", entity_id=alert_key, action=action,
                         before=_public(before), after=_public(after), request_id=request_id)
            return Recorded(stored, after, duplicate=False)

    def acknowledge(self, principal: Principal, *, merchant_id: int, alert_key: str, request_id: str,
                    note: str | None = None, alert_kind: str = "stockout") -> Recorded:
        return self.record(principal, request_id=request_id, merchant_id=merchant_id, alert_key=alert_key,
                           action="acknowledge", alert_kind=alert_kind, note=note)

    def assign(self, principal: Principal, *, merchant_id: int, alert_key: str, assignee: str, request_id: str,
               note: str | None = None, alert_kind: str = "stockout") -> Recorded:
        return self.record(principal, request_id=request_id, merchant_id=merchant_id, alert_key=alert_key,
                           action="assign", alert_kind=alert_kind, assignee=assignee, note=note)

    def snooze(self, principal: Principal, *, merchant_id: int, alert_key: str, until: dt.datetime,
               request_id: str, note: str | None = None, alert_kind: str = "stockout") -> Recorded:
        return self.record(principal, request_id=request_id, merchant_id=merchant_id, alert_key=alert_key,
                           action="snooze", alert_kind=alert_kind, snoozed_until=until, note=note)

    def states(self, principal: Principal, *, alert_kind: str = "stockout",
               merchant_ids: Iterable[int] | None = None,
               alert_keys: Iterable[str] | None = None) -> dict[tuple[int, str], AlertState]:
        """Current state of every touched alert in scope (or of ``alert_keys`` only), keyed by
        (merchant_id, alert_key). Alerts nobody touched are absent: their state is the default."""
        visible = principal.visible(merchant_ids, "alerts")
        query = select(alert_actions).where(alert_actions.c.alert_kind == alert_kind).order_by(alert_actions.c.id)
        if visible is not None:
            query = query.where(alert_actions.c.merchant_id.in_(sorted(visible)))
        if alert_keys is not None:
            query = query.where(alert_actions.c.alert_key.in_(sorted(set(alert_keys))))
        grouped: dict[tuple[int, str], list[AlertAction]] = {}
        with self._store.read() as conn:
            for row in conn.execute(query).mappings():
                grouped.setdefault((row["merchant_id"], row["alert_key"]), []).append(AlertAction(**row))
        return {k: compute_state(k[0], alert_kind, k[1], v) for k, v in grouped.items()}

    def history(self, principal: Principal, *, merchant_id: int, alert_key: str,
                alert_kind: str = "stockout") -> list[AlertAction]:
        """Every action on one alert, oldest first."""
        principal.require(merchant_id, "alerts")
        with self._store.read() as conn:
            return _actions(conn, merchant_id, alert_kind, alert_key)

    @staticmethod
    def _checked(principal, request_id, merchant_id, kind, key, action, assignee, snoozed_until, reason, note):
        if kind not in ALERT_KINDS:
            raise InvalidValue(f"unknown alert kind {kind!r}; known: {', '.join(ALERT_KINDS)}")
        if action not in ACTIONS:
            raise InvalidValue(f"unknown alert action {action!r}; known: {', '.join(ACTIONS)}")
        given = {"assignee": assignee, "snoozed_until": snoozed_until, "reason": reason, "note": note}
        for field in ACTIONS[action][0]:
            if given[field] in (None, ""):
                raise InvalidValue(f"alert action {action!r} needs {field}")
        if snoozed_until is not None and (not isinstance(snoozed_until, dt.datetime) or snoozed_until.tzinfo is None):
            raise InvalidValue("snoozed_until must be a timezone-aware datetime")
        if action == "feedback" and reason not in FEEDBACK:
            raise InvalidValue(f"feedback reason must be one of {', '.join(FEEDBACK)}, not {reason!r}")
        return {
            "request_id": checked_request_id(request_id), "merchant_id": merchant_id, "alert_kind": kind,
            "alert_key": checked_text(key, "alert key", max_chars=KEY, required=True), "action": action,
            "assignee": checked_text(assignee, "assignee", max_chars=NAME),
            "snoozed_until": snoozed_until.astimezone(dt.timezone.utc) if snoozed_until else None,
            "reason": checked_text(reason, "reason", max_chars=NAME), "note": checked_text(note, "note"),
            "actor": checked_text(principal.user, "user", max_chars=NAME, required=True),
        }


def _actions(conn: Connection, merchant_id: int, kind: str, key: str) -> list[AlertAction]:
    c = alert_actions.c
    query = (select(alert_actions).where(c.merchant_id == merchant_id, c.alert_kind == kind, c.alert_key == key)
             .order_by(c.id))
    return [AlertAction(**row) for row in conn.execute(query).mappings()]


def _stored(conn: Connection, request_id: str) -> bool:
    return conn.execute(select(alert_actions.c.id).where(alert_actions.c.request_id == request_id)).first() is not None


def _lock_alert(conn: Connection, merchant_id: int, kind: str, key: str) -> None:
    """Serialise writers of one alert so each audit entry's before is the state it changed.

    SQLite's BEGIN IMMEDIATE already serialises every writer; PostgreSQL takes a transaction-scoped lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                     {"k": f"alert:{merchant_id}:{kind}:{key}"})


def _public(state: AlertState) -> dict:
    return asdict(state)
