"""Whether a merchant's purchase history can support churn and lifetime-value models at all.

Both models learn from customers who come back. With one purchase per customer (the customer shopping
dataset) or a handful of repeat buyers, any churn probability or value would be a guess; the fit then
returns a ``Shortfall`` that the page shows in words instead of numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

MIN_REPEAT_BUYERS = 100


@dataclass(frozen=True)
class Shortfall:
    """Why there is too little data: ``reason`` is ``no_customers``, ``few_repeat_buyers`` or ``history``."""

    reason: str
    message: str  # a plain sentence for the page
    customers: int
    repeat_buyers: int
    history_days: int

    def to_dict(self) -> dict:
        return asdict(self)


def check_history(purchases: pl.DataFrame, *, min_days: int,
                  min_repeat_buyers: int = MIN_REPEAT_BUYERS) -> Shortfall | None:
    """None when the purchases (``features.load_purchases``) can train the models, else the ``Shortfall``."""
    if purchases.height == 0:
        return Shortfall("no_customers", "No purchases by known customers (guest checkouts have no customer), so "
                         "there is nobody to predict churn or lifetime value for.", 0, 0, 0)
    days = purchases.select("customer_id", "day").unique().group_by("customer_id").len()
    customers, repeat = days.height, int((days["len"] >= 2).sum())
    span = (purchases["day"].max() - purchases["day"].min()).days + 1
    if repeat < min_repeat_buyers:
        who = "none of them bought" if repeat == 0 else f"only {repeat:,} bought"
        return Shortfall("few_repeat_buyers", f"{customers:,} customers, and {who} on more than one day. Churn and "
                         f"lifetime value are learned from customers who come back: at least {min_repeat_buyers:,} "
                         "repeat buyers are needed, so no prediction is shown rather than a guess.",
                         customers, repeat, span)
    if span < min_days:
        return Shortfall("history", f"{span} days of purchases: at least {min_days} are needed to learn what "
                         "customers do after a given day and check it on later days.", customers, repeat, span)
    return None
