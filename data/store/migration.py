"""Apply the store's Alembic migrations: on every open (cheap when already at head) and by command.

Two processes that open a new store at the same moment must not both create its tables. The upgrade runs
inside one write transaction that holds a lock for its whole length: ``BEGIN IMMEDIATE`` on SQLite (whose
DDL is transactional), ``pg_advisory_xact_lock`` on PostgreSQL. The second process waits, then finds the
store at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from data.store.engine import WRITE_OPTION
from data.store.errors import StoreUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed 64-bit number: the advisory lock every Retail Pulse process takes to migrate.
PG_MIGRATION_LOCK = 7_262_011_510


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the store is at (None for an empty store)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> tuple[str | None, str]:
    """Migrate the store to head; returns (revision before, revision after)."""
    head = head_revision()
    before = current_revision(engine)
    if before == head:
        return before, head
    _check_known(before, head)
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            # Re-read under the lock: another process may have migrated while this one waited.
            before = MigrationContext.configure(conn).get_current_revision()
            _check_known(before, head)
            if before != head:
                command.upgrade(_config(conn), "head")
    return before, head


def _check_known(revision: str | None, head: str) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(_config()).get_revision(revision)
    except CommandError:
        raise StoreUnavailable(f"the operational store is at migration {revision!r}, which this version of "
                               f"Retail Pulse does not know (it knows up to {head!r}); run the newer "
                               "version, or restore a backup made for this one") from None
