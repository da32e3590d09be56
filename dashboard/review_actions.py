"""The Fraud review page's writes: claim, give back, decide (and load the next case), bulk decisions with a
confirmation, reversals.

Every write runs in a button callback with a request id made there (a rerun never re-sends it), through the
operational store with the page's principal (``review_data.review_principal``), so the store refuses another
merchant's case whatever the page offered. The case a reviewer holds is kept in session state as the store's
``ClaimedCase`` (its lease is what a decision needs). Store messages are shown as code spans (plain text).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboard import cache
from dashboard.plain_text import markdown_text
from dashboard.review_data import OUTCOME_DONE
from data.store.errors import LeaseLost, StoreError
from data.store.principal import Principal as StorePrincipal

CLAIM = "rv_claim"  # ClaimedCase held by this session
VIEW = "rv_view"  # case id looked at without a claim (decided, or held by someone else)
MESSAGE = "rv_message"
BULK = "rv_bulk_pending"  # the bulk decision waiting for its confirmation


def say(kind: str, text: str) -> None:
    st.session_state[MESSAGE] = (kind, text)


def render_message() -> None:
    if message := st.session_state.pop(MESSAGE, None):
        {"success": st.success, "warning": st.warning}.get(message[0], st.error)(message[1])


def _rid() -> str:
    from data.store import new_request_id

    return new_request_id()


def _failed(what: str, exc: StoreError) -> None:
    say("error", f"{what}: {markdown_text(str(exc))}")


def _hold(claimed) -> None:
    st.session_state[CLAIM] = claimed
    st.session_state.pop(VIEW, None)


def claim_next(who: StorePrincipal, merchant_ids: Sequence[int]) -> None:
    try:
        claimed = cache.store().reviews.claim_next(who, merchant_ids=merchant_ids)
    except StoreError as exc:
        return _failed("No case was claimed", exc)
    if claimed is None:
        say("warning", "No case is free: every waiting case is claimed by a reviewer, or the queue is empty.")
        return
    _hold(claimed)


def claim(who: StorePrincipal, case_id: int) -> None:
    try:
        claimed = cache.store().reviews.claim(who, case_id)
    except StoreError as exc:
        return _failed(f"Case {case_id} was not claimed", exc)
    if claimed is None:
        say("warning", f"Case {case_id} is being reviewed by someone else, or it is decided already.")
        st.session_state[VIEW] = case_id
        return
    _hold(claimed)


def open_case(who: StorePrincipal, case_id: int, claimable: bool) -> None:
    """Claim an open case; only look at one that is claimed or decided."""
    if claimable:
        claim(who, case_id)
    else:
        st.session_state[VIEW] = case_id


def release(who: StorePrincipal) -> None:
    claimed = st.session_state.pop(CLAIM, None)
    if claimed is None:
        return
    try:
        cache.store().reviews.release(who, claimed.lease)
    except StoreError as exc:
        return _failed("The case was not given back", exc)
    say("success", f"Case {claimed.case.id} is back in the queue.")


def lost(case_id: int) -> None:
    """The session's claim is no longer live (it expired, or the case was decided): drop it, say so."""
    st.session_state.pop(CLAIM, None)
    st.session_state[VIEW] = case_id
    say("warning", f"Your claim on case {case_id} has ended (it expired or the case was decided); claim it again "
                   "to decide it.")


def decide(who: StorePrincipal, merchant_ids: Sequence[int], outcome: str, reason_key: str, note_key: str) -> None:
    claimed = st.session_state.get(CLAIM)
    if claimed is None:
        return
    reason, note = st.session_state.get(reason_key), st.session_state.get(note_key) or None
    try:
        decision, following = cache.store().reviews.decide_and_claim_next(
            who, claimed.lease, outcome=outcome, reason=reason, request_id=_rid(), note=note,
            merchant_ids=merchant_ids)
    except LeaseLost:
        return lost(claimed.case.id)
    except StoreError as exc:
        return _failed(f"Case {claimed.case.id} was not decided", exc)
    st.session_state[note_key] = ""
    done = f"Case {decision.case_id} {OUTCOME_DONE[decision.outcome]}."
    if following is None:
        st.session_state.pop(CLAIM, None)
        say("success", f"{done} No other case is free: the queue is done for now.")
    else:
        _hold(following)
        say("success", f"{done} Next: case {following.case.id}.")


def ask_bulk(case_ids: list[int], totals: dict[str, float], outcome: str, reason_key: str, note_key: str) -> None:
    st.session_state[BULK] = {"case_ids": case_ids, "totals": totals, "outcome": outcome,
                              "reason": st.session_state.get(reason_key),
                              "note": st.session_state.get(note_key) or None}


def cancel_bulk() -> None:
    st.session_state.pop(BULK, None)


def confirm_bulk(who: StorePrincipal) -> None:
    pending = st.session_state.pop(BULK, None)
    if pending is None:
        return
    try:
        decisions = cache.store().reviews.decide_bulk(who, pending["case_ids"], outcome=pending["outcome"],
                                                      reason=pending["reason"], request_id=_rid(),
                                                      note=pending["note"])
    except StoreError as exc:
        return _failed("Nothing was decided", exc)
    say("success", f"{len(decisions):,} cases {OUTCOME_DONE[pending['outcome']]}.")


def reverse(who: StorePrincipal, decision_id: int, outcome_key: str, reason_key: str, note_key: str) -> None:
    outcome = st.session_state.get(outcome_key)
    try:
        decision = cache.store().reviews.reverse(who, decision_id, outcome=outcome,
                                                 reason=st.session_state.get(reason_key), request_id=_rid(),
                                                 note=st.session_state.get(note_key) or None)
    except StoreError as exc:
        return _failed("The reversal was not recorded", exc)
    st.session_state[note_key] = ""
    say("success", f"Decision {decision_id} reversed: case {decision.case_id} is now {OUTCOME_DONE[outcome]}.")
