"""Mappings, presets and file formats: TOML mappings, registries documented, exact line numbers,
Excel and Parquet typed cells, dry runs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
import xlsxwriter
from polars.testing import assert_frame_equal

from data.importers import FIELDS, PRESETS, Mapping, MappingError, import_file, load_mapping, validate_file
from data.importers import read as read_mod
from data.importers.mapping import mapping_from_dict, mapping_to_dict
from tests.import_support import BASE_COLUMNS, BASE_CSV, target  # noqa: F401 (fixture)

TOML = """
name = "till-export"
[columns]
order_ref = "Beleg"
order_ts = "Datum"
sku = "Artikel"
quantity = "Menge"
unit_price = "Preis"
gender = "Geschlecht"
payment_method = "Zahlung"
[constants]
channel = "store"
[values.gender]
W = "female"
[values.payment_method]
"EC-Karte" = "debit_card"
[dates]
day_first = true
[file]
delimiter = ";"
encoding = "latin-1"
[rules]
zero_price = "allow"
"""


def test_every_preset_and_field_is_documented():
    assert set(PRESETS) == {"online_retail_ii", "customer_shopping"}
    for name, preset in PRESETS.items():
        assert preset.name == name == preset.mapping.name
        assert len(preset.doc) > 80, name
        if preset.suggested_merchant:
            _, country, currency = preset.suggested_merchant
            assert len(country) == 2 and len(currency) == 3
    for f in FIELDS:
        assert f.doc and f.kind in ("text", "int", "money", "datetime"), f.name


def test_toml_mapping_loads_and_round_trips(tmp_path):
    path = tmp_path / "till.toml"
    path.write_text(TOML)
    m = load_mapping(path)
    assert m.columns["order_ref"] == "Beleg" and m.day_first is True and m.delimiter == ";"
    assert m.values["gender"] == {"W": "female"} and m.zero_price == "allow"
    assert mapping_from_dict(mapping_to_dict(m)) == m


@pytest.mark.parametrize("text, needle", [
    ("[colums]\norder_ref = 'x'\n", "unknown key 'colums'"),
    ("[columns]\norder_number = 'x'\n", "unknown field 'order_number'"),
    ("[rules]\nnegative_quantity = 'sometimes'\n", "negative_quantity"),
    ("[dates]\nformat = 'dd/mm/yyyy'\n", "no % directive"),
    ("[file]\nencoding = 'klingon'\n", "unknown encoding"),
    ("[columns\n", "not valid TOML"),
])
def test_bad_mapping_files_name_the_problem(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(MappingError, match=needle.replace("(", r"\(")) as err:
        load_mapping(path)
    assert "bad.toml" in str(err.value)


def test_toml_mapping_imports_a_semicolon_latin1_day_first_file(target, tmp_path):
    path, mid = target
    mapping_file = tmp_path / "till.toml"
    mapping_file.write_text(TOML)
    data = tmp_path / "kasse.csv"
    data.write_bytes("Beleg;Datum;Artikel;Menge;Preis;Geschlecht;Zahlung;Filiale\n"
                     "K-1;3.4.2024 09:30;Brötchen;6;0.45;W;EC-Karte;Mitte\n".encode("latin-1"))
    result = import_file(path, data, mapping=load_mapping(mapping_file), merchant=mid)
    assert result.status == "loaded", result.message
    assert "columns ignored (not mapped): Filiale" in result.warnings
    con = duckdb.connect(str(path), read_only=True)
    row = con.execute("SELECT o.order_ts, o.channel, o.payment_method, p.sku, l.quantity, l.unit_price "
                      "FROM main.orders o JOIN main.order_lines l USING (order_id) JOIN main.products p "
                      "USING (product_id) WHERE o.external_ref = 'K-1'").fetchall()
    con.close()
    assert row == [(dt.datetime(2024, 4, 3, 9, 30), "store", "debit_card", "Brötchen", 6, Decimal("0.450"))]


def test_auto_mapping_uses_canonical_column_names(tmp_path):
    f = tmp_path / "canonical.csv"
    f.write_text("ORDER_REF,order_ts,sku,quantity,line_amount\nA1,2024-01-02,X,3,10.00\n")
    report = validate_file(f)
    assert report.ok, report.message
    row = report.rows.row(0, named=True)
    # unit price derived from the line amount, rounded half up to 0.001; line amount kept as given
    assert (row["order_ref"], row["unit_price"], row["line_amount"]) == ("A1", Decimal("3.333"), Decimal("10"))


def test_ambiguous_dates_point_at_evidence(tmp_path):
    f = tmp_path / "dates.csv"
    f.write_text("order_ref,order_ts,sku,quantity,unit_price\nA,5/8/2022,X,1,1\nB,16/05/2021,X,1,1\n")
    report = validate_file(f)
    assert report.fatal and "line 2, column 'order_ts'" in report.fatal
    assert "'16/05/2021' suggest day first" in report.fatal
    ok = validate_file(f, mapping=Mapping(day_first=True))
    assert ok.ok and ok.rows["order_ts"].to_list() == [dt.datetime(2022, 8, 5), dt.datetime(2021, 5, 16)]
    us = validate_file(f, mapping=Mapping(day_first=False))
    assert us.rejects.row(0, named=True)["line"] == 3  # 16/05 is no month-first date


MULTILINE = (
    'order_ref,order_ts,sku,product_name,quantity,unit_price\n'
    'A,2024-01-01,X,"two\nlines",1,1.00\n'
    'A,2024-01-01,Y,"three\n\nlines",1,1.00\n'
    'B,2024-01-01,X,plain,zero,1.00\n'
    '\n'
    'C,2024-01-01,X,"say ""hi""",1,1.00\n'
    'D,2024-01-01,X,short\n'
)


