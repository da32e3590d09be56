"""The Data page's Users tab: who may sign in, and the forms that change it.

Every change runs in a button callback, which Streamlit runs before the page script, so the list drawn below
already shows the change (drawing the list first and changing it later in the same run left it one step behind).
Users are picked from a list, never typed; merchants are shown by name; removing a user asks first.
The outcome of a change is kept for the next draw (``MESSAGE_KEY``) and shown above the forms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl
import streamlit as st

from dashboard import tables
from dashboard.auth import accounts
from dashboard.plain_text import markdown_text

KEEP = "(keep)"
MESSAGE_KEY = "usr_message"
PICK_KEY = "usr_pick"
CONFIRM_KEY = "usr_confirm_remove"  # the username whose removal waits for "Yes, remove"
REFUSED = (accounts.AccountError, accounts.UnknownRole, accounts.CredentialsError, ValueError)


def merchant_names(merchant_ids, names: Mapping[int, str]) -> str:
    """"all" for staff, else the merchants' names (an unknown id as "merchant <id>"), by name."""
    if merchant_ids is None:
        return "all"
    return ", ".join(sorted(names.get(i, f"merchant {i}") for i in merchant_ids))


def users_frame(users: list[accounts.UserAccount], names: Mapping[int, str]) -> pl.DataFrame:
    """username, name, role (in words: "fraud reviewer"), merchants (by name): the list the tab shows."""
    return pl.DataFrame(
        {"username": [u.username for u in users], "name": [u.name for u in users],
         "role": [str(u.role).replace("_", " ") for u in users], "merchants": [merchant_names(u.merchant_ids, names) for u in users]},
        schema={"username": pl.Utf8, "name": pl.Utf8, "role": pl.Utf8, "merchants": pl.Utf8})


def plan_change(username: str, role: str, merchant_ids: list[int], password: str) -> list[Callable[[], object]] | str:
    """The account calls the "Change a user" form asks for, in order, or a sentence saying why not.

    ``role`` is a role name or ``KEEP``; no merchants keeps the user's; an empty password keeps it.
    """
    if not username:
        return "Pick a user first."
    if role == KEEP and not merchant_ids and not password:
        return "Nothing to change: pick a new role, merchants or a password."
    steps: list[Callable[[], object]] = []
    if role != KEEP:
        if role != "merchant" and merchant_ids:
            return "Merchants apply only to the merchant role: staff roles see every merchant."
        ids = (merchant_ids or None) if role == "merchant" else None
        steps.append(lambda: accounts.set_role(username, role, ids))
    elif merchant_ids:
        steps.append(lambda: accounts.set_merchants(username, merchant_ids))
    if password:
        steps.append(lambda: accounts.reset_password(username, password))
    return steps


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE_KEY] = (kind, text)


def _run(steps: list[Callable[[], object]], done: str) -> bool:
    for step in steps:
        try:
            step()
        except REFUSED as exc:
            _say("error", str(exc))
            return False
    _say("success", done)
    return True


# ----------------------------------------------------------------------------------------- callbacks


def _add() -> None:
    s = st.session_state
    role = s.get("usr_add_role")
    ids = list(s.get("usr_add_merchants") or []) if role == "merchant" else None
    username = (s.get("usr_add_name") or "").strip()
    if _run([lambda: accounts.add_user(username, s.get("usr_add_password") or "", role, merchant_ids=ids)],
            "Added the user."):
        s[PICK_KEY] = None


def _change() -> None:
    s = st.session_state
    username = s.get(PICK_KEY) or ""
    plan = plan_change(username, s.get("usr_chg_role", KEEP), list(s.get("usr_chg_merchants") or []),
                       s.get("usr_chg_password") or "")
    if isinstance(plan, str):
        _say("info", plan)
    elif _run(plan, f"Saved the changes to {username}."):
        s["usr_chg_role"], s["usr_chg_merchants"], s["usr_chg_password"] = KEEP, [], ""


def _ask_remove() -> None:
    st.session_state[CONFIRM_KEY] = st.session_state.get(PICK_KEY)


def _cancel_remove() -> None:
    st.session_state[CONFIRM_KEY] = None


def _remove(username: str) -> None:
    st.session_state[CONFIRM_KEY] = None
    if _run([lambda: accounts.remove_user(username)], f"Removed {username}; their sessions have ended."):
        st.session_state[PICK_KEY] = None


# ----------------------------------------------------------------------------------------- drawing


def render(merchants: pl.DataFrame) -> None:
    """The Users tab: message, list, "Add a user", "Change or remove a user"."""
    names = dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))
    pick_merchants = {"options": list(names), "format_func": lambda i: names.get(i, f"merchant {i}"),
                      "placeholder": "Pick the merchants they see"}
    if message := st.session_state.pop(MESSAGE_KEY, None):
        kind, text = message
        # A refusal quotes what was typed (e.g. an invalid username): shown verbatim, never as markdown.
        getattr(st, kind)(f"Not saved: {markdown_text(text)}" if kind == "error" else text)
    users = accounts.list_users()
    tables.render_dataframe(users_frame(users, names), width="stretch")

    with st.form("user_add", clear_on_submit=True):
        st.markdown("**Add a user**")
        c1, c2, c3 = st.columns(3)
        c1.text_input("Username", key="usr_add_name", placeholder="e.g. ana.lopez")
        c2.selectbox("Role", accounts.ROLE_NAMES, key="usr_add_role")
        c3.multiselect("Merchants (merchant role)", key="usr_add_merchants", **pick_merchants)
        st.text_input("Password", type="password", key="usr_add_password")
        st.form_submit_button("Add user", on_click=_add)

    st.markdown("**Change or remove a user**")
    usernames = [u.username for u in users]
    if st.session_state.get(PICK_KEY) not in usernames:
        st.session_state[PICK_KEY] = None
    by_name = {u.username: u for u in users}
    picked = st.selectbox("User", usernames, key=PICK_KEY, placeholder="Pick the user to change or remove",
                          format_func=lambda u: f"{u} ({by_name[u].name}, {by_name[u].role})" if u in by_name else u)
    if picked is None:
        return
    user = by_name[picked]
    st.caption(f"Now: {user.role}, merchants: {merchant_names(user.merchant_ids, names)}.")
    c1, c2 = st.columns(2)
    c1.selectbox("New role", [KEEP, *accounts.ROLE_NAMES], key="usr_chg_role",
                 format_func=lambda r: "Keep the role" if r == KEEP else r)
    c2.multiselect("Merchants (merchant role; empty keeps them)", key="usr_chg_merchants", **pick_merchants)
    st.text_input("New password (leave empty to keep)", type="password", key="usr_chg_password")
    b1, b2 = st.columns(2)
    b1.button("Save changes", key="usr_save", on_click=_change, type="primary")
    b2.button("Remove user…", key="usr_remove", on_click=_ask_remove, icon=":material/person_remove:")
    if st.session_state.get(CONFIRM_KEY) == picked:
        # The username is typed by an admin, but shown in a code span all the same (text, not markdown).
        st.warning(f"Remove {markdown_text(picked)}? They are signed out at once and can no longer sign in.",
                   icon=":material/warning:")
        y, n = st.columns(2)
        y.button("Yes, remove", key="usr_remove_yes", on_click=_remove, args=(picked,), type="primary")
        n.button("Cancel", key="usr_remove_no", on_click=_cancel_remove)
