"""Alembic migrations of the operational store (applied by data.store.migration, never by hand-edited SQL)."""