def test_line_numbers_count_physical_lines_on_both_csv_paths(monkeypatch):
    fast = read_mod.read_csv_bytes(MULTILINE.encode(), "m.csv")
    assert fast.frame["__line__"].to_list() == [2, 4, 7, 9]
    assert fast.rejects == [(10, None, None, "has 4 fields; the header has 6")]

    def refuse(*args, **kwargs):
        raise read_mod._NeedSlowPath

    monkeypatch.setattr(read_mod, "_fast_csv", refuse)
    slow = read_mod.read_csv_bytes(MULTILINE.encode(), "m.csv")
    assert_frame_equal(slow.frame, fast.frame)
    assert slow.rejects == fast.rejects
    assert slow.frame["product_name"].to_list()[3] == 'say "hi"'


def test_reject_lines_are_physical_lines():
    report = validate_file_text(MULTILINE)
    assert report.rejects.filter(pl.col("column") == "quantity")["line"].to_list() == [7]


def validate_file_text(text: str, name: str = "m.csv"):
    import tempfile

    d = Path(tempfile.mkdtemp())
    (d / name).write_text(text)
    return validate_file(d / name)


def test_excel_typed_cells_and_sheet_row_numbers(tmp_path):
    f = tmp_path / "orders.xlsx"
    wb = xlsxwriter.Workbook(f)
    ws = wb.add_worksheet("Export")
    stamp = wb.add_format({"num_format": "dd/mm/yyyy hh:mm"})
    ws.write_row(2, 1, ["Order", "Date", "SKU", "Qty", "Price", "Customer ID"])  # header on sheet row 3
    ws.write_row(3, 1, ["E-1"]), ws.write_datetime(3, 2, dt.datetime(2024, 2, 1, 8, 0), stamp)
    ws.write_row(3, 3, ["SKU-1", 2, 0.1 + 0.2, 13085.0])
    ws.write_row(4, 1, ["E-2"]), ws.write_datetime(4, 2, dt.datetime(2024, 2, 2, 9, 0), stamp)
    ws.write_row(4, 3, ["SKU-2", -1, 5, 13086])
    wb.close()
    m = Mapping(columns={"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "quantity": "Qty",
                         "unit_price": "Price", "customer_ref": "Customer ID"})
    report = validate_file(f, mapping=m)
    assert report.rejects.select("line", "column").rows() == [(5, "Qty")]  # sheet row 5
    assert "row 5, column 'Qty'" in report.message
    row = report.rows.row(0, named=True)
    assert (row["order_ts"], row["unit_price"], row["customer_ref"]) == (
        dt.datetime(2024, 2, 1, 8, 0), Decimal("0.3"), "13085")


