"""Placeholder while the page is built (issue 9)."""

import streamlit as st

from dashboard.context import guard

ctx = guard("review")
st.title("Fraud review")
st.info("This page is being built.")
