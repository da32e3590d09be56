"""Saved views: a person's named sets of filters, kept in the operational store (``data.store``).

A view is a document of kind ``saved_view`` (``data.store.documents``): each save is a revision, deleting is
a revision with status ``deleted``, and the audit log records both. The body holds the filters as URL
parameters (``dashboard.state.encode``), so opening a view goes through exactly the checks a shared link
does: every value must be among the options of the signed-in person's own scope, or it is dropped.

Views are per user: a list shows only the views its user saved (``owner``). They are filed under the
user's merchant (merchant users) or under ``STAFF_MERCHANT`` (staff, whose views span merchants), so the
store's own scope check also keeps a merchant user away from any other merchant's views.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard import cache, state
from dashboard.auth.accounts import Principal
from data.store.documents import DocumentKind, Documents
from data.store.errors import InvalidValue, StoreError
from data.store.principal import Principal as StorePrincipal
from data.store.tables import KEY, NAME
from data.store.text import checked_text

KIND = "saved_view"
STATUSES = ("saved", "deleted")
STAFF_MERCHANT = 0  # merchant ids start at 1; staff views are nobody's merchant's
MAX_NAME = 80
PICK_KEY, NAME_KEY = "views_pick", "views_name"
LISTED_KEY = "views_listed"  # (user, monotonic time, views): the sidebar's list, read again after LIST_TTL_S
LIST_TTL_S = 30.0  # a view saved in another tab or on another instance shows within this (this session's at once)


def check_view(body: Any) -> dict:
    """The body to store: ``{"owner": user, "filters": {param: [text, ...]}}``, or InvalidValue."""
    if not isinstance(body, dict) or set(body) != {"owner", "filters"} or not isinstance(body["filters"], dict):
        raise InvalidValue("a saved view is {'owner': user, 'filters': {parameter: [values]}}")
    filters = {}
    for name, texts in body["filters"].items():
        if name not in state.BY_NAME:
            raise InvalidValue(f"saved view: unknown filter {name!r}")
        if not isinstance(texts, list) or len(texts) > state.MAX_VALUES:
            raise InvalidValue(f"saved view: filter {name!r} needs a list of at most {state.MAX_VALUES} values")
        filters[name] = [checked_text(t, f"filter {name}", max_chars=KEY, required=True) for t in texts]
    return {"owner": checked_text(body["owner"], "owner", max_chars=NAME, required=True), "filters": filters}


SAVED_VIEW = DocumentKind(KIND, STATUSES, check_view, "A user's named set of dashboard filters.")


@dataclass(frozen=True)
class SavedView:
    document_id: str
    revision: int
    name: str
    filters: dict[str, list[str]]


def store_principal(principal: Principal) -> StorePrincipal:
    return StorePrincipal(principal.username, principal.merchant_ids)


def home_merchant(principal: Principal) -> int:
    return STAFF_MERCHANT if principal.merchant_ids is None else min(principal.merchant_ids)


class Views:
    """The saved views of one store (pure: no streamlit), per user and scoped."""

    def __init__(self, store):
        self.documents = Documents(store, kinds=(SAVED_VIEW,))

    def list(self, principal: Principal) -> list[SavedView]:
        """The user's own views, newest first (deleted ones left out)."""
        who = store_principal(principal)
        merchants = None if principal.merchant_ids is None else [home_merchant(principal)]
        revisions = self.documents.latest(who, kind=KIND, merchant_ids=merchants, statuses=["saved"])
        return [SavedView(r.document_id, r.revision, r.title or "", r.body["filters"]) for r in revisions
                if r.body.get("owner") == principal.username and r.merchant_id == home_merchant(principal)]

    def save(self, principal: Principal, name: str, filters: dict[str, list[str]], request_id: str) -> SavedView:
        """Save ``filters`` as view ``name``: a new revision of the user's view of that name, else a new view."""
        name = (name or "").strip()
        if not name:
            raise InvalidValue("give the view a name")
        if len(name) > MAX_NAME:
            raise InvalidValue(f"a view name has at most {MAX_NAME} characters, not {len(name)}")
        who, body = store_principal(principal), {"owner": principal.username, "filters": filters}
        same = next((v for v in self.list(principal) if v.name == name), None)
        if same is None:
            rev = self.documents.create(who, kind=KIND, merchant_id=home_merchant(principal), body=body,
                                        request_id=request_id, title=name)
        else:
            rev = self.documents.revise(who, kind=KIND, document_id=same.document_id, base_revision=same.revision,
                                        request_id=request_id, body=body)
        return SavedView(rev.document_id, rev.revision, rev.title or "", rev.body["filters"])

    def delete(self, principal: Principal, view: SavedView, request_id: str) -> None:
        self.documents.revise(store_principal(principal), kind=KIND, document_id=view.document_id,
                              base_revision=view.revision, request_id=request_id, status="deleted")


