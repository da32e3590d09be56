"""Pieces of the Forecast page that draw: merchant choice, breadcrumb, trust panel, the table and its downloads.

The decisions they show come from the pure modules ``forecast_data`` and ``forecast_trust``. Text from data
(merchant, category, SKU and store names) reaches markdown only as a code span (``markdown_text``); widget
options and tables show it as plain text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from dashboard import downloads, forecast_data, models_ui, tables, widgets
from dashboard.context import PageContext
from dashboard.forecast_trust import Trust
from dashboard.plain_text import markdown_text
from models.jobs import FAILED, JobStatus

MERCHANT_KEY = "fc_merchant"


Merchant = widgets.Merchant


def render_merchant(ctx: PageContext) -> Merchant:
    """The merchant whose forecast shows: a picker among the scope's merchants (staff, or a merchant user with
    several shops); a merchant user with one shop gets no picker. A value from outside the scope is dropped."""
    return widgets.render_merchant_picker(ctx, MERCHANT_KEY, "Forecasts are made per merchant, in the merchant's own currency.")


def render_no_model(merchant: Merchant, job: JobStatus | None) -> None:
    """Say in words why there is no forecast (the training status above says what is happening)."""
    name = markdown_text(merchant.name)
    if job is not None and job.active:
        st.info(f"No forecast is saved for {name} yet. The first model is being trained in the background; this "
                "page shows it as soon as it is saved.", icon=":material/hourglass_top:")
    elif job is not None and job.state == FAILED:
        st.info(f"No forecast is saved for {name}: training failed (the reason is above). It is tried again after "
                "the next import, or with `python -m models train --kind demand_forecast`.", icon=":material/info:")
    else:
        st.info(f"No forecast is saved for {name} yet.", icon=":material/info:")


def _reset(*keys: str) -> None:
    for key in keys:
        st.session_state[key] = None


def render_breadcrumb(category: str | None, sku: int | None, sku_label: Callable[[int], str]) -> None:
    """``[← All categories] › shoes › SKU-12 · Trainer``; each step back is a button (data in a code span)."""
    if category is None:
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.button("← All categories", key="fc_category_back", type="tertiary", on_click=_reset,
                  args=("fc_category", "fc_sku"), help="Back to the whole shop")
        if sku is None:
            st.markdown(f"› **{markdown_text(category)}**", width="content")
        else:
            st.markdown("›", width="content")
            st.button(f"← {markdown_text(category)}", key="fc_sku_back", type="tertiary", on_click=_reset,
                      args=("fc_sku",), help="Back to the category")
            st.markdown(f"› **{markdown_text(sku_label(sku))}**", width="content")


def render_trust(trust: Trust) -> None:
    st.subheader("How far to trust it")
    if trust.naive:
        st.warning(f"{trust.headline.capitalize()}. It repeats the recent past and was not tested against it.",
                   icon=":material/warning:")
    else:
        st.markdown(f"**{trust.headline.capitalize()}**")
        st.caption(f"Backtest figures of {trust.about}: how the chosen model did on past weeks it had not seen.")
    st.table({"About": [k for k, _ in trust.rows], "In words": [v for _, v in trust.rows]}, hide_index=True)


def render_table(frame: pl.DataFrame, currency: str, stem: str, every_sku: Callable[[], pl.DataFrame],
                 sku_scope: str) -> None:
    """The forecast shown as a table, its CSV, and a CSV of every SKU's forecast of ``sku_scope``; files are built
    on click (``downloads``: text a spreadsheet would run is made inert)."""
    with st.expander("The forecast as a table, and downloads", icon=":material/table_rows:", key="fc_table"):
        tables.render_dataframe(frame, currency, registry=forecast_data.FORECAST_COLUMNS)
        left, right = st.columns(2)
        left.download_button(f"CSV: this forecast ({frame.height} days)", data=downloads.csv_builder(frame),
                             file_name=f"{stem}.csv", mime=downloads.CSV_MIME, key="fc_csv", on_click="ignore",
                             icon=":material/download:")
        right.download_button(f"CSV: every SKU of {sku_scope}", data=downloads.csv_builder(every_sku),
                              file_name=f"{stem}_skus.csv", mime=downloads.CSV_MIME, key="fc_skus_csv",
                              on_click="ignore", icon=":material/download:")


def render_facts(saved: Any, first_day: Any, days: int) -> None:
    st.caption(f"Forecast of demand (sales plus what stock-outs are estimated to have cost) for {days} days from "
               f"{first_day:%d %b %Y}, made from data up to the day before. Shaded: the range each day should fall "
               "in 4 times in 5 (80%) and 19 times in 20 (95%). Dotted: what sold on the same weekdays 52 weeks "
               "earlier. The sidebar's period and filters do not apply: a forecast covers the merchant's whole shop. "
               f"Model version {saved.version}.")
