"""Stock-out risk: products likely to run out before the next delivery can arrive, sorted by revenue at risk.

The risk comes from each merchant's saved demand forecast (``stockout_data.risk``, cached across sessions per
model version, data version and service level); what people did to each alert comes from the operational
store. Filters only narrow the cached list.
"""

import datetime as dt

import polars as pl
import streamlit as st

from analytics.stockout_alerts import (STATUS_FILTERS, AlertFilters, attach_states, compute_alert_kpis,
                                       compute_projection, filter_alerts, percent)
from dashboard import cache, downloads, models_ui, po_export, stockout_actions, stockout_chart, stockout_data, tables
from dashboard import widgets
from dashboard.context import guard
from dashboard.formatting import format_money
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError

SHOWN_ROWS = 500  # the grid shows this many; the downloads hold every listed alert
PICKABLE = 200
LIST = ("sku", "product", "location", "category", "stockout_probability", "revenue_at_risk", "days_of_cover",
        "on_hand", "daily_demand", "open_po_units", "next_delivery", "reorder_point", "order_quantity",
        "abc_class", "xyz_class", "status_text", "assignee", "reason")

ctx = guard("stockout")
st.title("Stock-out risk")
top = widgets.render_page_top(ctx)
group = widgets.render_currency_scope(ctx)
names = dict(zip(group.merchant_ids, group.names))
who = stockout_data.store_principal(ctx.principal)
try:
    store = cache.store()
    levels = stockout_data.ServiceLevels(store).get(who, group.merchant_ids)
except StoreError as exc:
    st.error(f"The operational store is unavailable, so the alert list cannot be shown: {markdown_text(str(exc))}")
    st.stop()

missing, models = [], {}
for m in group.merchant_ids:
    saved, _job = models_ui.current_model(stockout_data.KIND, m, ctx.data_version)
    models[m] = saved
    if models_ui.training_in_app():
        models_ui.render_training_status(stockout_data.KIND, m, saved)
    if saved is None:
        missing.append(m)
frames = stockout_data.risks([(models[m], levels[m]) for m in group.merchant_ids if models[m] is not None],
                             ctx.data_version)
if missing:
    how = ("The first forecast is being trained in the background; this page updates when it is ready."
           if models_ui.training_in_app() else
           "This instance does not train in the background: run `python -m models train --kind demand_forecast` "
           "on the server.")
    st.info(f"No demand forecast yet for {', '.join(markdown_text(names.get(m, m)) for m in missing)}, so "
            f"{'its' if len(missing) == 1 else 'their'} stock-out risk cannot be computed. {how}")
if not frames:
    st.stop()

as_of = f"{ctx.as_of:%d %b %Y}" if ctx.as_of else "n/a"
top.caption(f"Data as of {as_of} · data version {ctx.data_version} · from each merchant's latest demand forecast. "
            "The sidebar's period and filters do not apply here: the filters below do.")
stockout_actions.render_service_level(ctx.principal, levels, names)
stockout_actions.render_message()

risk = pl.concat(frames, how="vertical_relaxed").sort("revenue_at_risk", descending=True, maintain_order=True)
alerts = attach_states(risk, store.alerts.states(who, merchant_ids=group.merchant_ids), store.now())

with st.container(border=True):
    a, b, c = st.columns(3)
    min_probability = a.slider("Chance of a stock-out at least (%)", 0, 100, 10, step=5, key="so_min_prob")
    status = b.selectbox("Status", list(STATUS_FILTERS), key="so_status", format_func=STATUS_FILTERS.get)
    search = c.text_input("SKU or product contains", key="so_search", max_chars=100)
    d, e, f = st.columns(3)
    categories = d.multiselect("Category", sorted(set(alerts["category"].drop_nulls().to_list())), key="so_category",
                               placeholder="Every category")
    abc = e.multiselect("ABC class", sorted(set(alerts["abc_class"].drop_nulls().to_list())), key="so_abc",
                        placeholder="Every class", help="A: the products making most of the revenue; C: the least.")
    places = dict(zip(alerts["store_id"].to_list(), alerts["location"].to_list()))
    locations = f.multiselect("Location", sorted(places, key=lambda s: str(places[s])), key="so_location",
                              format_func=lambda s: str(places.get(s, s)), placeholder="Every location")
filters = AlertFilters(min_probability / 100, tuple(categories), tuple(abc), tuple(locations), status, search,
                       ctx.principal.username)
