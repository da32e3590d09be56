"""Bundle suggestions: product sets bought together, ranked by lift x margin x stock, never built on a product
about to run out (``compute_bundles``).

Candidates are the itemsets of two or three products behind the association rules (``mining``); a set's lift
and confidence are the highest among its rules. For each candidate:

- margin: the sum over its products of list price minus unit cost (merchant currency): what one bundle sold
  earns before any bundle discount. Unknown when any product's cost is unknown; such a bundle is listed
  last, unranked.
- stock: the fewest units on hand among its products on the latest inventory day (all locations): how many
  bundles could be sold now.
- score = lift x margin x stock.

**The run-out rule.** A product is *about to run out*, and no bundle is built on it, when on the latest
inventory day it has nothing on hand, or fewer than ``RUNOUT_DAYS`` days of cover at its sales rate of the
last 28 days, or, when the merchant's stock-out risk is known (``models.stockout.risk`` from the saved demand
forecast), any location holding it has a stock-out chance of ``RISK_LIMIT`` or more before its next delivery.
A bundle pushes its products' sales up, so a product already short would run out sooner and the bundle with it.
Bundles left out are returned too, with the reason in words.
"""

from __future__ import annotations

import polars as pl

RUNOUT_DAYS = 14.0
RISK_LIMIT = 0.5

COLUMNS = ("bundle", "size", "lift", "confidence", "support", "baskets", "margin", "stock", "score", "suggested",
           "reason")


def runout_reasons(stock: pl.DataFrame, risk: pl.DataFrame | None = None) -> pl.DataFrame:
    """product_id, reason (words) for every product about to run out (see the module doc).

    ``stock``: ``analytics.baskets.load_stock``; ``risk``: the stock-out risk frame (product_id,
    stockout_probability per location) or None."""
    reasons = [stock.filter(pl.col("on_hand") <= 0).select("product_id", reason=pl.lit("nothing on hand")),
               stock.filter((pl.col("on_hand") > 0) & (pl.col("days_of_cover") < RUNOUT_DAYS)).select(
                   "product_id", reason=pl.format("{} days of cover", pl.col("days_of_cover").round(1)))]
    if risk is not None and risk.height:
        worst = risk.group_by("product_id").agg(pl.col("stockout_probability").max())
        reasons.append(worst.filter(pl.col("stockout_probability") >= RISK_LIMIT).select(
            pl.col("product_id").cast(pl.Int64),
            reason=pl.format("{}% chance of a stock-out before the next delivery",
                             (pl.col("stockout_probability") * 100).round(0).cast(pl.Int64))))
    both = pl.concat([r.with_columns(pl.col("product_id").cast(pl.Int64)) for r in reasons])
    return both.group_by("product_id", maintain_order=True).agg(pl.col("reason").first())


def compute_bundles(rules: pl.DataFrame, products: pl.DataFrame, stock: pl.DataFrame,
                    risk: pl.DataFrame | None = None) -> pl.DataFrame:
    """Bundles from ``rules`` (``mining.compute_rules``), ``products`` (product_id, price, unit_cost) and
    ``stock`` (product_id, on_hand, days_of_cover).

    Columns: bundle (list of product ids), size, lift, confidence, support (0..1), baskets, margin (merchant
    currency, null when a cost is unknown), stock (units), score (lift x margin x stock), suggested (bool),
    reason (why not suggested; null when suggested). Suggested bundles first, by score; then the rest.
    """
    if rules.height == 0:
        return pl.DataFrame(schema={"bundle": pl.List(pl.Int64), "size": pl.Int64, "lift": pl.Float64,
                                    "confidence": pl.Float64, "support": pl.Float64, "baskets": pl.Int64,
                                    "margin": pl.Float64, "stock": pl.Int64, "score": pl.Float64,
                                    "suggested": pl.Boolean, "reason": pl.Utf8})
    sets = (rules.with_columns(bundle=pl.concat_list("antecedents", "consequents").list.sort())
            .group_by("bundle").agg(pl.col("lift").max(), pl.col("confidence").max(), pl.col("support").first(),
                                    pl.col("baskets").first())
            .with_columns(size=pl.col("bundle").list.len().cast(pl.Int64)).with_row_index("_id"))
    members = sets.select("_id", pl.col("bundle").alias("product_id")).explode("product_id")
    unit = products.select(pl.col("product_id").cast(pl.Int64), margin=pl.col("price") - pl.col("unit_cost"),
                           label=pl.col("sku") if "sku" in products.columns else pl.col("product_id").cast(pl.Utf8))
    held = stock.select(pl.col("product_id").cast(pl.Int64), pl.col("on_hand").cast(pl.Int64))
    short = runout_reasons(stock, risk)
    per = (members.join(unit, on="product_id", how="left").join(held, on="product_id", how="left")
           .join(short, on="product_id", how="left")
           .group_by("_id").agg(margin=pl.when(pl.col("margin").null_count() == 0).then(pl.col("margin").sum()),
                                stock=pl.col("on_hand").fill_null(0).min(),
                                reason=pl.col("reason").drop_nulls().first(),
                                short_product=pl.col("label").filter(pl.col("reason").is_not_null()).first()))
    out = sets.join(per, on="_id").with_columns(score=pl.col("lift") * pl.col("margin") * pl.col("stock"))
    out = out.with_columns(
        reason=pl.when(pl.col("reason").is_not_null())
        .then(pl.format("product {} is about to run out: {}", pl.col("short_product"), pl.col("reason")))
        .when(pl.col("margin").is_null()).then(pl.lit("a product's unit cost is unknown"))
        .otherwise(None)).with_columns(suggested=pl.col("reason").is_null())
    return out.sort(["suggested", "score", "lift"], descending=True, nulls_last=True, maintain_order=True).select(
        COLUMNS)
