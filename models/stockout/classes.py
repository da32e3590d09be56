"""ABC and XYZ classes of SKUs, from the units they sold over the last weeks.

- ABC by revenue share within the merchant: products ranked by revenue (units sold x unit price, all
  locations together); a product is "A" while the products ranked before it make less than 80% of the
  merchant's revenue, "B" while less than 95%, "C" after that (and every product that sold nothing).
- XYZ by demand variability at a location: the coefficient of variation (sd / mean) of its weekly units,
  "X" below 0.5 (steady), "Y" below 1.0, "Z" from 1.0 or when it sold nothing (erratic or dead).
"""

from __future__ import annotations

import polars as pl

ABC_SHARES = (0.80, 0.95)
XYZ_CV = (0.5, 1.0)


def compute_abc(revenue: pl.DataFrame) -> pl.DataFrame:
    """``revenue``: merchant_id, product_id, revenue (money). Returns merchant_id, product_id, revenue_share,
    abc_class."""
    r = revenue.sort(["merchant_id", "revenue", "product_id"], descending=[False, True, False])
    total = pl.col("revenue").sum().over("merchant_id")
    before = (pl.col("revenue").cum_sum().over("merchant_id") - pl.col("revenue")) / total
    r = r.with_columns((pl.col("revenue") / total).fill_nan(0.0).alias("revenue_share"),
                       before.fill_nan(1.0).alias("_before"))
    cls = (pl.when(pl.col("revenue") <= 0).then(pl.lit("C"))
           .when(pl.col("_before") < ABC_SHARES[0]).then(pl.lit("A"))
           .when(pl.col("_before") < ABC_SHARES[1]).then(pl.lit("B")).otherwise(pl.lit("C")))
    return r.with_columns(cls.alias("abc_class")).select("merchant_id", "product_id", "revenue_share", "abc_class")


def compute_xyz(weekly: pl.DataFrame, weeks: int) -> pl.DataFrame:
    """``weekly``: product_id, store_id, week, units over ``weeks`` weeks (a week without a row sold nothing).
    Returns product_id, store_id, cv, xyz_class for every product-location with a sale."""
    mean = pl.col("units").sum() / weeks
    w = weekly.group_by("product_id", "store_id").agg(
        ((((pl.col("units") ** 2).sum() / weeks - mean ** 2).clip(lower_bound=0.0)).sqrt() / mean).alias("cv"))
    cls = (pl.when(pl.col("cv").is_null() | pl.col("cv").is_nan()).then(pl.lit("Z"))
           .when(pl.col("cv") < XYZ_CV[0]).then(pl.lit("X"))
           .when(pl.col("cv") < XYZ_CV[1]).then(pl.lit("Y")).otherwise(pl.lit("Z")))
    return w.with_columns(cls.alias("xyz_class"))
