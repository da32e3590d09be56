"""Placeholder while the page is built."""

import streamlit as st

from dashboard.context import guard

ctx = guard("customers")
st.title("Customers")
st.info("This page is being built.")
