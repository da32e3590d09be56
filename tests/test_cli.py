from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "main.orders" in info.stdout and "schema v1" in info.stdout
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
