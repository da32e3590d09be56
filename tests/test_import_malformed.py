"""A corpus of malformed files: each is refused, the message names the line (or row) and column
(or the file), and no warehouse table changes (row counts and content hashes)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from data.importers import Mapping, import_file
from data.inbox import inbox_dir
from tests.import_support import BASE_COLUMNS, BASE_CSV, fingerprint, target  # noqa: F401 (fixture)

BASE_LINES = BASE_CSV.splitlines()
MAPPING = Mapping(name="test-shop", columns=BASE_COLUMNS)


def csv_text(replace: dict[int, str | None] | None = None, add: list[str] | None = None,
             header: str | None = None) -> str:
    """BASE_CSV with physical lines replaced (1-based; None deletes) and lines appended."""
    lines = list(BASE_LINES)
    if header is not None:
        lines[0] = header
    for number, text in sorted((replace or {}).items(), reverse=True):
        if text is None:
            del lines[number - 1]
        else:
            lines[number - 1] = text
    return "\n".join(lines + (add or [])) + "\n"


def write_text(text: str, name: str = "orders.csv", encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(text.encode(encoding))
        return p
    return make


def write_bytes(data: bytes, name: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p
    return make


def base_frame() -> pl.DataFrame:
    return pl.read_csv(BASE_CSV.encode(), infer_schema=False)


def write_parquet(frame_fn: Callable[[], pl.DataFrame], truncate: bool = False) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / "orders.parquet"
        frame_fn().write_parquet(p)
        if truncate:
            data = p.read_bytes()
            p.write_bytes(data[: len(data) // 2])
        return p
    return make


def write_xlsx(rows: list[list[object]]) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / "orders.xlsx"
        wb = xlsxwriter.Workbook(p)
        ws = wb.add_worksheet("Orders")
        for r, row in enumerate(rows):
            ws.write_row(r, 0, row)
        wb.close()
        return p
    return make


XLSX_HEADER = ["Order", "Date", "SKU", "Product", "Qty", "Price", "Customer"]


@dataclass
class Case:
    id: str
    make: Callable[[Path], Path]
    line: int | None          # line (CSV) or row (sheet/Parquet) named in the rejects and message
    column: str | None        # column named in the rejects and message
    needle: str               # words of the reason expected in the message
    kwargs: dict = field(default_factory=dict)
    preload: bool = False     # import the clean base file first (for duplicate-in-warehouse cases)


CASES = [
    Case("bad_int", write_text(csv_text({3: "O-1,2024-03-01 10:00,SKU-2,Plate,two,12.00,C-1"})),
         3, "Qty", "not an integer"),
    Case("fractional_quantity", write_text(csv_text({4: "O-2,2024-03-02 11:30,SKU-1,Mug,1.5,4.50,"})),
         4, "Qty", "not a whole number"),
    Case("non_numeric_price", write_text(csv_text({2: "O-1,2024-03-01 10:00,SKU-1,Mug,2,4.50 EUR,C-1"})),
         2, "Price", "not a number"),
    Case("price_four_decimals", write_text(csv_text({5: "O-3,2024-03-03 09:15,SKU-3,Bowl,3,7.2501,C-2"})),
         5, "Price", "more than 3 decimal places"),
    Case("missing_required_column", write_text(
        "Order,Date,SKU,Product,Price,Customer\nO-1,2024-03-01,SKU-1,Mug,4.50,C-1\n"),
         None, "Qty", "is missing"),
    Case("extra_column_refused", write_text("\n".join(
        [BASE_LINES[0] + ",Notes"] + [line + ",x" for line in BASE_LINES[1:]]) + "\n"),
         None, "Notes", "not in the mapping", {"mapping": Mapping(columns=BASE_COLUMNS, extra_columns="refuse")}),
    Case("unterminated_quote", write_text(csv_text({4: 'O-2,2024-03-02 11:30,SKU-1,"Mug,1,4.50,'})),
         4, None, "unterminated quote"),
    Case("garbage_after_quote", write_text(csv_text({3: 'O-1,2024-03-01 10:00,SKU-2,"Plate"s,1,12.00,C-1'})),
         3, None, "malformed CSV record"),
    Case("too_many_fields", write_text(csv_text({4: "O-2,2024-03-02 11:30,SKU-1,Mug,1,4.50,,extra"})),
         4, None, "has 8 fields"),
    Case("too_few_fields", write_text(csv_text({5: "O-3,2024-03-03 09:15,SKU-3,Bowl,3"})),
         5, None, "has 5 fields"),
    Case("latin1_bytes", write_text(csv_text({3: "O-1,2024-03-01 10:00,SKU-2,Crème plate,1,12.00,C-1"}),
                                    encoding="latin-1"), 3, None, "not valid utf-8: byte 0xe8"),
    Case("utf16_without_bom", write_bytes(BASE_CSV.encode("utf-16-le"), "orders.csv"),
         1, None, "NUL byte"),
    Case("duplicate_line_key", write_text(
        "Order,Line,Date,SKU,Qty,Price\nO-1,1,2024-03-01,SKU-1,1,2.00\nO-1,2,2024-03-01,SKU-2,1,2.00\n"
        "O-1,1,2024-03-01,SKU-3,1,2.00\n"), 4, "Line", "duplicate key",
         {"mapping": Mapping(columns={"order_ref": "Order", "line_no": "Line", "order_ts": "Date", "sku": "SKU",
                                      "quantity": "Qty", "unit_price": "Price"})}),
    Case("order_already_loaded", write_text(
        "Order,Date,SKU,Product,Qty,Price,Customer\nO-9,2024-04-01,SKU-1,Mug,1,4.50,C-1\n"
        "O-3,2024-04-01,SKU-1,Mug,1,4.50,C-1\n"), 3, "Order", "already in the warehouse", preload=True),
    Case("same_file_twice", write_text(BASE_CSV), 2, "Order", "imported before", preload=True),
    Case("negative_quantity_on_sale", write_text(csv_text({4: "O-2,2024-03-02 11:30,SKU-1,Mug,-1,4.50,"})),
         4, "Qty", "negative quantity", {"mapping": Mapping(columns=BASE_COLUMNS, negative_quantity="returns",
                                                            return_prefix="R")}),
    Case("negative_quantity_refused", write_text(csv_text({4: "R-2,2024-03-02 11:30,SKU-1,Mug,-1,4.50,"})),
         4, "Qty", "refuses them"),
    Case("negative_price", write_text(csv_text({5: "O-3,2024-03-03 09:15,SKU-3,Bowl,3,-7.25,C-2"})),
         5, "Price", "negative price"),
    Case("zero_quantity", write_text(csv_text({2: "O-1,2024-03-01 10:00,SKU-1,Mug,0,4.50,C-1"})),
         2, "Qty", "quantity is 0"),
    Case("zero_price", write_text(csv_text({3: "O-1,2024-03-01 10:00,SKU-2,Plate,1,0.00,C-1"})),
         3, "Price", "price is 0"),
    Case("unknown_merchant", write_text(BASE_CSV), None, None, "unknown merchant 'Nobody Ltd'",
         {"merchant": "Nobody Ltd"}),
    Case("unknown_merchant_on_row", write_text(
        "Order,Date,SKU,Qty,Price,Shop\nO-1,2024-03-01,SKU-1,1,2.00,\nO-2,2024-03-01,SKU-1,1,2.00,Ghost Shop\n"),
         3, "Shop", "unknown merchant",
         {"mapping": Mapping(columns={"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "quantity": "Qty",
                                      "unit_price": "Price", "merchant": "Shop"})}),
    Case("ambiguous_dates", write_text(csv_text({i: line.replace("2024-03-0", "0").replace(" ", "/03/2024 ", 1)
                                                 for i, line in enumerate(BASE_LINES[1:], start=2)})),
         2, "Date", "ambiguous"),
    Case("impossible_date", write_text(csv_text({4: "O-2,2024-02-30 11:30,SKU-1,Mug,1,4.50,"})),
         4, "Date", "not a valid date"),
    Case("date_too_old", write_text(csv_text({5: "O-3,1899-12-31 09:15,SKU-3,Bowl,3,7.25,C-2"})),
         5, "Date", "outside the accepted range"),
    Case("date_in_future", write_text(csv_text({5: "O-3,2999-01-01 09:15,SKU-3,Bowl,3,7.25,C-2"})),
         5, "Date", "outside the accepted range"),
    Case("empty_file", write_text(""), None, None, "the file is empty"),
    Case("blank_lines_only", write_text("\n\n  \n"), None, None, "the file is empty"),
    Case("header_only", write_text(BASE_LINES[0] + "\n"), None, None, "has a header but no data rows"),
    Case("missing_sku_value", write_text(csv_text({4: "O-2,2024-03-02 11:30,,Mug,1,4.50,"})),
         4, "SKU", "missing sku"),
    Case("duplicate_header", write_text(csv_text(header="Order,Date,SKU,Product,Qty,Qty,Customer")),
         1, "Qty", "twice"),
    Case("empty_header_name", write_text(csv_text(header="Order,Date,SKU,,Qty,Price,Customer")),
         1, None, "empty column name"),
    Case("two_customers_one_order", write_text(csv_text({3: "O-1,2024-03-01 10:00,SKU-2,Plate,1,12.00,C-7"})),
         3, "Customer", "order O-1 has customer_ref C-1 on line 2"),
    Case("bad_gender", write_text("Order,Date,SKU,Qty,Price,Gender\nO-1,2024-03-01,SKU-1,1,2.00,X\n"),
         2, "Gender", "unknown gender",
         {"mapping": Mapping(columns={"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "quantity": "Qty",
                                      "unit_price": "Price", "gender": "Gender"})}),
    Case("line_amount_mismatch", write_text("Order,Date,SKU,Qty,Price,Total\nO-1,2024-03-01,SKU-1,3,2.00,9.00\n"),
         2, "Total", "line_amount differs",
         {"mapping": Mapping(columns={"order_ref": "Order", "order_ts": "Date", "sku": "SKU", "quantity": "Qty",
                                      "unit_price": "Price", "line_amount": "Total"})}),
    Case("corrupt_gzip", write_bytes(gzip.compress(BASE_CSV.encode())[:30], "orders.csv.gz"),
         None, None, "corrupt gzip"),
    Case("parquet_wrong_schema", write_parquet(lambda: base_frame().with_columns(
        pl.col("Qty").map_elements(lambda v: [int(v)], return_dtype=pl.List(pl.Int64)))),
         None, "Qty", "wrong schema"),
    Case("parquet_missing_column", write_parquet(lambda: base_frame().drop("Price")), None, "Price", "is missing"),
    Case("parquet_bad_value", write_parquet(lambda: base_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("lots")).otherwise(pl.col("Qty")).alias("Qty"))),
         3, "Qty", "not an integer"),
    Case("parquet_truncated", write_parquet(base_frame, truncate=True), None, None, "not a readable Parquet file"),
    Case("parquet_garbage", write_bytes(b"PAR1" + b"\x00garbage" * 20, "orders.parquet"),
         None, None, "not a readable Parquet file"),
    Case("xlsx_corrupt", write_bytes(b"PK\x03\x04" + b"not a zip" * 50, "orders.xlsx"),
         None, None, "not a readable Excel workbook"),
    Case("xlsx_bad_value", write_xlsx([XLSX_HEADER, ["O-1", "2024-03-01", "SKU-1", "Mug", 2, 4.5, "C-1"],
                                       ["O-2", "2024-03-02", "SKU-1", "Mug", "many", 4.5, None]]),
         3, "Qty", "not an integer"),
    Case("old_xls", write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "orders.xls"), None, None, "not supported"),
]


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_base_file_loads(target, tmp_path):
    """The corpus' base file is clean: every refusal below comes from its one defect."""
    path, mid = target
    f = write_text(BASE_CSV)(tmp_path)
    result = import_file(path, f, mapping=MAPPING, merchant=mid)
    assert result.status == "loaded", result.message
    assert result.rows_loaded == 4 and result.rows_rejected == 0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_file_is_refused_and_changes_nothing(case, target, tmp_path):
    path, mid = target
    kwargs = {"mapping": MAPPING, "merchant": mid} | case.kwargs
    if case.preload:
        first = import_file(path, write_text(BASE_CSV, "first.csv")(tmp_path), mapping=MAPPING, merchant=mid)
        assert first.status == "loaded", first.message
    before = fingerprint(path)
    f = case.make(tmp_path)
    result = import_file(path, f, **kwargs)

    assert result.status == "refused", result.message
    assert result.rows_loaded == 0
    msg = result.message.lower()
    assert f.name.lower() in msg, result.message
    assert case.needle.lower() in msg, result.message
    if case.line is not None:
        word = "line" if f.suffix in (".csv", ".gz") else "row"
        assert f"{word} {case.line}" in msg, result.message
        assert case.line in result.rejects["line"].to_list(), result.rejects
    if case.column is not None:
        assert repr(case.column).lower() in msg or case.column.lower() in msg, result.message
        assert case.column in result.rejects["column"].to_list(), result.rejects
    assert result.rejects.columns == ["line", "column", "value", "reason"]
    assert fingerprint(path) == before
    assert not inbox_dir(path).exists()


