"""Warehouse DDL, the recorded schema version, and upgrades of older warehouses.

Primary keys are enforced by DuckDB on the dimension tables only. The large fact
tables (orders, lines, events, inventory...) declare their key in the docs and
are checked by the importers and ``python -m data validate``: an ART index over
tens of millions of rows would cost more at load time than it protects.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from data import rollups
from data.tables import ALL_TABLES, OBSERVED, OBSERVED_BY_NAME, PAYMENT_SIGNALS, ROLLUPS, TRUTH, Table

SCHEMA_VERSION = 5

ENFORCED_KEYS = frozenset({"merchants", "stores", "customers", "products", "promotions", "imports"})


class SchemaError(RuntimeError):
    """The warehouse cannot be used as it is; the message says what to do."""


def table_ddl(table: Table) -> str:
    cols = [f"{c.name} {c.type}{'' if c.nullable else ' NOT NULL'}" for c in table.columns]
    if table.primary_key and table.name in ENFORCED_KEYS and table.schema == "main":
        cols.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {table.qualified} (\n  " + ",\n  ".join(cols) + "\n)"


def _comment(target: str, text: str) -> str:
    # COMMENT ON takes no bound parameters; the text is our own constant doc string.
    return "COMMENT ON " + target + " IS '" + text.replace("'", "''") + "'"


def _create_v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS truth")
    con.execute("CREATE TABLE IF NOT EXISTS main.meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    for table in ALL_TABLES:
        con.execute(table_ddl(table))
        con.execute(_comment(f"TABLE {table.qualified}", table.doc))
        for col in table.columns:
            con.execute(_comment(f"COLUMN {table.qualified}.{col.name}", col.doc))


def _add_rollups_v2(con: duckdb.DuckDBPyConnection) -> None:
    """The daily rollups (data/rollups.py), built from the data already there."""
    for table in ROLLUPS:  # a new warehouse already has them from step 1 (which creates every declared table)
        con.execute(table_ddl(table))
        con.execute(_comment(f"TABLE {table.qualified}", table.doc))
        for col in table.columns:
            con.execute(_comment(f"COLUMN {table.qualified}.{col.name}", col.doc))
    rollups.refresh(con)


def _add_customer_dims_v3(con: duckdb.DuckDBPyConnection) -> None:
    """Distinct customers per filter dimension (rollup_customer_dims), built from the data already there."""
    table = next(t for t in ROLLUPS if t.name == "rollup_customer_dims")
    con.execute(table_ddl(table))  # a warehouse made at step 1 or 2 (which create every declared table) has it
    con.execute(_comment(f"TABLE {table.qualified}", table.doc))
    for col in table.columns:
        con.execute(_comment(f"COLUMN {table.qualified}.{col.name}", col.doc))
    rollups.refresh(con, tables=(table.name,))


def _add_payment_signals_v4(con: duckdb.DuckDBPyConnection) -> None:
    """payments gain card_fingerprint, device_id, ip_prefix, email_domain and auth_result; old rows keep null.

    Null, not a guess: an old row's card or device is unknown, and a model must not read "unknown" as "new".
    """
    table = OBSERVED_BY_NAME["payments"]
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'payments'").fetchall()}
    for col in (c for c in table.columns if c.name in PAYMENT_SIGNALS):
        if col.name not in have:  # a warehouse made at step 1 (which creates every declared column) has them
            con.execute(f"ALTER TABLE main.payments ADD COLUMN {col.name} {col.type}")  # names: our constants
        con.execute(_comment(f"COLUMN {table.qualified}.{col.name}", col.doc))


def _add_order_categories_v5(con: duckdb.DuckDBPyConnection) -> None:
    """Orders per set of categories (rollup_category_bits, rollup_order_categories), built from the data there."""
    names = ("rollup_category_bits", "rollup_order_categories")
    for table in (t for t in ROLLUPS if t.name in names):  # a warehouse made at step 1 already has them (empty)
        con.execute(table_ddl(table))
        con.execute(_comment(f"TABLE {table.qualified}", table.doc))
        for col in table.columns:
            con.execute(_comment(f"COLUMN {table.qualified}.{col.name}", col.doc))
    rollups.refresh(con, tables=names)


# Step n upgrades a warehouse from version n-1 to n. Append new steps; never edit old ones.
MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {
    1: _create_v1, 2: _add_rollups_v2, 3: _add_customer_dims_v3, 4: _add_payment_signals_v4,
    5: _add_order_categories_v5}


def read_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's recorded schema version, or None for an empty database."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'meta'"
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute("SELECT value FROM main.meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def check_version(con: duckdb.DuckDBPyConnection, where: str) -> int:
    """Raise SchemaError unless the warehouse has exactly this code's schema version."""
    version = read_version(con)
    if version is None:
        raise SchemaError(
            f"{where} is not a Retail Pulse warehouse (no schema version recorded). "
            f"Create one with `python -m data generate --warehouse {where}` or import a file into it."
        )
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{where} has schema version {version}, newer than this Retail Pulse understands "
            f"({SCHEMA_VERSION}). Upgrade Retail Pulse (pip install -r requirements.txt from a newer checkout)."
        )
    if version < SCHEMA_VERSION:
        raise SchemaError(
            f"{where} has schema version {version}; this Retail Pulse needs {SCHEMA_VERSION}. "
            f"Run `python -m data upgrade --warehouse {where}` (it keeps all data), then start again."
        )
    return version


