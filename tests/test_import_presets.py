"""Imports item 4: a preset takes overrides (the same dataset exported with other headers), and stock
write-offs (negative quantity, price 0, no customer) are a mapping rule, not only a preset's code."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl

from data.importers import Mapping, import_file, load_mapping, validate_file
from tests.import_support import fingerprint

ROOT = Path(__file__).resolve().parents[1]
CREATE = ("Online Retail II", "GB", "GBP")
RENAMED = {"Invoice": "InvoiceNo", "StockCode": "Stock Code", "Price": "UnitPrice", "Customer ID": "CustomerID"}


def test_preset_with_renamed_columns_loads_like_the_preset(datasets_dir, tmp_path):
    with gzip.open(datasets_dir / "online_retail_II_2009_2010.csv.gz", "rt", encoding="utf-8") as fh:
        text = "".join(line for _, line in zip(range(3001), fh))
    original = tmp_path / "original.csv"
    original.write_text(text)
    renamed = tmp_path / "renamed.csv"
    pl.read_csv(io.StringIO(text), infer_schema=False).rename(RENAMED).write_csv(renamed)
    assert validate_file(renamed, preset="online_retail_ii").fatal  # the preset alone cannot read it
    mapping = tmp_path / "renamed.toml"
    mapping.write_text('preset = "online_retail_ii"\n[columns]\n'
                       'order_ref = "InvoiceNo"\nsku = "Stock Code"\nunit_price = "UnitPrice"\n'
                       'customer_ref = "CustomerID"\n')
    m = load_mapping(mapping)
    assert m.preset == "online_retail_ii" and m.return_prefix == "C" and m.columns["quantity"] == "Quantity"
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert import_file(a, original, preset="online_retail_ii", create_merchant=CREATE).status == "loaded"
    out = subprocess.run([sys.executable, "-m", "data", "import", str(renamed), "--mapping", str(mapping),
                          "--create-merchant", "Online Retail II,GB,GBP", "--warehouse", str(b)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    fa, fb = fingerprint(a), fingerprint(b)
    fa.pop("main.imports"), fb.pop("main.imports")
    assert fa == fb
    con = duckdb.connect(str(b), read_only=True)
    assert con.execute("SELECT preset FROM main.imports").fetchall() == [("online_retail_ii",)]
    con.close()


WRITE_OFFS = ("order_ref,order_ts,sku,quantity,unit_price,customer_ref\n"
              "S-1,2024-03-01 10:00,SKU-1,2,4.50,C-1\n"
              "W-1,2024-03-02 09:00,SKU-1,-3,0,\n"        # write-off: every line negative, price 0, no customer
              "W-1,2024-03-02 09:00,SKU-2,-1,0,\n"
              "X-1,2024-03-03 09:00,SKU-2,-1,0,C-2\n")    # has a customer: not a write-off


def test_write_offs_are_a_mapping_rule(tmp_path):
    f = tmp_path / "f.csv"
    f.write_text(WRITE_OFFS)
    plain = validate_file(f)
    assert {(r["line"], r["column"]) for r in plain.rejects.iter_rows(named=True)
            if "not loaded" not in r["reason"]} >= {(3, "quantity"), (4, "quantity"), (5, "quantity")}
    ruled = validate_file(f, mapping=Mapping(write_offs="adjustments"))
    assert {r["line"] for r in ruled.rejects.iter_rows(named=True)} == {5}  # X-1 is still judged by the rules
    wo = ruled.rows.filter(pl.col("order_ref") == "W-1")
    assert wo["order_type"].to_list() == ["adjustment", "adjustment"]
    assert ruled.rows.filter(pl.col("order_ref") == "S-1")["order_type"].to_list() == ["sale"]
    toml = tmp_path / "w.toml"
    toml.write_text('[rules]\nwrite_offs = "adjustments"\n')
    assert load_mapping(toml).write_offs == "adjustments"
    wh = tmp_path / "w.duckdb"
    done = import_file(wh, f, mapping=load_mapping(toml), create_merchant=("Shop", "GB", "GBP"), mode="skip")
    assert done.status == "loaded" and done.rows_loaded == 3, done.message
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT external_ref, order_type FROM main.orders ORDER BY 1").fetchall() == [
        ("S-1", "sale"), ("W-1", "adjustment")]
    con.close()
