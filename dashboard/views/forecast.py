"""Demand forecast: history and forecast with 80% and 95% ranges, the same weeks last year, how far to trust it,
and the model card; from the whole shop to a category and a SKU, or per store.

The page never trains: it shows the merchant's newest saved ``demand_forecast`` model (``models_ui``), and while a
new one trains in the background it shows the training's progress above the last good one. Drill-down: a
category bar (or the category picker) narrows to the category, a SKU bar (or the searchable SKU picker) to the
SKU; the breadcrumb goes back.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import charts, drill, forecast_charts, forecast_panels as panels, models_ui, widgets
from dashboard import forecast_data as fd
from dashboard.context import guard
from dashboard.downloads import file_stem
from dashboard.forecast_trust import MODEL_WORDS, compute_trust
from dashboard.plain_text import markdown_text

CATEGORY = drill.Drill("fc_category", "All categories", "Category")
SKU = drill.Drill("fc_sku", "All SKUs of the category", "SKU (type a code or a name to search)")
STORE = drill.Drill("fc_store", "All stores", "Store")
VIEWS = {"products": "Whole shop, categories and SKUs", "stores": "Stores"}
TOP = 25

ctx = guard("forecast")
st.title("Demand forecast")
merchant = panels.render_merchant(ctx)
saved, job = models_ui.current_model(fd.KIND, merchant.merchant_id, ctx.data_version)
models_ui.render_training_status(fd.KIND, merchant.merchant_id, saved)
if saved is None:
    panels.render_no_model(merchant, job)
    st.stop()

index = fd.load_index(saved)
last_day = index.first_day - dt.timedelta(days=1)
names = fd.labels(merchant.merchant_id, ctx.data_version, last_day)

left, middle, right = st.columns([2, 3, 3], vertical_alignment="bottom")
measure = left.radio("Measure", fd.MEASURES, key="fc_measure", horizontal=True,
                     format_func=lambda m: "Units" if m == "units" else f"Revenue ({merchant.currency})")
days = middle.slider("Days ahead", 7, min(90, index.days), min(28, index.days), key="fc_days")
view = right.radio("View", list(VIEWS), key="fc_view", horizontal=True, format_func=VIEWS.get)
unit = None if measure == "units" else merchant.currency
value_label = "Forecast units" if measure == "units" else "Forecast revenue"

category = sku = store = None
if view == "products":
    categories = fd.keys(index, "category")
    pick_category, pick_sku = st.columns(2)
    category = drill.render_picker(CATEGORY, categories, container=pick_category)
    if category is not None:
        sku = drill.render_picker(SKU, fd.category_skus(index, category), fmt=names.sku, container=pick_sku)
    panels.render_breadcrumb(category, sku, names.sku)
    level, key = ("sku", str(sku)) if sku is not None else ("category", category) if category else ("total", "total")
    what = (f"SKU {names.sku(sku)}" if sku is not None else f"category {category}" if category else "whole shop")
else:
    store = drill.render_picker(STORE, fd.keys(index, "store"), fmt=names.store)
    level, key = ("store", store) if store is not None else ("total", "total")
    what = f"store {names.store(store)}" if store is not None else "whole shop"

forecast = fd.series(index, level, key, measure, days)
model, pattern = fd.sku_model(index, sku) if sku is not None else (
    forecast["model"][0] if forecast.height else None, None)
trust = compute_trust(index.metrics, level, key, measure, model, pattern)
history = fd.history(merchant.merchant_id, ctx.data_version, level, key, last_day)

chart_col, trust_col = st.columns([3, 2], gap="medium")
with chart_col:
    title = f"{'Units' if measure == 'units' else 'Revenue'} per day, {what}: the next {days} days"
    widgets.render_figure(forecast_charts.build_forecast_figure(history, forecast, measure, unit, title,
                                                                fd.HISTORY_DAYS, fd.data_start(saved)), "fc_chart")
    panels.render_facts(saved, index.first_day, days)
with trust_col:
    panels.render_trust(trust)

if view == "products" and category is None:
    totals = fd.breakdown(index, "category", measure, days)
    widgets.render_figure(charts.build_bar_figure(
        totals, "key", "total", title=f"Forecast by category, next {days} days (click one to drill in)",
        value_label=value_label, currency=unit), "fc_categories",
        on_select=drill.chart_callback(CATEGORY, "fc_categories", categories))
elif view == "products":
    skus = fd.category_skus(index, category)
    totals = fd.with_labels(fd.breakdown(index, "sku", measure, days, only=[str(p) for p in skus]).head(TOP),
                            names.sku, int_keys=True)
    widgets.render_figure(charts.build_bar_figure(
        totals, "key", "total", title=f"Top {TOP} SKUs in {category}, next {days} days (click one to see it)",
        value_label=value_label, currency=unit, label="label", highlight=sku), "fc_skus",
        on_select=drill.chart_callback(SKU, "fc_skus", skus))
else:
    totals = fd.with_labels(fd.breakdown(index, "store", measure, days), names.store)
    widgets.render_figure(charts.build_bar_figure(
        totals, "key", "total", title=f"Forecast by store, next {days} days (click one to see it)",
        value_label=value_label, currency=unit, label="label", highlight=store), "fc_stores",
        on_select=drill.chart_callback(STORE, "fc_stores", fd.keys(index, "store")))

table = fd.export_frame(forecast, measure, names.ids(level, key), MODEL_WORDS)
panels.render_table(table, merchant.currency, file_stem("forecast", merchant.name, key, measure, days),
                    lambda: fd.sku_rows(index, measure, days, names.products, category, MODEL_WORDS),
                    "the shop" if category is None else markdown_text(category))
models_ui.render_model_card(fd.card_model(saved, MODEL_WORDS), ctx.data_version)
