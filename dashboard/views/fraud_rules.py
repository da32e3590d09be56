"""Placeholder while the page is built (issue 9)."""

import streamlit as st

from dashboard.context import guard

ctx = guard("fraud_rules")
st.title("Fraud thresholds")
st.info("This page is being built.")
