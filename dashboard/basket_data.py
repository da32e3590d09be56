"""What the Baskets page reads: the saved ``basket_rules`` model's payload (once per model version), the
merchant's products, stock and customers (once per data version), shaped into the tables the page shows.

Every cached function takes the merchant id and the data version (or model version) as arguments (cache keys
are the arguments only); the merchant comes from the page's scope, and every read goes through
``cache.access((merchant,))``, so a merchant's page never reads another merchant's rows. Product names are
data: they go into plain text cells ("SKU · name"), never into markdown or HTML.
"""

from __future__ import annotations

import polars as pl

from dashboard import cache, models_ui
from models.artifacts import SavedModel
from models.baskets import bundles as bundle_rules
from models.baskets import outputs, recommend

KIND = outputs.KEY
FORECAST_KIND = "demand_forecast"
REASONS = {"together": "Often bought with what they bought", "again": "They buy it again",
           "popular": "Selling well now"}

models_ui.register_reader("basket_rules", outputs.load_rules)
models_ui.register_reader("basket_recommender", outputs.load_recommender)
models_ui.register_reader("basket_params", outputs.load_params)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=32)
def products(merchant_id: int, data_version: int) -> pl.DataFrame:
    """product_id, sku, product_name, category, price, unit_cost, label ("SKU · name") of the merchant."""
    from analytics.baskets import load_products

    frame = load_products(cache.access((merchant_id,)))
    return frame.with_columns(label=pl.when(pl.col("product_name").fill_null("") == "").then(pl.col("sku"))
                              .otherwise(pl.format("{} · {}", pl.col("sku"), pl.col("product_name"))))


def _labels(merchant_id: int, data_version: int) -> dict[int, str]:
    frame = products(merchant_id, data_version)
    return dict(zip(frame["product_id"].to_list(), frame["label"].to_list()))


def _names(ids: list[int], labels: dict[int, str]) -> str:
    return " + ".join(labels.get(i, f"product {i}") for i in ids)


def params(saved: SavedModel) -> dict:
    return models_ui.read_payload(saved, "basket_params")


def rules_table(saved: SavedModel, data_version: int, min_lift: float, rows: int) -> pl.DataFrame:
    """The rules with lift at least ``min_lift``, by lift, at most ``rows``: if_products, then_products,
    support, confidence, lift, baskets."""
    labels = _labels(saved.merchant_id, data_version)
    rules = models_ui.read_payload(saved, "basket_rules").filter(pl.col("lift") >= min_lift).head(rows)
    return pl.DataFrame({
        "if_products": [_names(a, labels) for a in rules["antecedents"].to_list()],
        "then_products": [_names(c, labels) for c in rules["consequents"].to_list()],
        "support": rules["support"], "confidence": rules["confidence"], "lift": rules["lift"],
        "baskets": rules["baskets"]}, schema_overrides={"if_products": pl.Utf8, "then_products": pl.Utf8})


def product_choices(saved: SavedModel) -> list[int]:
    """Products with at least one "bought together" partner, most popular first."""
    model = models_ui.read_payload(saved, "basket_recommender")
    have = set(model.neighbours["product_id"].to_list())
    return [p for p in model.popularity["product_id"].to_list() if p in have]


def bought_together(saved: SavedModel, data_version: int, product_id: int) -> pl.DataFrame:
    """sku, product_name, confidence, lift, baskets of the products bought with ``product_id``, best first."""
    model = models_ui.read_payload(saved, "basket_recommender")
    found = recommend.bought_together(model, product_id)
    names = products(saved.merchant_id, data_version).select("product_id", "sku", "product_name")
    return found.join(names, left_on="other_id", right_on="product_id", how="left").select(
        "sku", "product_name", "confidence", "lift", "baskets")


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=32)
def recent_customers(merchant_id: int, data_version: int) -> pl.DataFrame:
    """customer_id, external_id, last_day, orders: the merchant's 500 customers who ordered last."""
    from analytics.baskets import load_recent_customers

    return load_recent_customers(cache.access((merchant_id,)))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=128)
def _history(merchant_id: int, customer_id: int, data_version: int) -> pl.DataFrame:
    from analytics.baskets import load_basket_lines

    return load_basket_lines(cache.access((merchant_id,)), customer_id=customer_id)


def customer_history(merchant_id: int, customer_id: int, data_version: int, orders: int = 5) -> pl.DataFrame:
    """day, order_id, sku, product_name of the customer's latest ``orders`` baskets, newest first."""
    lines = _history(merchant_id, customer_id, data_version)
    latest = lines.select("order_id", "day").unique().sort(["day", "order_id"], descending=True).head(orders)
    names = products(merchant_id, data_version).select("product_id", "sku", "product_name")
    return lines.join(latest.select("order_id"), on="order_id").join(names, on="product_id", how="left").sort(
        ["day", "order_id", "sku"], descending=[True, True, False]).select("day", "order_id", "sku", "product_name")


def suggestions(saved: SavedModel, data_version: int, customer_id: int) -> pl.DataFrame:
    """rank, sku, product_name, why: the ten suggestions for the customer (their orders up to the model's day)."""
    model = models_ui.read_payload(saved, "basket_recommender")
    found = recommend.recommend(model, _history(saved.merchant_id, customer_id, data_version))
    names = products(saved.merchant_id, data_version).select("product_id", "sku", "product_name")
    return found.join(names, on="product_id", how="left").sort("rank").select(
        "rank", "sku", "product_name", why=pl.col("reason").replace_strict(REASONS, default="Selling well now"))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=32)
def _bundles(merchant_id: int, model_version: str, data_version: int, _saved: SavedModel) -> pl.DataFrame:
    from analytics.baskets import load_stock

    rules = models_ui.read_payload(_saved, "basket_rules")
    stock = load_stock(cache.access((merchant_id,)))
    return bundle_rules.compute_bundles(rules, products(merchant_id, data_version), stock,
                                        _stockout_risk(merchant_id, data_version))


def _stockout_risk(merchant_id: int, data_version: int) -> pl.DataFrame | None:
    """The merchant's stock-out risk from its saved demand forecast (shared with the Stock-out risk page's
    cache), or None when no forecast is saved: the run-out rule then rests on days of cover alone."""
    from dashboard import stockout_data

    saved = models_ui._latest_usable(FORECAST_KIND, merchant_id)
    if saved is None:
        return None
    return stockout_data.risk(saved, data_version, stockout_data.DEFAULT_SERVICE_LEVEL)


def bundles(saved: SavedModel, data_version: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(suggested, left out): bundle_products, lift, confidence, baskets, bundle_margin, bundle_stock,
    bundle_score for the suggested ones by score; bundle_products, lift, baskets, reason for the others."""
    frame = _bundles(saved.merchant_id, saved.version, data_version, saved)
    labels = _labels(saved.merchant_id, data_version)
    named = frame.with_columns(bundle_products=pl.Series([_names(b, labels) for b in frame["bundle"].to_list()],
                                                         dtype=pl.Utf8))
    suggested = named.filter("suggested").select(
        "bundle_products", "lift", "confidence", "baskets", bundle_margin="margin", bundle_stock="stock",
        bundle_score="score")
    left_out = named.filter(~pl.col("suggested")).select("bundle_products", "lift", "baskets", "reason")
    return suggested, left_out
