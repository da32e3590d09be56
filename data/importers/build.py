"""Pure frame building for a load: canonical rows -> rows of stores, customers, products, orders, lines.

Everything here is polars on data already fetched; load.py owns the
transaction and the SQL. Surrogate keys of new rows continue after the
current maximum (max + 1, ...) in order of first appearance in the file.
"""

from __future__ import annotations

import polars as pl

from data.importers.parse import MONEY
from data.tables import PAYMENT_SIGNALS


def first_non_null(col: str) -> pl.Expr:
    return pl.col(col).drop_nulls().first().alias(col)


def new_keys(wanted: pl.DataFrame, existing: pl.DataFrame, on: list[str], id_col: str, start: int,
             dtype: pl.DataType) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(all keys: on + id_col, new rows only) for the distinct ``wanted`` keys; new ids from start + 1.

    ``wanted`` must be ordered by first appearance and unique on ``on``;
    ``existing`` has ``on`` + ``id_col`` (duplicates: the smallest id wins).
    """
    existing = existing.group_by(on).agg(pl.col(id_col).min())
    joined = wanted.join(existing, on=on, how="left", maintain_order="left")
    new = joined.filter(pl.col(id_col).is_null()).with_columns(
        (pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + start).cast(dtype).alias(id_col))
    keys = pl.concat([joined.filter(pl.col(id_col).is_not_null()).select(*on, pl.col(id_col).cast(dtype)),
                      new.select(*on, id_col)])
    return keys, new


def store_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Distinct (merchant_id, store name) with the first region, city and kind seen."""
    return (rows.filter(pl.col("store").is_not_null())
            .group_by("merchant_id", "store", maintain_order=True)
            .agg(first_non_null("region"), first_non_null("city"), first_non_null("store_kind")))


def customer_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Distinct (merchant_id, customer_ref) with the first country, gender and birth year given."""
    return (rows.filter(pl.col("customer_ref").is_not_null())
            .group_by("merchant_id", "customer_ref", maintain_order=True)
            .agg(first_non_null("customer_country"), first_non_null("gender"), first_non_null("birth_year")))


def product_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Distinct (merchant_id, sku) with name, category, brand, list price and cost.

    name: the description most often used on priced sale lines (ties: the first
    seen), else the most frequent of any line; price: the unit price of the
    latest priced sale line (null if never sold at a price); unit_cost: the
    latest known.
    """
    keys = ["merchant_id", "sku"]
    base = rows.group_by(keys, maintain_order=True).agg(
        first_non_null("category"), first_non_null("brand"), pl.col("is_merchandise").first())
    priced = (pl.col("order_type") == "sale") & (pl.col("unit_price") > 0)
    named = rows.filter(pl.col("product_name").is_not_null()).with_columns(priced.alias("_priced"))
    names = (named.group_by(keys + ["product_name"])
             .agg(pl.col("_priced").sum().alias("_n_priced"), pl.len().alias("_n"), pl.col("line").min())
             .sort(keys + ["_n_priced", "_n", "line"], descending=[False, False, True, True, False])
             .group_by(keys, maintain_order=True).agg(pl.col("product_name").first()))
    latest = rows.sort("order_ts", "line")
    prices = latest.filter(priced).group_by(keys).agg(pl.col("unit_price").last().alias("price"))
    costs = latest.filter(pl.col("unit_cost").is_not_null()).group_by(keys).agg(pl.col("unit_cost").last())
    out = base
    for part in (names, prices, costs):
        out = out.join(part, on=keys, how="left", maintain_order="left")
    return out


def order_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per (merchant_id, order_ref), in order of first line, with amounts summed from its lines.

    gross_amount = sum(quantity x unit_price); discount_amount = sum(line discounts);
    shipping_amount = 0 (order-line files carry none); net_amount = gross - discount + shipping.
    order_ts is the earliest line's time. When unit prices were derived from line amounts
    (rounded to 0.001), net can differ from the sum of line_amount by that rounding.
    """
    gross = (pl.col("quantity") * pl.col("unit_price")).sum().cast(MONEY).alias("gross_amount")
    out = rows.group_by("merchant_id", "order_ref", maintain_order=True).agg(
        pl.col("line").min().alias("_first_line"), pl.col("order_ts").min(),
        pl.col("order_type").first(), pl.col("status").first(),
        *(first_non_null(c) for c in ("store_id", "customer_id", "channel", "payment_method",
                                       "shipping_country", "shipping_region", *PAYMENT_SIGNALS)),
        gross, pl.col("discount_amount").sum().cast(MONEY),
    )
    zero = pl.lit(0).cast(MONEY)
    return out.sort("_first_line").with_columns(
        zero.alias("shipping_amount"),
        (pl.col("gross_amount") - pl.col("discount_amount")).cast(MONEY).alias("net_amount"),
    )


def payment_rows(orders: pl.DataFrame, start: int) -> pl.DataFrame:
    """One main.payments row per sale order that carries any payment signal; ids from start + 1.

    The file has no separate payment record, so the payment is the order's: paid at order_ts, for
    net_amount, by payment_method (`unknown` when not given). Status: `declined` when auth_result is a
    decline (a card-testing attempt), `refunded` for cancelled or returned orders, else `captured`.
    No chargeback is known at import; countries other than shipping and the account age stay null.
    """
    has_signal = pl.any_horizontal([pl.col(c).is_not_null() for c in PAYMENT_SIGNALS])
    paid = orders.filter(has_signal & (pl.col("order_type") == "sale"))
    status = (pl.when(pl.col("auth_result").str.starts_with("declined")).then(pl.lit("declined"))
              .when(pl.col("status").is_in(["cancelled", "returned"])).then(pl.lit("refunded"))
              .otherwise(pl.lit("captured")))
    return paid.select(
        (pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + start).alias("payment_id"), "merchant_id", "order_id",
        "customer_id", pl.col("order_ts").alias("paid_ts"), pl.col("net_amount").alias("amount"),
        pl.col("payment_method").fill_null("unknown").alias("method"), status.alias("status"),
        "shipping_country", pl.lit(False).alias("chargeback"), *PAYMENT_SIGNALS)
