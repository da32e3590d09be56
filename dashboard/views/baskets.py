"""Placeholder while the page is built."""

import streamlit as st

from dashboard.context import guard

ctx = guard("baskets")
st.title("Baskets")
st.info("This page is being built.")
