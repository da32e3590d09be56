"""Sales analytics: seasonality, monthly and quarterly trends, regions and stores, categories and margins,
payment mix, cohorts and repeat customers, delivery performance.

Tabs run lazily (only the open one queries). Drill-down: a region bar narrows to its stores, a
category bar to its products and SKUs; the keyed pickers do the same, the breadcrumb goes back.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from dashboard import charts, drill, widgets
from dashboard.context import guard
from dashboard.downloads import file_stem
from analytics.periods import partial_period_notes
from dashboard.formatting import cohort_note, margin_drawable, single_payment_method, single_payment_text
from dashboard.pagedata import PageData
from dashboard.plain_text import markdown_text

TABS = ("Seasonality", "Trends", "Regions & stores", "Categories & margin", "Payments", "Customers", "Delivery")
REGION = drill.Drill("sa_region", "All regions", "Drill into a region")
CATEGORY = drill.Drill("sa_category", "All categories", "Drill into a category")
PAYMENT_GROUPS = {None: "Overall", "age_band": "By age band", "gender": "By gender"}
TOP_PRODUCTS = 25

ctx = guard("sales")
st.title("Sales analytics")
top = widgets.render_page_top(ctx)
money = widgets.render_currency_scope(ctx)
data = PageData(ctx, money.merchant_ids)
limits = data.limits()
span = data.span()
f, cur = ctx.filters, money.currency
period = (f.start, f.end)
widgets.render_limits(limits, "orders")
tabs = dict(zip(TABS, st.tabs(TABS, key="sa_tab", on_change="rerun")))

with tabs["Seasonality"]:
    if tabs["Seasonality"].open:
        dates_only = span is not None and not span.timed  # every order would sit in hour 0 of a heatmap
        value = st.radio("Show" if dates_only else "Colour by", ["orders", "revenue"], horizontal=True,
                         key="sa_heat_value", format_func=str.capitalize)
        grid = data.get("weekday_hour")
        if dates_only:
            st.info("This data has order dates but no times of day (every order is at 00:00), so orders are "
                    "shown by weekday only.", icon=":material/info:")
            days = charts.weekday_totals(grid)
            widgets.render_chart(charts.build_weekday_figure(days, value, cur), "sa_weekday", days,
                                 data.rows("lines"), file_stem("weekday", *period))
        else:
            widgets.render_chart(charts.build_weekday_hour_figure(grid, value, cur), "sa_heat", grid,
                                 data.rows("lines"), file_stem("weekday-hour", *period))

with tabs["Trends"]:
    if tabs["Trends"].open:
        grain = st.radio("Per", ["month", "quarter"], horizontal=True, key="sa_grain", format_func=str.capitalize)
        trend = data.get("period_trend", grain=grain, span=span)
        if notes := partial_period_notes(trend, grain):  # hatched bars: cut by the data or the period
            st.caption("Hatched bars are partial. " + "; ".join(notes) + ".")
        widgets.render_chart(charts.build_period_figure(trend, grain, cur, period), "sa_period", trend, data.rows("lines"),
                             file_stem(grain, *period))

with tabs["Regions & stores"]:
    if tabs["Regions & stores"].open and not widgets.render_limits(limits, "regions"):
        regions = data.get("region_breakdown")
        names = [r for r in regions["region"].to_list() if r is not None]
        region = drill.render_picker(REGION, names)
        detail, parent = drill.detail_beside(region)  # the stores where the regions were, the regions beside
        if region is not None:
            with detail:
                drill.render_breadcrumb(REGION, region)
                stores = data.get("store_breakdown", region=region)
                widgets.render_chart(
                    charts.build_bar_figure(stores, "store_id", "revenue", title=f"Revenue by store in {region}",
                                            value_label="Revenue", currency=cur, label="store_name"),
                    "sa_stores", stores, data.rows("lines", replace(f, regions=(region,))),
                    file_stem("stores", region, *period))
        with parent:
            widgets.render_chart(
                charts.build_bar_figure(regions, "region", "revenue", title="Revenue by region",
                                        value_label="Revenue", currency=cur, highlight=region),
                "sa_regions", regions, data.rows("lines"), file_stem("regions", *period),
                on_select=drill.chart_callback(REGION, "sa_regions", names))

with tabs["Categories & margin"]:
    if tabs["Categories & margin"].open:
        widgets.render_limits(limits, "categories", "products")
        cats = data.get("category_breakdown")
        names = [c for c in cats["category"].to_list() if c is not None]
        category = drill.render_picker(CATEGORY, names) if names else None
        if category is None:
            if names:
                widgets.render_chart(
                    charts.build_bar_figure(cats, "category", "revenue", title="Revenue by category",
                                            value_label="Revenue", currency=cur),
                    "sa_categories", cats, data.rows("lines"), file_stem("categories", *period),
                    on_select=drill.chart_callback(CATEGORY, "sa_categories", names))
            else:  # nothing to drill into: go straight to the products
                products = data.get("product_breakdown")
                widgets.render_chart(
                    charts.build_product_figure(products, title=f"Top {TOP_PRODUCTS} products (SKUs)", currency=cur,
                                                top=TOP_PRODUCTS),
                    "sa_products", products, data.rows("lines"), file_stem("products", *period))
            st.subheader("Profitability")
            if not widgets.render_limits(limits, "margin"):  # no chart beside "margin cannot be computed"
                profit = data.get("category_profitability")
                if margin_drawable(profit):
                    st.caption("Margin after discounts: revenue minus cost of goods, on lines whose cost is known.")
                    widgets.render_chart(charts.build_profitability_figure(profit, cur), "sa_profit", profit,
                                         data.rows("lines"), file_stem("profitability", *period))
                else:
                    st.info("No line sold in this period has a known unit cost: margin cannot be computed for it.",
                            icon=":material/info:")
        else:  # the products where the categories were, the categories beside them to switch
            detail, parent = drill.detail_beside(category)
            with detail:
                drill.render_breadcrumb(CATEGORY, category)
                products = data.get("product_breakdown", category=category)
                widgets.render_chart(
                    charts.build_product_figure(products, title=f"Top {TOP_PRODUCTS} products (SKUs) in {category}",
                                                currency=cur, top=TOP_PRODUCTS),
                    "sa_products", products, data.rows("lines", replace(f, categories=(category,))),
                    file_stem("products", category, *period))
            with parent:
                widgets.render_chart(
                    charts.build_bar_figure(cats, "category", "revenue", title="Revenue by category",
                                            value_label="Revenue", currency=cur, highlight=category),
                    "sa_categories", cats, data.rows("lines"), file_stem("categories", *period),
                    on_select=drill.chart_callback(CATEGORY, "sa_categories", names))

with tabs["Payments"]:
    if tabs["Payments"].open and not widgets.render_limits(limits, "payments"):
        choices = [None] if "demographics" in limits else list(PAYMENT_GROUPS)
        widgets.render_limits(limits, "demographics")
        by = st.radio("Split", choices, format_func=PAYMENT_GROUPS.get, horizontal=True, key="sa_pay_by")
        mix = data.get("payment_mix", by=by)
        if (method := single_payment_method(mix)) is not None:  # one method is a fact, not a mix
            st.info(single_payment_text(method, markdown_text), icon=":material/info:")
        else:
            widgets.render_chart(charts.build_payment_mix_figure(mix), "sa_payments", mix, data.rows("orders"),
                                 file_stem("payments", by, *period))

with tabs["Customers"]:
    if tabs["Customers"].open and not widgets.render_limits(limits, "customers", "repeat"):
        cohorts = data.get("cohort_retention")
        if note := cohort_note(cohorts):
            st.caption(note)
        widgets.render_chart(charts.build_cohort_figure(cohorts), "sa_cohorts", cohorts, data.rows("orders"),
                             file_stem("cohorts", *period))
        repeat = data.get("repeat_share")
        widgets.render_chart(charts.build_repeat_share_figure(repeat, cur), "sa_repeat", repeat,
                             data.rows("orders"), file_stem("repeat", *period))

with tabs["Delivery"]:
    if tabs["Delivery"].open and not widgets.render_limits(limits, "deliveries"):
        deliveries = data.get("delivery_performance")
        widgets.render_table(charts.delivery_by_partner(deliveries))
        widgets.render_chart(charts.build_delivery_figure(deliveries), "sa_delivery", deliveries,
                             data.rows("deliveries"), file_stem("delivery", *period))

widgets.render_freshness(top, ctx, data)
