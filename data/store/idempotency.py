"""Writes made safe to retry: each change carries a client-made request id, and a re-sent one is a no-op.

A commit can be durable and yet never acknowledged (the process dies between the two), so a client retries
with the same request id; ``INSERT ... ON CONFLICT (request_id) DO NOTHING`` keeps one row on both engines.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from data.store.errors import InvalidValue, RequestIdReused
from data.store.tables import REQUEST_ID


def new_request_id() -> str:
    """A fresh request id: make one per change a person asks for, and re-send it on retry."""
    return uuid.uuid4().hex


def checked_request_id(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > REQUEST_ID or "\x00" in value:
        raise InvalidValue(f"request id must be non-empty text of at most {REQUEST_ID} characters, got {value!r}")
    return value


def insert_once(conn: Connection, table: Table, values: dict[str, Any],
                same: Sequence[str]) -> tuple[dict[str, Any], bool]:
    """Insert ``values`` unless its request id is already stored: (the row, True if inserted now).

    A stored row under the same request id must agree on the ``same`` columns; otherwise the id was reused
    for a different change, which RequestIdReused refuses without saying what the other change was.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (dialect.insert(table).values(**values)
                 .on_conflict_do_nothing(index_elements=["request_id"]).returning(*table.c))
    row = conn.execute(statement).mappings().first()
    if row is not None:
        return dict(row), True
    existing = dict(conn.execute(select(table).where(table.c.request_id == values["request_id"])).mappings().one())
    if any(existing[name] != values[name] for name in same):
        raise RequestIdReused(f"request id {values['request_id']!r} already names a different change; "
                              "make a new request id for every new change")
    return existing, False
