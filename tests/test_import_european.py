"""Imports item 2: European exports (`;` delimiter, decimal commas, thousands separators, day-first dates)
import with totals identical to the same data in Parquet.

The corpus is made here from a slice of the real Online Retail II file: one typed Parquet file and
European CSV variants of the same rows, each imported into a fresh warehouse with the preset plus a
small override mapping (preset = "online_retail_ii").
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data.importers import Mapping, import_file, load_mapping, validate_file
from tests.import_support import fingerprint

ROWS = 6000
CREATE = ("Online Retail II", "GB", "GBP")


def group(digits: str, sep: str) -> str:
    out = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    return sep.join([digits, *out])


def european(text: str, thousands: str, decimal: str) -> str:
    """'1234.5' written with the given separators ('-1.234,5'); thousands only where a value has them."""
    sign = "-" if text.startswith("-") else ""
    whole, _, frac = text.lstrip("-").partition(".")
    return sign + group(whole, thousands) + (decimal + frac if frac else "")


@pytest.fixture(scope="module")
def source(datasets_dir) -> pl.DataFrame:
    with gzip.open(datasets_dir / "online_retail_II_2009_2010.csv.gz", "rt", encoding="utf-8") as fh:
        head = "".join(line for _, line in zip(range(ROWS + 1), fh))
    frame = pl.read_csv(io.StringIO(head), infer_schema=False)
    # Make sure the slice exercises thousands separators in both quantities and prices.
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("1234.5"))
                               .otherwise(pl.col("Price")).alias("Price"),
                               pl.when(pl.int_range(pl.len()) == 7).then(pl.lit("1200"))
                               .otherwise(pl.col("Quantity")).alias("Quantity"))
    assert frame.filter(pl.col("Quantity").cast(pl.Int64).abs() >= 1000).height
    return frame


VARIANTS = {
    # name: (thousands, decimal, date format in the file, mapping lines)
    "dot thousands": (".", ",", "%d.%m.%Y %H:%M", 'number_format = "1.234,56"', "day_first = true"),
    "space thousands": ("\u00a0", ",", "%d/%m/%Y %H:%M", 'number_format = "1 234,56"', "day_first = true"),
    "named comma": (".", ",", "%d-%m-%Y %H:%M:%S", 'number_format = "comma_decimal"', 'format = "%d-%m-%Y %H:%M:%S"'),
    "no thousands": ("", ",", "%d.%m.%Y %H:%M", 'number_format = "1234,56"', "day_first = true"),
}


def write_european(frame: pl.DataFrame, path: Path, thousands: str, decimal: str, date_format: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(frame.columns)
        for row in frame.iter_rows(named=True):
            ts = dt.datetime.fromisoformat(row["InvoiceDate"])
            w.writerow([row["Invoice"], row["StockCode"], row["Description"],
                        european(row["Quantity"], thousands, decimal), ts.strftime(date_format),
                        european(row["Price"], thousands, decimal), row["Customer ID"], row["Country"]])


def state_without_log(path: Path) -> dict:
    return {k: v for k, v in fingerprint(path).items() if k != "main.imports"}


def totals(path: Path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*), sum(net_amount), sum(gross_amount), "
                           "(SELECT sum(quantity) FROM main.order_lines), "
                           "(SELECT sum(line_amount) FROM main.order_lines) FROM main.orders").fetchall()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def parquet_warehouse(source, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("eu")
    typed = source.with_columns(pl.col("Quantity").cast(pl.Int64), pl.col("Price").cast(pl.Float64),
                                pl.col("InvoiceDate").str.to_datetime("%Y-%m-%d %H:%M:%S"),
                                pl.col("Customer ID").cast(pl.Float64))
    f = tmp / "slice.parquet"
    typed.write_parquet(f)
    wh = tmp / "parquet.duckdb"
    result = import_file(wh, f, preset="online_retail_ii", create_merchant=CREATE)
    assert result.status == "loaded", result.message
    return wh


@pytest.mark.parametrize("variant", VARIANTS)
def test_european_csv_imports_exactly_like_parquet(variant, source, parquet_warehouse, tmp_path):
    thousands, decimal, date_format, number_line, date_line = VARIANTS[variant]
    f = tmp_path / "export.csv"
    write_european(source, f, thousands, decimal, date_format)
    mapping = tmp_path / "eu.toml"
    mapping.write_text(f'preset = "online_retail_ii"\n[file]\ndelimiter = ";"\n{number_line}\n[dates]\n{date_line}\n')
    wh = tmp_path / "csv.duckdb"
    result = import_file(wh, f, mapping=load_mapping(mapping), create_merchant=CREATE)
    assert result.status == "loaded", result.message
    assert result.rows_loaded == ROWS
    assert totals(wh) == totals(parquet_warehouse)
    assert state_without_log(wh) == state_without_log(parquet_warehouse)


def test_unparsable_number_names_the_option(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text("order_ref;order_ts;sku;quantity;unit_price\nO-1;2024-03-01;S;1;2,55\n")
    report = validate_file(f)  # ";" and a decimal comma: the file is refused as a European export
    assert "'2,55' - this looks like a European export" in report.fatal
    tabbed = tmp_path / "t.csv"
    tabbed.write_text("order_ref\torder_ts\tsku\tquantity\tunit_price\nO-1\t2024-03-01\tS\t1\t2,55\n")
    report = validate_file(tabbed)
    reason = report.rejects.filter(pl.col("column") == "unit_price")["reason"][0]
    assert reason.startswith("'2,55' is not a number; set number_format = \"1.234,56\"")
    ok = validate_file(f, mapping=Mapping(number_format="1.234,56"))
    assert ok.ok and str(ok.rows["unit_price"][0]) == "2.550"
    bad = tmp_path / "b.csv"
    bad.write_text("order_ref;order_ts;sku;quantity;unit_price\nO-1;2024-03-01;S;1;12.34,5\n")
    reason = validate_file(bad, mapping=Mapping(number_format="1.234,56")).rejects["reason"][0]
    assert reason == "'12.34,5' is not a number; the mapping says number_format = \"1.234,56\""
