"""Customers: RFM segments as of a date, how customers moved between segments, k-means clusters beside the
segments, one customer up close, predicted value and churn, and target lists to download.

One merchant at a time (scores are relative to the merchant's own customers). The sidebar's period and filters
do not apply: RFM looks at each customer's whole history up to the as-of date. Tabs run lazily.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from analytics import segments
from dashboard import cache, customer_charts, customer_panels as panels, tables, widgets
from dashboard import customer_data as cd
from dashboard.context import guard
from dashboard.plain_text import markdown_text

TABS = ("Segments", "Movement", "Clusters", "Customer", "Target list", "Predicted value")

ctx = guard("customers")
st.title("Customers")
top = widgets.render_page_top(ctx)
merchant = panels.render_merchant(ctx)
span = cache.data_span((merchant.merchant_id,), ctx.data_version)
if span is None:
    st.info(f"{markdown_text(merchant.name)} has no orders yet.", icon=":material/info:")
    st.stop()
as_of = panels.render_as_of(span)
table = cd.load_rfm(merchant.merchant_id, as_of, ctx.data_version)
top.caption(f"{table.height:,} customers of {markdown_text(merchant.name)} with a purchase up to {as_of:%d %b %Y} "
            f"· data version {ctx.data_version} · the sidebar's period and filters do not apply here")
if table.height == 0:
    st.info("No known customer has bought by this date (guest checkouts have no customer).", icon=":material/info:")
    st.stop()
tabs = dict(zip(TABS, st.tabs(TABS, key="cu_tab", on_change="rerun")))

with tabs["Segments"]:
    if tabs["Segments"].open:
        summary = cd.load_summary(merchant.merchant_id, as_of, ctx.data_version)
        widgets.render_figure(customer_charts.build_segment_figure(summary, merchant.currency), "cu_segments")
        tables.render_dataframe(summary, merchant.currency, registry=tables.CUSTOMER_COLUMNS)
        if table["frequency"].max() == 1:
            st.info("Every customer has bought once so far, so the number of purchases cannot tell them apart: "
                    "the segments rest on recency and revenue.", icon=":material/info:")
        panels.render_rules()

with tabs["Movement"]:
    if tabs["Movement"].open:
        earliest = span.first
        default = max(earliest, as_of - dt.timedelta(days=91))
        if default >= as_of:
            st.info("The data starts on the as-of date: there is no earlier date to compare with.")
        else:
            panels.keep_date("cu_from", earliest, as_of - dt.timedelta(days=1))
            start = st.date_input("Compare with (end of day)", value=default, min_value=earliest,
                                  max_value=as_of - dt.timedelta(days=1), key="cu_from", format="DD/MM/YYYY",
                                  width=220, help="Customers' segments on this day, against the as-of date above.")
            movement = cd.load_movement(merchant.merchant_id, start, as_of, ctx.data_version)
            widgets.render_figure(customer_charts.build_movement_figure(
                movement, f"{start:%d %b %Y}", f"{as_of:%d %b %Y}"), "cu_movement")
            stayed = movement.filter(movement["from_segment"] == movement["to_segment"])["customers"].sum()
            new = movement.filter(movement["from_segment"] == segments.NOT_YET)["customers"].sum()
            st.caption(f"{stayed:,} customers stayed in their segment, {new:,} bought for the first time, and "
                       f"{movement['customers'].sum() - stayed - new:,} moved. Scores are relative to each day's "
                       "customers, so a customer can move without buying as others overtake them.")
            with st.expander("The movement as a table", icon=":material/table_rows:"):
                tables.render_dataframe(movement, registry=tables.CUSTOMER_COLUMNS)

with tabs["Clusters"]:
    if tabs["Clusters"].open:
        panels.render_clusters(merchant, as_of, ctx.data_version)

with tabs["Customer"]:
    if tabs["Customer"].open:
        panels.render_drilldown(merchant, as_of, ctx.data_version)

with tabs["Target list"]:
    if tabs["Target list"].open:
        panels.render_target_list(merchant, as_of, ctx.data_version)

with tabs["Predicted value"]:
    if tabs["Predicted value"].open:
        panels.render_value_section(ctx, merchant)
