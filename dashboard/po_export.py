"""A draft purchase order from the stock-out alert list: the lines as a frame, CSV and Excel bytes, store lines.

Pure (no streamlit). A line is an alert with a suggested order quantity above zero. Headings are words with
their units and currency; money is never added across currencies (a list in several currencies gets a
Currency column and headings without one). Text from data (SKU, product, location, reason) is made inert for
spreadsheets in both files (``data.safe_csv.inert``): a name starting with ``=`` arrives as text, not a formula.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from dashboard import downloads
from data import safe_csv


def order_lines(alerts: pl.DataFrame) -> pl.DataFrame:
    """The alerts that suggest ordering (quantity above zero, rounded up to whole units), in list order."""
    return (alerts.with_columns(pl.col("order_quantity").cast(pl.Float64).ceil().cast(pl.Int64).alias("quantity"))
            .filter(pl.col("quantity") > 0))


def build_purchase_order(alerts: pl.DataFrame, merchant_names: Mapping[int, str] | None = None) -> pl.DataFrame:
    """SKU, Product, Location, Quantity (units), Unit price (CUR), Expected value (CUR), Reason: one row per
    line of ``order_lines(alerts)``. With several merchants a Merchant column leads; with several currencies a
    Currency column follows the prices and their headings carry no currency."""
    lines = order_lines(alerts)
    currencies = sorted(set(lines["currency"].drop_nulls().to_list())) if lines.height else []
    suffix = f" ({currencies[0]})" if len(currencies) == 1 else ""
    columns = []
    merchants = sorted(set(lines["merchant_id"].to_list())) if lines.height else []
    if len(merchants) > 1:
        names = dict(merchant_names or {})
        columns.append(pl.col("merchant_id").map_elements(lambda m: names.get(m, str(m)), return_dtype=pl.Utf8)
                       .alias("Merchant"))
    columns += [
        pl.col("sku").cast(pl.Utf8).alias("SKU"), pl.col("product").cast(pl.Utf8).alias("Product"),
        pl.col("location").cast(pl.Utf8).alias("Location"), pl.col("quantity").alias("Quantity (units)"),
        pl.col("unit_price").cast(pl.Float64).round(2).alias(f"Unit price{suffix}"),
        (pl.col("quantity") * pl.col("unit_price").cast(pl.Float64)).round(2).alias(f"Expected value{suffix}"),
    ]
    if len(currencies) > 1:
        columns.append(pl.col("currency").alias("Currency"))
    columns.append(pl.col("reason").cast(pl.Utf8).alias("Reason"))
    return safe_csv.inert(lines.select(columns))


def csv_bytes(alerts: pl.DataFrame, merchant_names: Mapping[int, str] | None = None) -> bytes:
    return downloads.csv_bytes(build_purchase_order(alerts, merchant_names))


def excel_bytes(alerts: pl.DataFrame, merchant_names: Mapping[int, str] | None = None) -> bytes:
    return downloads.excel_bytes(build_purchase_order(alerts, merchant_names))


def store_lines(alerts: pl.DataFrame) -> dict[int, list[dict]]:
    """Lines for ``data.store.purchase_orders`` drafts, per merchant (a purchase order is one merchant's)."""
    out: dict[int, list[dict]] = {}
    for row in order_lines(alerts).iter_rows(named=True):
        out.setdefault(row["merchant_id"], []).append(
            {"product_id": int(row["product_id"]), "store_id": int(row["store_id"]),
             "quantity": int(row["quantity"]), "sku": row["sku"]})
    return out
