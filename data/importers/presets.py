"""Import presets: a named mapping plus the small Python steps a dataset's quirks need.

``PRESETS`` is the registry the CLI and the admin page list; every preset has a
``doc`` (a test checks it). A preset's ``prepare`` runs on the string frame
before typing (derive a column, clean a spelling); ``classify`` runs on the
typed frame before the sign and amount rules (decide an order's type).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from data.importers.mapping import Mapping


@dataclass(frozen=True)
class Preset:
    name: str
    doc: str
    mapping: Mapping
    prepare: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    classify: Callable[[pl.DataFrame], pl.DataFrame] | None = None
    provides: tuple[str, ...] = ()  # canonical fields that prepare() fills without a file column
    suggested_merchant: tuple[str, str, str] | None = None  # (name, country, currency) for create_merchant


# The 40 country names of Online Retail II; names with no ISO 3166 code (Channel Islands,
# European Community, Unspecified, West Indies) stay as given, as tables.py allows.
ONLINE_RETAIL_COUNTRIES: dict[str, str] = {
    "Australia": "AU", "Austria": "AT", "Bahrain": "BH", "Belgium": "BE", "Bermuda": "BM", "Brazil": "BR",
    "Canada": "CA", "Cyprus": "CY", "Czech Republic": "CZ", "Denmark": "DK", "EIRE": "IE", "Finland": "FI",
    "France": "FR", "Germany": "DE", "Greece": "GR", "Hong Kong": "HK", "Iceland": "IS", "Israel": "IL",
    "Italy": "IT", "Japan": "JP", "Korea": "KR", "Lebanon": "LB", "Lithuania": "LT", "Malta": "MT",
    "Netherlands": "NL", "Nigeria": "NG", "Norway": "NO", "Poland": "PL", "Portugal": "PT", "RSA": "ZA",
    "Saudi Arabia": "SA", "Singapore": "SG", "Spain": "ES", "Sweden": "SE", "Switzerland": "CH",
    "Thailand": "TH", "USA": "US", "United Arab Emirates": "AE", "United Kingdom": "GB",
}

# Stock codes that are not goods: postage, carriage, manual lines, discounts, fees, samples,
# bad-debt adjustments and test items. Gift vouchers (gift_0001_*) are payments in advance, not goods.
ONLINE_RETAIL_NON_MERCHANDISE = (
    "POST", "DOT", "C2", "C3", "M", "m", "D", "S", "B", "ADJUST", "ADJUST2", "BANK CHARGES", "AMAZONFEE",
    "CRUK", "TEST001", "TEST002", "GIFT",
)


def _online_retail_prepare(frame: pl.DataFrame) -> pl.DataFrame:
    # The Excel edition stores Customer ID as a float: 13085.0 is customer 13085.
    return frame.with_columns(pl.col("customer_ref").str.replace(r"\.0+$", ""))


def _online_retail_classify(frame: pl.DataFrame) -> pl.DataFrame:
    # Ordinary invoice numbers whose every line takes stock out at price 0 are stock write-offs
    # ("damaged", "lost", "?"): adjustments, not sales. Mixed invoices stay sales, so a negative
    # line on them is still refused by the sign rule.
    # The README's "B invoices" are A-numbered invoices whose stock code is B (adjust bad debt).
    write_off = ((pl.col("quantity") < 0) & (pl.col("unit_price") == 0)).all().over("merchant", "order_ref")
    bad_debt = (pl.col("sku") == "B").any().over("merchant", "order_ref")
    return frame.with_columns(
        pl.when((pl.col("order_type") == "sale") & (write_off | bad_debt)).then(pl.lit("adjustment"))
        .otherwise(pl.col("order_type")).alias("order_type"))


ONLINE_RETAIL_II = Preset(
    name="online_retail_ii",
    doc=("UCI Online Retail II (columns Invoice, StockCode, Description, Quantity, InvoiceDate, Price, "
         "Customer ID, Country), CSV or the original xlsx. Invoices starting with C are returns (negative "
         "quantities allowed); invoices starting with A are bad-debt adjustments (negative price allowed); "
         "ordinary invoices whose lines all remove stock at price 0 are stock write-offs, loaded as "
         "adjustments; price 0 is allowed. Non-product stock codes (POST, DOT, C2, M, D, S, B, ADJUST, "
         "BANK CHARGES, AMAZONFEE, TEST..., gift vouchers) become products with is_merchandise false. "
         "An empty Customer ID is a guest checkout. Country is both the customer's country and the "
         "shipping country, as ISO codes where one exists. Channel web; no stores. Empty descriptions are "
         "kept empty. Money in GBP."),
    mapping=Mapping(
        name="online_retail_ii",
        columns={"order_ref": "Invoice", "sku": "StockCode", "product_name": "Description",
                 "quantity": "Quantity", "order_ts": "InvoiceDate", "unit_price": "Price",
                 "customer_ref": "Customer ID", "customer_country": "Country", "shipping_country": "Country"},
        constants={"channel": "web"},
        values={"customer_country": ONLINE_RETAIL_COUNTRIES, "shipping_country": ONLINE_RETAIL_COUNTRIES},
        extra_columns="report",
        negative_quantity="returns_and_adjustments",
        negative_price="adjustments",
        zero_price="allow",
        return_prefix="C",
        adjustment_prefix="A",
        non_merchandise_skus=ONLINE_RETAIL_NON_MERCHANDISE,
        non_merchandise_pattern=r"^gift_\d+_\d+$",
    ),
    prepare=_online_retail_prepare,
    classify=_online_retail_classify,
    suggested_merchant=("Online Retail II", "GB", "GBP"),
)


def _customer_shopping_prepare(frame: pl.DataFrame) -> pl.DataFrame:
    # No product identifiers below category: one pseudo-product per category, named so nobody
    # mistakes it for a SKU.
    category = pl.col("category")
    return frame.with_columns(
        category.alias("sku"),
        (category + pl.lit(" (whole category: the source has no product codes)")).alias("product_name"),
    )


CUSTOMER_SHOPPING = Preset(
    name="customer_shopping",
    doc=("Kaggle Customer Shopping Dataset (Istanbul shopping malls; columns invoice_no, customer_id, gender, "
         "age, category, quantity, price, payment_method, invoice_date, shopping_mall). invoice_date is "
         "day first without zero padding (5/8/2022 = 5 August 2022). price is the line amount, so "
         "line_amount = price and unit_price = price / quantity rounded to 0.001. There are no SKUs: each "
         "category becomes one pseudo-product whose name says so. shopping_mall is the store (kind store, "
         "region and city Istanbul), channel store. gender becomes female/male; age becomes birth_year = "
         "invoice year - age. Payment methods: Credit Card -> card, Debit Card -> debit_card, Cash -> cash. "
         "Every customer has exactly one invoice, so repeat-purchase figures are degenerate. Money in TRY."),
    mapping=Mapping(
        name="customer_shopping",
        columns={"order_ref": "invoice_no", "customer_ref": "customer_id", "gender": "gender", "age": "age",
                 "category": "category", "quantity": "quantity", "line_amount": "price",
                 "payment_method": "payment_method", "order_ts": "invoice_date", "store": "shopping_mall"},
        constants={"region": "Istanbul", "city": "Istanbul", "channel": "store"},
        values={"gender": {"Female": "female", "Male": "male"},
                "payment_method": {"Credit Card": "card", "Debit Card": "debit_card", "Cash": "cash"}},
        day_first=True,
        store_kind="store",
    ),
    prepare=_customer_shopping_prepare,
    provides=("sku", "product_name"),
    suggested_merchant=("Istanbul Shopping Malls", "TR", "TRY"),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (ONLINE_RETAIL_II, CUSTOMER_SHOPPING)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a KeyError lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown import preset {name!r}; known presets: {', '.join(PRESETS)}") from None
