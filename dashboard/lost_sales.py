"""The Overview's lost-sales card: units and revenue lost to stock-outs in the period, and the products behind it.

The figures come from each merchant's saved demand model (kind ``demand_forecast``): its ``lost`` frame holds
every out-of-stock day of the training window with the units and revenue the empty shelf turned away
(``models.forecasting.censoring``). Nothing is trained or estimated here: a merchant without a saved model
has no figure yet, and a model trained on older data still shows its figures, up to the end of its window.

The model is resolved through ``models_ui.current_model`` on every run (its verification is cached per file
state) and its frame read once per model version (``models_ui.read_payload``); filtering the frame by period
and category is polars, per run. SKUs and names come from the products table through ``data.access``, cached per
scope and data version, and only once someone opens the drill-down.

Stock is kept in one warehouse, so lost sales are per product and day: the category filter applies, the region,
store, channel and payment filters do not (the card's help says so).

The pure half (``compute_lost_totals``, ``compute_lost_products``) is tested without streamlit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import streamlit as st

from analytics.filters import Filters
from analytics.products import compute_product_labels
from dashboard import cache, models_ui, tables
from dashboard.downloads import file_stem
from dashboard.formatting import CurrencyGroup, format_change, format_money
from dashboard.plain_text import markdown_text
from dashboard.widgets import compact_figure, render_rows_behind
from models.artifacts import SavedModel
from models.forecasting import outputs
from models.forecasting.censoring import compute_lost_sales

KIND = "demand_forecast"
READER = "lost_sales_frame"
TOGGLE_KEY = "ov_lost_products"
NO_MODEL = "Lost sales appear once the demand model is trained."
HELP = ("Units and revenue customers could not buy because the product was out of stock, estimated by the demand "
        "model: on a day a product ran out, its demand is its typical demand around that day, and what it did not "
        "sell of it is lost; revenue at the product's average price. The arrow compares with the previous period "
        "of equal length (a rise is bad). The category filter applies; the region, store, channel and payment "
        "filters do not, because stock is kept in one warehouse and counted per product and day.")

models_ui.register_reader(READER, outputs.load_lost_sales)


@dataclass(frozen=True)
class MerchantLost:
    """One merchant's saved lost-sales frame (None without a usable model) and its training window."""

    merchant_id: int
    saved: SavedModel | None
    frame: pl.DataFrame | None  # load_lost_sales: product_id, category, day, censored, lost_units, lost_revenue
    window: tuple[dt.date, dt.date] | None  # first and last day the model was trained on


@dataclass(frozen=True)
class LostTotals:
    units: float
    revenue: float
    products: int
    stockout_days: int
    previous_revenue: float | None  # None when the models' windows do not cover both periods
    as_of: dt.date | None  # the earliest window end, when the period goes past it (figures stop there)
    covered: bool  # some of the period lies inside a model's window


# ------------------------------------------------------------------------------------------------- pure


def _in_period(m: MerchantLost, start: dt.date, end: dt.date, categories: Sequence[str]) -> pl.DataFrame:
    d = m.frame.filter(pl.col("day").is_between(start, end) & pl.col("censored"))
    return d.filter(pl.col("category").is_in(list(categories))) if categories else d


def _covers(m: MerchantLost, start: dt.date, end: dt.date) -> bool:
    return m.window is not None and m.window[0] <= start and end <= m.window[1]


def compute_lost_totals(models: Sequence[MerchantLost], f: Filters) -> LostTotals | None:
    """Lost units and revenue of the merchants with a model over ``f``'s period and categories (None: no model).

    Money is added across ``models`` as it is: pass merchants of one currency only.
    """
    usable = [m for m in models if m.frame is not None]
    if not usable:
        return None
    now = pl.concat([_in_period(m, f.start, f.end, f.categories) for m in usable])
    prev = f.previous_period()
    previous = None
    if all(_covers(m, prev.start, f.end) for m in usable):
        previous = float(pl.concat([_in_period(m, prev.start, prev.end, f.categories)
                                    for m in usable])["lost_revenue"].sum())
    ends = [m.window[1] for m in usable if m.window is not None]
    as_of = min(ends) if ends and min(ends) < f.end else None
    covered = any(m.window is not None and m.window[0] <= f.end and f.start <= m.window[1] for m in usable)
    return LostTotals(units=float(now["lost_units"].sum()), revenue=float(now["lost_revenue"].sum()),
                      products=now["product_id"].n_unique(), stockout_days=now.height,
                      previous_revenue=previous, as_of=as_of, covered=covered)


