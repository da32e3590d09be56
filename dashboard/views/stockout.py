"""Placeholder while the page is built (issue 8)."""

import streamlit as st

from dashboard.context import guard

ctx = guard("stockout")
st.title("Stock-out risk")
st.info("This page is being built.")
