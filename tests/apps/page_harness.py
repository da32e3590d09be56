"""AppTest harness: the entrypoint's frame (scope, shared filters, context, navigation) without the login form.

Before the first run a test puts a ``dashboard.auth.accounts.Principal`` in
``session_state["harness_principal"]`` and a page key in ``session_state["harness_page"]``.
Everything after sign-in is the real frame: ``sidebar.render_scope`` / ``render_filters``,
``context.publish``, and ``st.navigation`` over ``navigation.pages_for(role)``, so the page script runs
exactly as under dashboard/app.py (with its own ``guard``).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import cache, colours, sidebar  # noqa: E402
from dashboard.context import PageContext, publish  # noqa: E402
from dashboard.navigation import pages_for  # noqa: E402

st.set_page_config(page_title="Retail Pulse", layout="wide")
principal = st.session_state.get("harness_principal")
if principal is None:
    st.error("harness: no principal in session_state")
    st.stop()
wanted = st.session_state.get("harness_page", "overview")

data_version = cache.current_data_version()
colours.use_book(cache.colour_book(data_version))  # one look per category for everyone (dashboard/colours.py)
scope = sidebar.render_scope(principal, data_version)
filters, as_of = sidebar.render_filters(scope, data_version)
publish(PageContext(principal, scope, filters, data_version, as_of))

nav = st.navigation([st.Page(str(p.path), title=p.title, url_path=p.key, default=(p.key == wanted))
                     for p in pages_for(principal.role)])
nav.run()