def test_utf8_bom_is_stripped_from_the_first_column(target, tmp_path):
    path, mid = target
    f = tmp_path / "bom.csv"
    f.write_bytes(b"\xef\xbb\xbf" + BASE_CSV.encode())
    result = import_file(path, f, mapping=MAPPING, merchant=mid)
    assert result.status == "loaded", result.message
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    refs = {r for (r,) in con.execute("SELECT external_ref FROM main.orders WHERE merchant_id = ? AND "
                                      "external_ref LIKE 'O-%'", [mid]).fetchall()}
    con.close()
    assert refs == {"O-1", "O-2", "O-3"}  # "Order" matched: the BOM is not part of the column name


def test_skip_mode_loads_good_orders_and_counts_the_rest(target, tmp_path):
    path, mid = target
    text = csv_text({3: "O-1,2024-03-01 10:00,SKU-2,Plate,1,abc,C-1"},
                    add=["O-4,2024-03-04 08:00,SKU-1,Mug,0,4.50,C-3", "O-5,2024-03-05 08:00,SKU-9,Jug,1,9.99,C-3"])
    f = write_text(text)(tmp_path)
    before = fingerprint(path)
    result = import_file(path, f, mapping=MAPPING, merchant=mid, mode="skip")
    assert result.status == "loaded", result.message
    # line 3 (bad price) takes its order O-1 (line 2) with it; line 6 (zero quantity) is O-4 alone.
    assert result.rows_rejected == 3
    assert sorted(set(result.rejects["line"].to_list())) == [2, 3, 6]
    assert result.rows_loaded == 3  # O-2, O-3, O-5
    after = fingerprint(path)
    assert after["main.orders"][0] == before["main.orders"][0] + 3
    assert after["main.order_lines"][0] == before["main.order_lines"][0] + 3
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    logged = con.execute("SELECT rows_loaded, rows_rejected FROM main.imports WHERE import_id = ?",
                         [result.import_id]).fetchall()
    con.close()
    assert logged == [(3, 3)]
    out = result.write_rejects_csv(tmp_path / "rejects.csv")
    assert pl.read_csv(out).columns == ["line", "column", "value", "reason"]


def test_skip_mode_skips_orders_already_loaded(target, tmp_path):
    path, mid = target
    first = import_file(path, write_text(BASE_CSV, "first.csv")(tmp_path), mapping=MAPPING, merchant=mid)
    assert first.status == "loaded", first.message
    overlap = write_text(csv_text(add=["O-8,2024-03-08 08:00,SKU-1,Mug,1,4.50,C-9"]), "overlap.csv")(tmp_path)
    before = fingerprint(path)
    result = import_file(path, overlap, mapping=MAPPING, merchant=mid, mode="skip")
    assert result.status == "loaded", result.message
    assert (result.rows_loaded, result.rows_rejected) == (1, 4)
    assert set(result.rejects["line"].to_list()) == {2, 3, 4, 5}
    assert set(result.rejects["column"].to_list()) == {"Order"}
    after = fingerprint(path)
    assert after["main.orders"][0] == before["main.orders"][0] + 1
    assert after["main.customers"][0] == before["main.customers"][0] + 1  # C-9 only
