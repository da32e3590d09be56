"""Claims on queue items with an expiry, so that no item is ever held by two people at once.

A queue item (a fraud case, a notification to send) is enqueued once. ``claim_next`` gives a holder the
first unclaimed or expired item in scope with a fresh token and an expiry; work done under a lease is
recorded only while ``verify`` still finds that token live (inside the same transaction), then
``complete`` takes the item out of the queue. An expired lease is simply claimable again.

PostgreSQL picks the item with ``SELECT ... FOR UPDATE SKIP LOCKED``, so claimers never wait on each other;
SQLite runs the same statement inside ``BEGIN IMMEDIATE``, which already admits one writer at a time.
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
from data.store.errors import InvalidValue, LeaseLost
from data.store.principal import Principal
from data.store.tables import KEY, NAME, leases
from data.store.text import checked_text

if TYPE_CHECKING:
    from data.store.store import Store


@dataclass(frozen=True)
class Lease:
    queue: str
    item_key: str
    merchant_id: int
    holder: str
    token: str
    claimed_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class QueueItem:
    queue: str
    item_key: str
    merchant_id: int
    rank: float
    enqueued_at: dt.datetime
    holder: str | None
    expires_at: dt.datetime | None
    done_at: dt.datetime | None

    def held(self, now: dt.datetime) -> bool:
        return self.done_at is None and self.expires_at is not None and self.expires_at > now


class Leases:
    def __init__(self, store: Store):
        self._store = store

    def enqueue(self, principal: Principal, *, queue: str, merchant_id: int, item_key: str,
                rank: float = 0.0) -> bool:
        """Add an item (lower rank is claimed first); False when it was already queued (nothing changes)."""
        principal.require(merchant_id, f"{queue} queue items")
        values = {"queue": _name(queue, "queue"), "item_key": checked_text(item_key, "item key", max_chars=KEY,
                                                                            required=True),
                  "merchant_id": merchant_id, "rank": float(rank)}
        with self._store.transaction() as conn:
            values["enqueued_at"] = self._store.now()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = (dialect.insert(leases).values(**values)
                         .on_conflict_do_nothing(index_elements=["queue", "item_key"]).returning(leases.c.queue))
            inserted = conn.execute(statement).first() is not None
            if inserted:
                audit.append(conn, at=values["enqueued_at"], actor=principal.user, merchant_id=merchant_id,
                             entity=f"queue:{queue}", entity_id=item_key, action="enqueue", before=None,
                             after={"rank": values["rank"]})
            return inserted

    def enqueue_many(self, principal: Principal, *, queue: str, items: Iterable[tuple[int, str, float]]) -> set[str]:
        """``enqueue`` for many (merchant_id, item_key, rank) at once, in a few statements (a scoring run
        queues thousands): returns the keys added now; keys already queued are left as they are."""
        rows = []
        for merchant_id, item_key, rank in items:
            principal.require(merchant_id, f"{queue} queue items")
            rows.append({"queue": _name(queue, "queue"), "merchant_id": merchant_id, "rank": float(rank),
                         "item_key": checked_text(item_key, "item key", max_chars=KEY, required=True)})
        if not rows:
            return set()
        with self._store.transaction() as conn:
            now = self._store.now()
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            statement = (dialect.insert(leases).on_conflict_do_nothing(index_elements=["queue", "item_key"])
                         .returning(leases.c.item_key))
            added = set(conn.execute(statement, [{**row, "enqueued_at": now} for row in rows]).scalars())
            audit.append_many(conn, [
                {"at": now, "actor": principal.user, "merchant_id": row["merchant_id"], "entity": f"queue:{queue}",
                 "entity_id": row["item_key"], "action": "enqueue", "before": None, "after": {"rank": row["rank"]}}
                for row in rows if row["item_key"] in added])
            return added

    def claim_next(self, principal: Principal, *, queue: str, holder: str, ttl: dt.timedelta,
                   merchant_ids: Iterable[int] | None = None) -> Lease | None:
        """Claim the first free item (lowest rank) of the principal's merchants; None when none is free."""
        visible = principal.visible(merchant_ids, f"{queue} queue items")
        with self._store.transaction() as conn:
            now = self._store.now()
            query = (select(leases.c.item_key).where(leases.c.queue == queue, leases.c.done_at.is_(None),
                                                     _free(now))
                     .order_by(leases.c.rank, leases.c.item_key).limit(1).with_for_update(skip_locked=True))
            if visible is not None:
                query = query.where(leases.c.merchant_id.in_(sorted(visible)))
            key = conn.execute(query).scalar()
            return None if key is None else self._take(conn, principal, queue, key, holder, ttl, now)

    def claim(self, principal: Principal, *, queue: str, item_key: str, holder: str,
              ttl: dt.timedelta) -> Lease | None:
        """Claim one named item; None when someone else holds a live lease on it or it is done."""
        with self._store.transaction() as conn:
            row = self._row(conn, principal, queue, item_key, lock=True)
            now = self._store.now()
            if row["done_at"] is not None or (row["expires_at"] is not None and row["expires_at"] > now):
                return None
            return self._take(conn, principal, queue, item_key, holder, ttl, now)

    def verify(self, lease: Lease) -> None:
        """Raise LeaseLost unless ``lease`` is still live; call it inside the transaction that records the
        work, so the check and the record commit together."""
        with self._store.transaction() as conn:
            row = conn.execute(select(leases).where(leases.c.queue == lease.queue,
                                                    leases.c.item_key == lease.item_key)
                               .with_for_update()).mappings().first()
            now = self._store.now()
            if (row is None or row["token"] != lease.token or row["done_at"] is not None
                    or row["expires_at"] is None or row["expires_at"] <= now):
                raise LeaseLost(f"the lease on {lease.queue} item {lease.item_key!r} held by {lease.holder!r} "
                                "has expired or was taken over; the change was not recorded")

    def renew(self, principal: Principal, lease: Lease, ttl: dt.timedelta) -> Lease:
        """Extend a live lease to ``ttl`` from now (LeaseLost if it already expired or was taken)."""
        principal.require(lease.merchant_id, f"{lease.queue} queue items")
        with self._store.transaction() as conn:
            self.verify(lease)
            now = self._store.now()
            expires = now + _ttl(ttl)
            conn.execute(update(leases).where(leases.c.queue == lease.queue, leases.c.item_key == lease.item_key)
                         .values(expires_at=expires))
            audit.append(conn, at=now, actor=principal.user, merchant_id=lease.merchant_id,
                         entity=f"queue:{lease.queue}", entity_id=lease.item_key, action="renew",
                         before={"holder": lease.holder, "expires_at": lease.expires_at},
                         after={"holder": lease.holder, "expires_at": expires})
            return Lease(lease.queue, lease.item_key, lease.merchant_id, lease.holder, lease.token,
                         lease.claimed_at, expires)

    def items(self, principal: Principal, *, queue: str, merchant_ids: Iterable[int] | None = None,
              include_done: bool = False, limit: int = 1000) -> list[QueueItem]:
        """Queue items in scope, in claiming order (rank, then key), with who holds each and until when."""
        visible = principal.visible(merchant_ids, f"{queue} queue items")
        query = select(leases).where(leases.c.queue == queue).order_by(leases.c.rank, leases.c.item_key).limit(limit)
        if visible is not None:
            query = query.where(leases.c.merchant_id.in_(sorted(visible)))
        if not include_done:
            query = query.where(leases.c.done_at.is_(None))
        with self._store.read() as conn:
            return [QueueItem(**{k: row[k] for k in QueueItem.__dataclass_fields__})
                    for row in conn.execute(query).mappings()]

    def release(self, principal: Principal, lease: Lease) -> None:
        """Give the item back unfinished (claimable at once)."""
        self._finish(principal, lease, "release", {"holder": None, "token": None, "expires_at": None})

    def complete(self, principal: Principal, lease: Lease) -> None:
        """Take the item out of the queue for good (after its work was recorded)."""
        self._finish(principal, lease, "complete", {"done_at": self._store.now()})

    def _finish(self, principal: Principal, lease: Lease, action: str, values: dict) -> None:
        principal.require(lease.merchant_id, f"{lease.queue} queue items")
        with self._store.transaction() as conn:
            self.verify(lease)
            conn.execute(update(leases).where(leases.c.queue == lease.queue, leases.c.item_key == lease.item_key)
                         .values(**values))
            audit.append(conn, at=self._store.now(), actor=principal.user, merchant_id=lease.merchant_id,
                         entity=f"queue:{lease.queue}", entity_id=lease.item_key, action=action,
                         before={"holder": lease.holder, "expires_at": lease.expires_at},
                         after=values)

    def _take(self, conn: Connection, principal: Principal, queue: str, key: str, holder: str,
              ttl: dt.timedelta, now: dt.datetime) -> Lease | None:
        row = self._row(conn, principal, queue, key, lock=False)
        lease = Lease(queue, key, row["merchant_id"], checked_text(holder, "holder", max_chars=NAME, required=True),
                      uuid.uuid4().hex, now, now + _ttl(ttl))
        # The row is already locked; the conditions repeat the check so that a claim can never overwrite a
        # live lease even if a caller forgot the lock.
        taken = conn.execute(update(leases).where(leases.c.queue == queue, leases.c.item_key == key,
                                                  leases.c.done_at.is_(None), _free(now))
                             .values(holder=lease.holder, token=lease.token, claimed_at=now,
                                     expires_at=lease.expires_at))
        if taken.rowcount != 1:
            return None
        audit.append(conn, at=now, actor=principal.user, merchant_id=lease.merchant_id, entity=f"queue:{queue}",
                     entity_id=key, action="claim",
                     before={"holder": row["holder"], "expires_at": row["expires_at"]},
                     after={"holder": lease.holder, "expires_at": lease.expires_at})
        return lease

    @staticmethod
    def _row(conn: Connection, principal: Principal, queue: str, key: str, lock: bool) -> dict:
        query = select(leases).where(leases.c.queue == queue, leases.c.item_key == key)
        row = conn.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            raise InvalidValue(f"no item {key!r} in queue {queue!r}")
        principal.require(row["merchant_id"], f"{queue} queue items")
        return dict(row)


def _free(now: dt.datetime):
    return or_(leases.c.expires_at.is_(None), leases.c.expires_at <= now)


def _ttl(ttl: dt.timedelta) -> dt.timedelta:
    if not isinstance(ttl, dt.timedelta) or ttl <= dt.timedelta(0):
        raise InvalidValue(f"a lease needs a positive duration, got {ttl!r}")
    return ttl


def _name(value: str, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not value.replace("_", "").isalnum():
        raise InvalidValue(f"{field} must be a short name of letters, digits and underscores, got {value!r}")
    return value
