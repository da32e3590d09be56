"""Scoring new payments and enqueueing the flagged ones: what `python -m models score` (and the app) run.

A merchant's newest signed ``fraud_score`` model scores the merchant's payments from ``since`` (default: the
last DEFAULT_DAYS days of its payments); payments that went through with a score at or over the model's
threshold enter the review queue through ``store.reviews.enqueue_many``, which keeps a payment queued once,
so a second run over the same payments adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from data.access import DataAccess, Scope
from data.store import Principal
from models.artifacts import ModelStore
from models.fraud import outputs
from models.fraud.scoring import flagged_payments, score_payments

DEFAULT_DAYS = 7
BATCH = 1_000  # cases per enqueue transaction


@dataclass(frozen=True)
class ScoreRun:
    scored: int
    flagged: int
    added: int
    threshold: float


def score_merchant(backend_factory: Callable[[], Any], models: ModelStore, store, principal: Principal,
                   merchant_id: int, *, since: dt.datetime | None = None,
                   progress: Callable[[str], None] | None = None) -> ScoreRun:
    """Score one merchant's payments from ``since`` and enqueue the flagged ones (see module doc).

    Raises ModelFileError when no usable model is saved (the message says how to train one)."""
    say = progress or (lambda text: None)
    saved = models.load(outputs.KEY, merchant_id)
    threshold = outputs.load_threshold(saved.payload)
    access = DataAccess(backend_factory(), Scope.merchants([int(merchant_id)]))
    if since is None:
        newest = access.scalar(access.table("payments").paid_ts.max())
        if newest is None:
            return ScoreRun(0, 0, 0, threshold)
        since = newest - dt.timedelta(days=DEFAULT_DAYS)
    say(f"scoring payments from {since:%Y-%m-%d %H:%M} with model {saved.version}")
    scored = score_payments(access, saved.payload, since=since, reasons_from=1.1)  # the queue needs no words
    flagged = flagged_payments(scored, threshold)
    merchants = access.table("merchants")
    currency = access.scalar(merchants.filter(merchants.merchant_id == int(merchant_id)).currency.max()) or "XXX"
    rows = [{"merchant_id": int(merchant_id), "payment_id": int(r["payment_id"]),
             "score": min(max(float(r["score"]), 0.0), 1.0), "amount": float(r["amount"]),
             "currency": str(currency), "flagged_by": "score"}
            for r in flagged.select("payment_id", "score", "amount").iter_rows(named=True)]
    added = 0
    for start in range(0, len(rows), BATCH):
        added += sum(e.added for e in store.reviews.enqueue_many(principal, rows[start:start + BATCH]))
        say(f"queued {min(start + BATCH, len(rows)):,} of {len(rows):,} flagged payments")
    return ScoreRun(scored.height, flagged.height, added, threshold)
