"""The fraud model as the Fraud review page uses it: the reasons of queued payments, and scoring new payments
as data arrives (enqueueing the flagged ones).

- ``enqueue_new``: once per (merchant, model version, data version) per server process, the merchant's newest
  ``fraud_score`` model scores its latest payments (``models.fraud.commands.score_merchant``, what
  ``python -m models score`` runs) and the flagged ones enter the queue; the store keeps a payment queued once,
  so a second server or a command-line run over the same payments adds nothing.
- ``reasons``: the model's sentences for queued payments. The payments asked about are grouped by the whole
  weeks holding them into windows of up to WINDOW_WEEKS weeks (``windows``); per window the features read the
  history once, whatever the window's length, and only the payments asked about are scored and explained
  (SHAP for every payment of five weeks was most of a cold page). Cached per (merchant, model version, data
  version, window, payments) and shared by sessions: a queue page of recent cases is one call.

Until a model is saved for a merchant there are no reasons and nothing is scored here; cases entered by
``python -m models score`` or by a rule are reviewed all the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import streamlit as st

from dashboard import cache, models_ui
from data.store.principal import Principal as StorePrincipal

KIND = "fraud_score"
JOB = "scoring-job"
WINDOW_WEEKS = 5  # the longest window of payments read in one call for the reasons of a queue page


def saved_model(merchant_id: int, data_version: int):
    """The merchant's newest usable fraud model, or None (queues background training when that is on)."""
    saved, _ = models_ui.current_model(KIND, merchant_id, data_version)
    return saved


@st.cache_resource(show_spinner="Scoring new payments...", max_entries=64)
def _scored_once(merchant_id: int, model_version: str, data_version: int):
    from models.fraud.commands import score_merchant

    job = StorePrincipal.merchants(JOB, [merchant_id])
    return score_merchant(cache.engine().backend, models_ui.model_store(), cache.store(), job, merchant_id)


def enqueue_new(merchant_ids: Iterable[int], data_version: int) -> dict[int, object]:
    """Score each merchant's latest payments with its model (once per model and data version) and enqueue the
    flagged ones. Returns merchant id -> the run (``ScoreRun``) for merchants with a model."""
    runs = {}
    for m in merchant_ids:
        saved = saved_model(m, data_version)
        if saved is not None:
            runs[m] = _scored_once(m, saved.version, data_version)
    return runs


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=64)
def _reasons_between(merchant_id: int, model_version: str, data_version: int, first: dt.date, last: dt.date,
                     payment_ids: tuple[int, ...], _payload: bytes) -> dict[int, tuple[str, ...]]:
    """Reasons of ``payment_ids`` (paid on days ``first`` to ``last``) that the model gives reasons for (score at
    least 5%). One call: the features read the merchant's history once, whatever the window's length; only the
    payments asked about are scored and explained."""
    from models.fraud.scoring import score_payments

    since = dt.datetime.combine(first, dt.time())
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()) - dt.timedelta(microseconds=1)
    scored = score_payments(cache.access((merchant_id,)), _payload, since=since, until=until, payment_ids=payment_ids)
    return {int(p): tuple(r) for p, r in zip(scored["payment_id"].to_list(), scored["reasons"].to_list()) if r}


def windows(days: Iterable[dt.date], span_weeks: int = WINDOW_WEEKS) -> list[tuple[dt.date, dt.date]]:
    """Whole weeks (Monday to Sunday) covering ``days``, grouped into windows of at most ``span_weeks`` weeks:
    a queue of recent cases is one window; a few old cases add a window each instead of stretching the
    first one over months of payments to score."""
    out: list[tuple[dt.date, dt.date]] = []
    for monday in sorted({_monday(d) for d in days}):
        if out and monday < out[-1][0] + dt.timedelta(weeks=span_weeks):
            out[-1] = (out[-1][0], monday + dt.timedelta(days=6))
        else:
            out.append((monday, monday + dt.timedelta(days=6)))
    return out


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=256)
def _paid_days(merchant_id: int, payment_ids: tuple[int, ...], data_version: int) -> dict[int, dt.date]:
    from analytics.fraud_links import compute_payments

    rows = compute_payments(cache.access((merchant_id,)), payment_ids)
    return {int(p): ts.date() for p, ts in zip(rows["payment_id"].to_list(), rows["paid_ts"].to_list())}


def reasons(merchant_id: int, payment_ids: Iterable[int], data_version: int) -> dict[int, list[str]]:
    """payment id -> the model's reasons (plain sentences, strongest first); empty without a model."""
    ids = tuple(sorted({int(p) for p in payment_ids}))
    if not ids:
        return {}
    saved = saved_model(merchant_id, data_version)
    if saved is None:
        return {}
    days = _paid_days(merchant_id, ids, data_version)
    if not days:
        return {}
    out: dict[int, list[str]] = {}
    for first, last in windows(days.values()):
        asked = tuple(p for p in ids if p in days and first <= days[p] <= last)
        said = _reasons_between(merchant_id, saved.version, data_version, first, last, asked, saved.payload)
        out.update({p: list(said[p]) for p in asked if p in said})
    return out
