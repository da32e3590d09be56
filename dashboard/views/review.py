"""Fraud review: the queue of flagged payments in order of time left before the review deadline (then amount and
score), claiming a case under a lease, the case with its reasons, histories and linked payments, decisions (one
at a time or in bulk, with a confirmation), reversals, reviewer stats and downloads.

Everything about cases goes through the operational store's review API with the page's principal (the signed-in
person limited to the merchants shown); the payments behind a case come from the warehouse (``review_data``).
"""

import streamlit as st

from dashboard import cache, review_actions as actions, review_panels as panels, review_scoring, widgets
from dashboard import review_data as rd
from dashboard.context import guard
from dashboard.downloads import file_stem
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError
from data.store.reviews import DEFAULT_TTL

ctx = guard("review")
st.title("Fraud review")
top = widgets.render_page_top(ctx)
group = widgets.render_currency_scope(ctx)
merchant_ids = tuple(group.merchant_ids)
names = dict(zip(group.merchant_ids, group.names))
who = rd.review_principal(ctx.principal, merchant_ids)
try:
    reviews = cache.store().reviews
    now = cache.store().now()
except StoreError as exc:
    st.error(f"The operational store is unavailable, so the review queue cannot be shown: {markdown_text(str(exc))}")
    st.stop()
panels.render_scoring(merchant_ids, names, ctx.data_version)
top.caption(f"Data version {ctx.data_version} · times in UTC · amounts in {group.currency}. The sidebar's period and "
            "filters do not apply here: the filters below do.")
actions.render_message()

claimed = st.session_state.get(actions.CLAIM)
if claimed is not None and claimed.case.merchant_id not in merchant_ids:
    claimed = None  # held under another merchant choice: it stays claimed until it expires or is given back
held = None
if claimed is not None:
    held = reviews.case(who, claimed.case.id)
    if held.state != "claimed" or held.holder != who.user:
        actions.lost(held.id)
        actions.render_message()
        held = claimed = None

bar, note = st.columns([1, 3], vertical_alignment="center")
bar.button("Claim the next case", key="rv_claim_next", type="primary", disabled=claimed is not None,
           on_click=actions.claim_next, args=(who, merchant_ids), icon=":material/play_arrow:")
note.caption("You are reviewing case " + str(claimed.case.id) + ": decide it or give it back first."
             if claimed is not None else f"Claims last {DEFAULT_TTL.seconds // 60} minutes; an expired claim is free for anyone again.")

with st.container(border=True):
    a, b, c = st.columns(3)
    state = a.selectbox("State", list(rd.STATE_FILTERS), key="rv_state", format_func=rd.STATE_FILTERS.get)
    min_amount = b.number_input(f"Amount at least ({group.currency})", min_value=0.0, value=0.0, step=10.0,
                                key="rv_min_amount")
    min_score = c.slider("Score at least (%)", 0, 100, 0, step=5, key="rv_min_score")
filters = rd.QueueFilters(state, float(min_amount), min_score / 100)
cases = reviews.queue(who, states=rd.store_states(state), merchant_ids=merchant_ids, limit=rd.FETCH)
first = [c for c in cases if c.amount >= filters.min_amount and c.score >= filters.min_score][:rd.SHOWN]
viewed = None
if held is None and st.session_state.get(actions.VIEW) is not None:
    try:
        viewed = reviews.case(who, st.session_state[actions.VIEW])
    except StoreError:  # gone from scope (another merchant chosen) or never there
        st.session_state.pop(actions.VIEW, None)
reasons = {}  # one scoring call per merchant serves the queue page and the case shown
for m in merchant_ids:
    rd.payments(m, [c.payment_id for c in cases if c.merchant_id == m], ctx.data_version)  # read once, kept
    wanted = [c.payment_id for c in (*first, held, viewed) if c is not None and c.merchant_id == m]
    reasons.update(review_scoring.reasons(m, wanted, ctx.data_version))
listed = rd.build_queue_frame(cases, now, names, reasons, filters)

if held is not None:
    panels.render_case(who, held, ctx.data_version, reasons.get(held.payment_id, []), now, held=True)

st.subheader("Queue")
columns = ["time_left", "amount", "score", "top_reason", "flagged_by", "state_text", "payment_id", "case_id"]
if len(merchant_ids) > 1:
    columns.insert(0, "merchant")
if not any(listed.head(rd.SHOWN)["top_reason"].to_list()):
    columns.remove("top_reason")  # no model reasons (no fraud model yet, or every case came from a rule)
if listed.height:
    panels.grid(listed.head(rd.SHOWN).select(columns), "rv_queue", group.currency)
    more = f"Showing the first {rd.SHOWN:,} of {listed.height:,} cases; the download holds all of them."
    st.caption(more if listed.height > rd.SHOWN else f"{listed.height:,} case{'' if listed.height == 1 else 's'}.")
else:
    st.text("No case passes these filters." if cases or state != "waiting" else
            "The queue is empty: no payment is waiting for review.")

panels.render_bulk(who, listed)
if listed.height:
    pick, go = st.columns([3, 1], vertical_alignment="bottom")
    shown = {r["case_id"]: r for r in listed.head(rd.SHOWN).iter_rows(named=True)}
    picked = pick.selectbox("Open a case", list(shown), key="rv_pick", format_func=lambda i: (
        f"Case {i}: {shown[i]['currency']} {shown[i]['amount']:,.2f}, {shown[i]['state_text']}") if i in shown else str(i))
    is_open = shown.get(picked, {}).get("state") == "open"
    go.button("Claim this case" if is_open else "Look at this case", key="rv_claim_one",
              disabled=claimed is not None, on_click=actions.open_case, args=(who, picked, is_open))
if viewed is not None:
    panels.render_case(who, viewed, ctx.data_version, reasons.get(viewed.payment_id, []), now, held=False)

panels.render_stats(who, merchant_ids, now)
panels.render_downloads(who, merchant_ids, listed, file_stem("fraud-review", group.currency))
