"""The notification outbox: each message to send is a row, so nothing is sent twice and nothing is lost.

A row is one (merchant, kind, subject, channel): ``kind`` is ``incident`` (subject: the incident key) or
``digest`` (subject: ``digest:YYYY-MM-DD``). The unique constraint on those four columns is what makes a second
detection run, a restart or a concurrent run unable to queue the same notification again.

Sending (``models.alerts.delivery``) goes:

1. ``claim_due``: one short write transaction takes due rows (pending, next attempt passed, no live claim)
   with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (``BEGIN IMMEDIATE`` serialises it on SQLite),
   stamps each with a fresh claim token and ``claimed_until`` and counts the attempt;
2. the sender hands the message to the receiver, outside any transaction;
3. ``mark_sent`` once the receiver accepted it (only under the same token), or ``mark_failed`` with the
   receiver's error: the row waits ``base x 2^(attempts-1)`` (capped) and is tried again, and after
   ``max_attempts`` it stays ``failed``.

A process killed after step 1 leaves its claim to expire (``claimed_until``), then the row is due again; one
killed between the receiver's acceptance and step 3 sends that one message again after the claim expires.
That window (a few milliseconds per message) is the only way a receiver gets a notification twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from data.store import audit
from data.store.principal import Principal
from data.store.tables import alert_notifications

if TYPE_CHECKING:
    from data.store.store import Store

STATUSES = ("pending", "sending", "sent", "failed", "cancelled")
KINDS = ("incident", "digest")
ACTOR = "alert-delivery"
MAX_ERROR = 2000


@dataclass(frozen=True)
class Backoff:
    base: dt.timedelta = dt.timedelta(minutes=1)
    cap: dt.timedelta = dt.timedelta(hours=6)
    max_attempts: int = 10

    def delay(self, attempts: int) -> dt.timedelta:
        return min(self.base * (2 ** max(0, attempts - 1)), self.cap)


@dataclass(frozen=True)
class Notification:
    id: int
    merchant_id: int
    kind: str
    subject_key: str
    channel_id: str
    message: dict
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    claim_token: str | None
    claimed_until: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


def enqueue(conn: Connection, rows: Iterable[dict], now: dt.datetime) -> int:
    """Queue notifications inside the caller's transaction (each row: merchant_id, kind, subject_key,
    channel_id, message); rows already queued are left as they are. Returns how many were added."""
    values = [{**r, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now} for r in rows]
    if not values:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(alert_notifications)
                 .on_conflict_do_nothing(index_elements=["merchant_id", "kind", "subject_key", "channel_id"])
                 .returning(alert_notifications.c.id))
    return len(conn.execute(statement, values).all())


class Outbox:
    def __init__(self, store: Store):
        self._store = store

    def claim_due(self, *, ttl: dt.timedelta, limit: int = 50,
                  merchant_ids: Iterable[int] | None = None) -> list[Notification]:
        """Claim up to ``limit`` due notifications (oldest first) for ``ttl``; [] when none is due."""
        c = alert_notifications.c
        with self._store.transaction() as conn:
            now = self._store.now()
            query = (select(c.id).where(c.status.in_(("pending", "sending")), c.next_attempt_at <= now,
                                        or_(c.claimed_until.is_(None), c.claimed_until <= now))
                     .order_by(c.next_attempt_at, c.id).limit(limit).with_for_update(skip_locked=True))
            if merchant_ids is not None:
                query = query.where(c.merchant_id.in_(sorted(set(merchant_ids))))
            ids = conn.execute(query).scalars().all()
            claimed = []
            for row_id in ids:
                token = uuid.uuid4().hex
                row = conn.execute(update(alert_notifications).where(c.id == row_id).values(
                    status="sending", claim_token=token, claimed_until=now + ttl, attempts=c.attempts + 1,
                ).returning(*alert_notifications.c)).mappings().one()
                claimed.append(Notification(**row))
            return claimed

    def mark_sent(self, note: Notification) -> bool:
        """The receiver accepted ``note``: done for good. False when the claim was lost (nothing changes)."""
        c = alert_notifications.c
        with self._store.transaction() as conn:
            now = self._store.now()
            done = conn.execute(update(alert_notifications).where(c.id == note.id, c.claim_token == note.claim_token)
                                .values(status="sent", sent_at=now, claim_token=None, claimed_until=None,
                                        last_error=None))
            if done.rowcount == 1:
                audit.append(conn, at=now, actor=ACTOR, merchant_id=note.merchant_id, entity=f"alert:{note.kind}",
                             entity_id=note.subject_key, action="notify",
                             before=None, after={"channel": note.channel_id, "attempts": note.attempts})
            return done.rowcount == 1

    def mark_failed(self, note: Notification, error: str, backoff: Backoff, *, give_up: bool = False) -> str:
        """The receiver refused ``note``: schedule the next attempt (or give up); returns the new status."""
        c = alert_notifications.c
        status = "failed" if give_up or note.attempts >= backoff.max_attempts else "pending"
        with self._store.transaction() as conn:
            now = self._store.now()
            done = conn.execute(update(alert_notifications).where(c.id == note.id, c.claim_token == note.claim_token)
                                .values(status=status, claim_token=None, claimed_until=None,
                                        last_error=(error or "refused")[:MAX_ERROR],
                                        next_attempt_at=now + backoff.delay(note.attempts)))
            if done.rowcount == 1 and status == "failed":
                audit.append(conn, at=now, actor=ACTOR, merchant_id=note.merchant_id, entity=f"alert:{note.kind}",
                             entity_id=note.subject_key, action="notify_failed", before=None,
                             after={"channel": note.channel_id, "attempts": note.attempts,
                                    "error": (error or "")[:MAX_ERROR]})
            return status

    def cancel(self, note: Notification, reason: str) -> None:
        """Never send ``note`` (its channel was removed)."""
        c = alert_notifications.c
        with self._store.transaction() as conn:
            conn.execute(update(alert_notifications).where(c.id == note.id, c.claim_token == note.claim_token)
                         .values(status="cancelled", claim_token=None, claimed_until=None, last_error=reason))

    def notifications(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None,
                      subject_key: str | None = None, limit: int = 1000) -> list[Notification]:
        """Notifications in the principal's scope, newest first (what was sent where, and what failed)."""
        visible = principal.visible(merchant_ids, "alert notifications")
        c = alert_notifications.c
        query = select(alert_notifications).order_by(c.id.desc()).limit(limit)
        if visible is not None:
            query = query.where(c.merchant_id.in_(sorted(visible)))
        if subject_key is not None:
            query = query.where(c.subject_key == subject_key)
        with self._store.read() as conn:
            return [Notification(**row) for row in conn.execute(query).mappings()]
