"""Retail Pulse entrypoint: the picture frame around every page.

Page config, sign-in, the shared filters, role-based navigation, then the page.
Page scripts are in dashboard/views/ and check the role again themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts dashboard/, not the repo, on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import alerts_schedule, cache, colours, sidebar, state, web_guard  # noqa: E402
from dashboard.auth import login  # noqa: E402
from dashboard.context import PageContext, publish  # noqa: E402
from dashboard.navigation import pages_for  # noqa: E402
from data.schema import SchemaError  # noqa: E402
from data.warehouse import WarehouseBusy, WarehouseMissing  # noqa: E402

st.set_page_config(page_title="Retail Pulse", page_icon=":material/monitoring:", layout="wide")
principal = login.require_login()  # runs the startup checks (refuses unsafe settings) first
if principal is None:
    web_guard.forget_uploads()  # a signed-out session keeps no uploaded file in server memory
    st.stop()

try:
    data_version = cache.current_data_version()
except (SchemaError, WarehouseBusy, WarehouseMissing) as exc:  # a clear line instead of a traceback
    st.error(f"Retail Pulse cannot open the warehouse. {exc}")
    st.stop()
alerts_schedule.start_for(cache)  # the dashboard's own alert check (it holds the warehouse file)
colours.use_book(cache.colour_book(data_version))  # one look per category for everyone (dashboard/colours.py)
scope = sidebar.render_scope(principal, data_version)
filters, as_of = sidebar.render_filters(scope, data_version)
publish(PageContext(principal, scope, filters, data_version, as_of))
login.render_logout(principal)

# The session keeps its role's st.Page objects: building them resolves every script's path on disk, a sixth of
# a page run's server time under load. (A Page holds per-run state, so sessions never share them.)
if st.session_state.get(state.NAV_PAGES, (None,))[0] != principal.role:
    st.session_state[state.NAV_PAGES] = (principal.role, [
        st.Page(str(p.path), title=p.title, icon=p.icon, url_path=p.key, default=(i == 0))
        for i, p in enumerate(pages_for(principal.role))])
nav = st.navigation(st.session_state[state.NAV_PAGES][1])
state.open_linked_page(principal.role, nav.url_path)  # a link followed before sign-in leads to its page
nav.run()
