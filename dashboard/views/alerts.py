"""Alerts: the incidents ``python -m models alerts check`` stored and the likely stock-outs in one list; one
incident with its expected band, drill-down and causes; acknowledge, assign, snooze, resolve, feedback; the rules.

The page never runs detection: it reads the stored incidents, and computes the opened incident's band and
drill-down only (cached). ``?incident=<key>`` (the link in every notification) opens that incident, if it is one
of the signed-in person's merchants'; a merchant never sees another merchant's alerts.
"""

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import alert_data, alert_incident, alert_rules_form, alert_workflow, cache, tables, widgets
from dashboard.context import guard
from dashboard.navigation import PAGES_BY_KEY, may_open
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError
from models.alerts.watch import METRICS

LINK = "incident"
SHOWN_ROWS = 500
PICKABLE = 200
VIEWS = {"alerts": "Alerts", "rules": "Rules and delivery"}
METRIC_CHOICES = {**{m.key: m.title for m in METRICS.values()}, alert_data.STOCKOUT: "Stock-out risk"}
LIST = ("started_at", "title", "status_text", "severity", "assignee", "metric_text", "kind_text")


def _back() -> None:
    if LINK in st.query_params:
        del st.query_params[LINK]


ctx = guard("alerts")
st.title("Alerts")
top = widgets.render_page_top(ctx)
who = alert_data.store_principal(ctx.principal)
names = alert_data.merchant_names(ctx.scope, ctx.data_version)
money = alert_data.currencies(ctx.scope, ctx.data_version)
as_of = dt.datetime.combine(ctx.as_of + dt.timedelta(days=1), dt.time()) if ctx.as_of else None
try:
    store = cache.store()
except StoreError as exc:
    st.error(f"The operational store is unavailable, so no alert can be shown: {markdown_text(str(exc))}")
    st.stop()
alert_workflow.render_message()
view = st.radio("Show", list(VIEWS), key="al_view", format_func=VIEWS.get, horizontal=True,
                label_visibility="collapsed")

if view == "rules":
    merchant = ctx.scope[0]
    if len(ctx.scope) > 1:
        merchant = st.selectbox("Merchant", list(ctx.scope), key="al_rules_merchant",
                                format_func=lambda m: str(names.get(m, m)))
    st.subheader(f"Rules of {markdown_text(names.get(merchant, merchant))}")
    alert_rules_form.render_rules(ctx.principal, merchant)
    st.stop()


def render_one(alert: dict, incident) -> None:
    """One alert: the incident view (or a stock-out's words), then the workflow and the history."""
    merchant = str(names.get(alert["merchant_id"], alert["merchant_id"]))
    st.subheader(alert_data.heading(alert), anchor=False)
    st.caption(f"{alert['kind_text']} · {markdown_text(merchant)} · {markdown_text(alert['status_text'])}")
    if incident is not None:
        alert_incident.render_incident(incident, merchant, money.get(alert["merchant_id"]), ctx.data_version, as_of)
    else:
        st.caption(f"{markdown_text(alert['title'])}: see its forecast, cover and purchase orders on the "
                   "Stock-out risk page.")
        if may_open(ctx.principal.role, "stockout"):
            st.page_link(str(PAGES_BY_KEY["stockout"].path), label="Stock-out risk", icon=":material/inventory_2:")
    st.subheader("What to do", anchor=False)
    alert_workflow.render_actions(ctx.principal, alert, store.now())
    alert_workflow.render_history(ctx.principal, alert)


try:
    linked = st.query_params.get(LINK)
    if linked:
        incident = alert_data.find_incident(store, who, linked, ctx.scope)
        if incident is not None:
            st.button("Every alert", key="al_back", on_click=_back, icon=":material/list:")
            render_one(alert_data.incident_row(store, who, incident), incident)
            st.stop()
        st.warning(f"No incident {markdown_text(linked[:64])} among the alerts you can see: it belongs to a merchant "
                   "outside your access (or the sidebar's merchants), or it does not exist. Every alert is below.")

    with st.container(border=True):
        a, b, c = st.columns(3)
        state = a.selectbox("State", list(alert_data.STATES), key="al_state", format_func=alert_data.STATES.get)
        metrics = b.multiselect("Metric", list(METRIC_CHOICES), key="al_metric", format_func=METRIC_CHOICES.get,
                                placeholder="Every metric")
        chosen = ()
        if len(ctx.scope) > 1:
            chosen = c.multiselect("Merchant", list(ctx.scope), key="al_merchant", placeholder="Every merchant",
                                   format_func=lambda m: str(names.get(m, m)))
        stockouts = c.toggle("Stock-out alerts too", value=True, key="al_stockouts",
                             help=f"Products at least {alert_data.STOCKOUT_MIN:.0%} likely to run out before the "
                                  "next delivery (the Stock-out risk page lists every one).")
    risk = alert_data.stockout_risk(store, who, ctx.scope, ctx.data_version) if stockouts else None
    alerts = alert_data.build_alert_list(store, who, ctx.scope, risk)
    shown = alert_data.filter_alerts(alerts, alert_data.ListFilters(state, tuple(metrics), tuple(chosen),
                                                                    ctx.principal.username))
    top.caption(f"{alerts.filter(pl.col('status') == 'open').height:,} alerts new or assigned, "
                f"{alerts.filter(pl.col('status') == 'acknowledged').height:,} acknowledged · incidents as "
                "`python -m models alerts check` stored them; start times are shop time")
    columns = list(LIST[:2]) + (["merchant"] if len(ctx.scope) > 1 else []) + list(LIST[2:])
    table = shown.head(SHOWN_ROWS).with_columns(
        pl.col("merchant_id").map_elements(lambda m: str(names.get(m, m)), return_dtype=pl.Utf8).alias("merchant"))
    tables.render_dataframe(table.select(columns), registry=tables.ALERT_COLUMNS, key="al_list")
    if not shown.height:
        st.caption("No alert passes these filters." if alerts.height else
                   "No alert yet: incidents appear here once `python -m models alerts check` has found one.")

    rows = {f"{r['kind']}|{r['merchant_id']}|{r['alert_key']}": r for r in shown.head(PICKABLE).iter_rows(named=True)}
    previous = st.session_state.get("al_pick")
    if previous and previous not in rows:  # an alert just acted on stays open even if the filters now hide it
        kind, mid, key = previous.split("|", 2)
        kept = alerts.filter((pl.col("kind") == kind) & (pl.col("merchant_id") == int(mid))
                             & (pl.col("alert_key") == key))
        rows.update({previous: r for r in kept.iter_rows(named=True)})
        if previous not in rows:
            del st.session_state["al_pick"]
    if rows:
        pick = st.selectbox("Open an alert", list(rows), key="al_pick",
                            format_func=lambda k: f"{rows[k]['title']} · {names.get(rows[k]['merchant_id'], '')}"
                            if k in rows else k)
        alert = rows[pick]
        incident = (alert_data.find_incident(store, who, alert["alert_key"], [alert["merchant_id"]])
                    if alert["kind"] == alert_data.INCIDENT else None)
        render_one(alert, incident)
except StoreError as exc:
    st.error(f"The alerts could not be read: {markdown_text(str(exc))}")
