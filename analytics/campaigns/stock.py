"""Stock check: promoted products whose demand until the next delivery, with the campaign's extra demand, is
more than the stock on hand.

Reads the stock-out risk frame (``models.stockout.risk.compute_stockout_risk``: on_hand, daily_demand from the
saved demand forecast, horizon_days until the next replenishment is likely on the shelf). Expected demand until
then = daily_demand x horizon + daily_demand x (uplift - 1) x reach x the campaign days inside the horizon,
where reach is the share of the product's buyers the campaign contacts.
"""

from __future__ import annotations

import polars as pl

COLUMNS = ("sku", "product", "category", "location", "on_hand", "daily_demand", "horizon_days",
           "campaign_demand", "shortfall")


def compute_stock_flags(risk: pl.DataFrame, *, categories: tuple[str, ...], product_ids: tuple[int, ...],
                        uplift: float, reach: float, days: int) -> pl.DataFrame:
    """Flagged product-locations (columns ``COLUMNS``; units), largest shortfall first."""
    scope = pl.lit(True)
    if categories or product_ids:
        scope = pl.col("category").is_in(list(categories)) | pl.col("product_id").is_in(list(product_ids))
    extra = max(uplift - 1.0, 0.0) * min(max(reach, 0.0), 1.0)
    inside = pl.min_horizontal(pl.col("horizon_days"), pl.lit(days))
    out = risk.filter(scope).with_columns(
        (pl.col("daily_demand") * pl.col("horizon_days") + pl.col("daily_demand") * extra * inside)
        .alias("campaign_demand"))
    out = out.with_columns((pl.col("campaign_demand") - pl.col("on_hand")).alias("shortfall"))
    return out.filter(pl.col("shortfall") > 0).sort("shortfall", descending=True).select(COLUMNS)
