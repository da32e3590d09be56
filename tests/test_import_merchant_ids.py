"""A merchant name that looks like an id never writes into another merchant (red-team issue 6, item 1).

Rule: digits are always a merchant id, ``name:TEXT`` always a name; --create-merchant creates by name
and refuses a name of digits only; the Data page's picker passes the merchant id.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from data.importers import import_file
from data.warehouse import open_for_loading
from tests.import_support import build_tiny_warehouse, data_page, fingerprint, submit  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
FILE = "order_ref,order_ts,sku,quantity,unit_price\nN-1,2024-03-01 10:00,SKU-1,1,4.50\n"


@pytest.fixture
def wh(tmp_path) -> Path:
    """Merchant 1 'Gift Shop' GB GBP, and merchant 2 named "1" (made before names of digits were refused)."""
    path = tmp_path / "w.duckdb"
    build_tiny_warehouse(path)
    con = open_for_loading(path)
    con.execute("INSERT INTO main.merchants VALUES (2, '1', 'IE', 'EUR', 'one', ?)", [dt.datetime(2024, 1, 1)])
    con.close()
    return path


def orders_of(path: Path) -> dict[int, list[str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT merchant_id, external_ref FROM main.orders WHERE external_ref LIKE 'N-%'").fetchall()
    finally:
        con.close()
    out: dict[int, list[str]] = {}
    for m, ref in rows:
        out.setdefault(m, []).append(ref)
    return out


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data", "import", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)


@pytest.mark.parametrize("name", ["2", "02", "7"])
def test_create_merchant_with_a_name_of_digits_is_refused(wh, tmp_path, name):
    f = tmp_path / "f.csv"
    f.write_text(FILE)
    before = fingerprint(wh)
    with pytest.raises(ValueError, match="only digits"):
        import_file(wh, f, create_merchant=(name, "GB", "GBP"))
    out = cli(str(f), "--warehouse", str(wh), "--create-merchant", f"{name},GB,GBP")
    assert out.returncode == 2 and "only digits" in out.stderr and "--create-merchant" in out.stderr, out.stderr
    assert fingerprint(wh) == before


def test_create_merchant_never_reads_its_name_as_an_id(wh, tmp_path):
    """'Gift Shop 2' style names are names; an existing id is never matched by the created name."""
    f = tmp_path / "f.csv"
    f.write_text(FILE)
    result = import_file(wh, f, create_merchant=("Shop 2", "DE", "EUR"))
    assert result.status == "loaded" and result.merchant_id == 3
    assert orders_of(wh) == {3: ["N-1"]}


def test_merchant_digits_are_an_id_and_name_prefix_is_a_name(wh, tmp_path):
    f = tmp_path / "f.csv"
    for i, (ref, expected) in enumerate([("1", 1), ("name:1", 2), (2, 2), ("name:Gift Shop", 1), ("Gift Shop", 1)]):
        f.write_text(FILE.replace("N-1", f"N-{i}"))
        result = import_file(wh, f, merchant=ref)
        assert (result.status, result.merchant_id) == ("loaded", expected), (ref, result.message)
    # an id that does not exist is refused, never looked up as a name, and the message names the CLI flags
    f.write_text(FILE.replace("N-1", "N-9"))
    out = cli(str(f), "--warehouse", str(wh), "--merchant", "99")
    assert out.returncode == 2 and "unknown merchant" in out.stderr
    assert "--create-merchant" in out.stderr and "create_merchant" not in out.stderr.replace("--create-merchant", "")
    assert "N-9" not in str(orders_of(wh))


def test_data_page_picker_passes_the_merchant_id(data_page):
    """A merchant named "1" picked on the Data page gets the rows, not merchant 1."""
    at, state = data_page
    from dashboard import cache

    con = cache.engine().cursor()
    con.execute("INSERT INTO main.merchants VALUES (2, '1', 'IE', 'EUR', 'one', now())")
    con.close()
    cache.all_merchants.clear()  # cached per data version; the insert above did not bump it
    shown = submit(at, FILE.encode(), b"[rules]\nzero_price = 'refuse'\n", imp_merchant="1 (merchant 2)")
    assert any("loaded for merchant 2" in m for m in shown), shown
    con = cache.engine().cursor()
    try:
        assert con.execute("SELECT merchant_id FROM main.orders WHERE external_ref = 'N-1'").fetchall() == [(2,)]
    finally:
        con.close()
