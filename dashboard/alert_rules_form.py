"""The Alerts page's rules editor: per merchant, which metrics and dimensions are watched and how touchy, who owns
the alerts, when the digest goes out, where alerts are delivered; "was this useful?" per rule beside each rule.

Every save is a new revision of the merchant's ``alert_rules`` document (``data.store.alert_rules``), written
with the signed-in person's principal (a merchant user can only touch their own merchant); channels go through
``data.store.alert_channels``, which checks each apprise URL and only ever shows it masked. Bad input gets a
message naming the field and the value; nothing is saved then.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import alert_data, alert_workflow, cache, tables
from dashboard.auth.accounts import Principal
from dashboard.plain_text import markdown_text
from data.store.alert_channels import AlertChannels
from data.store.alert_incidents import AlertIncidents
from data.store.alert_rules import AlertRules, rule_key
from models.alerts import scoring
from models.alerts.watch import DEFAULT_RULES, METRICS

KNOWN = {m.key: m.dimensions for m in METRICS.values()}
_FIELDS = ("al_rule_on", "al_rule_sensitivity", "al_rule_direction", "al_rule_min_volume", "al_rule_quiet")
NO_DIGEST = -1


def parse_hours(text: str) -> list[int]:
    """Quiet hours from "0-6, 22, 23" (ranges may wrap: "22-2"); ValueError naming the part that is wrong."""
    hours: set[int] = set()
    for part in (p.strip() for p in (text or "").replace(";", ",").split(",")):
        if not part:
            continue
        bounds = [b.strip() for b in part.split("-")]
        if len(bounds) > 2 or not all(b.isdecimal() for b in bounds):  # isdigit() lets "²" through to int()
            raise ValueError(f"quiet hours: {part!r} is not an hour (0-23) or a range of hours like 0-6")
        low, high = (int(bounds[0]), int(bounds[-1]))
        for h in (low, high):
            if h > 23:
                raise ValueError(f"quiet hours: {h} is not an hour; hours go from 0 to 23")
        hours.update(range(low, high + 1) if low <= high else [*range(low, 24), *range(0, high + 1)])
    return sorted(hours)


def hours_text(hours) -> str:
    """[0, 1, 2, 3, 22] -> "0-3, 22" (the form ``parse_hours`` reads)."""
    out, run = [], []
    for h in sorted(hours):
        if run and h == run[-1] + 1:
            run.append(h)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [h]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def default_rules() -> list[dict]:
    """The detection's defaults (``watch.DEFAULT_RULES``) in the stored form."""
    return [{"metric": r.metric, "dimension": r.dimension, "sensitivity": r.sensitivity, "direction": r.direction,
             "min_volume": float(scoring.MIN_VOLUME.get(r.metric, 0.0)) if r.min_volume is None else r.min_volume,
             "quiet_hours": sorted(r.quiet_hours), "enabled": True} for r in DEFAULT_RULES]


def rules_frame(rules: list[dict], feedback: pl.DataFrame) -> pl.DataFrame:
    """One row per rule with its feedback: rule_text, enabled, incidents, useful_share, useful, not_useful,
    sensitivity, direction_text, min_volume, quiet_text."""
    votes = {r["rule_key"]: r for r in feedback.iter_rows(named=True)}
    rows = []
    for r in rules:
        key = rule_key(r["metric"], r["dimension"])
        fb = votes.get(key, {})
        rows.append({"rule_text": _rule_words(key), "enabled": r["enabled"], "sensitivity": r["sensitivity"],
                     "direction_text": alert_data.DIRECTION_WORDS[r["direction"]], "min_volume": r["min_volume"],
                     "quiet_text": hours_text(r["quiet_hours"]) or "none", "incidents": fb.get("incidents", 0),
                     "useful": fb.get("useful", 0), "not_useful": fb.get("not_useful", 0),
                     "useful_share": fb.get("useful_share")})
    schema = {"rule_text": pl.Utf8, "enabled": pl.Boolean, "incidents": pl.Int64, "useful_share": pl.Float64,
              "useful": pl.Int64, "not_useful": pl.Int64, "sensitivity": pl.Float64, "direction_text": pl.Utf8,
              "min_volume": pl.Float64, "quiet_text": pl.Utf8}
    return pl.DataFrame(rows, schema=schema).select(list(schema))  # feedback first: what a person tunes by


