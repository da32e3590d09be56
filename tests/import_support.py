"""Helpers shared by the importer tests: a target warehouse and table fingerprints."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from data.warehouse import open_for_loading

HARNESS = str(Path(__file__).resolve().parent / "apps" / "page_harness.py")

# Columns that differ between two equal loads made at different times.
VOLATILE = {"imports": {"loaded_at"}, "merchants": {"created_at"}}

BASE_CSV = (
    "Order,Date,SKU,Product,Qty,Price,Customer\n"
    "O-1,2024-03-01 10:00,SKU-1,Mug,2,4.50,C-1\n"
    "O-1,2024-03-01 10:00,SKU-2,Plate,1,12.00,C-1\n"
    "O-2,2024-03-02 11:30,SKU-1,Mug,1,4.50,\n"
    "O-3,2024-03-03 09:15,SKU-3,Bowl,3,7.25,C-2\n"
)
BASE_COLUMNS = {"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "product_name": "Product",
                "quantity": "Qty", "unit_price": "Price", "customer_ref": "Customer"}


def generator_ready() -> bool:
    try:
        from data.generator import generate  # noqa: F401
    except ImportError:
        return False
    return True


def build_tiny_warehouse(path: Path) -> int:
    """A fresh warehouse with one merchant, one store, customer, product and order; returns the merchant id."""
    con = open_for_loading(path)
    try:
        now = dt.datetime(2024, 1, 1)
        con.execute("INSERT INTO main.merchants VALUES (1, 'Gift Shop', 'GB', 'GBP', 'gifts', ?)", [now])
        con.execute("INSERT INTO main.stores VALUES (1, 1, 'Web shop', 'online', NULL, NULL)")
        con.execute("INSERT INTO main.customers VALUES (1, 1, 'C-OLD', '2023-01-01', 'GB', NULL, 'female', 1980)")
        con.execute("INSERT INTO main.products VALUES (1, 1, 'SKU-OLD', 'Old thing', 'misc', NULL, 3.000, NULL, "
                    "NULL, true)")
        con.execute("INSERT INTO main.orders VALUES (1, 1, 'OLD-1', 1, 1, '2023-06-01 12:00', 'sale', 'completed', "
                    "'web', 'card', NULL, 3.000, 0, 0, 3.000, NULL, 'GB')")
        con.execute("INSERT INTO main.order_lines VALUES (1, 1, 1, 1, 1, 3.000, 0, 3.000, NULL)")
    finally:
        con.close()
    return 1


def first_merchant(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute("SELECT min(merchant_id) FROM main.merchants").fetchall()[0][0])
    finally:
        con.close()


@pytest.fixture
def target(request, tmp_path) -> tuple[Path, int]:
    """(warehouse path, merchant id): a copy of the generated fixture warehouse once data.generator
    exists, else a tiny hand-built one."""
    if generator_ready():
        path = request.getfixturevalue("writable_warehouse")
        return path, first_merchant(path)
    path = tmp_path / "tiny.duckdb"
    return path, build_tiny_warehouse(path)


def fingerprint_con(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int]]:
    """(row count, sum of row hashes) of every table in main and truth, volatile timestamps left out."""
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('main', 'truth') AND table_type = 'BASE TABLE' ORDER BY ALL").fetchall()
    out = {}
    for schema_name, table in tables:
        cols = [c for (c,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position", [schema_name, table]).fetchall()
            if c not in VOLATILE.get(table, set())]
        row_hash = "hash(" + ", ".join(f'"{c}"' for c in cols) + ")"
        count, total = con.execute(
            f'SELECT count(*), coalesce(sum({row_hash}), 0) FROM "{schema_name}"."{table}"').fetchall()[0]
        out[f"{schema_name}.{table}"] = (int(count), int(total))
    return out


def fingerprint(path: Path) -> dict[str, tuple[int, int]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return fingerprint_con(con)
    finally:
        con.close()


# ---------------------------------------------------------------------------- the Data page's import form

@pytest.fixture
def data_page(tmp_path, monkeypatch):
    """The Data page of an admin over a private tiny warehouse; yields (AppTest, fingerprint function)."""
    from dashboard import cache

    from dashboard.auth import accounts

    path = tmp_path / "page.duckdb"
    build_tiny_warehouse(path)
    monkeypatch.setenv("RETAIL_PULSE_WAREHOUSE", str(path))
    creds = tmp_path / "credentials.yaml"  # the page's Users tab lists them
    accounts.add_user("root", "root-password-1", "admin", path=creds, rounds=4)
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(creds))
    st.cache_data.clear()
    st.cache_resource.clear()
    from dashboard.auth.accounts import Principal

    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = Principal("adm", "Adm", "admin", None)
    at.session_state["harness_page"] = "data"
    at.run(timeout=120)
    assert not at.exception, [e.message for e in at.exception]

    def state() -> dict:
        cur = cache.engine().cursor()
        try:
            return fingerprint_con(cur)
        finally:
            cur.close()

    yield at, state
    st.cache_data.clear()
    st.cache_resource.clear()


def submit(at: AppTest, data: bytes | None, mapping: bytes | None, preset: str = "", multi: bool = False,
           **choices) -> list[str]:
    """Fill the import form as a person would, press the button; returns every message shown."""
    at.file_uploader(key="imp_file").set_value(("orders.csv", data, "text/csv") if data is not None else None)
    at.selectbox(key="imp_preset").set_value(preset)
    at.run(timeout=60)
    if not preset:
        at.file_uploader(key="imp_mapping").set_value(
            ("mine.toml", mapping, "application/toml") if mapping is not None else None)
    for key, value in choices.items():
        widget = at.selectbox(key=key) if key == "imp_merchant" else at.text_input(key=key)
        widget.set_value(value)
    at.checkbox(key="imp_multi").set_value(multi)
    at.run(timeout=60)
    at.button(key="imp_go").click().run(timeout=120)
    assert not at.exception, [e.message for e in at.exception]
    return [m.value for m in (*at.warning, *at.error, *at.success)]
