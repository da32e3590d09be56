"""Alembic environment: runs on the connection data.store.migration hands over, inside its transaction.

The caller holds the migration lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL) for the whole
upgrade, so two processes opening a new store at once upgrade it exactly once.
"""

from alembic import context

from data.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `python -m data store upgrade` (data.store.migration), "
                       "which supplies the connection and the lock")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
