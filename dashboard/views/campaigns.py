"""Placeholder while the page is built."""

import streamlit as st

from dashboard.context import guard

ctx = guard("campaigns")
st.title("Campaign simulator")
st.info("This page is being built.")
