"""The shared filters in the sidebar: merchant (staff), period, region, store, category, channel, payment.

Widgets keep their keys across pages, so a selection follows the person from page to page.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from analytics.filters import PRESETS, Filters, compute_period
from dashboard import cache
from dashboard.auth.accounts import Principal
from dashboard.formatting import currency_groups
from dashboard.widgets import CURRENCY_KEY

CUSTOM = "custom"


def render_scope(principal: Principal, data_version: int) -> tuple[int, ...]:
    """Merchant ids this run reads: a merchant user's own, or the staff member's choice (default all)."""
    if principal.merchant_ids is not None:
        return tuple(sorted(principal.merchant_ids))
    merchants = cache.all_merchants(data_version)
    names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))
    chosen = st.sidebar.multiselect(
        "Merchants", options=list(names), default=list(names), format_func=lambda i: names.get(i, str(i)),
        key="flt_merchants", help="Staff see every merchant; narrow to one or several.",
    )
    return tuple(sorted(chosen)) if chosen else tuple(sorted(names))


def viewed_merchants(scope: tuple[int, ...], data_version: int) -> tuple[int, ...]:
    """The merchants of ``scope`` a page will show: all of them when they share a currency, else those of
    the currency picked on the page (``widgets.CURRENCY_KEY``; its default is the largest group).

    The period presets end on these merchants' last day with data: ending them on another currency's
    later data would show this one's merchants a run of empty days with no hint why.
    """
    groups = currency_groups(cache.filter_options(scope, data_version)["merchants"], scope)
    if len(groups) < 2:
        return scope
    picked = st.session_state.get(CURRENCY_KEY)
    return next((g.merchant_ids for g in groups if g.currency == picked), groups[0].merchant_ids)


def render_filters(scope: tuple[int, ...], data_version: int) -> tuple[Filters, dt.date | None]:
    """The period and dimension filters for ``scope``; returns them and the last data day of the merchants
    being viewed (``viewed_merchants``), where the presets end."""
    span = cache.data_span(viewed_merchants(scope, data_version), data_version)
    as_of = span.last if span is not None else dt.date.today()
    side = st.sidebar
    preset = side.selectbox(
        "Period", options=[*PRESETS, CUSTOM], index=1, key="flt_period",
        format_func=lambda p: PRESETS.get(p, "Custom range"),
        help=f"Presets end on the last day with data for the merchants shown ({as_of:%d %b %Y}).",
    )
    start, end = compute_period(preset, as_of) if preset != CUSTOM else (as_of - dt.timedelta(days=29), as_of)
    if preset == CUSTOM:
        picked = side.date_input("From - to", value=(start, end), max_value=as_of, key="flt_custom")
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start, end = picked
    opts = cache.filter_options(scope, data_version)
    stores = opts["stores"]
    regions = side.multiselect(
        "Region", opts["regions"]["region"].to_list(), key="flt_regions",
        help="Where an order was shipped; for in-store sales, the store's region.")
    if regions:  # online shops (no region of their own) serve every region
        stores = stores.filter(stores["region"].is_in(regions) | stores["region"].is_null())
    store_names = dict(zip(stores["store_id"].to_list(), stores["name"].to_list()))
    store_ids = side.multiselect("Store", list(store_names), format_func=lambda i: store_names.get(i, str(i)),
                                 key="flt_stores")
    categories = side.multiselect("Category", opts["categories"]["category"].to_list(), key="flt_categories")
    channels = side.multiselect("Channel", opts["channels"]["channel"].to_list(), key="flt_channels")
    payments = side.multiselect("Payment method", opts["payment_methods"]["payment_method"].to_list(),
                                key="flt_payments")
    filters = Filters(start=start, end=end, regions=tuple(regions),
                      store_ids=tuple(i for i in store_ids if i in store_names),
                      categories=tuple(categories), channels=tuple(channels), payment_methods=tuple(payments))
    return filters, as_of