def _rule_words(key: str) -> str:
    metric, dimension = key.split("/", 1)
    dim = "all sales" if dimension == "total" else f"by {alert_data.DIMENSION_WORDS[dimension].lower()}"
    return f"{alert_data.metric_title(metric)}, {dim}"


def _load(rule: dict) -> None:
    st.session_state.update({"al_rule_on": rule["enabled"], "al_rule_sensitivity": float(rule["sensitivity"]),
                             "al_rule_direction": rule["direction"], "al_rule_min_volume": float(rule["min_volume"]),
                             "al_rule_quiet": hours_text(rule["quiet_hours"])})


def _save_rule(principal: Principal, merchant_id: int, rules: list[dict], key: str) -> None:
    s = st.session_state
    try:
        quiet = parse_hours(s.get("al_rule_quiet", ""))
    except ValueError as exc:
        alert_workflow._say("error", f"The rule {_rule_words(key)} was not saved: {markdown_text(str(exc))}")
        return
    changed = [dict(r, enabled=bool(s["al_rule_on"]), sensitivity=float(s["al_rule_sensitivity"]),
                    direction=s["al_rule_direction"], min_volume=float(s["al_rule_min_volume"]), quiet_hours=quiet)
               if rule_key(r["metric"], r["dimension"]) == key else r for r in rules]
    who = alert_data.store_principal(principal)
    alert_workflow.write(f"The rule {_rule_words(key)}", lambda rid: AlertRules(cache.store(), KNOWN).save(
        who, merchant_id, request_id=rid, rules=changed))


def _save_owner(principal: Principal, merchant_id: int) -> None:
    s = st.session_state
    owner, hour = s.get(f"al_owner_{merchant_id}") or None, s.get(f"al_digest_hour_{merchant_id}")
    who = alert_data.store_principal(principal)
    alert_workflow.write("Owner and digest", lambda rid: AlertRules(cache.store(), KNOWN).save(
        who, merchant_id, request_id=rid, owner=owner, digest_hour=None if hour == NO_DIGEST else hour))


def render_rules(principal: Principal, merchant_id: int) -> None:
    """The rules, owner, digest hour and channels of one merchant (in the principal's scope)."""
    store, who = cache.store(), alert_data.store_principal(principal)
    body = AlertRules(store, KNOWN).get(who, merchant_id)
    rules = body["rules"] if body["rules"] is not None else default_rules()
    feedback = AlertIncidents(store).feedback_by_rule(who, merchant_ids=[merchant_id])
    history = AlertRules(store, KNOWN).history(who, merchant_id)
    if history:
        last = history[-1]
        st.caption(f"Revision {last.revision}, saved by {markdown_text(last.actor)} on "
                   f"{last.recorded_at:%d %b %Y %H:%M} UTC. Each save is a new revision, kept with who made it.")
    else:
        st.caption("Never saved: the defaults apply (every metric and dimension watched). A save keeps a revision.")
    tables.render_dataframe(rules_frame(rules, feedback), registry=tables.ALERT_COLUMNS, key="al_rules_table")

    keys = [rule_key(r["metric"], r["dimension"]) for r in rules]
    key = st.selectbox("Rule to change", keys, key="al_rule_pick", format_func=_rule_words)
    if st.session_state.get("al_rule_loaded") != (merchant_id, key) or any(f not in st.session_state for f in _FIELDS):
        _load(rules[keys.index(key)])
        st.session_state["al_rule_loaded"] = (merchant_id, key)
    one, two, three = st.columns(3)
    one.checkbox("Watched", key="al_rule_on")
    one.selectbox("Alert on", list(alert_data.DIRECTION_WORDS), key="al_rule_direction",
                  format_func=alert_data.DIRECTION_WORDS.get)
    two.slider("Sensitivity", 0.0, 1.0, step=0.05, key="al_rule_sensitivity",
               help="0: only the most extreme departures alert; 1: touchy. 0.5 is the usual band.")
    two.number_input("Minimum volume", min_value=0.0, step=1.0, key="al_rule_min_volume",
                     help="The expected count (orders, payments, sessions) a window must reach before it may alert, "
                          "so a quiet hour of a small shop pages nobody.")
    three.text_input("Quiet hours (shop time)", key="al_rule_quiet", max_chars=100, placeholder="e.g. 0-6, 23",
                     help="Hours that never alert (they still count towards what is expected).")
    st.button("Save the rule", key="al_rule_save", on_click=_save_rule, args=(principal, merchant_id, rules, key),
              icon=":material/save:")

    st.subheader("Owner and daily digest")
    staff = {"": "Nobody", **alert_workflow.people(principal, merchant_id)}
    if body["owner"] and body["owner"] not in staff:
        staff[body["owner"]] = body["owner"]
    left, right = st.columns(2)
    left.selectbox("Owner", list(staff), index=list(staff).index(body["owner"] or ""), key=f"al_owner_{merchant_id}",
                   format_func=staff.get, help="Who answers for this merchant's alerts.")
    hours = [NO_DIGEST, *range(24)]
    right.selectbox("Daily digest after (UTC)", hours, key=f"al_digest_hour_{merchant_id}",
                    index=hours.index(NO_DIGEST if body["digest_hour"] is None else body["digest_hour"]),
                    format_func=lambda h: "No digest" if h == NO_DIGEST else f"{h:02d}:00")
    st.button("Save owner and digest", key="al_owner_save", on_click=_save_owner, args=(principal, merchant_id),
              icon=":material/save:")
    render_channels(principal, merchant_id)


