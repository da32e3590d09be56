"""SQLAlchemy engines for the store, set up for safe writes from many threads and processes.

SQLite (measured in PITFALLS.md): WAL lets readers run beside one writer; ``synchronous=FULL`` makes every
acknowledged commit survive a crash; a write takes the lock up front with ``BEGIN IMMEDIATE`` (a deferred
transaction that upgrades to a write can fail at once with SQLITE_BUSY instead of waiting); and the busy
timeout is far above the 2 s longest lock wait measured under 20 writing threads.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL

BUSY_TIMEOUT_MS = 30_000
# Execution option a connection carries when it will write (see Store.write).
WRITE_OPTION = "retail_pulse_write"


def build_engine(url: URL) -> Engine:
    """An engine for ``url`` (sqlite+pysqlite or postgresql+psycopg), with pool room for 20+ threads."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_size=5, max_overflow=40, pool_pre_ping=True, pool_timeout=60)


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(
        url, pool_size=5, max_overflow=40, pool_timeout=60,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        # The driver's own transaction handling is switched off so that BEGIN is ours to emit (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine
