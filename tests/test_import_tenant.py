"""Security item 4: an import made for one merchant never writes another merchant's rows.

Rows naming another merchant (an auto-mapped ``merchant`` column) are refused and named by line,
column and value; only an explicit multi-merchant import writes several merchants, and then the
result and main.imports say which merchant got what.
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
# Auto mapping: the column names are the canonical field names, `merchant` included.
FILE = ("order_ref,order_ts,sku,quantity,unit_price,merchant\n"
        "T-1,2024-03-01 10:00,SKU-1,1,4.50,\n"
        "T-2,2024-03-01 11:00,SKU-1,2,4.50,Gift Shop\n"
        "T-3,2024-03-01 12:00,SKU-9,5,1.00,Tea Room\n"
        "T-4,2024-03-01 13:00,SKU-9,1,1.00,2\n")


@pytest.fixture
def two_merchants(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    build_tiny_warehouse(path)  # merchant 1 'Gift Shop'
    con = open_for_loading(path)
    con.execute("INSERT INTO main.merchants VALUES (2, 'Tea Room', 'IE', 'EUR', 'tea', ?)", [dt.datetime(2024, 1, 1)])
    con.close()
    return path


def orders_of(path: Path, merchant_id: int) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r for (r,) in con.execute("SELECT external_ref FROM main.orders WHERE merchant_id = ? AND "
                                          "external_ref LIKE 'T-%' ORDER BY 1", [merchant_id]).fetchall()]
    finally:
        con.close()


def imports_rows(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT import_id, merchant_id, rows_loaded, rows_rejected FROM main.imports "
                           "ORDER BY merchant_id").fetchall()
    finally:
        con.close()


def test_rows_naming_another_merchant_are_refused_and_named(two_merchants, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(FILE)
    before = fingerprint(two_merchants)
    result = import_file(two_merchants, f, merchant="Gift Shop")
    assert result.status == "refused"
    assert fingerprint(two_merchants) == before
    named = {(r["line"], r["column"], r["value"]) for r in result.rejects.iter_rows(named=True)
             if "names merchant 2 'Tea Room'" in r["reason"]}
    assert named == {(4, "merchant", "Tea Room"), (5, "merchant", "2")}
    assert "this import is for merchant 1 'Gift Shop'" in result.rejects["reason"][0]


def test_skip_mode_writes_only_the_import_merchant_and_logs_it_truly(two_merchants, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(FILE)
    result = import_file(two_merchants, f, merchant="1", mode="skip", import_id="imp-1")
    assert result.status == "loaded", result.message
    assert orders_of(two_merchants, 1) == ["T-1", "T-2"]
    assert orders_of(two_merchants, 2) == []
    assert imports_rows(two_merchants) == [("imp-1", 1, 2, 2)]
    assert result.per_merchant == [(1, "Gift Shop", 2)]


def test_multi_merchant_import_is_explicit_and_reports_each_merchant(two_merchants, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(FILE)
    result = import_file(two_merchants, f, merchant="Gift Shop", multi_merchant=True, import_id="imp-m")
    assert result.status == "loaded", result.message
    assert orders_of(two_merchants, 1) == ["T-1", "T-2"] and orders_of(two_merchants, 2) == ["T-3", "T-4"]
    assert result.per_merchant == [(1, "Gift Shop", 2), (2, "Tea Room", 2)]
    assert "merchant 1 'Gift Shop': 2 lines; merchant 2 'Tea Room': 2 lines" in result.message
    assert imports_rows(two_merchants) == [("imp-m#m1", 1, 2, 0), ("imp-m#m2", 2, 2, 0)]
    again = import_file(two_merchants, f, merchant="Gift Shop", multi_merchant=True, import_id="imp-m")
    assert again.status == "loaded" and "already loaded" in again.message  # retry is still idempotent
    assert len(imports_rows(two_merchants)) == 2


def test_no_merchant_names_the_command_line_flags(two_merchants, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(FILE.replace(",Gift Shop\n", ",1\n"))
    before = fingerprint(two_merchants)
    result = import_file(two_merchants, f)
    assert result.status == "refused" and fingerprint(two_merchants) == before
    assert "--merchant" in result.message and "--create-merchant" in result.message
    assert "merchant=" not in result.message and "create_merchant=" not in result.message


def test_cli_multi_merchant_flag(two_merchants, tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(FILE)

    def cli(*extra):
        return subprocess.run([sys.executable, "-m", "data", "import", str(f), "--warehouse", str(two_merchants),
                               "--merchant", "Gift Shop", *extra], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "COLUMNS": "200"}, timeout=120)

    refused = cli()
    assert refused.returncode == 2 and "names merchant 2" in refused.stderr
    assert orders_of(two_merchants, 2) == []
    loaded = cli("--multi-merchant")
    assert loaded.returncode == 0, loaded.stderr
    assert "merchant 2 'Tea Room': 2 lines" in loaded.stdout


def test_data_page_multi_merchant_is_an_explicit_option(data_page, tmp_path):
    at, state = data_page
    cur_file = FILE.replace("Tea Room", "Tea Room")
    from dashboard import cache

    con = cache.engine().cursor()
    con.execute("INSERT INTO main.merchants VALUES (2, 'Tea Room', 'IE', 'EUR', 'tea', now())")
    con.close()
    mapping = b"[rules]\nzero_price = 'refuse'\n"  # auto mapping: the file's columns are the canonical names
    before = state()
    shown = submit(at, cur_file.encode(), mapping, imp_merchant="Gift Shop (merchant 1)")
    assert any("names merchant 2 'Tea Room'" in m and "refused" in m for m in shown), shown
    assert state() == before
    shown = submit(at, cur_file.encode(), mapping, multi=True, imp_merchant="Gift Shop (merchant 1)")
    assert any("merchant 1 'Gift Shop': 2 lines; merchant 2 'Tea Room': 2 lines" in m for m in shown), shown


def test_a_staged_import_keeps_the_multi_merchant_choice():
    from data.importers.load import MerchantSpec

    spec = MerchantSpec("Gift Shop", None, True)
    assert MerchantSpec.from_json(spec.to_json()) == spec
    assert MerchantSpec.from_json({"ref": "1", "create": None}).multi is False  # folders staged before: single
