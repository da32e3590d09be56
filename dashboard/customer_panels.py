"""Pieces of the Customers page that draw: merchant and date choice, segment rules, clusters, the customer
drill-down, the target list with its downloads, and the predicted-value section (when that model exists).

Reads go through ``customer_data`` (cached, one merchant per call). Text from data (merchant names, customer and
order references) reaches markdown only as a code span (``markdown_text``); tables, widget options and
``st.text`` show it as plain text; downloads go through ``dashboard.downloads`` (formulas made inert).
"""

from __future__ import annotations

import datetime as dt
import importlib

import polars as pl
import streamlit as st

from analytics import segments
from analytics.periods import DataSpan
from dashboard import customer_charts, downloads, models_ui, tables, widgets
from dashboard import customer_data as cd
from dashboard.context import PageContext
from dashboard.plain_text import markdown_text

MERCHANT_KEY = "cu_merchant"
VALUE_KIND = "customer_value"
NO_VALUE_MODEL = "Predicted value appears once the customer value model is trained."
PICK_LIMIT = 500
SHOW_ROWS = 1_000


Merchant = widgets.Merchant


def render_merchant(ctx: PageContext) -> Merchant:
    """The merchant whose customers show: a picker among the scope's merchants when there are several (staff),
    none for a merchant user with one shop. A remembered choice outside the scope is dropped."""
    return widgets.render_merchant_picker(ctx, MERCHANT_KEY, "Segments are scored within one merchant, in the merchant's own currency.")


def keep_date(key: str, first: dt.date, last: dt.date) -> None:
    """Drop a remembered date outside ``first``..``last`` (another merchant's, or an as-of date moved since)
    before its widget exists in this run, so the widget starts from its default instead of failing."""
    value = st.session_state.get(key)
    if value is not None and not (isinstance(value, dt.date) and first <= value <= last):
        st.session_state.pop(key, None)


def render_as_of(span: DataSpan) -> dt.date:
    """The as-of date (key ``cu_as_of``): orders up to the end of that day count. Default: the last day of data."""
    keep_date("cu_as_of", span.first, span.last)
    value = st.date_input("As of (end of day)", value=span.last, min_value=span.first, max_value=span.last,
                          key="cu_as_of", format="DD/MM/YYYY", width=220,
                          help="Customers are scored on their orders up to and including this day.")
    return value if isinstance(value, dt.date) else span.last


def render_rules() -> None:
    with st.expander("How the segments are made", icon=":material/rule:"):
        st.caption("R: how recently the customer last bought, 5 = the most recent fifth of customers. F: number of "
                   "orders, M: revenue (sales minus returns), 5 = the top fifth. FM is the mean of F and M rounded "
                   "up. Customers with equal values always get the same score (the lowest their group reaches).")
        st.table({"Segment": [s.label for s in segments.SEGMENTS], "Rule": [s.rule for s in segments.SEGMENTS],
                  "Meaning": [s.meaning for s in segments.SEGMENTS]}, hide_index=True)


def render_clusters(merchant: Merchant, as_of: dt.date, data_version: int) -> None:
    clusters = cd.load_clusters(merchant.merchant_id, as_of, data_version)
    if clusters is None:
        st.info("Too few customers with different habits to form clusters.", icon=":material/info:")
        return
    best = clusters.silhouettes.filter(pl.col("k") == clusters.k)["silhouette"][0]
    st.caption(f"K-means on log-scaled recency, orders and revenue found {clusters.k} groups (the number with the "
               f"best silhouette, {best:.2f}, among {clusters.silhouettes['k'].min()} to "
               f"{clusters.silhouettes['k'].max()} measured on a sample of {len(clusters.sample_rows):,} "
               "customers). Beside each: the rule-based segment most of its customers are in.")
    tables.render_dataframe(clusters.summary, merchant.currency, registry=tables.CUSTOMER_COLUMNS)
    pairs = segments.compute_cluster_segments(cd.load_rfm(merchant.merchant_id, as_of, data_version),
                                              clusters.assignments)
    widgets.render_figure(customer_charts.build_cluster_segment_figure(pairs), "cu_cluster_segments")
    with st.expander("Silhouette of each number of groups", icon=":material/analytics:"):
        tables.render_dataframe(clusters.silhouettes, registry=tables.CUSTOMER_COLUMNS)


def _pick_customer(merchant: Merchant, as_of: dt.date, data_version: int) -> int | None:
    refs = cd.load_refs(merchant.merchant_id, data_version)
    typed = st.text_input("Find a customer by their reference or number", key="cu_find", max_chars=80).strip()
    if typed:
        hit = refs.filter((pl.col("customer_ref") == typed) | (pl.col("customer_id").cast(pl.Utf8) == typed))
        if hit.height == 0:
            st.info(f"No customer of {markdown_text(merchant.name)} has the reference {markdown_text(typed)}.")
            return None
        return int(hit["customer_id"][0])
    choices = cd.customer_choices(merchant.merchant_id, as_of, data_version, PICK_LIMIT)
    if choices.height == 0:
        return None
    words = {r["customer_id"]: f"{r['customer_ref'] or r['customer_id']} · {r['segment']}"
             for r in choices.iter_rows(named=True)}
    if st.session_state.get("cu_customer") not in words:  # another merchant's or date's pick: start afresh
        st.session_state.pop("cu_customer", None)
    return st.selectbox(f"Or pick one of the {choices.height:,} customers with the highest revenue",
                        list(words), key="cu_customer", format_func=words.get)


