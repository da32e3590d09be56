"""Merchant ranking (staff): revenue, orders and their change against the previous period, per currency.

Amounts in different currencies are never added up. An optional converted view uses exchange rates an
admin entered (kept in the operational store) and says so on every converted figure.
"""

from __future__ import annotations

import streamlit as st

from analytics import ranking
from dashboard import cache, tables
from dashboard.context import guard
from dashboard.plain_text import markdown_text

TARGET_KEY, RATE_KEY = "rk_target", "rk_rate_{}"
COLUMNS = tables.RANKING_COLUMNS
SHOWN = ["rank", "merchant", "revenue", "previous_revenue", "revenue_change", "orders", "previous_orders",
         "orders_change"]

ctx = guard("ranking")
st.title("Merchant ranking")
f = ctx.filters
prev = f.previous_period()
st.caption(f"{f.start:%d %b %Y} to {f.end:%d %b %Y} against the previous {f.days} days ({prev.start:%d %b %Y} to "
           f"{prev.end:%d %b %Y}). The sidebar's merchants and filters apply. Each currency is ranked on its own: "
           "amounts in different currencies are never added up.")
board = cache.query("merchant_ranking", ctx.scope, f, ctx.data_version).value
currencies = board["currency"].unique(maintain_order=True).to_list()

totals = ranking.compute_currency_totals(board)
st.subheader("Totals per currency")
tables.render_dataframe(totals.drop("revenue", "previous_revenue"), registry=COLUMNS)
for code in currencies:
    st.subheader(f"{markdown_text(code)} merchants")
    tables.render_dataframe(board.filter(board["currency"] == code).select(SHOWN), code, registry=COLUMNS)
    total = totals.filter(totals["currency"] == code).row(0, named=True)
    st.caption(f"Revenue of these merchants: {markdown_text(code)} {total['revenue']:,.2f} (previous period "
               f"{markdown_text(code)} {total['previous_revenue']:,.2f}).")

st.subheader("Converted to one currency")
if len(currencies) < 2:
    st.caption("The merchants shown share one currency: nothing to convert.")
    st.stop()
target = st.selectbox("Convert into", currencies, key=TARGET_KEY,
                      help="Figures are converted only with rates an admin entered; nothing is converted at a "
                           "guessed rate.")
try:
    saved = cache.store().exchange_rates.latest(target)
except Exception as exc:  # noqa: BLE001 - the store is optional for this page: say why and show the rest
    st.warning(f"Exchange rates cannot be read from the operational store: {exc}")
    saved = None
rates = saved.rates if saved else {}
missing = ranking.missing_rates(board, rates, target)
if saved is None or missing:
    needed = ", ".join(missing) if missing else ", ".join(c for c in currencies if c != target)
    st.info(f"No exchange rate into {markdown_text(target)} for {markdown_text(needed)} yet: "
            + ("enter them below." if ctx.principal.role == "admin" else "an admin can enter them on this page."))
else:
    converted = ranking.convert_ranking(board, rates, target)
    who = f"converted at rates entered by {saved.actor} on {saved.recorded_at:%d %b %Y}"
    st.caption(f"Revenue in {markdown_text(target)}, {markdown_text(who)}: "
               + ", ".join(f"1 {markdown_text(c)} = {r:,.4f} {markdown_text(target)}" for c, r in rates.items()))
    tables.render_dataframe(converted.select("converted_rank", "merchant", "currency", "revenue_converted",
                                             "previous_revenue_converted"), target, registry=COLUMNS)

if ctx.principal.role == "admin":
    with st.form("rk_rates"):
        st.markdown(f"**Exchange rates into {markdown_text(target)}** (value of one unit in {markdown_text(target)})")
        entered = {c: st.number_input(f"1 {c} in {target}", min_value=0.0, value=float(rates.get(c, 0.0)),
                                      format="%.6f", key=RATE_KEY.format(c))
                   for c in currencies if c != target}
        if st.form_submit_button("Save rates"):
            from data.store import StoreError, new_request_id

            from dashboard.saved_views import store_principal
            try:
                cache.store().exchange_rates.save(store_principal(ctx.principal), target=target,
                                                  rates={c: r for c, r in entered.items() if r > 0},
                                                  request_id=new_request_id())
            except StoreError as exc:
                st.error(str(exc))
            else:
                st.rerun()
