"""What the Campaign simulator page reads, cached across sessions (``cache.shared_result``).

Every function takes the merchant explicitly and reads through a ``DataAccess`` scoped to that one merchant, so
a result only ever holds that merchant's rows and the merchant id is part of every cache key. Saved models are
read when a version exists: the customer value model (``models.customers.outputs.load_scores``, kind
``customer_value``) through ``models_ui``; the stock check reuses the Stock-out risk page's cached risk
(``stockout_data.risk``) on the saved demand forecast.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from analytics import facts
from analytics.campaigns import history, uplift
from dashboard import cache, models_ui
from models.customers import outputs as value_outputs

ENTRIES = 32
LOOKBACK_DAYS = 365
VALUE_KIND = "customer_value"
FORECAST_KIND = "demand_forecast"
SCORES_READER = "customer_value_scores"  # the name dashboard.customer_value_panels gives the same reader

models_ui.register_reader(SCORES_READER, value_outputs.load_scores)


def _access(merchant_id: int):
    return cache.access((int(merchant_id),))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def past_uplifts(merchant_id: int, data_version: int) -> pl.DataFrame:
    """``uplift.estimate_uplifts`` of the merchant's past promotions (seeded by the merchant id)."""
    access = _access(merchant_id)
    return uplift.estimate_uplifts(history.load_daily_lines(access, merchant_id),
                                   history.load_promotions(access, merchant_id),
                                   history.load_country(access, merchant_id), seed=int(merchant_id))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def activity(merchant_id: int, as_of: dt.date, categories: tuple[str, ...], product_ids: tuple[int, ...],
             data_version: int) -> pl.DataFrame:
    return history.load_activity(_access(merchant_id), merchant_id, as_of, LOOKBACK_DAYS, categories, product_ids)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def products(merchant_id: int, data_version: int) -> pl.DataFrame:
    """The merchant's merchandise: product_id, sku, name, category (sorted by category, sku)."""
    access = _access(merchant_id)
    p = facts.table(access, "products")
    frame = access.to_polars(p.filter(p.merchant_id == int(merchant_id), p.is_merchandise)
                             .select("product_id", "sku", "name", "category"))
    return frame.sort("category", "sku", nulls_last=True)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def known_references(merchant_id: int, references: tuple[str, ...], data_version: int) -> pl.DataFrame:
    return history.load_external_ids(_access(merchant_id), merchant_id, references)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def references(merchant_id: int, data_version: int) -> pl.DataFrame:
    """customer_id and the merchant's own reference (external_id) of every customer."""
    access = _access(merchant_id)
    c = facts.table(access, "customers")
    return access.to_polars(c.filter(c.merchant_id == int(merchant_id)).select("customer_id", "external_id"))


def value_scores(merchant_id: int, data_version: int) -> pl.DataFrame | None:
    """The customer value model's scores (customer_id, churn_90, clv_180, ...), or None without a saved model.
    Read through the Customers page's reader, so both pages share one cached copy per model version."""
    saved, _ = models_ui.current_model(VALUE_KIND, merchant_id, data_version)
    if saved is None:
        return None
    return models_ui.read_payload(saved, SCORES_READER)


def stock_risk(merchant_id: int, data_version: int, store) -> pl.DataFrame | None:
    """The merchant's stock-out risk on its saved demand forecast (None without one)."""
    from dashboard import stockout_data

    saved, _ = models_ui.current_model(FORECAST_KIND, merchant_id, data_version)
    if saved is None:
        return None
    level = stockout_data.DEFAULT_SERVICE_LEVEL
    if store is not None:
        from data.store.principal import Principal

        level = stockout_data.ServiceLevels(store).get(Principal.staff("campaign-reader"), [merchant_id])[merchant_id]
    return stockout_data.risk(saved, data_version, level)
