"""Placeholder while the page is built."""

import streamlit as st

from dashboard.context import guard

ctx = guard("alerts")
st.title("Alerts")
st.info("This page is being built.")
