"""Documents kept as revisions: purchase-order drafts now, saved scenarios later.

A document is never edited in place. Each save is a new revision row (1, 2, 3...) with the whole body;
the current document is its highest revision. A save names the revision it was based on, so two people
editing the same draft cannot silently overwrite each other: the second gets StaleRevision.
A kind (registry entry) says which statuses exist and how a body is checked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, select, text
from sqlalchemy.exc import IntegrityError

from data.store import audit
from data.store.errors import InvalidValue, OutOfScope, StaleRevision
from data.store.idempotency import checked_request_id, insert_once
from data.store.principal import Principal
from data.store.tables import KEY, NAME, document_revisions
from data.store.text import checked_text

if TYPE_CHECKING:
    from data.store.store import Store

_SAME = ("merchant_id", "kind", "document_id", "revision", "status", "title", "body", "note")
# Document ids are derived from the creating request id, so a re-sent create finds the same document.
_ID_NAMESPACE = uuid.UUID("5a0b1c4e-8f2d-4a57-9a51-3c7f0f1d2e60")


@dataclass(frozen=True)
class DocumentKind:
    name: str
    statuses: tuple[str, ...]  # the first is the status of a new document
    check_body: Callable[[Any], dict]  # returns the body to store, or raises InvalidValue
    doc: str


@dataclass(frozen=True)
class Revision:
    id: int
    request_id: str
    merchant_id: int
    kind: str
    document_id: str
    revision: int
    status: str
    title: str | None
    body: dict
    note: str | None
    actor: str
    recorded_at: dt.datetime
    duplicate: bool = False  # True when this save's request id was already stored


class Documents:
    def __init__(self, store: Store, kinds: Iterable[DocumentKind]):
        self._store = store
        self.kinds = {k.name: k for k in kinds}

    def create(self, principal: Principal, *, kind: str, merchant_id: int, body: Any, request_id: str,
               title: str | None = None, note: str | None = None) -> Revision:
        """Revision 1 of a new document (its id comes from the request id, so a retry finds it)."""
        principal.require(merchant_id, f"{kind} documents")
        spec = self._kind(kind)
        document_id = uuid.uuid5(_ID_NAMESPACE, f"{kind}:{checked_request_id(request_id)}").hex
        return self._save(principal, spec, merchant_id, document_id, 1, spec.statuses[0], body, title, note,
                          request_id, before=None)

    def revise(self, principal: Principal, *, kind: str, document_id: str, base_revision: int,
               request_id: str, body: Any = None, status: str | None = None, title: str | None = None,
               note: str | None = None) -> Revision:
        """A new revision on top of ``base_revision``; unchanged fields (None) carry over from it."""
        spec = self._kind(kind)
        with self._store.transaction() as conn:
            _lock_document(conn, kind, document_id)
            latest = self._latest(conn, principal, kind, document_id)
            if latest.revision != base_revision:
                prior = conn.execute(select(document_revisions.c.request_id).where(
                    document_revisions.c.kind == kind, document_revisions.c.document_id == document_id,
                    document_revisions.c.request_id == request_id)).first()
                if prior is None:
                    raise StaleRevision(f"{kind} {document_id} is at revision {latest.revision}, not "
                                        f"{base_revision}: reload it and apply the change again")
                base = self._revision(conn, kind, document_id, base_revision)
            else:
                base = latest
            return self._save(principal, spec, base.merchant_id, document_id, base.revision + 1,
                              status or base.status, base.body if body is None else body,
                              base.title if title is None else title, note, request_id, before=base)

    def current(self, principal: Principal, *, kind: str, document_id: str) -> Revision:
        with self._store.read() as conn:
            return self._latest(conn, principal, kind, document_id)

    def history(self, principal: Principal, *, kind: str, document_id: str) -> list[Revision]:
        """Every revision, oldest first."""
        with self._store.read() as conn:
            self._latest(conn, principal, kind, document_id)  # scope check
            rows = conn.execute(select(document_revisions).where(
                document_revisions.c.kind == kind, document_revisions.c.document_id == document_id,
            ).order_by(document_revisions.c.revision)).mappings()
            return [Revision(**row) for row in rows]

    def latest(self, principal: Principal, *, kind: str, merchant_ids: Iterable[int] | None = None,
               statuses: Iterable[str] | None = None) -> list[Revision]:
        """The current revision of every document of ``kind`` in scope, newest first."""
        visible = principal.visible(merchant_ids, f"{kind} documents")
        t = document_revisions
        newest = (select(t.c.document_id, func.max(t.c.revision).label("revision"))
                  .where(t.c.kind == kind).group_by(t.c.document_id).subquery())
        query = (select(t).join(newest, and_(t.c.document_id == newest.c.document_id,
                                             t.c.revision == newest.c.revision))
                 .where(t.c.kind == kind).order_by(t.c.recorded_at.desc(), t.c.id.desc()))
        if visible is not None:
            query = query.where(t.c.merchant_id.in_(sorted(visible)))
        if statuses is not None:
            query = query.where(t.c.status.in_(list(statuses)))
        with self._store.read() as conn:
            return [Revision(**row) for row in conn.execute(query).mappings()]

    def _save(self, principal, spec, merchant_id, document_id, revision, status, body, title, note,
              request_id, before: Revision | None) -> Revision:
        if status not in spec.statuses:
            raise InvalidValue(f"{spec.name} status must be one of {', '.join(spec.statuses)}, not {status!r}")
        values = {
            "request_id": checked_request_id(request_id), "merchant_id": merchant_id, "kind": spec.name,
            "document_id": document_id, "revision": revision, "status": status, "body": spec.check_body(body),
            "title": checked_text(title, "title", max_chars=KEY), "note": checked_text(note, "note"),
            "actor": checked_text(principal.user, "user", max_chars=NAME, required=True),
        }
        with self._store.transaction() as conn:
            values["recorded_at"] = self._store.now()
            try:
                row, inserted = insert_once(conn, document_revisions, values, _SAME)
            except IntegrityError:
                raise StaleRevision(f"{spec.name} {document_id} got revision {revision} from someone else "
                                    "first: reload it and apply the change again") from None
            saved = Revision(**row, duplicate=not inserted)
            if inserted:
                audit.append(conn, at=saved.recorded_at, actor=principal.user, merchant_id=merchant_id,
                             entity=spec.name, entity_id=document_id,
                             action="create" if before is None else f"revise:{status}",
                             before=None if before is None else _public(before), after=_public(saved),
                             request_id=request_id)
            return saved

    def _kind(self, name: str) -> DocumentKind:
        if name not in self.kinds:
            raise InvalidValue(f"unknown document kind {name!r}; known: {', '.join(self.kinds)}")
        return self.kinds[name]

    @staticmethod
    def _revision(conn: Connection, kind: str, document_id: str, revision: int) -> Revision:
        t = document_revisions
        row = conn.execute(select(t).where(t.c.kind == kind, t.c.document_id == document_id,
                                           t.c.revision == revision)).mappings().one()
        return Revision(**row)

    @staticmethod
    def _latest(conn: Connection, principal: Principal, kind: str, document_id: str) -> Revision:
        t = document_revisions
        row = conn.execute(select(t).where(t.c.kind == kind, t.c.document_id == document_id)
                           .order_by(t.c.revision.desc()).limit(1)).mappings().first()
        if row is None:
            raise InvalidValue(f"no {kind} document {document_id!r}")
        if not principal.allows(row["merchant_id"]):
            raise OutOfScope(f"user {principal.user!r} may not touch {kind} document {document_id!r}: it is "
                             "another merchant's; nothing was read or written")
        return Revision(**row)


def _lock_document(conn: Connection, kind: str, document_id: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                     {"k": f"document:{kind}:{document_id}"})


def _public(revision: Revision) -> dict:
    return {"revision": revision.revision, "status": revision.status, "title": revision.title,
            "body": revision.body, "note": revision.note}