def _add_channel(principal: Principal, merchant_id: int) -> None:
    s = st.session_state
    who = alert_data.store_principal(principal)
    label = (s.get("al_ch_label") or "").strip() or "Channel"
    if alert_workflow.write(f"Delivery channel {markdown_text(label)}", lambda rid: AlertChannels(cache.store()).save(
            who, merchant_id=merchant_id, label=label, url=s.get("al_ch_url") or "", request_id=rid,
            instant=bool(s.get("al_ch_instant")), digest=bool(s.get("al_ch_digest")))):
        s["al_ch_url"] = ""  # a secret: not kept in the form after it is stored


def _remove_channel(principal: Principal, merchant_id: int) -> None:
    if cid := st.session_state.get("al_ch_pick"):
        who = alert_data.store_principal(principal)
        alert_workflow.write("Channel removal", lambda rid: AlertChannels(cache.store()).remove(
            who, merchant_id=merchant_id, channel_id=cid, request_id=rid))


def render_channels(principal: Principal, merchant_id: int) -> None:
    st.subheader("Delivery")
    who = alert_data.store_principal(principal)
    channels = AlertChannels(cache.store()).channels(who, merchant_id)
    if channels:
        tables.render_dataframe(pl.DataFrame([{
            "channel": c.label, "service": c.service, "masked_url": c.masked_url, "instant": c.instant,
            "digest": c.digest, "actor": c.changed_by} for c in channels.values()]),
            registry=tables.ALERT_COLUMNS, key="al_channels")
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        pick.selectbox("Channel", list(channels), key="al_ch_pick", format_func=lambda c: channels[c].label)
        go.button("Remove", key="al_ch_remove", on_click=_remove_channel, args=(principal, merchant_id),
                  icon=":material/delete:")
    else:
        st.caption("No delivery channel: alerts show here only.")
    with st.expander("Add a delivery channel", icon=":material/add_alert:"):
        st.caption("An apprise URL: mailto://user:password@smtp.example.com, slack://TokenA/TokenB/TokenC, "
                   "json://hooks.example.com/alerts and the other services apprise knows. It is checked before "
                   "it is saved and only ever shown masked.")
        st.text_input("Name", key="al_ch_label", max_chars=100, placeholder="e.g. Operations Slack")
        st.text_input("Apprise URL", key="al_ch_url", type="password", max_chars=2000)
        st.checkbox("Each new incident at once", value=True, key="al_ch_instant")
        st.checkbox("The daily digest", value=True, key="al_ch_digest")
        st.button("Add the channel", key="al_ch_add", on_click=_add_channel, args=(principal, merchant_id),
                  icon=":material/add:")

