"""Imports item 5: exact duplicate lines are counted and reported, and a rule keeps, refuses or drops them,
without any line-number column."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from data.importers import Mapping, import_file, validate_file

FILE = ("order_ref,order_ts,sku,quantity,unit_price\n"
        "O-1,2024-03-01 10:00,SKU-1,2,4.50\n"
        "O-1,2024-03-01 10:00,SKU-1,2,4.50\n"     # line 3 repeats line 2 exactly
        "O-1,2024-03-01 10:00,SKU-1,2,4.60\n"     # not exact: another price
        "O-2,2024-03-02 10:00,SKU-2,1,1.00\n"
        "O-1,2024-03-01 10:00,SKU-1,2,4.50\n")    # line 6 repeats line 2 too


@pytest.fixture
def csv_file(tmp_path):
    f = tmp_path / "dups.csv"
    f.write_text(FILE)
    return f


def test_duplicates_are_counted_and_kept_by_default(csv_file, tmp_path):
    report = validate_file(csv_file)
    assert report.ok and report.duplicate_lines == 2 and report.rows.height == 5
    assert any("2 exact duplicate lines (e.g. line 3 = line 2): each is loaded as its own line" in w
               for w in report.warnings), report.warnings
    result = import_file(tmp_path / "w.duckdb", csv_file, create_merchant=("Shop", "GB", "GBP"))
    assert result.status == "loaded" and result.rows_loaded == 5 and result.duplicate_lines == 2
    assert "2 exact duplicate lines" in result.message


def test_duplicates_refused_by_rule(csv_file):
    report = validate_file(csv_file, mapping=Mapping(duplicate_lines="refuse"))
    dup = report.rejects.filter(pl.col("reason").str.starts_with("exact duplicate"))
    assert dup.select("line", "reason").rows() == [
        (3, 'exact duplicate of line 2 (rules.duplicate_lines = "refuse")'),
        (6, 'exact duplicate of line 2 (rules.duplicate_lines = "refuse")')]


def test_duplicates_dropped_by_rule(csv_file, tmp_path):
    report = validate_file(csv_file, mapping=Mapping(duplicate_lines="drop"))
    assert report.ok and report.rows["line"].to_list() == [2, 4, 5]
    wh = tmp_path / "w.duckdb"
    result = import_file(wh, csv_file, mapping=Mapping(duplicate_lines="drop"), create_merchant=("Shop", "GB", "GBP"))
    assert result.rows_loaded == 3
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT count(*), sum(quantity) FROM main.order_lines").fetchall() == [(3, 5)]
    con.close()


def test_a_repeated_line_in_an_excel_sheet_is_found_too(tmp_path):
    f = tmp_path / "d.xlsx"
    pl.read_csv(FILE.encode(), infer_schema=False).write_excel(f)
    report = validate_file(f)
    assert report.duplicate_lines == 2 and any("row 3 = row 2" in w for w in report.warnings)
