"""The Fraud review page's sections: the case view with its decision or reversal form, bulk decisions with a
confirmation, reviewer stats and the downloads. Text from data and from reviewers (notes, reasons, names)
reaches the screen through grids and ``st.text`` only, never as markdown or HTML."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import polars as pl
import streamlit as st

from dashboard import cache, downloads, models_ui, review_scoring, tables, widgets
from dashboard import review_actions as actions
from dashboard import review_data as rd
from dashboard.plain_text import markdown_text
from data.store.errors import StoreError
from data.store.principal import Principal as StorePrincipal
from data.store.review_reads import ReviewCase
from data.store.review_vocabulary import BULK_MAX_CASES, NOTE_MAX_CHARS, OUTCOMES, REASONS, REVERSAL_REASONS

STATS_DAYS = 30
STATS_OPEN = "rv_stats_open"  # the Reviewer stats panel's open state (session state)
HISTORY_OPEN = "rv_history_open"  # the case view's list of the latest payments: open or not


def grid(frame: pl.DataFrame, key: str, currency: str | None = None) -> None:
    tables.render_dataframe(frame, currency, registry=rd.REVIEW_COLUMNS, key=key)


def render_case(who: StorePrincipal, case: ReviewCase, data_version: int, reasons: Sequence[str],
                now: dt.datetime, held: bool) -> None:
    """One case: what it is, why it was flagged, the histories, linked payments, its decisions; then the form."""
    st.subheader(f"Case {case.id}: payment {case.payment_id}")
    st.text(f"{rd.state_words(case)} · score {case.score:.0%} · {rd.flag_words(case.flagged_by)} · "
            f"{rd.time_left_words(rd.utc(case.due_at) - rd.utc(now))} left before the deadline "
            f"({rd.utc(case.due_at):%d %b %Y, %H:%M} UTC)")
    row = rd.payment(case.merchant_id, case.payment_id, data_version)
    if row is None:
        st.warning(f"Payment {case.payment_id} is not in the warehouse (yet): only the queue's facts are known.")
    else:
        facts = rd.payment_facts(row, case.currency)
        grid(pl.DataFrame({"about": [k for k, _ in facts], "detail": [v for _, v in facts]}), "rv_facts")
    st.caption("Why it was flagged")
    for reason in reasons or ["The model gives no reasons for this payment (no fraud model yet, a low score, "
                              "or it was flagged by a rule)."]:
        st.text(f"• {reason}")
    if row is not None:
        _render_links(case, row, data_version)
    history = rd.decisions_frame(cache.store().reviews.history(who, case.id))
    if held:
        _render_decision_form(who, case)
    elif case.state in rd.OUTCOME_DONE and history.height:
        _render_reversal(who, history)
    if history.height:
        st.caption("Decisions on this case (a reversal is a new decision; none is ever changed)")
        grid(history.select("decided_at", "reviewer", "outcome_text", "reason_text", "note"), "rv_case_history")


def _render_links(case: ReviewCase, row: Mapping, data_version: int) -> None:
    links = rd.case_links(case.merchant_id, case.payment_id, data_version)
    summary, rows, linked, common = links.summary, links.history, links.linked, links.email_is_common
    st.caption("The customer's, card's and device's history at this merchant")
    if summary.height:
        grid(summary, "rv_history_summary", case.currency)
        words = f"Their latest {rows.height:,} payments" if rows.height != 1 else "Their one payment"
        latest = st.expander(words, key=HISTORY_OPEN, on_change="rerun")
        if latest.open:  # drawn only when opened: the next case loads without it
            with latest:
                grid(rows.select("paid_ts", "payment_id", "amount", "status", "shares", "chargeback",
                                 "this_payment"), "rv_history_rows", case.currency)
    else:
        st.text("No customer, card or device is known for this payment.")
    st.caption(f"Payments linked by card, device, IP network or email domain ({linked.height:,}, nearest in time "
               "first)")
    if common:
        st.text(f"The email domain {row['email_domain']} is shared by too many payments to link on.")
    if linked.height:
        from dashboard.review_chart import build_linked_figure

        widgets.render_figure(build_linked_figure(linked, float(row["amount"]), case.currency), "rv_linked_chart")
        grid(linked.select("paid_ts", "payment_id", "customer_id", "amount", "status", "linked_by", "hours_apart",
                            "chargeback"), "rv_linked", case.currency)
    else:
        st.text("No other payment shares its card, device, IP network or email domain.")


def _reason_picker(outcome: str, key: str, extra: Mapping | None = None) -> None:
    reasons = {**REASONS[outcome], **(extra or {})}
    if st.session_state.get(key) not in reasons:
        st.session_state.pop(key, None)
    st.selectbox("Reason", list(reasons), key=key, format_func=lambda c: reasons[c].label,
                 help=" · ".join(f"{r.label}: {r.meaning}" for r in reasons.values()))


def _render_decision_form(who: StorePrincipal, case: ReviewCase) -> None:
    with st.container(border=True):
        outcome = st.radio("Decision", OUTCOMES, key="rv_outcome", horizontal=True, format_func=rd.OUTCOME_WORDS.get)
        _reason_picker(outcome, f"rv_reason_{outcome}")
        st.text_area("Note (plain text)", key="rv_note", max_chars=NOTE_MAX_CHARS,
                     placeholder="What you checked, e.g. called the customer")
        left, right = st.columns(2)
        left.button(f"{rd.OUTCOME_WORDS[outcome]} and open the next case", key="rv_decide", type="primary",
                    on_click=actions.decide, args=(who, sorted(who.merchant_ids or ()), outcome,
                                                   f"rv_reason_{outcome}", "rv_note"), icon=":material/gavel:")
        right.button("Give it back undecided", key="rv_release", on_click=actions.release, args=(who,),
                     icon=":material/undo:")


def _render_reversal(who: StorePrincipal, history: pl.DataFrame) -> None:
    current = history.row(history.height - 1, named=True)
    # An expander label is markdown; a user name may hold "@" (an e-mail autolink): a code span keeps it text.
    with st.expander(f"Reverse this decision ({current['outcome_text'].lower()} by "
                     f"{markdown_text(current['reviewer'])})",
                     icon=":material/history:"):
        choices = [o for o in OUTCOMES if o != current["outcome"]]
        outcome = st.radio("New decision", choices, key="rv_rev_outcome", horizontal=True,
                           format_func=rd.OUTCOME_WORDS.get)
        _reason_picker(outcome, "rv_rev_reason", REVERSAL_REASONS)
        st.text_area("Note (plain text)", key="rv_rev_note", max_chars=NOTE_MAX_CHARS)
        st.button("Record the reversal", key="rv_reverse", on_click=actions.reverse,
                  args=(who, current["decision_id"], "rv_rev_outcome", "rv_rev_reason", "rv_rev_note"),
                  icon=":material/swap_horiz:")


def render_scoring(merchant_ids: Sequence[int], names: Mapping[int, str], data_version: int) -> None:
    """Score what arrived since the last model or data version and enqueue the flagged payments; say which
    merchants have no fraud model yet (their queue holds only what the command line or a rule put there)."""
    try:
        review_scoring.enqueue_new(merchant_ids, data_version)
    except (StoreError, ValueError, OSError) as exc:  # a refused model file is a ModelFileError (ValueError)
        st.warning(f"New payments were not scored: {markdown_text(str(exc))}")
    missing = [m for m in merchant_ids if review_scoring.saved_model(m, data_version) is None]
    for m in merchant_ids:
        if models_ui.training_in_app():
            models_ui.render_training_status(review_scoring.KIND, m, review_scoring.saved_model(m, data_version))
    if missing:
        how = ("It is being trained in the background." if models_ui.training_in_app() else
               "Train one with `python -m models train --kind fraud_score` on the server.")
        st.info(f"No fraud model yet for {', '.join(markdown_text(names.get(m, m)) for m in missing)}: new payments "
                f"are not scored here and cases show no reasons. {how}")


def render_bulk(who: StorePrincipal, listed: pl.DataFrame) -> None:
    """Decide every open case the filters list, after a confirmation naming how many and the total amount."""
    pending = st.session_state.get(actions.BULK)
    if pending:
        total = " + ".join(f"{cur} {v:,.2f}" for cur, v in pending["totals"].items())
        st.warning(f"{rd.OUTCOME_WORDS[pending['outcome']]} {len(pending['case_ids']):,} cases, {total} in all? "
                   "Each gets its own decision and audit entry.")
        yes, no = st.columns(2)
        yes.button("Yes, decide them", key="rv_bulk_yes", type="primary", on_click=actions.confirm_bulk, args=(who,))
        no.button("Cancel", key="rv_bulk_no", on_click=actions.cancel_bulk)
    open_cases = listed.filter(pl.col("state") == "open").head(BULK_MAX_CASES)
    with st.expander(f"Decide the {open_cases.height:,} open case{'' if open_cases.height == 1 else 's'} listed, at once", icon=":material/done_all:"):
        st.caption("Cases claimed by a reviewer are left out. Narrow the list with the filters first.")
        outcome = st.radio("Decision", OUTCOMES, key="rv_bulk_outcome", horizontal=True,
                           format_func=rd.OUTCOME_WORDS.get)
        _reason_picker(outcome, f"rv_bulk_reason_{outcome}")
        st.text_area("Note (plain text)", key="rv_bulk_note", max_chars=NOTE_MAX_CHARS)
        totals = {c: float(v) for c, v in open_cases.group_by("currency").agg(pl.col("amount").sum()).iter_rows()}
        st.button(f"{rd.OUTCOME_WORDS[outcome]} {open_cases.height:,} cases...", key="rv_bulk_ask",
                  disabled=not open_cases.height, on_click=actions.ask_bulk,
                  args=(open_cases["case_id"].to_list(), totals, outcome, f"rv_bulk_reason_{outcome}",
                        "rv_bulk_note"))


def render_stats(who: StorePrincipal, merchant_ids: tuple[int, ...], now: dt.datetime) -> None:
    """Per reviewer: cases per hour and time to decision (last STATS_DAYS days), and agreement with chargebacks
    (every decision so far, since chargebacks arrive weeks later). Computed only while the panel is open: every
    decision changes them, and a reviewer working through the queue would otherwise recompute them at each
    case."""
    reviews = cache.store().reviews
    panel = st.expander("Reviewer stats", icon=":material/monitoring:", key=STATS_OPEN, on_change="rerun")
    if not panel.open:
        return
    with panel:
        stats = reviews.reviewer_stats(who, merchant_ids=merchant_ids, since=now - dt.timedelta(days=STATS_DAYS))
        log = rd.decisions_frame(reviews.decision_log(who, merchant_ids=merchant_ids))
        agreement = rd.agreement(merchant_ids, log, rd.utc(now))
        speed = pl.DataFrame({"reviewer": [s.reviewer for s in stats], "decisions": [s.decisions for s in stats],
                              "cases_per_hour": [s.cases_per_hour for s in stats],
                              "minutes_to_decision": [None if s.median_seconds_to_decision is None
                                                      else s.median_seconds_to_decision / 60 for s in stats],
                              "reversals": [s.reversals for s in stats]},
                             schema={"reviewer": pl.Utf8, "decisions": pl.Int64, "cases_per_hour": pl.Float64,
                                     "minutes_to_decision": pl.Float64, "reversals": pl.Int64})
        table = speed.join(agreement, on="reviewer", how="full", coalesce=True).sort("reviewer")
        if not table.height:
            st.text("No decisions yet.")
            return
        st.caption(f"Speed over the last {STATS_DAYS} days; agreement over every decision, against the chargebacks "
                   "that arrived later (a payment counts as good once "
                   f"{rd.chargeback_window_days()} days passed without one).")
        grid(table, "rv_stats")


def render_downloads(who: StorePrincipal, merchant_ids: tuple[int, ...], listed: pl.DataFrame, stem: str) -> None:
    left, right = st.columns(2)
    left.download_button("CSV: the cases listed", data=rd.lazy(lambda: listed, rd.QUEUE_EXPORT),
                         file_name=f"{stem}-queue.csv", mime=downloads.CSV_MIME, key="rv_queue_csv",
                         on_click="ignore", icon=":material/download:")
    right.download_button("CSV: every decision", key="rv_decisions_csv", on_click="ignore",
                          data=rd.lazy(lambda: rd.decisions_frame(cache.store().reviews.decision_log(
                              who, merchant_ids=merchant_ids)), rd.DECISION_EXPORT),
                          file_name=f"{stem}-decisions.csv", mime=downloads.CSV_MIME, icon=":material/download:")