shown = filter_alerts(alerts, filters)

kpis = compute_alert_kpis(shown)
k1, k2, k3 = st.columns(3)
k1.metric("SKUs at risk", f"{kpis.skus_at_risk:,}", help=f"{kpis.alerts:,} product and location pairs listed.")
k2.metric("Revenue at risk", " · ".join(format_money(v, cur) for cur, v in kpis.revenue_at_risk.items()) or
          format_money(0.0, group.currency), help="Sales expected to be lost to the listed stock-outs.")
k3.metric("Stock-outs expected", f"{kpis.expected_stockouts:,.1f}",
          help="The sum of the listed chances: how many of these alerts should run out before a delivery.")

columns = (["merchant"] if len(group.merchant_ids) > 1 else []) + list(LIST)
table = shown.head(SHOWN_ROWS).with_columns(
    pl.col("merchant_id").map_elements(lambda m: str(names.get(m, m)), return_dtype=pl.Utf8).alias("merchant"))
tables.render_dataframe(table.select(columns), group.currency, registry=tables.STOCKOUT_COLUMNS, key="so_list")
if shown.height > SHOWN_ROWS:
    st.caption(f"Showing the first {SHOWN_ROWS:,} of {shown.height:,} alerts; the downloads hold all of them.")
elif not shown.height:
    st.caption("No alert passes these filters.")

lines = po_export.order_lines(shown).height
st.caption(f"Draft purchase order: {lines:,} lines (alerts with a suggested order), with the filters above.")
stem = downloads.file_stem("purchase-order-draft", ctx.as_of)
left, mid, right = st.columns(3)
left.download_button("CSV: draft purchase order", data=lambda: po_export.csv_bytes(shown, names),
                     file_name=f"{stem}.csv", mime=downloads.CSV_MIME, key="so_po_csv", on_click="ignore",
                     disabled=not lines, icon=":material/download:")
mid.download_button("Excel: draft purchase order", data=lambda: po_export.excel_bytes(shown, names),
                    file_name=f"{stem}.xlsx", mime=downloads.EXCEL_MIME, key="so_po_xlsx", on_click="ignore",
                    disabled=not lines, icon=":material/download:")
with right:
    stockout_actions.render_draft_save(ctx.principal, shown)

st.subheader("One alert")
picks = shown.head(PICKABLE)
previous = st.session_state.get("so_pick")
keyed = {f"{r['merchant_id']}|{r['alert_key']}": r for r in picks.iter_rows(named=True)}
if previous and previous not in keyed:  # an alert just acted on stays open even if the filters now hide it
    mid_, key_ = previous.split("|", 1)
    kept = alerts.filter((pl.col("merchant_id") == int(mid_)) & (pl.col("alert_key") == key_))
    keyed.update({previous: r for r in kept.iter_rows(named=True)})
    if previous not in keyed:  # another currency's merchant was picked before: start from the top
        del st.session_state["so_pick"]
if not keyed:
    st.caption("Pick an alert from a list that is not empty.")
    st.stop()
pick = st.selectbox("Alert", list(keyed), key="so_pick",
                    format_func=lambda k: f"{keyed[k]['sku']} · {keyed[k]['product']} at {keyed[k]['location']}"
                    if k in keyed else k)
alert = keyed[pick]
facts = stockout_chart.alert_facts(alert, percent)
tables.render_dataframe(pl.DataFrame({"about": [k for k, _ in facts], "detail": [v for _, v in facts]}),
                        registry=tables.STOCKOUT_COLUMNS, key="so_facts")
history = stockout_data.purchase_order_history(alert["merchant_id"], alert["product_id"], alert["store_id"],
                                               ctx.data_version)
if history.height:
    st.caption("Latest purchase orders of this product at this location (lead-time history)")
    tables.render_dataframe(history, registry=tables.STOCKOUT_COLUMNS, key="so_po_history")
else:
    st.caption("No purchase order of this product at this location yet.")
if (saved := models.get(alert["merchant_id"])) is not None:
    demand = stockout_data.location_demand(saved).filter(
        (pl.col("product_id") == alert["product_id"]) & (pl.col("store_id") == alert["store_id"]))
    widgets.render_figure(stockout_chart.build_projection_figure(compute_projection(alert, demand), alert),
                          key="so_projection")
stockout_actions.render_alert_actions(ctx.principal, alert, store.now().date())
