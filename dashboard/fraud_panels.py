"""The Fraud thresholds page's two lower sections: rules and lists (write, backtest, switch on) and feedback
(retrain, model versions, drift). Every write goes through ``data.store.fraud_settings`` (audited); rule
checks and backtests are ``models.fraud.rules``. Names and list entries typed by people are shown as text
(dataframes, ``st.text``, ``markdown_text``), never as markdown.
"""

from __future__ import annotations

import uuid

import polars as pl
import streamlit as st

from analytics.fraud_costs import cases_per_day, compute_drift
from dashboard import fraud_thresholds as data
from dashboard import models_ui, widgets
from dashboard.formatting import format_money
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError
from data.store.fraud_settings import FraudSettings
from models.artifacts import SavedModel
from models.fraud.rules import (COMPARISONS, LIST_ACTIONS, LIST_FIELDS, Rule, RuleError, backtest, parse_condition,
                                parse_list)

ACTION_WORDS = {"review": "Send to review", "decline": "Decline", "allow": "Allow (never flag)", "block": "Block"}
MESSAGE = "fr_message"


def _rid() -> str:
    return uuid.uuid4().hex


def done(text: str) -> None:
    st.session_state[MESSAGE] = text
    st.rerun()


def render_message() -> None:
    if text := st.session_state.pop(MESSAGE, None):
        st.success(text)


def _rules_table(rules: list[dict], features: dict[str, str], currency: str) -> pl.DataFrame:
    rows = []
    for r in rules:
        rule, bt = Rule.from_dict(r["rule"]), r["backtest"]
        rows.append({"Name": rule.name, "Rule": rule.words(features), "Version": r["version"],
                     "Switched on": "yes" if r["enabled"] else "no",
                     "Backtested": "yes" if bt else "not yet (cannot be switched on)",
                     "Frauds caught": bt["frauds"] if bt else None,
                     f"Fraud amount ({currency})": bt["fraud_amount"] if bt else None,
                     "Good orders stopped": bt["good"] if bt else None,
                     f"Good amount ({currency})": bt["good_amount"] if bt else None})
    return pl.DataFrame(rows)


def backtest_words(bt: dict, action: str, currency: str) -> str:
    """What a backtested rule would have done, in a sentence (plain text)."""
    frauds = f"{bt['frauds']:,} of {bt['frauds_total']:,} frauds ({format_money(bt['fraud_amount'], currency)})"
    goods = f"{bt['good']:,} good orders ({format_money(bt['good_amount'], currency)})"
    if action == "allow":
        return (f"On {bt['payments']:,} past payments with known outcomes it would have let through {frauds} "
                f"without a look, and spared {goods} from review.")
    verb = "sent to review" if action == "review" else "declined"
    return (f"On {bt['payments']:,} past payments with known outcomes it would have {verb} {frauds} and "
            f"wrongly {verb} {goods}.")


def render_rules(settings: FraudSettings, who, merchant: int, body: dict, saved: SavedModel | None,
                 data_version: int, currency: str, features: dict[str, str]) -> None:
    rules = body["rules"]
    if rules:
        st.dataframe(_rules_table(rules, features, currency), hide_index=True, key="fr_rules_table")
        by_id = {r["id"]: r for r in rules}
        pick = st.selectbox("Rule or list", list(by_id), key="fr_rule_pick",
                            format_func=lambda i: f"{by_id[i]['rule']['name']} (version {by_id[i]['version']})")
        entry = by_id[pick]
        rule = Rule.from_dict(entry["rule"])
        st.text(f"{rule.name}: {rule.words(features)}")
        if entry["backtest"]:
            st.text(backtest_words(entry["backtest"], rule.action, currency))
        a, b, c = st.columns(3)
        if a.button("Backtest on history", key="fr_backtest", disabled=saved is None):
            history = data.history(saved, data_version)
            try:
                result = backtest(history, rule).to_dict()
            except RuleError as exc:
                st.error(markdown_text(str(exc)))
            else:
                settings.record_backtest(who, merchant, pick, version=entry["version"], request_id=_rid(),
                                         result={**result, "model_version": saved.version})
                done(f"Backtested: {backtest_words(result, rule.action, currency)}")
        if b.button("Switch off" if entry["enabled"] else "Switch on", key="fr_switch"):
            try:
                settings.switch(who, merchant, pick, on=not entry["enabled"], request_id=_rid())
            except StoreError as exc:
                st.error(markdown_text(str(exc)))
            else:
                done("Switched off." if entry["enabled"] else "Switched on: new payments are checked by it.")
        if c.button("Remove", key="fr_remove"):
            settings.remove(who, merchant, pick, request_id=_rid())
            done("Removed.")
    else:
        st.caption("No rule or list yet.")
    _render_new_rule(settings, who, merchant, features, rules)
    _render_new_list(settings, who, merchant)


