"""The fraud model as the Fraud review page uses it: the reasons of queued payments, and scoring new payments
as data arrives (enqueueing the flagged ones).

- ``enqueue_new``: once per (merchant, model version, data version) per server process, the merchant's newest
  ``fraud_score`` model scores its latest payments (``models.fraud.commands.score_merchant``, what
  ``python -m models score`` runs) and the flagged ones enter the queue; the store keeps a payment queued once,
  so a second server or a command-line run over the same payments adds nothing.
- ``reasons``: the model's sentences for queued payments, scored only for the payments asked about (and the
  queue's next few) and kept per payment for the model and data version, shared by sessions.

Until a model is saved for a merchant there are no reasons and nothing is scored here; cases entered by
``python -m models score`` or by a rule are reviewed all the same.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import streamlit as st

from dashboard import cache, models_ui
from data.store.principal import Principal as StorePrincipal

KIND = "fraud_score"
JOB = "scoring-job"  # who the audit log names for cases the app enqueues (as the command line does)
PREFETCH = 50  # cases after the shown ones whose reasons are computed with them


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


@st.cache_resource(max_entries=64)
def _known(merchant_id: int, model_version: str, data_version: int) -> dict[int, tuple[str, ...]]:
    """payment id -> the model's reasons (an empty tuple: scored, no reasons), shared by every session."""
    return {}


_known_lock = threading.Lock()


def reasons(merchant_id: int, payment_ids: Iterable[int], data_version: int,
            upcoming: Iterable[int] = ()) -> dict[int, list[str]]:
    """payment id -> the model's reasons (plain sentences, strongest first); empty without a model.

    Only payments not scored before (by any session, for this model and data version) are scored, in one call
    that reads just their card's, device's, network's, email's and customer's earlier rows
    (``score_payments(payment_ids=)``). With them go up to PREFETCH of ``upcoming`` (the queue's next cases),
    so the case that moves into view after a decision usually has its reasons already."""
    ids = tuple(sorted({int(p) for p in payment_ids}))
    if not ids:
        return {}
    saved = saved_model(merchant_id, data_version)
    if saved is None:
        return {}
    known = _known(merchant_id, saved.version, data_version)
    missing = [p for p in ids if p not in known]
    if missing:
        taken = set(missing)
        extra = [p for p in dict.fromkeys(int(u) for u in upcoming) if p not in known and p not in taken]
        want = missing + extra[:PREFETCH]
        from models.fraud.scoring import score_payments

        scored = score_payments(cache.access((merchant_id,)), saved.payload, payment_ids=want)
        got = {int(p): tuple(r or ()) for p, r in zip(scored["payment_id"].to_list(), scored["reasons"].to_list())}
        with _known_lock:
            known.update({p: got.get(p, ()) for p in want})
    return {p: list(known[p]) for p in ids if known.get(p)}
