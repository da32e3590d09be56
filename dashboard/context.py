"""What every page needs from the frame: who is signed in, their scope, the filters, the data version.

The entrypoint builds one ``PageContext`` per run; a page gets it through ``guard``,
which also checks the page's role itself (navigation already hides refused pages,
this is the second lock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from analytics.filters import Filters
from dashboard.auth.accounts import Principal
from dashboard.navigation import PAGES_BY_KEY, may_open

_KEY = "rp_page_context"


@dataclass(frozen=True)
class PageContext:
    principal: Principal
    scope: tuple[int, ...]  # merchant ids the reads are limited to (explicit, also for staff)
    filters: Filters
    data_version: int
    as_of: dt.date | None  # last day with orders in scope


def publish(ctx: PageContext) -> None:
    st.session_state[_KEY] = ctx


def guard(page_key: str) -> PageContext:
    """The context for page ``page_key``; stops the script unless the signed-in role may open it."""
    ctx = st.session_state.get(_KEY)
    if not isinstance(ctx, PageContext) or not may_open(ctx.principal.role, page_key):
        st.error(f"You do not have access to {PAGES_BY_KEY[page_key].title if page_key in PAGES_BY_KEY else 'this page'}.")
        st.stop()
    return ctx