def compute_lost_products(models: Sequence[MerchantLost], f: Filters, labels: pl.DataFrame) -> pl.DataFrame:
    """``censoring.compute_lost_sales`` over the period and categories, with SKU and name from ``labels``.

    Columns: product_id, sku, product_name, category, stockout_days, lost_units, lost_revenue; largest lost
    revenue first.
    """
    usable = [m for m in models if m.frame is not None]
    frames = [_in_period(m, f.start, f.end, f.categories) for m in usable]
    lost = compute_lost_sales(pl.concat(frames)) if frames else compute_lost_sales(
        pl.DataFrame(schema={"product_id": pl.Int64, "category": pl.Utf8, "day": pl.Date, "censored": pl.Boolean,
                             "lost_units": pl.Float64, "lost_revenue": pl.Float64}))
    out = lost.join(labels.select("product_id", "sku", "product_name"), on="product_id", how="left")
    return out.select("product_id", "sku", "product_name", "category", "stockout_days", "lost_units",
                      "lost_revenue").sort(["lost_revenue", "product_id"], descending=[True, False])


# -------------------------------------------------------------------------------------------- streamlit


def _window(saved: SavedModel) -> tuple[dt.date, dt.date] | None:
    window = saved.meta.get("training_window")
    if not window or len(window) != 2:
        return None
    return dt.date.fromisoformat(str(window[0])[:10]), dt.date.fromisoformat(str(window[1])[:10])


def load_lost_models(merchant_ids: Sequence[int], data_version: int) -> list[MerchantLost]:
    """Each merchant's lost-sales frame from its newest usable demand model (a missing or stale one is queued
    for training by ``current_model``). The frame is read once per model version (``read_payload``)."""
    out = []
    for m in sorted(merchant_ids):
        saved, _ = models_ui.current_model(KIND, m, data_version)
        if saved is None:
            out.append(MerchantLost(m, None, None, None))
        else:
            out.append(MerchantLost(m, saved, models_ui.read_payload(saved, READER), _window(saved)))
    return out


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=64)
def product_labels(scope: tuple[int, ...], data_version: int) -> pl.DataFrame:
    """SKU and name of every product of ``scope`` (``analytics.products``): not keyed by the filters."""
    return compute_product_labels(cache.access(scope))


def _training_line(models: Sequence[MerchantLost]) -> None:
    """The progress of a model being trained in the background (one at a time: it reruns the page when done)."""
    queue = models_ui.training_queue() if models_ui.training_in_app() else None
    for m in models:
        job = queue.status(KIND, m.merchant_id) if queue is not None else None
        if job is not None and job.active:
            models_ui.render_training_status(KIND, m.merchant_id, m.saved)
            return


def _windows(models: Sequence[MerchantLost]) -> str:
    spans = sorted({m.window for m in models if m.window is not None})
    return "; ".join(f"{a:%d %b %Y} to {b:%d %b %Y}" for a, b in spans) or "no days"


def _notes(totals: LostTotals, missing: Sequence[str], f: Filters) -> list[str]:
    notes = [f"About {totals.units:,.0f} units on {totals.stockout_days:,} days out of stock, "
             f"{totals.products:,} products"]
    if totals.as_of is not None:
        notes.append(f"As of {totals.as_of:%d %b %Y}: the demand model was trained on data up to then")
    if totals.previous_revenue is None:
        notes.append("Previous period: no comparison, the demand model does not cover it")
    if missing:
        notes.append("No demand model yet for " + ", ".join(markdown_text(n) for n in missing))
    if f.regions or f.store_ids or f.channels or f.payment_methods:
        notes.append("Region, store, channel and payment filters do not apply to stock")
    return notes


def render_lost_sales(data_version: int, money: CurrencyGroup, f: Filters) -> None:
    """The card (revenue lost, with units, days and products under it) and, behind a toggle, its products."""
    models = load_lost_models(money.merchant_ids, data_version)
    totals = compute_lost_totals(models, f)
    card, detail = st.columns([1, 3])
    with card:
        if totals is None or not totals.covered:
            st.caption(NO_MODEL if totals is None else "Lost sales: the demand model was not trained on any "
                       f"day of this period (it covers {_windows(models)}).")
            _training_line(models)
            return
        change = None
        if totals.previous_revenue:
            delta = totals.revenue - totals.previous_revenue
            change = format_change("money", delta, delta / totals.previous_revenue)
        shown, exact = compact_figure(format_money(totals.revenue, money.currency))
        st.metric("Revenue lost to stock-outs", shown, delta=change, delta_color="inverse", border=True,
                  help=f"Exactly {exact}. {HELP}" if exact else HELP)
        names = dict(zip(money.merchant_ids, money.names))
        st.caption("  \n".join(_notes(totals, [names.get(m.merchant_id, str(m.merchant_id))
                                               for m in models if m.frame is None], f)))
        _training_line(models)
    with detail:
        if not st.toggle("Products behind lost sales", key=TOGGLE_KEY,
                         help="The products that ran out in the period, largest revenue lost first."):
            return
        labels = product_labels(tuple(sorted(money.merchant_ids)), data_version)
        products = compute_lost_products(models, f, labels)
        st.caption(f"{products.height:,} products out of stock in the period; units and revenue lost are "
                   f"estimates, revenue in {markdown_text(money.currency)}.")
        tables.render_dataframe(products, money.currency)
        render_rows_behind("ov_lost_products", products, None, file_stem("lost_sales", f.start, f.end),
                           show_table=False)
