"""The Streamlit app: entrypoint, page scripts, and the one module of st.cache_* wrappers."""
