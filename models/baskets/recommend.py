""""Bought together" and what to suggest to a customer next, with the hit-rate backtest against popularity.

Learned from the basket lines of the ``TRAIN_DAYS`` days up to an as-of day (``analytics.baskets.
load_basket_lines``; baskets over the cap skipped as in ``mining``):

- ``neighbours``: for each product A, the products B bought in the same basket more often than chance
  (lift above 1, at least ``MIN_PAIR_BASKETS`` baskets): confidence P(B in basket | A in basket), lift, baskets.
  The ``NEIGHBOURS`` best by confidence are kept per product. This is "bought together".
- ``popularity``: per product, the share of baskets holding it in the ``RECENT_DAYS`` days up to as-of
  (``recent_share``) and over everything before (``share``); ``repeat_share``: of the customers who bought it,
  the share who bought it again in a later order. Repeat-buying is *typical* for a product when
  ``repeat_share >= REPEAT_TYPICAL``.

A customer's suggestions (``recommend``) score each product B as
  recent_share(B) + sum over the products A in the customer's history of w(A) x confidence(A -> B)
  + w(B) x repeat_share(B) when B is in the history and repeat-buying it is typical,
where w(A) sums 0.5^(days since the order / ``HALF_LIFE_DAYS``) over the customer's orders holding A (recent
purchases weigh more). The products of the customer's latest order are left out unless repeat-buying them is
typical: someone who just bought a kettle needs no kettle. The ``k`` best are returned.

Backtest (``backtest``): the last ``HOLDOUT_DAYS`` days are held out; the model is learned from the days before;
for customers who bought before and in the holdout, hit rate at k = share of them who bought at least one of
their k suggestions in the holdout. The baseline suggests to everyone the k products in most baskets of all the
days before the holdout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from models.baskets.mining import MAX_BASKET_ITEMS, cap_baskets

NEIGHBOURS = 20
MIN_PAIR_BASKETS = 5
MIN_RATE_DAYS = 14  # a product on sale for fewer days is rated as if on sale this long (few sales are noisy)
WEIGHTS = (0.0, 0.25, 1.0, 4.0)  # personal weights tried on the validation month
RECENT_DAYS = 90
HALF_LIFE_DAYS = 90
TRAIN_DAYS = 365  # the recommender learns from the last year (older orders weigh under 6% at this half-life)
REPEAT_TYPICAL = 0.2
CANDIDATES = 200  # the most popular products every customer is scored on, besides their co-purchases
HOLDOUT_DAYS = 30
K = 10
EVAL_CUSTOMERS = 20_000  # customers sampled (seeded) for the backtest at large shops
SEED = 7


@dataclass(frozen=True)
class Recommender:
    as_of: dt.date
    neighbours: pl.DataFrame  # product_id, other_id, confidence, lift, baskets
    popularity: pl.DataFrame  # product_id, baskets, share, recent_share, repeat_share, repeat_typical
    personal_weight: float = 1.0  # weight of the co-purchase and repeat parts against popularity


def fit_recommender(lines: pl.DataFrame, as_of: dt.date | None = None, max_items: int | None = MAX_BASKET_ITEMS,
                    personal_weight: float = 1.0) -> Recommender:
    """Learn neighbours and popularity from the baskets of ``lines`` ordered on or before ``as_of``."""
    as_of = as_of or lines["day"].max()
    lines = lines.filter(pl.col("day").is_between(as_of - dt.timedelta(days=TRAIN_DAYS - 1), as_of))
    kept, counts = cap_baskets(lines, max_items)
    items = kept.select("order_id", "customer_id", "day", "product_id").unique(["order_id", "product_id"])
    n = max(counts.baskets, 1)
    per_product = items.group_by("product_id").agg(pl.len().alias("baskets"))
    pairs = items.select("order_id", "product_id").join(
        items.select("order_id", pl.col("product_id").alias("other_id")), on="order_id").filter(
        pl.col("product_id") != pl.col("other_id")).group_by("product_id", "other_id").agg(pl.len().alias("baskets"))
    sizes = per_product.rename({"baskets": "n_a"})
    neighbours = (pairs.filter(pl.col("baskets") >= MIN_PAIR_BASKETS)
                  .join(sizes, on="product_id")
                  .join(sizes.rename({"product_id": "other_id", "n_a": "n_b"}), on="other_id")
                  .with_columns(confidence=pl.col("baskets") / pl.col("n_a"),
                                lift=pl.col("baskets") * n / (pl.col("n_a") * pl.col("n_b")))
                  .filter(pl.col("lift") > 1)
                  .sort(["product_id", "confidence", "other_id"], descending=[False, True, False])
                  .group_by("product_id", maintain_order=True).head(NEIGHBOURS)
                  .select("product_id", "other_id", "confidence", "lift", pl.col("baskets").cast(pl.Int64)))
    # Sales rate over the days a product was on sale in the recent window (first sale counts as its launch),
    # so a product launched three weeks ago is rated by its three weeks, not diluted over ninety days.
    recent_from = as_of - dt.timedelta(days=RECENT_DAYS - 1)
    recent = items.filter(pl.col("day") >= recent_from)
    per_day = max(recent["order_id"].n_unique(), 1) / RECENT_DAYS
    launched = items.group_by("product_id").agg(first_day=pl.col("day").min())
    on_sale = (pl.lit(as_of) - pl.max_horizontal(pl.col("first_day"), pl.lit(recent_from))).dt.total_days() + 1
    rates = recent.group_by("product_id").agg(pl.len().alias("recent")).join(launched, on="product_id").select(
        "product_id", recent_share=pl.col("recent") / (per_day * pl.max_horizontal(on_sale, pl.lit(MIN_RATE_DAYS))))
    buyers = items.drop_nulls("customer_id").group_by("customer_id", "product_id").agg(
        pl.col("order_id").n_unique().alias("orders")).group_by("product_id").agg(
        repeat_share=(pl.col("orders") >= 2).mean())
    popularity = (per_product.with_columns(share=pl.col("baskets") / n)
                  .join(rates, on="product_id", how="left")
                  .join(buyers, on="product_id", how="left")
                  .with_columns(pl.col("recent_share").fill_null(0.0), pl.col("repeat_share").fill_null(0.0))
                  .with_columns(repeat_typical=pl.col("repeat_share") >= REPEAT_TYPICAL)
                  .select("product_id", pl.col("baskets").cast(pl.Int64), "share", "recent_share", "repeat_share",
                          "repeat_typical")
                  .sort(["recent_share", "share", "product_id"], descending=[True, True, False]))
    return Recommender(as_of, neighbours, popularity, personal_weight)


def bought_together(model: Recommender, product_id: int, k: int = K) -> pl.DataFrame:
    """The products bought in the same basket as ``product_id`` more often than chance, best first:
    other_id, confidence (0..1), lift, baskets."""
    return model.neighbours.filter(pl.col("product_id") == int(product_id)).drop("product_id").head(k)


def recommend(model: Recommender, history: pl.DataFrame, k: int = K) -> pl.DataFrame:
    """Suggestions for every customer in ``history`` (customer_id, order_id, day, product_id; orders on or
    before ``model.as_of``): customer_id, rank (1 = best), product_id, score, reason (``together``,
    ``again`` or ``popular``: the largest part of the score)."""
    history = history.filter(pl.col("day") <= model.as_of).drop_nulls("customer_id")
    schema = {"customer_id": pl.Int64, "rank": pl.Int64, "product_id": pl.Int64, "score": pl.Float64,
              "reason": pl.Utf8}
    if history.height == 0:
        return pl.DataFrame(schema=schema)
    age = (pl.lit(model.as_of) - pl.col("day")).dt.total_days()
    decayed = history.unique(["customer_id", "order_id", "product_id"]).with_columns(
        w=pl.lit(0.5).pow(age / HALF_LIFE_DAYS))
    # Each order's weight over the customer's weighted number of orders: the parts below read as "per basket",
    # like the popularity share, whether the customer ordered twice or two hundred times.
    orders = decayed.unique(["customer_id", "order_id"]).group_by("customer_id").agg(total=pl.col("w").sum())
    weights = decayed.group_by("customer_id", "product_id").agg(pl.col("w").sum()).join(
        orders, on="customer_id").select("customer_id", "product_id", w=pl.col("w") / pl.col("total"))
    together = weights.join(model.neighbours, on="product_id").group_by("customer_id", "other_id").agg(
        together=(pl.col("w") * pl.col("confidence")).sum()).rename({"other_id": "product_id"})
    pop = model.popularity
    again = weights.join(pop.filter("repeat_typical"), on="product_id").select(
        "customer_id", "product_id", again=pl.col("w") * pl.col("repeat_share"))
    customers = weights.select("customer_id").unique()
    popular = customers.join(pop.head(CANDIDATES).select("product_id"), how="cross")
    keys = pl.concat([popular, together.select("customer_id", "product_id"),
                      again.select("customer_id", "product_id")]).unique()
    last_order = history.filter(pl.col("day") == pl.col("day").max().over("customer_id")).filter(
        pl.col("order_id") == pl.col("order_id").max().over("customer_id")).select("customer_id", "product_id")
    scored = (keys.join(last_order.join(pop.filter(~pl.col("repeat_typical")).select("product_id"), on="product_id"),
                        on=["customer_id", "product_id"], how="anti")
              .join(pop.select("product_id", popular="recent_share"), on="product_id", how="left")
              .join(together, on=["customer_id", "product_id"], how="left")
              .join(again, on=["customer_id", "product_id"], how="left")
              .with_columns(pl.col("popular", "together", "again").fill_null(0.0))
              .with_columns(pl.col("together", "again") * model.personal_weight)
              .with_columns(score=pl.col("popular") + pl.col("together") + pl.col("again")))
    reason = (pl.when((pl.col("together") >= pl.col("again")) & (pl.col("together") >= pl.col("popular")))
              .then(pl.lit("together")).when(pl.col("again") >= pl.col("popular")).then(pl.lit("again"))
              .otherwise(pl.lit("popular")))
    top = (scored.with_columns(reason=reason)
           .sort(["customer_id", "score", "product_id"], descending=[False, True, False])
           .group_by("customer_id", maintain_order=True).head(k)
           .with_columns(rank=pl.int_range(1, pl.len() + 1).over("customer_id").cast(pl.Int64)))
    return top.select("customer_id", "rank", pl.col("product_id").cast(pl.Int64), "score", "reason")


def hit_rate(suggested: pl.DataFrame, bought: pl.DataFrame) -> float:
    """Share of the customers of ``bought`` (customer_id, product_id) who bought at least one product that
    ``suggested`` (customer_id, product_id) lists for them; 0..1 (nan when nobody bought)."""
    customers = bought.select("customer_id").unique()
    if customers.height == 0:
        return float("nan")
    hits = suggested.join(bought.unique(), on=["customer_id", "product_id"]).select("customer_id").unique()
    return hits.height / customers.height


def _score_split(lines: pl.DataFrame, cutoff: dt.date, holdout_days: int, k: int, max_customers: int,
                 weights: tuple[float, ...]) -> dict:
    """Hit rates at k on the ``holdout_days`` after ``cutoff``: per personal weight, of the baseline (most
    baskets over the training days) and of the recent sales rate alone."""
    train = lines.filter(pl.col("day") <= cutoff)
    held = lines.filter((pl.col("day") > cutoff) & (pl.col("day") <= cutoff + dt.timedelta(days=holdout_days)))
    held = held.drop_nulls("customer_id").select("customer_id", "product_id")
    known = train.drop_nulls("customer_id").select("customer_id").unique()
    customers = held.select("customer_id").unique().join(known, on="customer_id")
    if customers.height > max_customers:
        customers = customers.sort("customer_id").sample(max_customers, seed=SEED)
    if customers.height == 0:
        return {"customers": 0}
    model = fit_recommender(train, cutoff)
    held = held.join(customers, on="customer_id")
    history = train.join(customers, on="customer_id")
    hits = {w: hit_rate(recommend(replace(model, personal_weight=w), history, k), held) for w in weights}
    # The baseline counts baskets over every training day, whatever window the model itself learns from.
    kept, _ = cap_baskets(train)
    by_baskets = kept.group_by("product_id").agg(pl.col("order_id").n_unique().alias("baskets")).sort(
        ["baskets", "product_id"], descending=[True, False]).head(k)
    recent = model.popularity.head(k)
    return {"customers": customers.height, "hits": hits,
            "baseline": hit_rate(customers.join(by_baskets.select("product_id"), how="cross"), held),
            "recent": hit_rate(customers.join(recent.select("product_id"), how="cross"), held)}


def backtest(lines: pl.DataFrame, holdout_days: int = HOLDOUT_DAYS, k: int = K,
             max_customers: int = EVAL_CUSTOMERS) -> dict:
    """Hit rate at ``k`` of ``recommend`` and of the popularity baseline on the last ``holdout_days`` days.

    The personal weight is chosen among ``WEIGHTS`` on the month before the holdout (trained on the days before
    it), then the model is trained on every day before the holdout and scored on it. Returns cutoff (ISO date:
    last training day), customers (scored), hit_rate, baseline_hit_rate, recent_popularity_hit_rate (the recent
    sales rate alone), personal_weight, validation_hit_rates (weight -> hit rate), k, holdout_days.
    """
    last = lines["day"].max()
    cutoff = last - dt.timedelta(days=holdout_days)
    out = {"cutoff": cutoff.isoformat(), "k": k, "holdout_days": holdout_days}
    validation = _score_split(lines, cutoff - dt.timedelta(days=holdout_days), holdout_days, k, max_customers,
                              WEIGHTS)
    weight = 1.0
    if validation["customers"]:
        best = max(validation["hits"].values())
        weight = next(w for w in WEIGHTS if validation["hits"][w] == best)  # the smallest of the best
    test = _score_split(lines, cutoff, holdout_days, k, max_customers, (weight,))
    if not test["customers"]:
        return {**out, "customers": 0, "hit_rate": None, "baseline_hit_rate": None,
                "recent_popularity_hit_rate": None, "personal_weight": weight, "validation_hit_rates": {}}
    return {**out, "customers": test["customers"], "hit_rate": test["hits"][weight],
            "baseline_hit_rate": test["baseline"], "recent_popularity_hit_rate": test["recent"],
            "personal_weight": weight,
            "validation_hit_rates": {str(w): round(h, 4) for w, h in validation.get("hits", {}).items()}}