def upgrade(con: duckdb.DuckDBPyConnection, where: str = "the warehouse") -> tuple[int | None, int]:
    """Create or upgrade the schema in one transaction; return (version before, version after)."""
    before = read_version(con)
    if before is not None and before > SCHEMA_VERSION:
        check_version(con, where)  # raises with the message for a too-new warehouse
    start = 0 if before is None else before
    if start == SCHEMA_VERSION:
        return before, SCHEMA_VERSION
    con.execute("BEGIN TRANSACTION")
    try:
        for step in range(start + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](con)
        set_meta(con, "schema_version", str(SCHEMA_VERSION))
        if before is None:
            set_meta(con, "data_version", "0")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return before, SCHEMA_VERSION


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO main.meta VALUES (?, ?)", [key, value])


def get_meta(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute("SELECT value FROM main.meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def bump_data_version(con: duckdb.DuckDBPyConnection) -> int:
    """Increment the data version (call inside the load's transaction); caches key on it."""
    version = int(get_meta(con, "data_version") or 0) + 1
    set_meta(con, "data_version", str(version))
    return version


def render_markdown() -> str:
    """The schema reference (docs/SCHEMA.md), generated from data/tables.py."""
    out = [
        "# Warehouse schema",
        "",
        f"Schema version {SCHEMA_VERSION}. Generated from `data/tables.py` by "
        "`python -m data schema-doc`; a test fails when this file is out of date.",
        "",
        "Money columns are `DECIMAL(18,3)` in the merchant's currency (`merchants.currency`). "
        "Timestamps are the merchant's local time. `main` holds the observed tables the dashboard reads; "
        "`truth` holds what the demo generator planted, for scoring models, and is never shown to a "
        "signed-in person.",
    ]
    for title, tables in (("Observed tables (`main`)", OBSERVED), ("Ground truth (`truth`)", TRUTH)):
        out += ["", f"## {title}"]
        for t in tables:
            key = ", ".join(t.primary_key) or "none"
            enforced = " (enforced)" if t.name in ENFORCED_KEYS and t.schema == "main" else ""
            out += ["", f"### `{t.qualified}`", "", t.doc, "", f"Key: {key}{enforced}.", "",
                    "| column | type | null | meaning and unit |", "|---|---|---|---|"]
            out += [f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | {c.doc} |" for c in t.columns]
    return "\n".join(out) + "\n"
