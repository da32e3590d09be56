"""The one module that owns st.cache_* : the engine, and every cached analytics call.

Cache keys are the arguments only (PITFALLS.md), so the merchant scope, the
filters and the data version are explicit arguments of every cached function;
nothing here reads st.session_state inside a cached function. A new import bumps
the data version, which changes every key, so new data shows without a restart.
Results are bounded by ``max_entries`` and ``ttl``.

Results are polars frames (immutable: every method returns a new frame) and small frozen values, so they
are kept with ``st.cache_resource`` and shared, not with ``st.cache_data``, which unpickles a copy on every
hit: with 30 sessions that unpickling was a fifth of the server's CPU (py-spy). Callers never change a
cached value in place (no ``frame.columns = ...``, no item assignment on a cached dict).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from analytics import (breakdowns, comparisons, coverage, customers, details, kpis, operations, options, periods,
                       trends)
from analytics import ranking
from analytics.filters import Filters
from dashboard.colours import ColourBook, Member
from data.access import DataAccess, Scope
from data import settings
from data.bootstrap import ensure_warehouse
from data.engines import open_engine

TTL_SECONDS = 3600


def shared_result(*, ttl: int, max_entries: int, show_spinner: bool = False):
    """``st.cache_resource`` for query results (see the module doc for why not ``st.cache_data``)."""
    return st.cache_resource(ttl=ttl, max_entries=max_entries, show_spinner=show_spinner)
MAX_ENTRIES = 256

# Every analytics call a page may make: name -> function(access, filters, **params).
QUERIES: dict[str, Callable[..., Any]] = {
    "kpi_comparison": kpis.compute_kpi_comparison,
    "kpi_shifted": comparisons.compute_kpi_shift_comparison,
    "daily_trend": trends.compute_daily_trend,
    "period_trend": trends.compute_period_trend,
    "weekday_hour": trends.compute_weekday_hour,
    "category_breakdown": breakdowns.compute_category_breakdown,
    "product_breakdown": breakdowns.compute_product_breakdown,
    "region_breakdown": breakdowns.compute_region_breakdown,
    "store_breakdown": breakdowns.compute_store_breakdown,
    "day_orders": breakdowns.compute_day_orders,
    "payment_mix": breakdowns.compute_payment_mix,
    "cohort_retention": customers.compute_cohort_retention,
    "repeat_share": customers.compute_repeat_customer_share,
    "delivery_performance": operations.compute_delivery_performance,
    "category_profitability": operations.compute_category_profitability,
    "merchant_ranking": ranking.compute_merchant_ranking,
    "details": details.compute_details,
    "detail_count": details.compute_detail_count,
}


@dataclass(frozen=True)
class Cached:
    value: Any
    computed_at: dt.datetime


@st.cache_resource(show_spinner="Opening the warehouse (building the demo warehouse on first start)...")
def engine():
    """The process's engine (DuckDB Warehouse or SparkWarehouse); never mutated, queried via fresh cursors."""
    if settings.get("backend") == "duckdb":
        ensure_warehouse()
    return open_engine()


def access(scope: tuple[int, ...]) -> DataAccess:
    """A data-access handle on its own cursor, limited to the merchants in ``scope``."""
    return DataAccess(engine().backend(), Scope.merchants(scope))


def current_data_version() -> int:
    """Apply imports staged by other processes, then return the data version (part of every cache key)."""
    eng = engine()
    apply = getattr(eng, "apply_pending_imports", None)
    if apply is not None:
        apply()
    return eng.data_version()


