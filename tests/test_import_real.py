"""Import the two real public datasets into fresh warehouses and check the totals against the
README's known facts and against independent computations on the raw files."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data.checks import run_checks
from data.importers import import_file
from data.warehouse import open_for_loading
from tests.import_support import fingerprint

ONLINE_RETAIL = "online_retail_II_2009_2010.csv.gz"
SHOPPING = "customer_shopping_data.csv.gz"


def fresh_warehouse(path: Path) -> Path:
    open_for_loading(path).close()
    return path


@pytest.fixture(scope="module")
def online_retail(datasets_dir, tmp_path_factory):
    path = fresh_warehouse(tmp_path_factory.mktemp("oretail") / "w.duckdb")
    result = import_file(path, datasets_dir / ONLINE_RETAIL, preset="online_retail_ii",
                         create_merchant=("Online Retail II", "GB", "GBP"))
    con = duckdb.connect(str(path), read_only=True)
    yield result, con
    con.close()


@pytest.fixture(scope="module")
def shopping(datasets_dir, tmp_path_factory):
    path = fresh_warehouse(tmp_path_factory.mktemp("shopping") / "w.duckdb")
    result = import_file(path, datasets_dir / SHOPPING, preset="customer_shopping",
                         create_merchant=("Istanbul Shopping Malls", "TR", "TRY"))
    con = duckdb.connect(str(path), read_only=True)
    yield result, con
    con.close()


def one(con, sql):
    return con.execute(sql).fetchall()[0]


def test_online_retail_loads_every_line(online_retail):
    result, con = online_retail
    assert result.status == "loaded", result.message
    assert (result.rows_loaded, result.rows_rejected) == (525_461, 0)
    assert one(con, "SELECT count(*) FROM main.order_lines") == (525_461,)


def test_online_retail_known_facts(online_retail):
    _, con = online_retail
    assert one(con, "SELECT count(*), count(DISTINCT external_ref) FROM main.orders") == (28_816, 28_816)
    assert one(con, "SELECT count(*) FROM main.customers") == (4_383,)
    assert one(con, "SELECT count(DISTINCT shipping_country) FROM main.orders") == (40,)
    total = one(con, "SELECT sum(quantity * unit_price) FROM main.order_lines")[0]
    assert isinstance(total, Decimal) and total == Decimal("9539484.634")
    # Orders carry amounts consistent with their lines.
    assert one(con, "SELECT sum(gross_amount), sum(net_amount) FROM main.orders") == (total, total)
    assert one(con, "SELECT count(*) FROM main.orders o JOIN (SELECT order_id, sum(line_amount) s FROM "
                    "main.order_lines GROUP BY 1) l USING (order_id) WHERE o.net_amount <> l.s") == (0,)


def test_online_retail_stock_codes(online_retail, datasets_dir):
    _, con = online_retail
    raw = duckdb.sql(f"SELECT count(DISTINCT StockCode), count(DISTINCT trim(StockCode)) FROM read_csv("
                     f"'{datasets_dir / ONLINE_RETAIL}', all_varchar=true)").fetchall()[0]
    assert raw == (4_632, 4_631)  # README fact; "47503J " (one line, trailing blank) is "47503J"
    assert one(con, "SELECT count(*) FROM main.products") == (4_631,)
    assert one(con, "SELECT count(*) FROM main.products WHERE sku = '47503J'") == (1,)


def test_online_retail_cleaning_rule(online_retail, datasets_dir):
    """Lines with a customer, not on a return (C) invoice, quantity > 0 and price > 0."""
    _, con = online_retail
    lines, customers, revenue = one(con, """
        SELECT count(*), count(DISTINCT o.customer_id), sum(l.quantity * l.unit_price)
        FROM main.order_lines l JOIN main.orders o USING (order_id)
        WHERE o.customer_id IS NOT NULL AND o.order_type <> 'return' AND l.quantity > 0 AND l.unit_price > 0""")
    assert (lines, customers) == (407_664, 4_312)
    # The README rounds to cents; the exact DECIMAL sum on the raw file is 8,832,003.274.
    assert round(revenue, 2) == Decimal("8832003.27")
    raw = duckdb.sql(f"""
        SELECT sum(Quantity::INTEGER * Price::DECIMAL(18, 3)) FROM read_csv('{datasets_dir / ONLINE_RETAIL}',
        all_varchar=true) WHERE "Customer ID" IS NOT NULL AND Invoice NOT LIKE 'C%'
        AND Quantity::INTEGER > 0 AND Price::DECIMAL(18, 3) > 0""").fetchall()[0][0]
    assert revenue == raw == Decimal("8832003.274")


def test_online_retail_quirks(online_retail):
    _, con = online_retail
    # C invoices are returns with negative quantities (one manual credit line keeps +1).
    assert one(con, "SELECT count(*), bool_and(external_ref LIKE 'C%') FROM main.orders "
                    "WHERE order_type = 'return'") == (4_592, True)
    assert one(con, "SELECT count(*) FROM main.order_lines l JOIN main.orders o USING (order_id) "
                    "WHERE o.order_type = 'return' AND l.quantity > 0") == (1,)
    # A invoices (bad debt, stock code B) and price-0 stock write-offs are adjustments.
    assert one(con, "SELECT count(*) FROM main.orders WHERE order_type = 'adjustment' AND external_ref LIKE 'A%'") \
        == (3,)
    assert one(con, "SELECT count(*) FROM main.order_lines l JOIN main.orders o USING (order_id) "
                    "WHERE o.order_type = 'sale' AND (l.quantity < 0 OR l.unit_price < 0)") == (0,)
    # Non-product codes are not merchandise; ordinary codes are.
    flags = dict(con.execute("SELECT sku, is_merchandise FROM main.products WHERE sku IN "
                             "('POST', 'M', 'D', 'DOT', 'BANK CHARGES', 'AMAZONFEE', 'B', 'gift_0001_30', "
                             "'85123A', '22423')").fetchall())
    assert flags == {"POST": False, "M": False, "D": False, "DOT": False, "BANK CHARGES": False,
                     "AMAZONFEE": False, "B": False, "gift_0001_30": False, "85123A": True, "22423": True}
    # Guests: no customer row, customer_id null; their lines still count for revenue.
    assert one(con, "SELECT count(*) FROM main.orders WHERE customer_id IS NULL") > (0,)
    assert one(con, "SELECT count(*) FROM main.customers WHERE external_id IS NULL") == (0,)
    # Countries as ISO codes where one exists, else as given.
    assert one(con, "SELECT count(*) FROM main.orders WHERE shipping_country = 'GB'") > (20_000,)
    assert one(con, "SELECT count(*) > 0 FROM main.orders WHERE shipping_country = 'Unspecified'") == (True,)
    assert one(con, "SELECT min(order_ts), max(order_ts) FROM main.orders") == (
        dt.datetime(2009, 12, 1, 7, 45), dt.datetime(2010, 12, 9, 20, 1))


def test_online_retail_warehouse_passes_integrity_checks(online_retail):
    _, con = online_retail
    failed = [(r.check.name, r.sample[:3]) for r in run_checks(con) if not r.ok]
    assert failed == []


def test_customer_shopping_matches_independent_computation(shopping, datasets_dir):
    result, con = shopping
    assert result.status == "loaded", result.message
    raw = pl.read_csv(datasets_dir / SHOPPING, infer_schema=False)
    expected = raw.select(
        pl.len().alias("rows"),
        pl.col("price").cast(pl.Decimal(18, 3)).sum().alias("amount"),
        pl.col("invoice_no").n_unique().alias("invoices"),
        pl.col("customer_id").n_unique().alias("customers"),
        pl.col("shopping_mall").n_unique().alias("malls"),
        pl.col("category").n_unique().alias("categories"),
        pl.col("invoice_date").str.strptime(pl.Date, "%d/%m/%Y").min().alias("first"),
        pl.col("invoice_date").str.strptime(pl.Date, "%d/%m/%Y").max().alias("last"),
    ).row(0, named=True)
    assert expected["rows"] == 99_457
    assert (expected["first"], expected["last"]) == (dt.date(2021, 1, 1), dt.date(2023, 3, 8))
    got = {
        "rows": one(con, "SELECT count(*) FROM main.order_lines")[0],
        "amount": one(con, "SELECT sum(line_amount) FROM main.order_lines")[0],
        "invoices": one(con, "SELECT count(*) FROM main.orders")[0],
        "customers": one(con, "SELECT count(*) FROM main.customers")[0],
        "malls": one(con, "SELECT count(*) FROM main.stores")[0],
        "categories": one(con, "SELECT count(*) FROM main.products")[0],
        "first": one(con, "SELECT min(order_ts)::DATE FROM main.orders")[0],
        "last": one(con, "SELECT max(order_ts)::DATE FROM main.orders")[0],
    }
    assert got == expected


def test_customer_shopping_quirks(shopping):
    _, con = shopping
    # price is the line amount: unit price = price / quantity, and the lines add up exactly.
    assert one(con, "SELECT count(*) FROM main.order_lines WHERE quantity * unit_price <> line_amount") == (0,)
    assert one(con, "SELECT unit_price FROM main.order_lines l JOIN main.products p USING (product_id) "
                    "WHERE p.sku = 'Clothing' LIMIT 1") == (Decimal("300.080"),)
    # Day first: 5/8/2022 is 5 August 2022 (invoice I138884 on line 2 of the file).
    assert one(con, "SELECT order_ts FROM main.orders WHERE external_ref = 'I138884'") == (dt.datetime(2022, 8, 5),)
    names = [n for (n,) in con.execute("SELECT name FROM main.products").fetchall()]
    assert all("no product codes" in n for n in names)
    assert one(con, "SELECT bool_and(kind = 'store' AND region = 'Istanbul' AND city = 'Istanbul') "
                    "FROM main.stores") == (True,)
    assert one(con, "SELECT count(*) FROM main.orders WHERE store_id IS NULL OR channel <> 'store'") == (0,)
    assert dict(con.execute("SELECT gender, count(*) FROM main.customers GROUP BY 1").fetchall()).keys() \
        == {"female", "male"}
    assert one(con, "SELECT external_id, gender, birth_year FROM main.customers WHERE external_id = 'C241288'") \
        == ("C241288", "female", 2022 - 28)
    assert set(r for (r,) in con.execute("SELECT DISTINCT payment_method FROM main.orders").fetchall()) \
        == {"card", "debit_card", "cash"}
    failed = [(r.check.name, r.sample[:3]) for r in run_checks(con) if not r.ok]
    assert failed == []


def test_same_real_file_twice_is_refused_and_changes_nothing(datasets_dir, tmp_path):
    path = fresh_warehouse(tmp_path / "twice.duckdb")
    first = import_file(path, datasets_dir / SHOPPING, preset="customer_shopping",
                        create_merchant=("Istanbul Shopping Malls", "TR", "TRY"))
    assert first.status == "loaded", first.message
    before = fingerprint(path)
    second = import_file(path, datasets_dir / SHOPPING, preset="customer_shopping",
                         merchant="Istanbul Shopping Malls")
    assert second.status == "refused"
    assert "imported before" in second.message and SHOPPING in second.message
    assert second.rows_rejected == 99_457
    assert fingerprint(path) == before
    # In skip mode too: every order is a duplicate, so nothing is left to load.
    third = import_file(path, datasets_dir / SHOPPING, preset="customer_shopping",
                        merchant="Istanbul Shopping Malls", mode="skip")
    assert third.status == "refused" and "nothing left to load" in third.message
    assert fingerprint(path) == before


def test_online_retail_as_typed_xlsx_gives_the_same_rows_as_the_csv(datasets_dir, tmp_path):
    """The UCI original is an .xlsx: datetime cells, Customer ID as a float (13085.0), numeric prices."""
    import xlsxwriter

    from data.importers import validate_file

    head = pl.read_csv(datasets_dir / ONLINE_RETAIL, infer_schema=False, n_rows=3_000)
    csv_path = tmp_path / "head.csv"
    head.write_csv(csv_path)
    xlsx_path = tmp_path / "head.xlsx"
    wb = xlsxwriter.Workbook(xlsx_path)
    ws = wb.add_worksheet("Year 2009-2010")
    stamp = wb.add_format({"num_format": "m/d/yy h:mm"})
    ws.write_row(0, 0, head.columns)
    for r, row in enumerate(head.iter_rows(named=True), start=1):
        ws.write_string(r, 0, row["Invoice"])
        ws.write_string(r, 1, row["StockCode"])
        if row["Description"] is not None:
            ws.write_string(r, 2, row["Description"])
        ws.write_number(r, 3, int(row["Quantity"]))
        ws.write_datetime(r, 4, dt.datetime.fromisoformat(row["InvoiceDate"]), stamp)
        ws.write_number(r, 5, float(row["Price"]))
        if row["Customer ID"] is not None:
            ws.write_number(r, 6, float(row["Customer ID"]))
        ws.write_string(r, 7, row["Country"])
    wb.close()

    from_csv = validate_file(csv_path, preset="online_retail_ii")
    from_xlsx = validate_file(xlsx_path, preset="online_retail_ii")
    assert from_csv.ok and from_xlsx.ok, (from_csv.message, from_xlsx.message)
    assert from_xlsx.rows.height == 3_000
    assert from_xlsx.rows.equals(from_csv.rows)
