from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from data import schema, warehouse
from data.tables import ALL_TABLES

ROOT = Path(__file__).resolve().parents[1]


def test_every_table_and_column_is_documented():
    for table in ALL_TABLES:
        assert len(table.doc) > 10, table.name
        names = table.column_names
        assert len(names) == len(set(names)), f"duplicate column in {table.name}"
        for col in table.columns:
            assert len(col.doc) > 3, f"{table.name}.{col.name} has no meaning/unit"
        for key in table.primary_key:
            assert key in names, f"{table.name} key {key} is not a column"
        if table.scoped:
            assert "merchant_id" in names, f"{table.name} is scoped but has no merchant_id"


def test_schema_doc_is_up_to_date():
    doc = (ROOT / "docs" / "SCHEMA.md").read_text()
    assert doc == schema.render_markdown(), "docs/SCHEMA.md is stale: run `python -m data schema-doc`"


def test_new_warehouse_matches_declared_schema(tmp_path):
    con = warehouse.open_for_loading(tmp_path / "w.duckdb")
    with con:
        assert schema.read_version(con) == schema.SCHEMA_VERSION
        for table in ALL_TABLES:
            cols = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() "
                "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
                [table.schema, table.name],
            ).fetchall()
            assert [c[0] for c in cols] == list(table.column_names)
            assert [c[2] for c in cols] == [c.doc for c in table.columns]


def test_enforced_key_refuses_duplicates(tmp_path):
    con = warehouse.open_for_loading(tmp_path / "w.duckdb")
    with con:
        con.execute("INSERT INTO merchants VALUES (1, 'A', 'GB', 'GBP', NULL, NULL)")
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO merchants VALUES (1, 'B', 'DE', 'EUR', NULL, NULL)")


def test_older_warehouse_is_refused_with_instructions_then_upgraded(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    con = warehouse.open_for_loading(path)
    con.execute("INSERT INTO merchants VALUES (1, 'Kept', 'GB', 'GBP', NULL, NULL)")
    con.close()

    def add_column(c):
        c.execute("ALTER TABLE main.merchants ADD COLUMN vat_number VARCHAR")

    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current + 1, add_column)
    with pytest.raises(schema.SchemaError, match=r"python -m data upgrade --warehouse .*old\.duckdb"):
        warehouse.Warehouse(path)
    con = duckdb.connect(str(path))
    with con:
        assert schema.upgrade(con, str(path)) == (current, current + 1)
        assert con.execute("SELECT name, vat_number FROM merchants").fetchall() == [("Kept", None)]
    warehouse.Warehouse(path).close()  # now opens


def test_newer_warehouse_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    con = warehouse.open_for_loading(path)
    schema.set_meta(con, "schema_version", str(schema.SCHEMA_VERSION + 1))
    con.close()
    with pytest.raises(schema.SchemaError, match="newer than this Retail Pulse"):
        warehouse.Warehouse(path)


def test_failed_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    warehouse.open_for_loading(path).close()

    def broken(c):
        c.execute("ALTER TABLE main.merchants ADD COLUMN half_done VARCHAR")
        raise RuntimeError("disk on fire")

    current = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(schema.MIGRATIONS, current + 1, broken)
    con = duckdb.connect(str(path))
    with con:
        with pytest.raises(RuntimeError, match="disk on fire"):
            schema.upgrade(con, str(path))
        assert schema.read_version(con) == current
        cols = [r[0] for r in con.execute("DESCRIBE merchants").fetchall()]
        assert "half_done" not in cols


def test_missing_file_is_named(tmp_path):
    with pytest.raises(warehouse.WarehouseMissing, match="nope.duckdb"):
        warehouse.Warehouse(tmp_path / "nope.duckdb")


def test_upgrade_from_schema_4_keeps_every_row_and_builds_the_category_rollup(writable_warehouse):
    """`python -m data upgrade` on a schema-4 warehouse (one without the schema 5 tables): every table keeps its
    rows, and rollup_category_bits and rollup_order_categories hold what a load builds (the fixture's own)."""
    names = ("rollup_category_bits", "rollup_order_categories")
    con = duckdb.connect(str(writable_warehouse))
    with con:
        digest = {t.qualified: f"SELECT count(*), sum(hash(x)::HUGEINT) FROM {t.qualified} x" for t in ALL_TABLES}
        want = {t: con.execute(q).fetchall()[0] for t, q in digest.items()}
        assert all(want[f"main.{n}"][0] for n in names)
        for n in names:
            con.execute(f"DROP TABLE {n}")
        schema.set_meta(con, "schema_version", "4")
        with pytest.raises(schema.SchemaError, match="python -m data upgrade"):
            schema.check_version(con, "w")
        assert schema.upgrade(con) == (4, 5) and schema.SCHEMA_VERSION == 5
        assert {t: con.execute(q).fetchall()[0] for t, q in digest.items()} == want
        comments = con.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name IN (?, ?) "
                               "AND comment IS NOT NULL", list(names)).fetchone()[0]
        assert comments == sum(len(t.columns) for t in ALL_TABLES if t.name in names)