def render_drilldown(merchant: Merchant, as_of: dt.date, data_version: int) -> None:
    """One customer: orders over time, segment at past quarter-ends, predicted value, their orders."""
    customer = _pick_customer(merchant, as_of, data_version)
    if customer is None:
        return
    refs = cd.load_refs(merchant.merchant_id, data_version).filter(pl.col("customer_id") == customer)
    ref = refs["customer_ref"][0] if refs.height and refs["customer_ref"][0] else str(customer)
    orders = cd.load_orders(merchant.merchant_id, customer, data_version)
    orders = orders.filter(pl.col("order_ts") < dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()))
    widgets.render_figure(customer_charts.build_orders_figure(
        orders, merchant.currency, f"Orders of customer {ref} up to {as_of:%d %b %Y}"), "cu_orders_chart")
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.subheader("Segment at past quarter-ends")
        history = cd.segment_history(merchant.merchant_id, customer, as_of, data_version)
        tables.render_dataframe(history, merchant.currency, registry=tables.CUSTOMER_COLUMNS)
    with right:
        st.subheader("Predicted value")
        render_customer_value(merchant, customer, data_version)
    st.subheader("Orders")
    tables.render_dataframe(orders.drop("order_id"), merchant.currency, registry=tables.CUSTOMER_COLUMNS)


def _module(name: str):
    """The module, or None while it does not exist yet (the customer value model lands separately)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _value_model(merchant_id: int, data_version: int):
    """(saved customer value model or None, its outputs module or None)."""
    outputs = _module("models.customers.outputs")
    if outputs is None or not hasattr(outputs, "load_scores"):
        return None, None
    saved, _ = models_ui.current_model(VALUE_KIND, merchant_id, data_version)
    return saved, outputs


def render_customer_value(merchant: Merchant, customer: int, data_version: int) -> None:
    saved, outputs = _value_model(merchant.merchant_id, data_version)
    if saved is None:
        st.info(NO_VALUE_MODEL, icon=":material/hourglass_top:")
        return
    models_ui.register_reader("customer_value_scores", outputs.load_scores)
    scores = models_ui.read_payload(saved, "customer_value_scores")
    row = scores.filter(pl.col("customer_id") == customer)
    if row.height == 0:
        shortfall = None
        if hasattr(outputs, "load_shortfall"):
            models_ui.register_reader("customer_value_shortfall", outputs.load_shortfall)
            shortfall = models_ui.read_payload(saved, "customer_value_shortfall")
        st.info(str(getattr(shortfall, "message", "")) or "The customer value model has no prediction for this "
                "customer: they first bought after it was trained.", icon=":material/info:")
        return
    r = row.row(0, named=True)
    money = lambda v: "" if v is None else f"{merchant.currency} {v:,.2f}"  # noqa: E731
    facts = [("Chance of leaving within 90 days", f"{r['churn_90']:.0%}"),
             ("Chance of buying again within 90 days", f"{r['repeat_90']:.0%}"),
             ("Expected orders in 90 days", f"{r['expected_orders_90']:.1f}")]
    facts += [(f"Value over the next {d} days", f"{money(r[f'clv_{d}'])} (between {money(r.get(f'clv_{d}_low'))} "
               f"and {money(r.get(f'clv_{d}_high'))})") for d in (90, 180, 365)]
    st.table({"Prediction": [k for k, _ in facts], "Value": [v for _, v in facts]}, hide_index=True)
    st.caption(f"From the customer value model version {saved.version}, made on the data it was trained on (the "
               "Predicted value tab has its model card); ranges: 80% intervals.")


def render_value_section(ctx: PageContext, merchant: Merchant) -> None:
    """The customer value model's own section (model card, status, too-little-data message) once it exists."""
    panels = _module("dashboard.customer_value_panels")
    if panels is None or not hasattr(panels, "render_value_section"):
        st.info(NO_VALUE_MODEL, icon=":material/hourglass_top:")
        return
    panels.render_value_section(ctx, merchant.merchant_id)


def target_file_frame(targets: pl.DataFrame, currency: str) -> pl.DataFrame:
    """The target list as downloaded: headings in words with units (``tables.CUSTOMER_COLUMNS``)."""
    return targets.rename({c: tables.label_for(c, currency, tables.CUSTOMER_COLUMNS) for c in targets.columns})


def render_target_list(merchant: Merchant, as_of: dt.date, data_version: int) -> None:
    chosen = st.multiselect("Segments to target", list(segments.SEGMENT_ORDER), key="cu_targets",
                            default=["At risk", "Cannot lose them"],
                            help="Everyone in these segments as of the date above, highest revenue first.")
    if not chosen:
        st.info("Choose at least one segment.", icon=":material/info:")
        return
    targets = cd.target_list(merchant.merchant_id, as_of, data_version, tuple(chosen))
    shown = f" (the first {SHOW_ROWS:,} shown)" if targets.height > SHOW_ROWS else ""
    st.caption(f"{targets.height:,} customers{shown}.")
    tables.render_dataframe(targets.head(SHOW_ROWS), merchant.currency, registry=tables.CUSTOMER_COLUMNS)
    stem = downloads.file_stem("customers", merchant.name, *chosen, as_of)
    source = lambda: target_file_frame(targets, merchant.currency)  # noqa: E731 - built on click
    left, right = st.columns(2)
    left.download_button(f"CSV: {targets.height:,} customers", data=downloads.csv_builder(source),
                         file_name=f"{stem}.csv", mime=downloads.CSV_MIME, key="cu_targets_csv", on_click="ignore",
                         icon=":material/download:")
    right.download_button(f"Excel: {targets.height:,} customers", data=downloads.excel_builder(source),
                          file_name=f"{stem}.xlsx", mime=downloads.EXCEL_MIME, key="cu_targets_xlsx",
                          on_click="ignore", disabled=not downloads.excel_fits(targets.height),
                          icon=":material/download:")
