"""Red-team findings on imports (issue 6, items 4, 6, 7, 10): each test failed on the code before its fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from data.importers import MappingError, import_file, load_mapping, validate_file
from data.importers.mapping import Mapping
from data.safe_csv import inert
from tests.import_support import build_tiny_warehouse, data_page, fingerprint, submit  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
HEADER = "order_ref;order_ts;sku;quantity;unit_price\n"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)


@pytest.fixture
def wh(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    build_tiny_warehouse(path)  # merchant 1 'Gift Shop' with order OLD-1
    return path


# ---------------------------------------------------------------- 4: ";" exports without number_format

@pytest.mark.parametrize(("rows", "line", "column", "value"), [
    ("E-1;2024-03-01;S;1.000;2\n", 2, "quantity", "1.000"),          # was loaded as 1
    ("E-1;2024-03-01;S;1;2.50\nE-2;2024-03-01;S;1;1.299\n", 3, "unit_price", "1.299"),  # was 1.299
    ("E-1;2024-03-01;S;2;2,55\n", 2, "unit_price", "2,55"),
])
def test_semicolon_file_with_european_numbers_needs_number_format(wh, tmp_path, rows, line, column, value):
    f = tmp_path / "eu.csv"
    f.write_text(HEADER + rows)
    before = fingerprint(wh)
    result = import_file(wh, f, merchant=1)
    assert result.status == "refused" and fingerprint(wh) == before
    assert f"eu.csv: line {line}, column {column!r}: {value!r}" in result.message
    assert "looks like a European export" in result.message
    assert 'set number_format = "1.234,56" (or "1234.56" if dots are decimals)' in result.message
    # saying the format settles it either way
    european = validate_file(f, mapping=Mapping(number_format="1.234,56"))
    plain = validate_file(f, mapping=Mapping(number_format="1234.56"))
    assert european.fatal is None and plain.fatal is None
    if value == "1.000":
        assert european.rows["quantity"].to_list() == [1000]


def test_semicolon_file_with_plain_numbers_and_comma_files_are_unchanged(tmp_path):
    f = tmp_path / "ok.csv"
    f.write_text(HEADER + "E-1;2024-03-01;S;2;2.5\n")
    assert validate_file(f).ok
    f.write_text(HEADER.replace(";", ",") + "E-1,2024-03-01,S,2,1.299\n")
    assert validate_file(f).ok  # a comma file: dots are decimals


def test_mapping_file_number_format_round_trips(tmp_path):
    m = tmp_path / "m.toml"
    m.write_text('[file]\nnumber_format = "1234.56"\n')
    assert load_mapping(m).number_format == "1234.56"
    m.write_text("[file]\n")
    assert load_mapping(m).number_format is None


# ---------------------------------------------------------------- 6: terminal escapes

def test_cli_shows_control_characters_escaped(wh, tmp_path):
    f = tmp_path / "term.csv"
    evil = "\x1b]8;;https://evil.example/t\x07CLICK\x1b]8;;\x07\x1b[2J[bold]X"
    f.write_text(f"order_ref,order_ts,sku,quantity,unit_price\nT-1,2024-03-01,S,{evil},5\n")
    for out in (cli("import", str(f), "--warehouse", str(wh), "--merchant", "1"),
                cli("validate", "--file", str(f))):
        assert out.returncode == 2
        assert "\x1b" not in out.stderr + out.stdout and "\x07" not in out.stderr + out.stdout
        assert "\\x1b]8;;https://evil.example" in out.stderr and "[bold]X" in out.stderr


# ---------------------------------------------------------------- 7: validate --file covers import's checks

def test_validate_file_with_merchant_runs_the_warehouse_checks(wh, tmp_path):
    f = tmp_path / "again.csv"
    f.write_text("order_ref,order_ts,sku,quantity,unit_price,merchant\nOLD-1,2024-03-01,S,1,5,\n"
                 "N-2,2024-03-01,S,1,5,Other Shop\n")
    before = fingerprint(wh)
    plain = cli("validate", "--file", str(f))
    assert plain.returncode == 0 and "not checked here" in plain.stdout and "--merchant" in plain.stdout
    checked = cli("validate", "--file", str(f), "--warehouse", str(wh), "--merchant", "1")
    assert checked.returncode == 2, checked.stdout
    assert "order OLD-1 is already in the warehouse for merchant 1" in checked.stderr
    assert "unknown merchant" in checked.stderr  # the row naming a merchant the warehouse does not have
    unknown = cli("validate", "--file", str(f), "--warehouse", str(wh), "--merchant", "99")
    assert unknown.returncode == 2 and "unknown merchant '99'" in unknown.stderr
    assert fingerprint(wh) == before


# ---------------------------------------------------------------- 10: small usability defects

def test_cli_bad_mode_exits_2_and_a_folder_is_named(wh, tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("order_ref,order_ts,sku,quantity,unit_price\nX-1,2024-03-01,S,1,5\n")
    bogus = cli("import", str(f), "--warehouse", str(wh), "--merchant", "1", "--mode", "bogus")
    assert bogus.returncode == 2 and "--mode 'bogus'" in bogus.stderr
    for args in (("import", str(tmp_path), "--warehouse", str(wh), "--merchant", "1"),
                 ("validate", "--file", str(tmp_path))):
        out = cli(*args)
        assert out.returncode == 1 and "is a folder" in out.stderr and "no such file" not in out.stderr


def test_mapping_with_a_utf8_byte_order_mark_is_read(tmp_path):
    m = tmp_path / "bom.toml"
    m.write_bytes(b"\xef\xbb\xbf[columns]\norder_ref = \"Order\"\n")
    assert load_mapping(m).columns == {"order_ref": "Order"}


def test_data_page_accepts_a_mapping_with_a_byte_order_mark(data_page):
    at, _state = data_page
    mapping = b"\xef\xbb\xbf[rules]\nzero_price = 'refuse'\n"
    shown = submit(at, b"order_ref,order_ts,sku,quantity,unit_price\nB-1,2024-03-01,S,1,5\n", mapping,
                   imp_merchant="Gift Shop (merchant 1)")
    assert not any("not usable" in m for m in shown), shown
    assert any("loaded for merchant 1" in m for m in shown), shown


@pytest.mark.parametrize("fmt", ["%Q", "%d.%m.%Y %K", "%d.%m.%Y %"])
def test_unknown_date_directive_is_refused_naming_the_allowed_ones(tmp_path, fmt):
    m = tmp_path / "d.toml"
    m.write_text(f'[dates]\nformat = "{fmt}"\n')
    with pytest.raises(MappingError) as exc:
        load_mapping(m)
    assert "[dates] format" in str(exc.value) and "not a date directive" in str(exc.value)
    assert "%d %e %a" in str(exc.value)  # the allowed directives are listed
    m.write_text('[dates]\nformat = "%d.%m.%Y %H:%M:%S%.f %z %%"\n')
    assert load_mapping(m).date_format


def test_negative_decimal_comma_numbers_are_not_prefixed_but_text_is():
    values = ["-1,5", "-1.234,56", "-1 234,56", "-3.2", "-5", "-cmd", "-1+A1", "=SUM(A1)", "- 1", "@x"]
    assert inert(pl.DataFrame({"v": values}))["v"].to_list() == [
        "-1,5", "-1.234,56", "-1 234,56", "-3.2", "-5", "'-cmd", "'-1+A1", "'=SUM(A1)", "'- 1", "'@x"]
