"""The product catalogue as people read it: SKU and name beside a product id (for tables keyed by product).

Not keyed by the filters: a product's SKU and name do not depend on the period, so ``dashboard.cache`` keeps
one result per scope and data version.
"""

from __future__ import annotations

import polars as pl

from data.access import DataAccess


def compute_product_labels(access: DataAccess) -> pl.DataFrame:
    """product_id (int), sku (str), product_name (str, may be null) of every product in scope, by product_id."""
    p = access.table("products")
    return access.to_polars(p.select("product_id", "sku", p["name"].name("product_name")).order_by("product_id"))
