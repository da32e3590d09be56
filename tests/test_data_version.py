"""Warehouse.data_version: read again when the warehouse's files change, not on every page run."""

from __future__ import annotations

import shutil

from data import schema, warehouse
from data.warehouse import Warehouse


def _counted(fixture_warehouse_path, tmp_path, monkeypatch, recheck_s: float) -> tuple[Warehouse, list[str]]:
    """A warehouse on a copy of the fixture, and the list every meta read of the version is appended to."""
    path = tmp_path / "w.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    reads: list[str] = []
    real = schema.get_meta
    monkeypatch.setattr(schema, "get_meta", lambda con, key: reads.append(key) or real(con, key))
    monkeypatch.setattr(warehouse, "VERSION_RECHECK_S", recheck_s)
    return Warehouse(path), reads


def test_a_write_is_seen_at_once_and_an_idle_warehouse_is_not_queried(fixture_warehouse_path, tmp_path,
                                                                      monkeypatch):
    eng, reads = _counted(fixture_warehouse_path, tmp_path, monkeypatch, 3600.0)
    reads.clear()  # opening the warehouse reads meta too
    first = eng.data_version()
    assert eng.data_version() == first and eng.data_version() == first
    assert reads == ["data_version"]  # files unchanged: no query after the first
    # A load through another cursor of this process (as staged imports are applied) commits to the .wal.
    con = eng.cursor()
    try:
        con.execute("BEGIN")
        schema.bump_data_version(con)
        con.execute("COMMIT")
    finally:
        con.close()
    assert eng.data_version() == first + 1
    eng.close()


def test_the_version_is_read_again_after_the_recheck_time(fixture_warehouse_path, tmp_path, monkeypatch):
    eng, reads = _counted(fixture_warehouse_path, tmp_path, monkeypatch, 0.0)
    reads.clear()
    eng.data_version()
    eng.data_version()
    assert reads == ["data_version", "data_version"]
    eng.close()
