"""The shared filters in the sidebar: merchant (staff), period, region, store, category, channel, payment.

Every filter goes through ``dashboard.state`` (``prepare`` before it is drawn, ``keep`` after), so a
selection follows the person from page to page, sits in the URL (reload, shared link) and can be saved
as a view; values are always checked against the options of the person's own scope.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from analytics.filters import PRESETS, Filters, compute_period
from dashboard import cache, saved_views, state
from dashboard.auth.accounts import Principal
from dashboard.formatting import currency_groups, value_words
from dashboard.navigation import PAGES_BY_KEY
from dashboard.plain_text import markdown_text
from dashboard.widgets import CURRENCY_KEY

CUSTOM = "custom"


def render_scope(principal: Principal, data_version: int) -> tuple[int, ...]:
    """Merchant ids this run reads: a merchant user's own, or the staff member's choice (default all)."""
    state.read_link()  # a reload or a shared link: its filters, checked against this person's options below
    saved_views.render(principal)
    if principal.merchant_ids is not None:  # a merchant's scope is their own, whatever a link names
        return tuple(sorted(principal.merchant_ids))
    merchants = cache.all_merchants(data_version)
    names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))
    chosen = _multiselect(st.sidebar, "Merchants", list(names), "flt_merchants", "All merchants",
                          default=list(names), format_func=lambda i: names.get(i, str(i)),
                          help="Staff see every merchant; narrow to one or several.")
    return tuple(sorted(chosen)) if chosen else tuple(sorted(names))


def _multiselect(box, label: str, options: list, key: str, placeholder: str, default: list | None = None,
                 **kwargs) -> list:
    """A filter multiselect whose value sticks (``dashboard.state``) and whose empty box says what it means."""
    state.prepare(key, options, default or [], many=True)
    chosen = box.multiselect(label, options, key=key, placeholder=placeholder, **kwargs)
    state.keep(key, chosen, default or [])
    return chosen


def viewed_merchants(scope: tuple[int, ...], data_version: int) -> tuple[int, ...]:
    """The merchants of ``scope`` a page will show: all of them when they share a currency, else those of
    the currency picked on the page (``widgets.CURRENCY_KEY``; its default is the largest group).

    The period presets end on these merchants' last day with data: ending them on another currency's
    later data would show this one's merchants a run of empty days with no hint why.
    """
    groups = currency_groups(cache.filter_options(scope, data_version)["merchants"], scope)
    if len(groups) < 2:
        return scope
    picked = state.current(CURRENCY_KEY)
    return next((g.merchant_ids for g in groups if g.currency == picked), groups[0].merchant_ids)


def render_filters(scope: tuple[int, ...], data_version: int) -> tuple[Filters, dt.date | None]:
    """The period and dimension filters for ``scope``; returns them and the last data day of the merchants
    being viewed (``viewed_merchants``), where the presets end."""
    span = cache.data_span(viewed_merchants(scope, data_version), data_version)
    as_of = span.last if span is not None else dt.date.today()
    side = st.sidebar
    periods = [*PRESETS, CUSTOM]
    state.prepare("flt_period", periods, periods[1])
    preset = side.selectbox(
        "Period", options=periods, key="flt_period", format_func=lambda p: PRESETS.get(p, "Custom range"),
        help=f"Presets end on the last day with data for the merchants shown ({as_of:%d %b %Y}).",
    )
    state.keep("flt_period", preset, periods[1])
    start, end = compute_period(preset, as_of) if preset != CUSTOM else (as_of - dt.timedelta(days=29), as_of)
    if preset == CUSTOM:
        state.prepare("flt_custom", None, (start, end))
        kept = st.session_state["flt_custom"]
        if not (isinstance(kept, (tuple, list)) and all(isinstance(d, dt.date) and d <= as_of for d in kept)):
            st.session_state["flt_custom"] = (start, end)  # e.g. a link's range past this scope's data
        picked = side.date_input("From - to", max_value=as_of, key="flt_custom")
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start, end = picked
            state.keep("flt_custom", (start, end))
    opts = cache.filter_options(scope, data_version)
    stores = opts["stores"]
    regions = _multiselect(side, "Region", opts["regions"]["region"].to_list(), "flt_regions", "All regions",
                           help="Where an order was shipped; for in-store sales, the store's region.")
    if regions:  # online shops (no region of their own) serve every region
        stores = stores.filter(stores["region"].is_in(regions) | stores["region"].is_null())
    store_names = dict(zip(stores["store_id"].to_list(), stores["name"].to_list()))
    store_ids = _multiselect(side, "Store", list(store_names), "flt_stores", "All stores",
                             format_func=lambda i: store_names.get(i, str(i)))
    categories = _multiselect(side, "Category", opts["categories"]["category"].to_list(), "flt_categories",
                              "All categories")
    channels = _multiselect(side, "Channel", opts["channels"]["channel"].to_list(), "flt_channels", "All channels",
                            format_func=value_words)
    payments = _multiselect(side, "Payment method", opts["payment_methods"]["payment_method"].to_list(),
                            "flt_payments", "All payment methods", format_func=value_words)
    filters = Filters(start=start, end=end, regions=tuple(regions),
                      store_ids=tuple(i for i in store_ids if i in store_names),
                      categories=tuple(categories), channels=tuple(channels), payment_methods=tuple(payments))
    return filters, as_of


_OPEN_OVERVIEW = "rp_open_overview"


def _choose_merchant(merchant_id: int) -> None:
    # A callback runs before the next run draws the sidebar: the one moment the merchant choice may change.
    state.open_values({"flt_merchants": [merchant_id]})
    st.session_state[_OPEN_OVERVIEW] = True


def render_open_merchant(merchant_id: int | None) -> None:
    """After an import: a button that opens the Overview with the imported merchant chosen (staff), so its
    figures show at once, with presets ending on its own last day."""
    if merchant_id is None:
        return
    if st.session_state.pop(_OPEN_OVERVIEW, False):
        st.switch_page(str(PAGES_BY_KEY["overview"].path))
    merchants = cache.all_merchants(cache.current_data_version())
    names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))
    if merchant_id in names:
        # Button labels are markdown; the name is data, so it goes in a code span (markdown_text).
        st.button(f"Open {markdown_text(names[merchant_id])} on the Overview", key="imp_open_merchant",
                  icon=":material/monitoring:", on_click=_choose_merchant, args=(merchant_id,))
