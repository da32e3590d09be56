"""Placeholder while the page is built (issue 8)."""

import streamlit as st

from dashboard.context import guard

ctx = guard("forecast")
st.title("Demand forecast")
st.info("This page is being built.")