# ----------------------------------------------------------------------------------------- streamlit


def _views() -> Views:
    return Views(cache.store())


def _open(view: SavedView) -> None:
    state.open_values(state.decode(view.filters))


def _listed(principal: Principal) -> list[SavedView]:
    """The user's views, kept in the session for LIST_TTL_S: the store's query was a tenth of every page run's
    server time under load, for a list that changes when someone saves or deletes a view."""
    kept = st.session_state.get(LISTED_KEY)
    if kept is not None and kept[0] == principal.username and time.monotonic() - kept[1] < LIST_TTL_S:
        return kept[2]
    views = _views().list(principal)
    st.session_state[LISTED_KEY] = (principal.username, time.monotonic(), views)
    return views


def _save(principal: Principal) -> None:
    from data.store import new_request_id

    name = st.session_state.get(NAME_KEY, "")
    try:
        saved = _views().save(principal, name, state.encode(state.current_values()), new_request_id())
    except StoreError as exc:
        st.session_state["views_message"] = ("error", str(exc))
        return
    st.session_state.pop(LISTED_KEY, None)
    st.session_state["views_message"] = ("success", "Saved.")
    st.session_state[NAME_KEY] = ""
    st.session_state[PICK_KEY] = saved.document_id  # the picker shows the view just saved


def _delete(principal: Principal, view: SavedView) -> None:
    from data.store import new_request_id

    try:
        _views().delete(principal, view, new_request_id())
    except StoreError as exc:
        st.session_state["views_message"] = ("error", str(exc))
        return
    finally:
        st.session_state.pop(LISTED_KEY, None)
    st.session_state[PICK_KEY] = None
    st.session_state["views_message"] = ("success", "Deleted.")


def render(principal: Principal) -> None:
    """The sidebar's "Saved views": open or delete one of the user's views, save the current filters."""
    box = st.sidebar.expander("Saved views", icon=":material/bookmarks:")
    try:
        views = {v.document_id: v for v in _listed(principal)}
    except StoreError as exc:
        box.caption(f"Saved views are unavailable: {exc}")
        return
    if st.session_state.get(PICK_KEY) not in views:
        st.session_state[PICK_KEY] = None
    picked = box.selectbox("Open a saved view", list(views), key=PICK_KEY, format_func=lambda d: views[d].name,
                           placeholder="Pick one of your views" if views else "No saved view yet")
    left, right = box.columns(2)
    left.button("Open", key="views_open", disabled=picked is None, on_click=_open,
                args=(views[picked],) if picked else None, icon=":material/open_in_browser:")
    right.button("Delete", key="views_delete", disabled=picked is None, on_click=_delete,
                 args=(principal, views[picked]) if picked else None, icon=":material/delete:")
    box.text_input("Name for the current filters", key=NAME_KEY, max_chars=MAX_NAME,
                   placeholder="e.g. North, last 90 days")
    box.button("Save as a view", key="views_save", on_click=_save, args=(principal,), icon=":material/bookmark_add:")
    if message := st.session_state.pop("views_message", None):
        (box.success if message[0] == "success" else box.error)(message[1])
    box.caption("The address bar holds the filters too: copy it to share them. Whoever opens the link sees "
                "only what their own sign-in allows.")
