"""Campaign simulator: will a campaign pay before money is spent on it?

Pick an audience, an offer and the expected uplift (learned from the merchant's past promotions, or by hand);
the page simulates incremental revenue, margin and ROI, the chance of losing money and the break-even response
rate, sizes the holdout test, checks stock of the promoted products, saves and compares scenarios, and exports
the target list with its holdout flag. One merchant at a time; the sidebar's period and filters do not apply.
"""

from __future__ import annotations

import streamlit as st

from analytics.campaigns import audience as aud
from analytics.campaigns import design, simulation
from dashboard import cache, campaign_audience, campaign_data, campaign_panels as panels, campaign_saved, downloads
from dashboard import customer_panels, widgets
from dashboard.context import guard
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError

ctx = guard("campaigns")
st.title("Campaign simulator")
top = widgets.render_page_top(ctx)
merchant = customer_panels.render_merchant(ctx)
span = cache.data_span((merchant.merchant_id,), ctx.data_version)
if span is None:
    st.info(f"{markdown_text(merchant.name)} has no orders yet.", icon=":material/info:")
    st.stop()
as_of = span.last
top.caption(f"{markdown_text(merchant.name)} · customers' buying over the year to {as_of:%d %b %Y} · money in "
            f"{markdown_text(merchant.currency)} · the sidebar's period and filters do not apply here")

st.subheader("1. Audience")
audience = campaign_audience.render(merchant.merchant_id, as_of, ctx.data_version)
st.subheader("2. Offer")
offer = panels.render_offer(campaign_data.products(merchant.merchant_id, ctx.data_version), merchant.currency)
st.subheader("3. Expected response")
estimates = campaign_data.past_uplifts(merchant.merchant_id, ctx.data_version)
prior = panels.render_response(estimates, offer)
if audience is None or audience.frame.is_empty() or prior is None:
    st.info("Choose an audience with at least one customer (and a valid uplift) to see the result.",
            icon=":material/group:")
    st.stop()

activity = campaign_data.activity(merchant.merchant_id, as_of, offer.categories, offer.product_ids,
                                  ctx.data_version)
lookback = campaign_data.LOOKBACK_DAYS
everyone = aud.build_stats(audience.frame, activity, days=offer.days, lookback_days=lookback)
base_rate = float((everyone.customers * everyone.p0).sum() / max(everyone.total, 1))
st.subheader("4. Test design")
if base_rate <= 0:
    st.info("Nobody in this audience bought what the offer covers in the last year, so the response cannot be "
            "simulated or tested. Widen the audience or the offer.", icon=":material/info:")
    st.stop()
holdout, seed = panels.render_design(everyone.total, base_rate, prior)
flagged = design.assign_holdout(audience.frame, holdout, seed)
contacted = aud.without(audience.frame, flagged)
stats = aud.build_stats(contacted, activity, days=offer.days, lookback_days=lookback)

st.subheader("5. Result")
draws = st.segmented_control("Simulations", panels.DRAWS, default=10_000, key="cp_draws",
                             format_func=lambda d: f"{d:,}") or 10_000
sim = simulation.simulate(stats, offer, prior, draws=int(draws), seed=seed)
st.caption(f"{stats.total:,} customers contacted ({everyone.total - stats.total:,} held out); "
           f"{sim.baseline_rate:.2%} of them would buy in scope within {offer.days} "
           f"day{'' if offer.days == 1 else 's'} anyway.")
panels.render_result(sim, merchant.currency)

st.subheader("6. Stock check")
try:
    store = cache.store()
except StoreError as exc:
    store = None
    st.error(f"The operational store is unavailable: {markdown_text(str(exc))}")
reach = min(stats.total / max(activity.height, 1), 1.0)
panels.render_stock(campaign_data.stock_risk(merchant.merchant_id, ctx.data_version, store), offer, prior, reach)

st.subheader("7. Scenarios")
if store is not None:
    body = campaign_saved.build_body(audience.label, stats.total, offer, prior, sim, holdout, seed, merchant.currency)
    campaign_saved.render_scenarios(store, ctx.principal, merchant.merchant_id, body)

st.subheader("8. Target list")
targets = campaign_saved.target_list(flagged, campaign_data.references(merchant.merchant_id, ctx.data_version))
campaign_saved.render_target_list(targets, downloads.file_stem("campaign-targets", merchant.merchant_id, as_of))
