"""SHAP reasons in plain words: the three features that pushed a payment's score up most, said as a person would.

The contributions are XGBoost's own TreeSHAP values (``pred_contribs``: exact SHAP values of the tree ensemble,
in log-odds, computed in C++), so a payment's reasons add up with its base value to the classifier's output.
Country mismatches are one sentence ("card issued in BR, IP in NG, shipping to GB"), whichever of the four
mismatch features carried the weight. Only features that raised the score are given; a payment the model finds
ordinary has no reasons. Values from the data (country codes) are plain text: pages show them with st.text or
tables, never as markdown.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from models.fraud.features import FEATURE_NAMES, KEYS, WINDOWS

MIN_CONTRIBUTION = 0.05  # log-odds: smaller pushes are noise, not a reason
MAX_REASONS = 3
MISMATCH = ("card_ip_mismatch", "card_billing_mismatch", "ip_shipping_mismatch", "billing_shipping_mismatch")


def _count(n: float, one: str, many: str) -> str:
    n = int(round(n))
    return f"{n} {one if n == 1 else many}"


def _countries(row: dict) -> str:
    parts = []
    for label, col in (("card issued in", "card_country"), ("billing in", "billing_country"),
                       ("IP in", "ip_country"), ("shipping to", "shipping_country")):
        if row.get(col):
            parts.append(f"{label} {row[col]}")
    return ", ".join(parts) if parts else "countries do not match"


def sentence(name: str, row: dict) -> str:
    """The plain sentence for feature ``name`` of payment ``row`` (a dict of its columns); "" when the value
    says nothing a reviewer could check (no earlier payments, one card on the device, a returning customer)."""
    v = float(row.get(name) or 0.0)
    if v == 0 and (name.startswith(tuple(f"{k}_payments_" for k in KEYS)) or name.endswith("declines_1h")
                   or name.endswith("decline_share_1h")):
        return ""
    if (name.startswith("cards_per_device_") and v <= 1) or (name in ("first_purchase", "is_guest") and not v):
        return ""
    if name in MISMATCH:
        return _countries(row)
    for key, (_, who) in KEYS.items():
        for win, (_, span) in WINDOWS.items():
            if name == f"{key}_payments_{win}":
                return f"{_count(v, 'earlier payment', 'earlier payments')} from {who} in {span}"
    if name.startswith("cards_per_device_"):
        span = "hour" if name.endswith("1h") else "24 hours"
        return f"{_count(v, 'card', 'cards')} used on this device in {span}"
    if name == "device_decline_share_1h":
        return f"{v:.0%} of this device's attempts in the hour before were declined"
    if name == "card_decline_share_1h":
        return f"{v:.0%} of this card's attempts in the hour before were declined"
    if name == "device_declines_1h":
        return f"{_count(v, 'declined attempt', 'declined attempts')} from this device in the hour before"
    if name == "amount":
        return f"amount {v:,.2f}"
    if name == "amount_vs_customer_mean":
        return f"amount is {v:,.1f} times this customer's usual payment"
    if name == "customer_prior_payments":
        return "first payment by this customer" if v == 0 else f"customer paid {_count(v, 'time', 'times')} before"
    if name == "first_purchase":
        return "first purchase" if v else "returning customer"
    if name == "is_guest":
        return "guest checkout (no account)" if v else "paid from a customer account"
    if name == "account_age_days":
        return f"account opened {_count(v, 'day', 'days')} before"
    if name == "hour_of_day":
        return f"paid at {int(v):02d}:00"
    if name == "card_prior_payments":
        return "card never used here before" if v == 0 else f"card used {_count(v, 'time', 'times')} before"
    if name == "device_prior_payments":
        return "device never seen before" if v == 0 else f"device used {_count(v, 'time', 'times')} before"
    if name == "email_domain_payments_30d":
        return f"email domain seen on only {_count(v, 'payment', 'payments')} in 30 days"
    return name.replace("_", " ")


def compute_reasons(contributions: np.ndarray, rows: pl.DataFrame) -> list[list[str]]:
    """Up to MAX_REASONS sentences per row; ``contributions`` is (rows, features + 1) from pred_contribs."""
    shap = contributions[:, : len(FEATURE_NAMES)]
    order = np.argsort(-shap, axis=1)[:, : MAX_REASONS + len(MISMATCH)]
    out: list[list[str]] = []
    for i, row in enumerate(rows.iter_rows(named=True)):
        said: list[str] = []
        for j in order[i]:
            if shap[i, j] < MIN_CONTRIBUTION or len(said) == MAX_REASONS:
                break
            text = sentence(FEATURE_NAMES[j], row)
            if text and text not in said:  # the four mismatches share one sentence
                said.append(text)
        out.append(said)
    return out