def _render_new_rule(settings, who, merchant, features, rules) -> None:
    with st.form("fr_new_rule"):
        st.markdown("**A rule on one feature**")
        name = st.text_input("Name", max_chars=120, key="fr_rule_name")
        a, b, c, d = st.columns([3, 1, 1, 1])
        feature = a.selectbox("Feature", sorted(features), format_func=lambda f: features[f], key="fr_rule_feature")
        comparison = b.selectbox("Comparison", list(COMPARISONS), format_func=COMPARISONS.get, key="fr_rule_cmp")
        value = c.text_input("Value", key="fr_rule_value", max_chars=40)
        action = d.selectbox("Action", ["review", "decline"], format_func=ACTION_WORDS.get, key="fr_rule_action")
        ids = {r["id"]: r["rule"]["name"] for r in rules if r["rule"]["kind"] == "condition"}
        replaces = st.selectbox("Save as", [None, *ids], key="fr_rule_replaces",
                                format_func=lambda i: "A new rule" if i is None else f"A new version of {ids[i]}")
        if st.form_submit_button("Save the rule (switched off until backtested)"):
            try:
                rule = parse_condition(name, feature, comparison, value, action, features)
            except RuleError as exc:
                st.error(markdown_text(str(exc)))
            else:
                settings.save_rule(who, merchant, rule, request_id=_rid(), rule_id=replaces)
                done("Rule saved. Backtest it before switching it on.")


def _render_new_list(settings, who, merchant) -> None:
    with st.form("fr_new_list"):
        st.markdown("**An allow or block list**")
        a, b, c = st.columns([2, 2, 1])
        name = a.text_input("Name", max_chars=120, key="fr_list_name")
        field = b.selectbox("Of", list(LIST_FIELDS), format_func=lambda f: LIST_FIELDS[f].capitalize() + "s",
                            key="fr_list_field")
        action = c.selectbox("Action", list(LIST_ACTIONS), format_func=ACTION_WORDS.get, key="fr_list_action")
        entries = st.text_area("Entries, one a line (IP prefixes like 203.0.113.0/24, domains like example.com)",
                               key="fr_list_entries", max_chars=200_000)
        if st.form_submit_button("Save the list (switched off until backtested)"):
            try:
                rule = parse_list(name, field, entries, action)
            except RuleError as exc:
                st.error(markdown_text(str(exc)))
            else:
                settings.save_rule(who, merchant, rule, request_id=_rid())
                done(f"List saved with {len(rule.entries):,} entries. Backtest it before switching it on.")


def render_feedback(merchant: int, saved: SavedModel | None, data_version: int, as_of, threshold: float | None) -> None:
    st.caption("Chargebacks that have arrived since the last training become labels the next time the model is "
               "trained.")
    if st.button("Retrain now", key="fr_retrain", help="Queues training on the newest data even if the model is "
                 "current; the page keeps the current model until the new one is saved."):
        if models_ui.training_in_app():
            models_ui.training_queue().submit(data.KIND, merchant, data_version, retry=True)
            st.success("Training queued. Its progress shows above; the page switches to the new model when done.")
        else:
            st.info("This instance does not train in the background (RETAIL_PULSE_TRAIN_IN_APP=off). Run "
                    f"`python -m models train --kind {data.KIND} --merchant {merchant}` on the server.")
    versions = data.versions(merchant)
    if versions.height:
        st.dataframe(versions, hide_index=True, key="fr_versions")
    else:
        st.caption("No model version saved yet.")
    if saved is None or as_of is None:
        return
    recent = data.recent_scores(saved, data_version, as_of)
    drift = compute_drift(data.training_scores(saved), recent)
    st.text(drift.words)
    st.caption(f"{drift.recent:,} payments scored in the {data.RECENT_DAYS} days to {as_of:%d %b %Y} against "
               f"{drift.training:,} in training · two-sample KS {drift.ks_statistic:.3f} (p = {drift.ks_p_value:.3g})")
    if threshold is not None and recent.size:
        weekly = cases_per_day(pl.DataFrame({"score": recent}), threshold) / data.RECENT_DAYS
        st.caption(f"At the chosen threshold this week's payments gave {weekly:,.1f} review cases a day.")
    widgets.render_figure(data.build_drift_figure(data.training_scores(saved), recent), key="fr_drift")
