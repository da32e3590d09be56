"""The Stock-out risk page's writes: service level, acknowledge / assign / snooze / comment, purchase-order drafts.

Every write runs in a button callback, so the list drawn after it already shows the new state, and carries a
request id made in that callback (a rerun never re-sends it). Writes go through the operational store with
the signed-in person's principal (``stockout_data.store_principal``): the store refuses another merchant's
alert whatever the page offered. Messages from the store quote values as code spans (plain text).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl
import streamlit as st

from dashboard import cache, po_export, stockout_data, tables
from dashboard.auth.accounts import Principal
from dashboard.navigation import may_open
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError

MESSAGE_KEY = "so_message"
SNOOZE_DAYS = 7


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE_KEY] = (kind, text)


def render_message() -> None:
    if message := st.session_state.pop(MESSAGE_KEY, None):
        (st.success if message[0] == "success" else st.error)(message[1])


def _write(what: str, change) -> None:
    from data.store import new_request_id

    try:
        change(new_request_id())
    except StoreError as exc:
        _say("error", f"{what} was not saved: {markdown_text(str(exc))}")
        return
    _say("success", f"{what} saved.")


# ------------------------------------------------------------------------------------------ service level


def _save_level(principal: Principal, merchant_id: int, key: str) -> None:
    level = st.session_state.get(key)
    who = stockout_data.store_principal(principal)
    _write("Service level", lambda rid: stockout_data.ServiceLevels(cache.store()).set(
        who, merchant_id, round(float(level) / 100, 4), rid))


def render_service_level(principal: Principal, levels: Mapping[int, float], names: Mapping[int, str]) -> None:
    """The service level per merchant: shown for all, changed one merchant at a time."""
    # Merchant names come from data: code spans (an expander label is markdown).
    shown = ", ".join(f"{levels[m]:.1%}" if len(levels) == 1 else f"{markdown_text(names.get(m, m))} {levels[m]:.1%}"
                      for m in levels)
    with st.expander(f"Service level: {shown}", icon=":material/tune:"):
        st.caption("The chance of not running out that reorder points and suggested quantities aim for. Kept "
                   "per merchant for everyone who sees its products (default 95%); each change is audited.")
        merchant = next(iter(levels))
        if len(levels) > 1:
            merchant = st.selectbox("Merchant", list(levels), key="so_level_merchant",
                                    format_func=lambda m: str(names.get(m, m)))
        key = f"so_level_{merchant}"
        st.number_input("Service level (%)", min_value=stockout_data.LOWEST * 100,
                        max_value=stockout_data.HIGHEST * 100, value=levels[merchant] * 100, step=0.5,
                        format="%.1f", key=key)
        st.button("Save the service level", key="so_level_save", on_click=_save_level,
                  args=(principal, merchant, key), icon=":material/save:")


# ------------------------------------------------------------------------------------------ one alert


def assignees(principal: Principal, merchant_id: int) -> dict[str, str]:
    """username -> "Name (username)" of the people who could handle an alert of ``merchant_id``: users who
    may open this page and see that merchant (for a merchant user, only that merchant's own users: staff
    accounts are not listed to them). The signed-in person always; nobody else if the user list cannot be read."""
    from dashboard.auth import accounts

    out = {principal.username: f"{principal.name} ({principal.username})"}
    try:
        users = accounts.list_users()
    except (accounts.CredentialsError, OSError):
        return out
    for u in users:
        sees = merchant_id in u.merchant_ids if u.merchant_ids is not None else principal.merchant_ids is None
        if may_open(u.role, "stockout") and sees:
            out.setdefault(u.username, f"{u.name} ({u.username})")
    return out


def _record(principal: Principal, alert: dict, action: str, what: str, **fields) -> None:
    who = stockout_data.store_principal(principal)
    _write(what, lambda rid: cache.store().alerts.record(
        who, request_id=rid, merchant_id=alert["merchant_id"], alert_key=alert["alert_key"], action=action,
        **fields))


def _assign(principal: Principal, alert: dict) -> None:
    user = st.session_state.get("so_assignee")
    if user:
        _record(principal, alert, "assign", f"Assigned to {markdown_text(user)}", assignee=user)


def _snooze(principal: Principal, alert: dict) -> None:
    day = st.session_state.get("so_snooze_until")
    until = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)
    _record(principal, alert, "snooze", f"Snoozed until {day:%d %b %Y}", snoozed_until=until)


def _comment(principal: Principal, alert: dict) -> None:
    note = st.session_state.get("so_comment", "")
    if not note.strip():
        _say("error", "Write a comment first.")
        return
    _record(principal, alert, "comment", "Comment", note=note)
    st.session_state["so_comment"] = ""


def render_alert_actions(principal: Principal, alert: dict, today: dt.date) -> None:
    """Acknowledge, assign, snooze and comment on one alert; then its history."""
    one, two, three = st.columns(3)
    state = alert["status"]
    one.button("Acknowledge", key="so_ack", on_click=_record, args=(principal, alert, "acknowledge", "Acknowledged"),
               disabled=state in ("acknowledged", "resolved"), icon=":material/done:")
    if state == "snoozed":
        one.button("Show again now", key="so_unsnooze", on_click=_record,
                   args=(principal, alert, "unsnooze", "Snooze ended"), icon=":material/alarm_off:")
    people = assignees(principal, alert["merchant_id"])
    two.selectbox("Assign to", list(people), key="so_assignee", format_func=lambda u: people.get(u, u))
    two.button("Assign", key="so_assign", on_click=_assign, args=(principal, alert), icon=":material/person_add:")
    three.date_input("Snooze until", value=today + dt.timedelta(days=SNOOZE_DAYS), key="so_snooze_until",
                     min_value=today + dt.timedelta(days=1), format="DD/MM/YYYY")
    three.button("Snooze", key="so_snooze", on_click=_snooze, args=(principal, alert), icon=":material/snooze:")
    st.text_input("Comment", key="so_comment", max_chars=2000, placeholder="e.g. called the supplier")
    st.button("Add the comment", key="so_comment_add", on_click=_comment, args=(principal, alert),
              icon=":material/comment:")
    history = cache.store().alerts.history(stockout_data.store_principal(principal),
                                           merchant_id=alert["merchant_id"], alert_key=alert["alert_key"])
    if history:
        st.caption("What was done (newest first; times in UTC)")
        done = list(reversed(history))
        tables.render_dataframe(pl.DataFrame({
            "recorded_at": [_utc(a.recorded_at) for a in done], "actor": [a.actor for a in done],
            "action_text": [_describe(a) for a in done]}, schema={"recorded_at": pl.Datetime("us"),
                                                                   "actor": pl.Utf8, "action_text": pl.Utf8}),
            registry=tables.STOCKOUT_COLUMNS, key="so_history")


def _utc(at: dt.datetime) -> dt.datetime:
    """A stored time as naive UTC for the grid (SQLite hands back naive UTC, PostgreSQL an aware time)."""
    return at.astimezone(dt.timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def _describe(a) -> str:
    if a.action == "assign":
        return f"assigned to {a.assignee}"
    if a.action == "snooze":
        return f"snoozed until {a.snoozed_until:%d %b %Y}"
    if a.action == "comment":
        return f"comment: {a.note}"
    return {"acknowledge": "acknowledged", "unsnooze": "snooze ended", "unassign": "unassigned"}.get(
        a.action, a.action) + (f": {a.note}" if a.note and a.action != "comment" else "")


# ------------------------------------------------------------------------------------------ drafts


def _save_draft(principal: Principal, lines: Mapping[int, list[dict]]) -> None:
    from data.store import new_request_id

    who = stockout_data.store_principal(principal)
    saved = []
    try:
        for merchant_id, rows in lines.items():
            rev = cache.store().purchase_orders.draft(who, merchant_id=merchant_id, lines=rows,
                                                      request_id=new_request_id(), title="From the stock-out list")
            saved.append(rev.document_id)
    except StoreError as exc:
        _say("error", f"The draft was not saved: {markdown_text(str(exc))}")
        return
    st.session_state["so_last_drafts"] = saved
    _say("success", f"Saved {len(saved)} draft purchase order{'s' if len(saved) != 1 else ''} "
                    f"({sum(len(r) for r in lines.values()):,} lines) in the operational store.")


def render_draft_save(principal: Principal, alerts: pl.DataFrame) -> None:
    lines = po_export.store_lines(alerts)
    st.button("Save as a draft purchase order", key="so_draft_save", on_click=_save_draft,
              args=(principal, lines), disabled=not lines, icon=":material/note_add:",
              help="Keeps the lines below as a draft (one per merchant) with an entry in the audit log.")
