"""What people do with one alert on the Alerts page: acknowledge, assign, snooze, resolve with a reason, comment,
say whether it was useful; and what was done (the alert's history).

Every write runs in a button callback with a request id made there (a rerun never re-sends it), through the
operational store with the signed-in person's principal: the store refuses another merchant's alert whatever
the page offered. An incident is an alert of kind ``incident`` keyed by its incident key; a stock-out alert is
kind ``stockout`` keyed as on the Stock-out risk page, so both pages show the same state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl
import streamlit as st

from dashboard import alert_data, cache, tables
from dashboard.auth.accounts import Principal
from dashboard.navigation import may_open
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError

MESSAGE_KEY = "al_message"
SNOOZE_HOURS = 24
FEEDBACK_WORDS = {"useful": "useful", "not_useful": "not useful"}


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE_KEY] = (kind, text)


def render_message() -> None:
    if message := st.session_state.pop(MESSAGE_KEY, None):
        (st.success if message[0] == "success" else st.error)(message[1])


def write(what: str, change) -> bool:
    """Run ``change(request_id)``; say what was saved, or why not (the store's words, as plain text)."""
    from data.store import new_request_id

    try:
        change(new_request_id())
    except StoreError as exc:
        _say("error", f"{what} was not saved: {markdown_text(str(exc))}")
        return False
    _say("success", f"{what}: saved.")
    return True


def people(principal: Principal, merchant_id: int) -> dict[str, str]:
    """username -> "Name (username)" of who may handle ``merchant_id``'s alerts: users who may open this page
    and see that merchant (a merchant user is offered only that merchant's own users, never staff accounts).
    The signed-in person always; nobody else when the user list cannot be read."""
    from dashboard.auth import accounts

    out = {principal.username: f"{principal.name} ({principal.username})"}
    try:
        users = accounts.list_users()
    except (accounts.CredentialsError, OSError):
        return out
    for u in users:
        sees = merchant_id in u.merchant_ids if u.merchant_ids is not None else principal.merchant_ids is None
        if may_open(u.role, "alerts") and sees:
            out.setdefault(u.username, f"{u.name} ({u.username})")
    return out


def _record(principal: Principal, alert: Mapping, action: str, what: str, **fields) -> bool:
    who = alert_data.store_principal(principal)
    return write(what, lambda rid: cache.store().alerts.record(
        who, request_id=rid, merchant_id=int(alert["merchant_id"]), alert_key=alert["alert_key"], action=action,
        alert_kind=alert["kind"], **fields))


def _assign(principal: Principal, alert: Mapping) -> None:
    if user := st.session_state.get("al_assignee"):
        _record(principal, alert, "assign", f"Assigned to {markdown_text(user)}", assignee=user)


def _snooze(principal: Principal, alert: Mapping) -> None:
    day, hour = st.session_state.get("al_snooze_day"), int(st.session_state.get("al_snooze_hour") or 0)
    until = dt.datetime.combine(day, dt.time(hour), tzinfo=dt.timezone.utc)
    _record(principal, alert, "snooze", f"Snoozed until {until:%d %b %Y %H:%M} UTC", snoozed_until=until)


def _resolve(principal: Principal, alert: Mapping) -> None:
    reason = (st.session_state.get("al_reason") or "").strip()
    if not reason:
        _say("error", "Say why the alert is resolved (the reason is kept in its history).")
        return
    if _record(principal, alert, "resolve", "Resolved", reason=reason):
        st.session_state["al_reason"] = ""


def _comment(principal: Principal, alert: Mapping) -> None:
    note = (st.session_state.get("al_comment") or "").strip()
    if not note:
        _say("error", "Write a comment first.")
        return
    if _record(principal, alert, "comment", "Comment", note=note):
        st.session_state["al_comment"] = ""


def render_actions(principal: Principal, alert: Mapping, now: dt.datetime) -> None:
    """The workflow buttons of one alert (``alert``: a row of ``alert_data.build_alert_list``)."""
    status = alert["status"]
    one, two, three = st.columns(3)
    one.button("Acknowledge", key="al_ack", on_click=_record, args=(principal, alert, "acknowledge", "Acknowledged"),
               disabled=status in ("acknowledged", "resolved"), icon=":material/done:")
    if status == "resolved":
        one.button("Reopen", key="al_reopen", on_click=_record, args=(principal, alert, "reopen", "Reopened"),
                   icon=":material/undo:")
    if status == "snoozed":
        one.button("Show again now", key="al_unsnooze", on_click=_record,
                   args=(principal, alert, "unsnooze", "Snooze ended"), icon=":material/alarm_off:")
    staff = people(principal, int(alert["merchant_id"]))
    two.selectbox("Assign to", list(staff), key="al_assignee", format_func=lambda u: staff.get(u, u))
    two.button("Assign", key="al_assign", on_click=_assign, args=(principal, alert), icon=":material/person_add:")
    later = now + dt.timedelta(hours=SNOOZE_HOURS)
    three.date_input("Snooze until (day, UTC)", value=later.date(), min_value=now.date(), key="al_snooze_day",
                     format="DD/MM/YYYY")
    three.selectbox("Hour (UTC)", list(range(24)), index=later.hour, key="al_snooze_hour",
                    format_func=lambda h: f"{h:02d}:00")
    three.button("Snooze", key="al_snooze", on_click=_snooze, args=(principal, alert), icon=":material/snooze:")
    left, right = st.columns(2)
    left.text_input("Reason (to resolve)", key="al_reason", max_chars=200,
                    placeholder="e.g. payment provider outage, fixed")
    left.button("Resolve", key="al_resolve", on_click=_resolve, args=(principal, alert),
                disabled=status == "resolved", icon=":material/task_alt:")
    right.text_input("Comment", key="al_comment", max_chars=2000, placeholder="e.g. asked the carrier")
    right.button("Add the comment", key="al_comment_add", on_click=_comment, args=(principal, alert),
                 icon=":material/comment:")
    st.caption("Was this alert useful? Your answer is counted per rule, so noisy rules can be tuned.")
    yes, no, _ = st.columns([1, 1, 3])
    yes.button("Useful", key="al_useful", on_click=_record, icon=":material/thumb_up:",
               args=(principal, alert, "feedback", "Thanks: marked useful"), kwargs={"reason": "useful"})
    no.button("Not useful", key="al_not_useful", on_click=_record, icon=":material/thumb_down:",
              args=(principal, alert, "feedback", "Thanks: marked not useful"), kwargs={"reason": "not_useful"})


def describe(a) -> str:
    """One action in words (notes and reasons are data: the grid shows them as plain text)."""
    if a.action == "assign":
        text = f"assigned to {a.assignee}"
    elif a.action == "snooze":
        text = f"snoozed until {a.snoozed_until:%d %b %Y %H:%M} UTC"
    elif a.action == "resolve":
        text = f"resolved: {a.reason}"
    elif a.action == "feedback":
        text = f"said it was {FEEDBACK_WORDS.get(a.reason, a.reason)}"
    elif a.action == "comment":
        return f"comment: {a.note}"
    else:
        text = {"acknowledge": "acknowledged", "unsnooze": "snooze ended", "unassign": "unassigned",
                "reopen": "reopened"}.get(a.action, a.action)
    return text + (f" ({a.note})" if a.note else "")


def _utc(at: dt.datetime) -> dt.datetime:
    """A stored time as naive UTC for the grid (SQLite hands back naive UTC, PostgreSQL an aware time)."""
    return at.astimezone(dt.timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def system_events(entries, channel_labels: Mapping[str, str]) -> list[tuple[dt.datetime, str, str]]:
    """(when, who, what) of the audit entries that are not people's actions: found, updated, notified."""
    out = []
    for e in entries:
        after = e.after if isinstance(e.after, dict) else {}
        channel = channel_labels.get(after.get("channel"), "a removed channel")
        text = {"detect": "found by the alerts check",
                "update": "updated by a later alerts check (its end or figures changed)",
                "notify": f"notification sent to {channel}",
                "notify_failed": f"notification to {channel} given up after {after.get('attempts')} attempts"}.get(
            e.action)
        if text is not None:
            out.append((_utc(e.recorded_at), e.actor, text))
    return out


def history_frame(actions, events=()) -> pl.DataFrame:
    """People's actions and the system's events, newest first: recorded_at (naive UTC), actor, action_text."""
    rows = [(_utc(a.recorded_at), a.actor, describe(a)) for a in actions] + list(events)
    rows.sort(key=lambda r: r[0], reverse=True)
    return pl.DataFrame({"recorded_at": [r[0] for r in rows], "actor": [r[1] for r in rows],
                         "action_text": [r[2] for r in rows]},
                        schema={"recorded_at": pl.Datetime("us"), "actor": pl.Utf8, "action_text": pl.Utf8})


def render_history(principal: Principal, alert: Mapping) -> None:
    """What was done with the alert: people's actions (the workflow) and, for an incident, when the check found
    or updated it and each notification sent (the audit log)."""
    store, who = cache.store(), alert_data.store_principal(principal)
    merchant = int(alert["merchant_id"])
    actions = store.alerts.history(who, merchant_id=merchant, alert_key=alert["alert_key"], alert_kind=alert["kind"])
    events = []
    if alert["kind"] == alert_data.INCIDENT:
        entries = store.audit.entries(who, merchant_ids=[merchant], entity=f"alert:{alert_data.INCIDENT}",
                                      entity_id=alert["alert_key"])
        labels = {}
        if any(e.action.startswith("notify") for e in entries):
            from data.store.alert_channels import AlertChannels

            labels = {cid: c.label for cid, c in AlertChannels(store).channels(who, merchant).items()}
        events = system_events(entries, labels)
    if not actions and not events:
        st.caption("Nobody has acted on this alert yet.")
        return
    st.caption("What was done (newest first; times in UTC). Every entry is also in the audit log.")
    tables.render_dataframe(history_frame(actions, events), registry=tables.ALERT_COLUMNS, key="al_history")
