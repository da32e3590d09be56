"""The reason for a SKU-location's risk in plain words, with its numbers, e.g. "9 days of cover; next delivery
due in 16 days; this supplier has been 4 days late on average"."""

from __future__ import annotations

import math


def _days(n: float) -> str:
    n = int(round(n))
    return f"{n} day" if n == 1 else f"{n} days"


def _cover(on_hand: int, cover: float | None) -> str:
    if on_hand <= 0:
        return "out of stock now"
    if cover is None or math.isnan(cover):
        return "no demand expected"
    if cover < 1:
        return "less than a day of cover"
    return f"{_days(cover)} of cover"


def _delivery(due_in: int | None, lead_days: float) -> str:
    if due_in is None:
        return f"no open purchase order (an order placed today takes about {_days(lead_days)})"
    if due_in > 0:
        return f"next delivery due in {_days(due_in)}"
    if due_in == 0:
        return "next delivery due today"
    return f"next delivery was due {_days(-due_in)} ago"


def _supplier(late_mean: float | None, orders: int) -> str:
    if orders == 0 or late_mean is None or math.isnan(late_mean):
        return "no delivery history for this product (lead time from the shop's other products)"
    if late_mean >= 0.5:
        return f"this supplier has been {_days(late_mean)} late on average"
    if late_mean <= -0.5:
        return f"this supplier has been {_days(-late_mean)} early on average"
    return "this supplier has been on time on average"


def describe(on_hand: int, cover: float | None, due_in: int | None, lead_days: float, late_mean: float | None,
             orders: int) -> str:
    """One row's reason: cover; the next delivery (or the lead time of an order placed today); the supplier."""
    text = "; ".join((_cover(on_hand, cover), _delivery(due_in, lead_days), _supplier(late_mean, orders)))
    return text[0].upper() + text[1:]
