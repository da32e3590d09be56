"""The fraud model as the Fraud review page uses it: the reasons of queued payments, and scoring new payments
as data arrives (enqueueing the flagged ones).

- ``enqueue_new``: once per (merchant, model version, data version) per server process, the merchant's newest
  ``fraud_score`` model scores its latest payments (``models.fraud.commands.score_merchant``, what
  ``python -m models score`` runs) and the flagged ones enter the queue; the store keeps a payment queued once,
  so a second server or a command-line run over the same payments adds nothing.
- ``reasons``: the model's sentences for queued payments. The payments asked about are grouped by the fixed
  blocks of four whole weeks holding them (``windows``). Per block the features read the history once and the
  payments scoring at least 5% are kept with their features (cached per merchant, model version, data version
  and block, shared by sessions); SHAP then runs for the payments asked about only (SHAP for every such
  payment of the weeks shown was most of a cold page), so the page after a decision, whose cases shift by
  one, explains its cases from blocks already computed.

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


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=32)
def _worth_explaining(merchant_id: int, model_version: str, data_version: int, first: dt.date, last: dt.date,
                      _payload: bytes):
    """The payments paid on days ``first`` to ``last`` that the model gives reasons for (score at least 5%),
    with their features and scores: one read of the merchant's history, whatever the window's length."""
    from models.fraud.scoring import REASONS_FROM, score_payments

    since = dt.datetime.combine(first, dt.time())
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()) - dt.timedelta(microseconds=1)
    scored = score_payments(cache.access((merchant_id,)), _payload, since=since, until=until, reasons_from=1.1)
    return scored.filter(scored["score"] >= REASONS_FROM).drop("reasons")


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=256)
def _said(merchant_id: int, model_version: str, data_version: int, first: dt.date, last: dt.date
          ) -> dict[int, tuple[str, ...]]:
    """payment id -> its reasons (empty: none), filled in as payments of the block are explained."""
    return {}


def _reasons_between(merchant_id: int, model_version: str, data_version: int, first: dt.date, last: dt.date,
                     payment_ids: tuple[int, ...], payload: bytes) -> dict[int, tuple[str, ...]]:
    """Reasons of ``payment_ids`` (paid on days ``first`` to ``last``): SHAP for the payments not explained yet
    only (after a decision, the one case that came into view), from the block's scored payments
    (``_worth_explaining``)."""
    import polars as pl

    from models.fraud.scoring import explain

    said = _said(merchant_id, model_version, data_version, first, last)
    missing = [p for p in payment_ids if p not in said]
    if missing:
        worth = _worth_explaining(merchant_id, model_version, data_version, first, last, payload)
        asked = worth.filter(pl.col("payment_id").is_in(missing))
        new = {p: () for p in missing}  # below the model's 5%: no reasons
        if asked.height:
            out = explain(asked.drop("probability", "anomaly", "score"), payload)
            new.update({int(p): tuple(r) for p, r in zip(out["payment_id"].to_list(), out["reasons"].to_list())})
        said.update(new)
    return {p: said[p] for p in payment_ids if said.get(p)}


BLOCK_DAYS = 28  # reasons are computed per fixed block of four whole weeks
_EPOCH = dt.date(2001, 1, 1)  # a Monday: blocks run Monday to Sunday


def windows(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """The fixed blocks of four whole weeks (Monday to Sunday) holding ``days``, oldest first. A day's block
    does not depend on the other days asked about, so the page after a decision, whose cases shift by one,
    asks for the same blocks and finds them computed."""
    starts = {_EPOCH + dt.timedelta(days=BLOCK_DAYS * ((d - _EPOCH).days // BLOCK_DAYS)) for d in days}
    return [(s, s + dt.timedelta(days=BLOCK_DAYS - 1)) for s in sorted(starts)]


def _paid_days(merchant_id: int, payment_ids: tuple[int, ...], data_version: int) -> dict[int, dt.date]:
    from dashboard.review_data import payments

    return {p: row["paid_ts"].date() for p, row in payments(merchant_id, payment_ids, data_version).items()}


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
