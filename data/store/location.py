"""Where the operational store lives: RETAIL_PULSE_STATE_URL, else a SQLite file beside the warehouse."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from data import settings
from data.store.errors import StoreUnavailable

SQLITE_SUFFIX = ".state.sqlite"


def default_sqlite_path(warehouse: str | os.PathLike[str] | None = None) -> Path:
    """``<warehouse>.state.sqlite``: the store follows its warehouse (tests and copies stay separate)."""
    path = settings.warehouse_path(warehouse)
    return path.with_name(path.name + SQLITE_SUFFIX)


def resolve_url(url: str | URL | None = None, *, warehouse: str | os.PathLike[str] | None = None) -> URL:
    """The store's SQLAlchemy URL: ``url``, else RETAIL_PULSE_STATE_URL, else the SQLite file.

    ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver (the one pinned). Only SQLite and
    PostgreSQL are accepted: the store's SQL (ON CONFLICT, SKIP LOCKED, triggers) is written for those two.
    """
    raw = url if url is not None else settings.get("state_url").strip()
    if not raw:
        return URL.create("sqlite+pysqlite", database=str(default_sqlite_path(warehouse)))
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StoreUnavailable("the store URL (RETAIL_PULSE_STATE_URL) is not a database URL: "
                               f"{_redacted(str(raw))!r}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreUnavailable("the store needs a SQLite file (an in-memory database is not shared "
                                   "between connections)")
        return parsed.set(drivername="sqlite+pysqlite")
    raise StoreUnavailable(f"the store URL (RETAIL_PULSE_STATE_URL) names {backend!r}; the store runs on "
                           "sqlite or postgresql")


def prepare_sqlite_file(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by its owner only: it holds notes and user names."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the operational store {path}: {exc.strerror}") from None


def describe(url: URL) -> str:
    """The URL without its password, for messages and `store info`."""
    return url.render_as_string(hide_password=True)


def _redacted(raw: str) -> str:
    try:
        return describe(make_url(raw))
    except ArgumentError:
        return raw.split("@")[-1]