def test_parquet_typed_columns_load_exactly(target, tmp_path):
    path, mid = target
    f = tmp_path / "orders.parquet"
    pl.DataFrame({
        "order_ref": ["P-1", "P-1", "P-2"],
        "order_ts": [dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 2)],
        "sku": ["A", "B", "A"],
        "quantity": [1, 2, 3],
        "unit_price": [0.1 + 0.2, 4.5, 19.99],
        "discount_amount": pl.Series(["0", "1.25", "0"]).cast(pl.Decimal(18, 3)),
    }).write_parquet(f)
    result = import_file(path, f, merchant=mid)
    assert result.status == "loaded", result.message
    con = duckdb.connect(str(path), read_only=True)
    orders = con.execute("SELECT external_ref, gross_amount, discount_amount, net_amount FROM main.orders "
                         "WHERE external_ref LIKE 'P-%' ORDER BY 1").fetchall()
    con.close()
    assert orders == [("P-1", Decimal("9.300"), Decimal("1.250"), Decimal("8.050")),
                      ("P-2", Decimal("59.970"), Decimal("0.000"), Decimal("59.970"))]


def test_validate_file_is_a_dry_run(tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    report = validate_file(f, mapping=Mapping(columns=BASE_COLUMNS))
    assert report.ok and report.rows.height == 4 and report.rows["line_no"].to_list() == [1, 2, 1, 1]
    assert list(tmp_path.iterdir()) == [f]


def test_preset_and_mapping_together_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        validate_file(tmp_path / "x.csv", preset="online_retail_ii", mapping=Mapping())


def test_bad_create_merchant_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="ISO 4217"):
        import_file(tmp_path / "w.duckdb", tmp_path / "x.csv", create_merchant=("Shop", "GB", "pounds"))
    assert not (tmp_path / "w.duckdb").exists()


def test_merchant_resolution_by_id_name_and_creation(tmp_path):
    from tests.import_support import build_tiny_warehouse, fingerprint

    path = tmp_path / "w.duckdb"
    build_tiny_warehouse(path)  # merchant 1 'Gift Shop' GB GBP
    mapping = Mapping(columns=BASE_COLUMNS)

    def load(text: str, **kwargs):
        f = tmp_path / "m.csv"
        f.write_text(text)
        return import_file(path, f, mapping=mapping, **kwargs)

    row = "Order,Date,SKU,Product,Qty,Price,Customer\n{ref},2024-03-01,SKU-1,Mug,1,4.50,\n"
    assert load(row.format(ref="A1"), merchant="1").merchant_id == 1
    assert load(row.format(ref="A2"), merchant="gift shop").merchant_id == 1  # case-insensitive name
    # create_merchant naming an existing merchant reuses it, and refuses a different country/currency
    assert load(row.format(ref="A3"), create_merchant=("Gift Shop", "GB", "GBP")).merchant_id == 1
    before = fingerprint(path)
    clash = load(row.format(ref="A4"), merchant="Gift Shop", create_merchant=("Gift Shop", "TR", "TRY"))
    assert clash.status == "refused" and "exists with country GB and currency GBP" in clash.message
    assert fingerprint(path) == before
    # a new merchant is created once, then found by name
    new = load(row.format(ref="B1"), merchant="Tea Room", create_merchant=("Tea Room", "IE", "EUR"))
    assert (new.status, new.merchant_id) == ("loaded", 2)
    again = load(row.format(ref="B2"), merchant="Other name", create_merchant=("Tea Room", "IE", "EUR"))
    assert again.merchant_id == 2
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM main.merchants").fetchall() == [(2,)]
    con.close()


def test_rejects_report_cannot_run_formulas_in_a_spreadsheet(target, tmp_path):
    from data.importers.report import write_rejects_csv

    path, mid = target
    data = tmp_path / "orders.csv"
    data.write_text(BASE_CSV + "O-4,2024-03-04 10:00,SKU-9,Cup,=1+2,4.50,C-3\n"
                               "O-5,2024-03-04 11:00,SKU-9,Cup,1,-4.50,C-3\n")
    result = import_file(path, data, mapping=Mapping(name="test-shop", columns=BASE_COLUMNS), merchant=mid,
                         mode="skip")
    assert result.status == "loaded", result.message
    by_value = {r["value"]: r for r in result.rejects.iter_rows(named=True)}
    assert {"=1+2", "-4.50"} <= set(by_value), result.rejects
    back = pl.read_csv(write_rejects_csv(result.rejects, tmp_path / "rejects.csv"), infer_schema=False)
    assert set(back["value"].to_list()) >= {"'=1+2", "-4.50"}  # formulas inert; a negative number stays one
    assert back["line"].to_list() == [str(v) for v in result.rejects["line"].to_list()]
