"""The fraud model as the Fraud review page uses it: the reasons of queued payments, and scoring new payments
as data arrives (enqueueing the flagged ones).

Until a ``fraud_score`` model is saved for a merchant there are no reasons and nothing is scored here; cases
entered by ``python -m models score`` (or by a rule) are reviewed all the same.
"""

from __future__ import annotations

from collections.abc import Iterable


def reasons(merchant_id: int, payment_ids: Iterable[int], data_version: int) -> dict[int, list[str]]:
    """payment id -> the model's reasons (plain sentences, strongest first); empty without a model."""
    return {}


def enqueue_new(principal, merchant_ids: Iterable[int], data_version: int) -> None:
    """Score what arrived since the last run and enqueue the flagged payments (nothing without a model)."""
    return None
