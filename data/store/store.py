"""The operational store: one handle per process, shared by threads, with a repository per kind of record.

    store = open_store()                       # RETAIL_PULSE_STATE_URL, else <warehouse>.state.sqlite
    who = Principal.merchants("ana", [1])
    store.alerts.acknowledge(who, merchant_id=1, alert_key="sku:42@store:3", request_id=rid)

Every read and write takes a Principal and refuses merchants outside its scope. Writes run in a write
transaction (``BEGIN IMMEDIATE`` on SQLite); ``with store.transaction():`` groups several writes into one,
e.g. a review decision recorded only while its lease is live:

    with store.transaction():
        store.leases.verify(lease)             # LeaseLost rolls everything back
        ...record the decision...
        store.leases.complete(who, lease)

The fraud review queue (store.reviews, data/store/reviews.py) is built that way on top of the leases.
A new kind of record (notifications) follows the same recipe: a table in tables.py and a
new Alembic revision in migrations/versions/; a repository that checks the Principal, checks free text with
text.checked_text, writes with idempotency.insert_once inside store.transaction(), and appends
audit.append in that same transaction. A new kind of document (saved scenarios) is one more DocumentKind.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from data.store import location, migration
from data.store.alert_actions import AlertActions
from data.store.audit import AuditLog
from data.store.documents import Documents
from data.store.engine import WRITE_OPTION, build_engine
from data.store.errors import StoreUnavailable
from data.store.exchange_rates import ExchangeRates
from data.store.leases import Leases
from data.store.purchase_orders import PURCHASE_ORDER, PurchaseOrders
from data.store.reviews import Reviews

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Store:
    def __init__(self, engine: Engine, url: URL, clock: Clock = utc_now):
        self.engine = engine
        self.url = url
        self.clock = clock
        # The connection of the write transaction open in this thread (or task), if any.
        self._current: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            f"store_txn_{id(self)}", default=None)
        # SQLite: threads of this process queue here for the write lock, in order, instead of polling it
        # through SQLite's busy handler, whose growing sleeps made 20 writing threads 4x slower (measured).
        # Other processes still wait through the busy timeout.
        self._write_turn = threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self.audit = AuditLog(self)
        self.alerts = AlertActions(self)
        self.documents = Documents(self, kinds=(PURCHASE_ORDER,))
        self.purchase_orders = PurchaseOrders(self.documents)
        self.leases = Leases(self)
        self.exchange_rates = ExchangeRates(self)
        self.reviews = Reviews(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def now(self) -> dt.datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the store's clock must return timezone-aware datetimes")
        return now.astimezone(dt.timezone.utc)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction; nested uses join the outer one, which commits (or rolls back) everything."""
        outer = self._current.get()
        if outer is not None:
            yield outer
            return
        with self._write_turn, self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
            token = self._current.set(conn)
            try:
                with conn.begin():
                    yield conn
            finally:
                self._current.reset(token)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (inside a write transaction: that one, so it sees its own changes)."""
        outer = self._current.get()
        if outer is not None:
            yield outer
            return
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str | URL | None = None, *, warehouse: str | os.PathLike[str] | None = None,
               clock: Clock = utc_now, migrate: bool = True) -> Store:
    """Open (creating and migrating as needed) the store at ``url``, else RETAIL_PULSE_STATE_URL, else the
    SQLite file beside ``warehouse``. Raises StoreUnavailable with the reason when it cannot."""
    resolved = location.resolve_url(url, warehouse=warehouse)
    if resolved.get_backend_name() == "sqlite":
        location.prepare_sqlite_file(Path(resolved.database))
    engine = build_engine(resolved)
    try:
        if migrate:
            migration.upgrade_to_head(engine)
        else:
            with engine.connect():
                pass
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise StoreUnavailable(f"cannot open the operational store {location.describe(resolved)}: {reason}") from None
    return Store(engine, resolved, clock)
