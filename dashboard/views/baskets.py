"""Baskets: association rules (support, confidence, lift), "bought together" for a product, suggestions for a
customer, and bundles ranked by lift x margin x stock, never built on a product about to run out.

The page never trains: it shows the merchant's newest saved ``basket_rules`` model (``models_ui``); while a
new one trains in the background it shows the training's progress above the last good one.
"""

import streamlit as st

from dashboard import basket_data as data
from dashboard import basket_panels as panels
from dashboard import models_ui
from dashboard.context import guard
from dashboard.downloads import file_stem

ctx = guard("baskets")
st.title("Baskets")
merchant = panels.render_merchant(ctx)
saved, job = models_ui.current_model(data.KIND, merchant.merchant_id, ctx.data_version)
models_ui.render_training_status(data.KIND, merchant.merchant_id, saved)
if saved is None:
    panels.render_no_model(merchant)
    st.stop()
st.caption("The sidebar's period and filters do not apply here: rules and suggestions are learned from all of the "
           "merchant's baskets.")
stem = file_stem("baskets", merchant.name)
rules_tab, together_tab, customer_tab, bundle_tab = st.tabs(
    ["Rules", "Bought together", "Suggestions for a customer", "Bundles"])
with rules_tab:
    panels.render_rules(saved, ctx.data_version, stem)
with together_tab:
    panels.render_bought_together(saved, ctx.data_version)
with customer_tab:
    panels.render_suggestions(saved, ctx.data_version, merchant.merchant_id)
with bundle_tab:
    panels.render_bundles(saved, ctx.data_version, merchant.currency, stem)
models_ui.render_model_card(saved, ctx.data_version)
