"""Fraud thresholds: the costs a merchant enters, the threshold they give (expected cost, precision and recall,
review cases a day), rules and lists backtested before they switch on, and the model's feedback loop.

Costs, threshold and rules are the merchant's fraud settings in the operational store (audited revisions;
``data.store.fraud_settings.threshold_for`` is where the review queue reads the threshold). The curves come
from the saved fraud model's held-out matured payments (``dashboard.fraud_thresholds``).
"""

import uuid

import polars as pl
import streamlit as st

from analytics.fraud_costs import (CostError, FraudCosts, cases_per_day, choose_threshold, compute_cost_curve,
                                   days_covered, operating_point)
from dashboard import cache, fraud_panels, models_ui, widgets
from dashboard import fraud_thresholds as data
from dashboard.context import guard
from dashboard.formatting import format_money
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError
from data.store.fraud_settings import SOURCES, FraudSettings
from models.fraud.rules import known_features

ctx = guard("fraud_rules")
st.title("Fraud thresholds")
merchants = cache.filter_options(ctx.scope, ctx.data_version)["merchants"].filter(
    pl.col("merchant_id").is_in(list(ctx.scope)))
if not merchants.height:
    st.info("No merchant in scope.")
    st.stop()
names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))
currencies = dict(zip(merchants["merchant_id"].to_list(), merchants["currency"].to_list()))
merchant = st.selectbox("Merchant", list(names), key="fr_merchant", format_func=lambda m: str(names[m]),
                        disabled=len(names) == 1)
currency = str(currencies[merchant])
who = data.store_principal(ctx.principal)
try:
    settings = FraudSettings(cache.store())
    body = settings.get(who, merchant)
except StoreError as exc:
    st.error(f"The operational store is unavailable, so the fraud settings cannot be shown: {markdown_text(str(exc))}")
    st.stop()
st.caption("The sidebar's period and filters do not apply here: costs, threshold and rules hold for all of a "
           "merchant's payments.")
fraud_panels.render_message()

st.subheader("What fraud costs you")
costs = body["costs"] or data.DEFAULT_COSTS
with st.form("fr_costs"):
    a, b, c = st.columns(3)
    fee = a.number_input(f"Chargeback fee ({currency}), on top of the amount lost", value=costs["chargeback_fee"],
                         step=1.0, key="fr_fee")
    margin = b.number_input("Margin lost on a declined good order (% of its amount)",
                            value=round(costs["margin_lost"] * 100, 2), step=1.0, key="fr_margin")
    review = c.number_input(f"Cost of one manual review ({currency})", value=costs["review_cost"], step=0.5,
                            key="fr_review")
    if st.form_submit_button("Save the costs"):
        try:
            checked = FraudCosts(float(fee), float(margin) / 100, float(review))
            settings.save_costs(who, merchant, chargeback_fee=checked.chargeback_fee,
                                margin_lost=checked.margin_lost, review_cost=checked.review_cost,
                                request_id=uuid.uuid4().hex)
        except (CostError, StoreError) as exc:
            st.error(markdown_text(str(exc)))
        else:
            st.session_state[fraud_panels.MESSAGE] = "Costs saved."
            st.rerun()
if body["costs"] is None:
    st.caption("These are example costs: save your own to set the threshold by them.")

saved, _job = models_ui.current_model(data.KIND, merchant, ctx.data_version)
if models_ui.training_in_app():
    models_ui.render_training_status(data.KIND, merchant, saved)
features = known_features()

st.subheader("Threshold")
held_out = data.validation(saved) if saved is not None else None
if held_out is None or not held_out.height or not int(held_out["label"].sum()):
    st.info("No fraud model with labelled held-out payments yet for this merchant, so thresholds cannot be "
            "costed. Train one with the Retrain button below.")
    threshold = body["threshold"]
else:
    curve = compute_cost_curve(held_out, FraudCosts(**costs))
    best = choose_threshold(curve)
    saved_source = body["threshold_source"] or SOURCES[0]
    mode = st.radio("How the threshold is chosen", SOURCES, index=SOURCES.index(saved_source), horizontal=True, key="fr_mode",
                    format_func={"lowest cost": "At the lowest expected cost", "by hand": "Set by hand"}.get)
    if mode == "by hand":
        start = body["threshold"] if body["threshold"] is not None else min(best, 1.0)
        threshold = st.slider("Review payments scoring at least", 0.0, 1.0, float(round(start, 2)), 0.01,
                              key="fr_threshold")
    else:
        threshold = min(best, 1.0)
    point = operating_point(curve, threshold)
    days = days_covered(held_out)
    k1, k2, k3, k4 = st.columns(4)
    k1.metric("Expected cost a day", format_money(point["expected_cost"] / days, currency),
              help=f"Over the {days:,} days of the model's held-out payments with known outcomes.")
    k2.metric("Review cases a day", f"{cases_per_day(held_out, threshold):,.1f}")
    k3.metric("Precision", "n/a" if point["precision"] is None else f"{point['precision']:.0%}",
              help="Share of reviewed payments that were fraud.")
    k4.metric("Recall", f"{point['recall']:.0%}", help="Share of frauds that reach review.")
    st.caption(f"Threshold {threshold:.3f}: payments scoring at or above it go to review. The lowest expected "
               f"cost is at {min(best, 1.0):.3f}. A flagged good order counts as lost margin; a fraud below the "
               "threshold costs its amount plus the chargeback fee.")
    left, right = st.columns(2)
    with left:
        widgets.render_figure(data.build_cost_figure(curve, point, currency), key="fr_cost_chart")
    with right:
        widgets.render_figure(data.build_pr_figure(curve, point), key="fr_pr_chart")
    if st.button("Save this threshold for the review queue", key="fr_save_threshold", type="primary"):
        try:
            settings.save_threshold(who, merchant, float(threshold), source=mode, request_id=uuid.uuid4().hex)
        except StoreError as exc:
            st.error(markdown_text(str(exc)))
        else:
            fraud_panels.done(f"Threshold {threshold:.3f} saved: the review queue uses it from now on.")
if body["threshold"] is not None:
    st.caption(f"Saved threshold: {body['threshold']:.3f} ({body['threshold_source']}).")
elif saved is not None:
    st.caption(f"No threshold saved yet: the review queue uses the model's own, {data.model_threshold(saved):.3f}, "
               "until you save one.")

st.subheader("Rules and lists")
st.caption("A rule or list is backtested on past payments with known outcomes before it can be switched on; "
           "changing it makes a new version that must be backtested again.")
fraud_panels.render_rules(settings, who, merchant, body, saved, ctx.data_version, currency, features)

st.subheader("Model feedback")
fraud_panels.render_feedback(merchant, saved, ctx.data_version, ctx.as_of, body["threshold"])
