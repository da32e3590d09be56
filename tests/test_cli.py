from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["generate", "import", "info", "validate", "upgrade", "export", "schema-doc"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data", *args], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})}, timeout=300,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command):
    out = run(command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage: python -m data " + command in out.stdout
    assert len(out.stdout.split("Options")[0]) > 60  # a real description, not just usage


def test_generate_info_validate_roundtrip_via_environment(tmp_path):
    path = tmp_path / "cli.duckdb"
    env = {"RETAIL_PULSE_WAREHOUSE": str(path)}
    made = run("generate", "--size", "tiny", "--seed", "3", "--quiet", env=env)
    assert made.returncode == 0, made.stderr
    assert path.exists()
    info = run("info", env=env)
    assert info.returncode == 0, info.stderr
    assert "main.orders" in info.stdout and f"schema v{SCHEMA_VERSION}" in info.stdout
    checked = run("validate", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = run("generate", "--size", "tiny", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_missing_warehouse_is_a_clear_error(tmp_path):
    out = run("info", "--warehouse", str(tmp_path / "none.duckdb"))
    assert out.returncode == 1
    assert "No warehouse at" in out.stderr and "none.duckdb" in out.stderr


def test_bad_options_are_named(tmp_path):
    out = run("generate", "--warehouse", str(tmp_path / "x.duckdb"), "--size", "huge")
    assert out.returncode == 1 and "unknown size 'huge'" in out.stderr
    out = run("import", str(tmp_path / "missing.csv"), "--warehouse", str(tmp_path / "x.duckdb"))
    assert out.returncode == 1 and "missing.csv: no such file" in out.stderr


MAPPING_TOML = """name = "cli-shop"
[columns]
order_ref = "Order"
order_ts = "Date"
sku = "SKU"
product_name = "Product"
quantity = "Qty"
unit_price = "Price"
"""


def test_import_report_is_always_written_and_names_every_rejected_row(tmp_path):
    path = tmp_path / "cli.duckdb"
    mapping = tmp_path / "shop.toml"
    mapping.write_text(MAPPING_TOML)
    good = tmp_path / "good.csv"
    good.write_text("Order,Date,SKU,Product,Qty,Price\nA-1,2024-03-01 10:00,S-1,Mug,2,4.50\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("Order,Date,SKU,Product,Qty,Price\nB-1,2024-03-02 10:00,S-1,Mug,2,4.50\n"
                   "B-2,2024-03-02 11:00,S-2,Cup,=2+2,3.00\nB-3,not a date,S-1,Mug,1,4.50\n")
    common = ["--warehouse", str(path), "--mapping", str(mapping)]
    assert run("generate", "--size", "tiny", "--quiet", "--warehouse", str(path)).returncode == 0
    out = run("import", str(good), *common, "--create-merchant", "CLI Shop,GB,GBP", "--report", str(tmp_path / "r1.csv"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "r1.csv").read_text().splitlines() == ["line,column,value,reason"]
    out = run("import", str(bad), *common, "--merchant", "CLI Shop", "--report", str(tmp_path / "r2.csv"))
    assert out.returncode == 2, out.stdout + out.stderr  # refused: nothing loaded
    lines = (tmp_path / "r2.csv").read_text().splitlines()
    assert lines[0] == "line,column,value,reason" and len(lines) == 3
    assert lines[1].startswith("3,Qty,'=2+2,") and lines[2].startswith("4,Date,not a date,"), lines


def test_info_shows_data_as_of_for_an_imported_warehouse(tmp_path):
    path = tmp_path / "imported.duckdb"
    data = tmp_path / "orders.csv"
    data.write_text("order_ref,order_ts,sku,quantity,unit_price\nA-1,2024-03-01 10:00,S-1,2,4.50\n"
                    "A-2,2024-05-17 18:30,S-1,1,4.50\n")
    made = run("import", str(data), "--warehouse", str(path), "--create-merchant", "Shop,GB,GBP")
    assert made.returncode == 0, made.stderr
    info = run("info", "--warehouse", str(path))
    assert info.returncode == 0, info.stderr
    assert "data as of 2024-05-17" in info.stdout


def test_validate_takes_report_and_counts_rows_and_problems(tmp_path):
    data = tmp_path / "orders.csv"
    data.write_text("order_ref,order_ts,sku,quantity,unit_price\nA-1,2024-03-01,S-1,-5,-3.2\n"
                    "A-2,2024-03-01,S-1,x,1\nA-3,2024-03-01,S-1,1,1\n")
    out = run("validate", "--file", str(data), "--report", str(tmp_path / "r.csv"))
    assert out.returncode == 2, out.stdout + out.stderr
    # line 2 has two problems (quantity and price), line 3 one: 2 lines, 3 problems, everywhere
    assert "2 rejected lines (3 problems) written to" in out.stdout
    assert "Rejected: 2 rejected lines (3 problems)" in out.stderr
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "line,column,value,reason" and len(lines) == 4
    assert lines[1].startswith("2,quantity,-5,") and lines[2].startswith("2,unit_price,-3.2,"), lines


def test_safe_csv_keeps_negative_numbers_and_prefixes_formula_text():
    import polars as pl

    from data import safe_csv

    frame = pl.DataFrame({"v": ["-5", "-3.2", "-cmd", "-1+2", "=1", "@x", "+1", "5", None]})
    assert safe_csv.inert(frame)["v"].to_list() == ["-5", "-3.2", "'-cmd", "'-1+2", "'=1", "'@x", "'+1", "5", None]


def test_safe_csv_makes_headings_from_data_inert_too():
    import polars as pl

    from data import safe_csv

    frame = pl.DataFrame({"=HYPERLINK(\"http://x\")": ["a"], "-5": ["b"], "Revenue (GBP)": [1]})
    first = safe_csv.csv_text(frame).splitlines()[0]
    assert first == "\"'=HYPERLINK(\"\"http://x\"\")\",-5,Revenue (GBP)"
