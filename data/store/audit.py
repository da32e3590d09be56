"""The append-only audit log: who changed what, when, for which merchant, with before and after.

Every repository write appends here in the same transaction as the change itself, and only when the change
happened (a re-sent request id appends nothing). Triggers refuse UPDATE and DELETE on the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from data.store.principal import Principal
from data.store.tables import audit_log

if TYPE_CHECKING:
    from data.store.store import Store


@dataclass(frozen=True)
class AuditEntry:
    id: int
    recorded_at: dt.datetime
    actor: str
    merchant_id: int | None
    entity: str
    entity_id: str
    action: str
    before: Any
    after: Any
    request_id: str | None


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO-8601 text, ready for a JSON column (dicts, lists, scalars)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def append(conn: Connection, *, at: dt.datetime, actor: str, merchant_id: int | None, entity: str,
           entity_id: str, action: str, before: Any, after: Any, request_id: str | None = None) -> None:
    """Add one entry inside the caller's write transaction."""
    conn.execute(insert(audit_log).values(
        recorded_at=at, actor=actor, merchant_id=merchant_id, entity=entity, entity_id=entity_id,
        action=action, before=jsonable(before), after=jsonable(after), request_id=request_id,
    ))


def append_many(conn: Connection, entries: list[dict[str, Any]]) -> None:
    """``append`` for many entries (each a dict of append's keyword arguments) in one statement."""
    if entries:
        conn.execute(insert(audit_log), [
            {"recorded_at": e["at"], "actor": e["actor"], "merchant_id": e["merchant_id"], "entity": e["entity"],
             "entity_id": e["entity_id"], "action": e["action"], "before": jsonable(e["before"]),
             "after": jsonable(e["after"]), "request_id": e.get("request_id")} for e in entries])


class AuditLog:
    """Reading the log (appending happens only through the repositories' writes)."""

    def __init__(self, store: Store):
        self._store = store

    def entries(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None,
                entity: str | None = None, entity_id: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Entries in the principal's scope, oldest first. Entries with no merchant are for staff only."""
        visible = principal.visible(merchant_ids, "audit log")
        query = select(audit_log).order_by(audit_log.c.id).limit(limit)
        if visible is not None:
            query = query.where(audit_log.c.merchant_id.in_(sorted(visible)))
        if entity is not None:
            query = query.where(audit_log.c.entity == entity)
        if entity_id is not None:
            query = query.where(audit_log.c.entity_id == entity_id)
        with self._store.read() as conn:
            return [AuditEntry(**row) for row in conn.execute(query).mappings()]
