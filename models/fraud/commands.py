"""Scoring new payments and enqueueing the flagged ones: what `python -m models score` (and the app) run.

A merchant's newest signed ``fraud_score`` model scores the merchant's payments from ``since`` (default: the
last DEFAULT_DAYS days of its payments). Payments that went through enter the review queue (through
``store.reviews.enqueue_many``, which keeps a payment queued once, so a second run adds nothing) when a
switched-on rule of the merchant says review or decline (``flagged_by`` is the rule's name), or else when
their score is at or over the merchant's threshold (the one saved on the Fraud thresholds page, else the
model's own). An allow-list match keeps a payment out of the queue whatever its score.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from data.access import DataAccess, Scope
from data.store import Principal
from data.store.fraud_settings import enabled_rules, threshold_for
from models.artifacts import ModelStore
from models.fraud import outputs
from models.fraud.rules import Rule, evaluate
from models.fraud.scoring import score_payments

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
    threshold = threshold_for(store, merchant_id, default=outputs.load_threshold(saved.payload))
    rules = [Rule.from_dict(r) for r in enabled_rules(store, merchant_id)]
    access = DataAccess(backend_factory(), Scope.merchants([int(merchant_id)]))
    if since is None:
        newest = access.scalar(access.table("payments").paid_ts.max())
        if newest is None:
            return ScoreRun(0, 0, 0, threshold)
        since = newest - dt.timedelta(days=DEFAULT_DAYS)
    say(f"scoring payments from {since:%Y-%m-%d %H:%M} with model {saved.version}")
    scored = score_payments(access, saved.payload, since=since, reasons_from=1.1)  # the queue needs no words
    flagged = queue_intake(scored, threshold, rules)
    merchants = access.table("merchants")
    currency = access.scalar(merchants.filter(merchants.merchant_id == int(merchant_id)).currency.max()) or "XXX"
    rows = [{"merchant_id": int(merchant_id), "payment_id": int(r["payment_id"]),
             "score": min(max(float(r["score"]), 0.0), 1.0), "amount": float(r["amount"]),
             "currency": str(currency), "flagged_by": r["flagged_by"]}
            for r in flagged.select("payment_id", "score", "amount", "flagged_by").iter_rows(named=True)]
    added = 0
    for start in range(0, len(rows), BATCH):
        added += sum(e.added for e in store.reviews.enqueue_many(principal, rows[start:start + BATCH]))
        say(f"queued {min(start + BATCH, len(rows)):,} of {len(rows):,} flagged payments")
    return ScoreRun(scored.height, flagged.height, added, threshold)


def flag_name(rule_name: str) -> str:
    """The queue's ``flagged_by`` for a rule: its name as letters, digits and underscores (at most 64), never the
    word ``score`` (that means the model flagged it)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", rule_name).strip("_")[:60] or "rule"
    return "score_rule" if slug == "score" else slug


def queue_intake(scored: pl.DataFrame, threshold: float, rules: list[Rule]) -> pl.DataFrame:
    """The payments to queue, with ``flagged_by``: payments that went through (declined attempts are never
    queued), not on an allow list, that a review/decline rule or block list catches (the rule's name) or that
    score at or over ``threshold`` ("score")."""
    live = scored.filter(pl.col("status") != "declined")
    if rules:
        live = evaluate(live, rules)
    else:
        live = live.with_columns(pl.lit(None, pl.Utf8).alias("rule_action"), pl.lit(None, pl.Utf8).alias("rule_name"))
    by_rule = pl.col("rule_action").is_in(["review", "decline"])
    out = live.filter((pl.col("rule_action").is_null() | (pl.col("rule_action") != "allow"))
                      & (by_rule | (pl.col("score") >= threshold)))
    names = {r.name: flag_name(r.name) for r in rules}
    return out.with_columns(
        pl.when(by_rule).then(pl.col("rule_name").replace_strict(names, default="rule", return_dtype=pl.Utf8))
        .otherwise(pl.lit("score")).alias("flagged_by"))
