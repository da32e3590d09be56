"""Sections of the Campaign simulator page: offer, response, test design, result and stock check.

Each ``render_*`` draws one section and returns what the next ones need. Numbers come from
``analytics.campaigns``; nothing here computes a business rule of its own.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import streamlit as st

from analytics.campaigns import design, simulation, stock, uplift
from dashboard import campaign_charts, tables, widgets
from dashboard.campaign_columns import CAMPAIGN_COLUMNS
from dashboard.formatting import format_money
from dashboard.plain_text import markdown_text

# Contact channels and a typical cost per contact (money); the person changes the cost.
CHANNELS = {"Email": 0.01, "Text message (SMS)": 0.05, "App notification": 0.0, "Post (letter or card)": 0.8,
            "Paid social": 0.3}
DRAWS = (1_000, 10_000, 50_000)
ESTIMATE_LIST = ("name", "start_date", "end_date", "discount_pct", "category", "channel", "audience",
                 "uplift", "uplift_low", "uplift_high", "pooled")


def render_offer(products: pl.DataFrame, currency: str) -> simulation.Offer:
    left, right = st.columns(2)
    kind = left.radio("Offer", simulation.OFFER_KINDS, horizontal=True, key="cp_offer_kind",
                      format_func=str.capitalize)
    pct = left.slider("Discount (%)", 5, 50, 15, step=5, key="cp_discount") if kind == "discount" else 0
    categories = sorted(c for c in products["category"].unique().to_list() if c is not None)
    cats = left.multiselect("Categories it covers", categories, key="cp_categories",
                            placeholder="Every category", help="Empty with no products: the whole catalogue.")
    label = dict(zip(products["product_id"], (products["sku"] + " · " + products["name"].fill_null("")).to_list()))
    picked = left.multiselect("Products it covers", list(label), key="cp_products", format_func=label.get,
                              placeholder="No single products", max_selections=200)
    channel = right.selectbox("Contact channel", list(CHANNELS), key="cp_channel")
    cost = right.number_input(f"Cost per contact ({currency})", 0.0, 100.0, CHANNELS[channel], step=0.01,
                              key=f"cp_cost_{channel}", format="%.2f")
    fixed = right.number_input(f"Fixed costs ({currency})", 0.0, 10_000_000.0, 500.0, step=100.0, key="cp_fixed",
                               help="Creative, set-up, agency: paid whatever the response.")
    days = right.slider("Campaign length (days)", 1, 60, 14, key="cp_days")
    return simulation.Offer(kind, float(pct), tuple(cats), tuple(int(p) for p in picked), channel, float(cost),
                            float(fixed), int(days))


def render_response(estimates: pl.DataFrame, offer: simulation.Offer) -> uplift.Prior | None:
    source = st.radio("Expected uplift", ("Learned from past promotions", "Entered by hand"), horizontal=True,
                      key="cp_source")
    learned = uplift.pool_prior(estimates, discount_pct=offer.discount_pct, whole_catalogue=offer.whole_catalogue,
                                channel=None)
    if source == "Entered by hand" or learned is None:
        if learned is None:
            st.info("No past promotion of this merchant can be measured, so enter the expected uplift by hand.",
                    icon=":material/info:")
        left, right = st.columns(2)
        low = left.number_input("Uplift, low end (x)", 0.5, 5.0, 1.05, step=0.05, key="cp_low",
                                help="1.10 means 10% more customers buy than would anyway.")
        high = right.number_input("Uplift, high end (x)", 0.5, 5.0, 1.30, step=0.05, key="cp_high")
        if high < low:
            st.error("The high end must be at least the low end.")
            return None
        prior = uplift.manual_prior(low, high)
        st.caption(f"By hand: uplift between {low:.2f}x and {high:.2f}x with 90% probability.")
        return prior
    low, high = learned.interval(0.9)
    st.markdown(f"Learned: uplift **{learned.median:.2f}x**, between {low:.2f}x and {high:.2f}x with 90% "
                f"probability, pooled from {len(learned.based_on)} past promotions "
                f"({markdown_text(learned.rule)}).")
    shown = estimates.with_columns(pl.col("promotion_id").is_in(list(learned.based_on)).alias("pooled")).sort(
        "pooled", "start_date", descending=[True, True])
    tables.render_dataframe(shown.select(ESTIMATE_LIST), registry=CAMPAIGN_COLUMNS)
    st.caption("Uplift: order lines in each promotion's scope while it ran, against what a regression on the "
               "weeks around it (weekday, paydays, holidays, trend) expects; 95% bootstrap interval.")
    return learned


def render_design(customers: int, base_rate: float, prior: uplift.Prior) -> tuple[float, int]:
    left, right = st.columns(2)
    share = left.slider("Holdout (% of the audience not contacted)", 0, 50, 10, key="cp_holdout") / 100
    seed = int(right.number_input("Seed of the holdout and the simulation", 0, 2**31 - 1, 7, key="cp_seed"))
    expected = min(base_rate * prior.median, 0.999)
    power = design.compute_power(customers, share, base_rate, expected)
    mde = design.compute_mde(customers, share, base_rate)
    smallest = design.smallest_holdout(customers, base_rate, expected)
    cells = st.columns(3)
    cells[0].metric("Power at the expected uplift", "not computable" if power is None else f"{power:.0%}",
                    help="Chance a one-sided test at 5% shows the campaign beats the holdout.")
    cells[1].metric("Smallest detectable response rate", "not computable" if mde is None else f"{mde:.2%}",
                    help=f"With 80% power; the baseline response rate is {base_rate:.2%}.")
    cells[2].metric("Smallest holdout for 80% power", "over 50%" if smallest is None else f"{smallest:.0%}")
    return share, seed


def _money(value: float, currency: str) -> str:
    return "not defined" if value is None or not math.isfinite(value) else format_money(value, currency)


def render_result(sim: simulation.Simulation, currency: str) -> None:
    cells = st.columns(4)
    for cell, (title, values) in zip(cells, (("Incremental revenue", sim.revenue), ("Incremental margin", sim.margin),
                                             ("Profit after costs", sim.profit))):
        low, high = sim.interval(values)
        cell.metric(title, _money(float(values.mean()), currency),
                    help=f"Mean of the simulations; 90% between {_money(low, currency)} and {_money(high, currency)}.")
    cells[3].metric("Chance of losing money", f"{sim.loss_probability:.0%}")
    roi = sim.roi[np.isfinite(sim.roi)]
    low, high = sim.interval(sim.roi)
    mc_low, mc_high = sim.mean_roi_interval()
    st.markdown(
        ("ROI: nothing is spent, so it is not defined." if not len(roi) else
         f"ROI (profit per {currency} spent): median **{np.median(roi):.0%}**, 90% of simulations between "
         f"{low:.0%} and {high:.0%}; expected ROI {roi.mean():.1%} (Monte Carlo error: {mc_low:.1%} to "
         f"{mc_high:.1%} over {sim.draws:,} draws)."))
    if sim.break_even_rate is None:
        st.warning("No response rate makes this campaign pay: the offer gives away more than the extra orders "
                   "earn.", icon=":material/warning:")
    else:
        st.markdown(f"Break-even response rate: **{sim.break_even_rate:.2%}** of contacted customers buying in "
                    f"scope (uplift {sim.break_even_uplift:.2f}x), against {sim.baseline_rate:.2%} who buy anyway.")
    widgets.render_figure(campaign_charts.build_profit_figure(sim.profit, currency), "cp_profit")


def render_stock(risk: pl.DataFrame | None, offer: simulation.Offer, prior: uplift.Prior, reach: float) -> int:
    """The stock check; returns the number of flagged product-locations."""
    if risk is None:
        st.info("No demand forecast is saved for this merchant, so stock cannot be checked (train one on the "
                "Forecast page or with python -m models train).", icon=":material/inventory_2:")
        return 0
    flags = stock.compute_stock_flags(risk, categories=offer.categories, product_ids=offer.product_ids,
                                      uplift=prior.median, reach=reach, days=offer.days)
    if flags.is_empty():
        st.success("Every promoted product has enough stock until its next delivery, with the campaign's extra "
                   "demand.", icon=":material/check_circle:")
        return 0
    st.warning(f"{flags.height:,} promoted product-locations may run out before their next delivery.",
               icon=":material/warning:")
    tables.render_dataframe(flags.head(500), registry=CAMPAIGN_COLUMNS)
    return flags.height