@shared_result(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _run(name: str, scope: tuple[int, ...], filters: Filters, data_version: int, params: tuple) -> Cached:
    value = QUERIES[name](access(scope), filters, **dict(params))
    return Cached(value, dt.datetime.now())


def query(name: str, scope: tuple[int, ...], filters: Filters, data_version: int, **params: Any) -> Cached:
    """Run (or reuse) analytics call ``name`` for this scope, filters and data version."""
    if name not in QUERIES:
        raise KeyError(f"unknown query {name!r}")
    return _run(name, tuple(sorted(scope)), filters, data_version, tuple(sorted(params.items())))


@shared_result(ttl=TTL_SECONDS, max_entries=64, show_spinner=False)
def filter_options(scope: tuple[int, ...], data_version: int) -> dict[str, pl.DataFrame]:
    return options.compute_filter_options(access(scope))


@shared_result(ttl=TTL_SECONDS, max_entries=64, show_spinner=False)
def data_as_of(scope: tuple[int, ...], data_version: int) -> dt.date | None:
    return options.compute_data_as_of(access(scope))


@shared_result(ttl=TTL_SECONDS, max_entries=64, show_spinner=False)
def data_span(scope: tuple[int, ...], data_version: int) -> periods.DataSpan | None:
    """First and last day with orders of ``scope`` (and whether they carry times): not keyed by filters."""
    return periods.compute_data_span(access(scope))


@shared_result(ttl=TTL_SECONDS, max_entries=8, show_spinner=False)
def all_merchants(data_version: int) -> pl.DataFrame:
    """Every merchant (id, name, currency): the choices of staff; never shown to a merchant user."""
    a = DataAccess(engine().backend(), Scope.unrestricted())
    m = a.table("merchants")
    return a.to_polars(m.select("merchant_id", "name", "currency").order_by("merchant_id"))


@shared_result(ttl=TTL_SECONDS, max_entries=8, show_spinner=False)
def colour_book(data_version: int) -> ColourBook:
    """The looks of every category, store, region, channel and payment method of the warehouse, every merchant's
    together (dashboard.colours), so a name has one look for merchants and staff alike. Categories and stores are
    grouped by currency (a page shows one currency at a time) and ranked by their first merchant, so a later
    merchant's new names leave the earlier looks alone. Charts only look up names a page already shows."""
    a = DataAccess(engine().backend(), Scope.unrestricted())
    m = a.table("merchants").select("merchant_id", "currency")
    p, s = a.table("products"), a.table("stores")
    cats = a.to_polars(p.filter(p.is_merchandise, p.category.notnull()).select("merchant_id", name=p.category)
                       .distinct().join(m, "merchant_id"))
    stores = a.to_polars(s.filter(s.kind != "warehouse").select("merchant_id", name=s.store_id).join(m, "merchant_id"))
    everyone = tuple(sorted(all_merchants(data_version)["merchant_id"].to_list()))
    opts = filter_options(everyone, data_version)  # the staff's default scope: usually cached already

    def members(frame: pl.DataFrame) -> list[Member]:
        return [Member(r["name"], r["currency"], r["merchant_id"]) for r in frame.iter_rows(named=True)]

    return ColourBook({"category": members(cats), "store_id": members(stores), "region": opts["regions"]["region"],
                       "channel": opts["channels"]["channel"],
                       "payment_method": opts["payment_methods"]["payment_method"]})


@shared_result(ttl=TTL_SECONDS, max_entries=64, show_spinner=False)
def data_coverage(scope: tuple[int, ...], data_version: int) -> pl.DataFrame:
    """What the scope's data can answer (analytics.coverage): whole history, so not keyed by filters."""
    return coverage.compute_data_coverage(access(scope))


def loader(name: str, scope: tuple[int, ...], filters: Filters, **params: Any) -> Callable[[], Any]:
    """A no-argument function that runs analytics call ``name`` when called, uncached.

    For downloads built on click: a full detail result can be millions of rows, which would crowd
    every other entry out of the bounded cache (and st.cache_data pickles it). The engine is taken
    now, in the page run, so the call needs no script context; it opens its own cursor when called.
    """
    if name not in QUERIES:
        raise KeyError(f"unknown query {name!r}")
    eng, scope = engine(), tuple(sorted(scope))

    def load() -> Any:
        return QUERIES[name](DataAccess(eng.backend(), Scope.merchants(scope)), filters, **params)

    return load


@shared_result(ttl=TTL_SECONDS, max_entries=8, show_spinner=False)
def warehouse_stats(data_version: int) -> pl.DataFrame:
    """Rows and date range of every table (the Data page's Warehouse tab): counted once per data version, since
    the rollup tables make a count of everything cost a tenth of a page view's server time."""
    from data.info import compute_table_stats
    from data.tables import ALL_TABLES, OBSERVED

    eng = engine()
    return compute_table_stats(eng.backend(), ALL_TABLES if getattr(eng, "engine", "") == "duckdb" else OBSERVED)


def clear() -> None:
    """Staff refresh: drop every cached result (the engine stays)."""
    _run.clear()
    filter_options.clear()
    data_as_of.clear()
    data_span.clear()
    all_merchants.clear()
    colour_book.clear()
    data_coverage.clear()
    warehouse_stats.clear()


@st.cache_resource(show_spinner=False)
def store():
    """The operational store (saved views, later decisions), opened and migrated once per process:
    RETAIL_PULSE_STATE_URL, else the SQLite file beside the warehouse. Raises StoreUnavailable with the reason."""
    from data.store import open_store  # SQLAlchemy loads only once a page uses the store

    return open_store()
