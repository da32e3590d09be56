"""Tiny app for AppTest: require_login, then show who signed in.

A test may put a cookie dict in ``st.session_state["test_cookies"]`` before the first
run (AppTest cannot seed request cookies); otherwise the real ``st.context.cookies`` is read.
"""

import streamlit as st

from dashboard.auth.login import render_logout, require_login

principal = require_login(cookies=st.session_state.get("test_cookies"))
if principal is None:
    st.stop()

st.markdown(f"user: {principal.username}")
st.markdown(f"role: {principal.role}")
st.markdown("merchants: " + ("all" if principal.merchant_ids is None else ",".join(map(str, sorted(principal.merchant_ids)))))
render_logout(principal, location="main")
