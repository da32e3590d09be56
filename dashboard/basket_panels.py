"""Pieces of the Baskets page that draw: merchant choice, the four sections and their downloads.

The numbers come from ``dashboard.basket_data``. Product names only reach tables, widget options and
``st.text`` (plain text); downloads go through ``dashboard.downloads`` (formula-safe CSV and Excel).
"""

from __future__ import annotations


import polars as pl
import streamlit as st

from dashboard import basket_data as data
from dashboard import downloads, tables, widgets
from dashboard.context import PageContext
from dashboard.plain_text import markdown_text
from models.artifacts import SavedModel
from models.baskets import bundles as bundle_rules
from models.baskets import mining

MERCHANT_KEY = "bk_merchant"


Merchant = widgets.Merchant


def render_merchant(ctx: PageContext) -> Merchant:
    """A picker among the scope's merchants (staff, or a merchant user with several shops); none for one shop."""
    return widgets.render_merchant_picker(ctx, MERCHANT_KEY, 'Baskets are analysed per merchant.')


def _downloads(key: str, frame: pl.DataFrame, stem: str) -> None:
    """CSV and Excel of ``frame`` with the page's headings (formula-safe text)."""
    shown = frame.rename({c: tables.label_for(c, None, tables.BASKET_COLUMNS) for c in frame.columns})
    left, right = st.columns(2)
    left.download_button("CSV", data=downloads.csv_builder(shown), file_name=f"{stem}.csv", mime=downloads.CSV_MIME,
                         key=f"{key}_csv", on_click="ignore", icon=":material/download:")
    right.download_button("Excel", data=downloads.excel_builder(shown), file_name=f"{stem}.xlsx",
                          mime=downloads.EXCEL_MIME, key=f"{key}_xlsx", on_click="ignore", icon=":material/download:",
                          disabled=not downloads.excel_fits(shown.height))


def _table(frame: pl.DataFrame, currency: str | None = None, key: str | None = None) -> None:
    tables.render_dataframe(frame, currency, registry=tables.BASKET_COLUMNS, key=key)


def render_rules(saved: SavedModel, data_version: int, stem: str) -> None:
    p = data.params(saved)
    st.caption(f"From {p['baskets']:,} baskets up to {p['as_of']}. A rule needs its products together in at least "
               f"{p['min_support']:.2%} of baskets and a confidence of at least {p['min_confidence']:.0%}. Baskets "
               f"of more than {p['max_basket_items']} different products (wholesale orders) are left out: "
               f"{p['skipped_baskets']:,} of them.")
    left, right = st.columns(2)
    min_lift = left.number_input("Lift at least", min_value=0.0, value=1.0, step=0.5, key="bk_min_lift",
                                 help="1 means no more often than chance.")
    rows = right.number_input("Rules shown at most", min_value=10, max_value=5000, value=200, step=50,
                              key="bk_rows")
    rules = data.rules_table(saved, data_version, float(min_lift), int(rows))
    if not rules.height:
        st.info("No rule reaches these thresholds yet.")
        return
    _table(rules, key="bk_rules_table")
    _downloads("bk_rules", rules, f"{stem}_rules")


def render_bought_together(saved: SavedModel, data_version: int) -> None:
    choices = data.product_choices(saved)
    if not choices:
        st.info("No product is bought with another more often than chance yet.")
        return
    labels = data.products(saved.merchant_id, data_version)
    names = dict(zip(labels["product_id"].to_list(), labels["label"].to_list()))
    product = st.selectbox("Product (type a SKU or a name to search)", choices, key="bk_product",
                           format_func=lambda p: str(names.get(p, p)))
    together = data.bought_together(saved, data_version, int(product))
    st.caption("Products in the same basket more often than chance, by confidence: the share of baskets with the "
               "chosen product that also hold this one.")
    _table(together, key="bk_together_table")


def render_suggestions(saved: SavedModel, data_version: int, merchant_id: int) -> None:
    customers = data.recent_customers(merchant_id, data_version)
    if not customers.height:
        st.info("No customer with an order yet.")
        return
    refs = dict(zip(customers["customer_id"].to_list(), customers["external_id"].to_list()))
    customer = st.selectbox("Customer (the 500 who ordered last)", list(refs), key="bk_customer",
                            format_func=lambda c: f"{refs[c] or c} (customer {c})")
    left, right = st.columns(2)
    with left:
        st.caption("Suggestions: what sells now, what goes with what they bought, and what they buy again. "
                   "Products of their latest order are left out unless customers typically buy them again.")
        _table(data.suggestions(saved, data_version, int(customer)), key="bk_suggestions_table")
    with right:
        st.caption("Their latest orders")
        _table(data.customer_history(merchant_id, int(customer), data_version), key="bk_history_table")
    metrics = saved.meta.get("metrics", {})
    hit, base = metrics.get("hit_rate_at_10"), metrics.get("popularity_hit_rate_at_10")
    if hit is not None and base is not None:
        st.text(f"Backtest on the last month: {hit:.1%} of customers bought at least one of their ten suggestions; "
                f"suggesting the ten most popular products to everyone: {base:.1%}.")


def render_bundles(saved: SavedModel, data_version: int, currency: str, stem: str) -> None:
    st.caption(f"Products bought together, ranked by lift x margin x bundles in stock. A bundle is never built on "
               f"a product about to run out: nothing on hand, under {bundle_rules.RUNOUT_DAYS:g} days of cover, or "
               f"a {bundle_rules.RISK_LIMIT:.0%} chance of a stock-out before its next delivery "
               "(when a demand forecast is saved).")
    suggested, left_out = data.bundles(saved, data_version)
    if suggested.height:
        _table(suggested, currency, key="bk_bundles_table")
        _downloads("bk_bundles", suggested, f"{stem}_bundles")
    else:
        st.info("No bundle to suggest now.")
    if left_out.height:
        with st.expander(f"Left out ({left_out.height:,})", icon=":material/inventory_2:"):
            _table(left_out, key="bk_left_out_table")


def render_no_model(merchant: Merchant) -> None:
    st.info(f"No basket analysis is saved for {markdown_text(merchant.name)} yet. It is trained in the background "
            f"(or with `python -m models train --kind {data.KIND}`); baskets of more than "
            f"{mining.MAX_BASKET_ITEMS} products are left out.", icon=":material/info:")
