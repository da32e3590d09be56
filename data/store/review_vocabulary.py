"""The fraud review queue's small fixed vocabulary: outcomes, reason codes, how a case entered the queue.

A decision is one of three outcomes with a reason code from this list and a free-text note. The codes are
stored (short, stable, easy to count in stats and to join with chargebacks later); pages show the label.
A reversal (a later decision that replaces the current one) may also give one of REVERSAL_REASONS.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from data.store.errors import InvalidValue

QUEUE = "fraud_review"
OUTCOMES = ("approve", "decline", "escalate")
NOTE_MAX_CHARS = 2_000
DEFAULT_SLA = dt.timedelta(hours=24)
SLA_RANGE = (dt.timedelta(minutes=5), dt.timedelta(days=30))
BULK_MAX_CASES = 1_000


@dataclass(frozen=True)
class Reason:
    code: str
    label: str  # what a page shows
    meaning: str


def _reasons(*rows: tuple[str, str, str]) -> dict[str, Reason]:
    return {code: Reason(code, label, meaning) for code, label, meaning in rows}


REASONS: dict[str, dict[str, Reason]] = {
    "approve": _reasons(
        ("verified_with_customer", "Verified with the customer",
         "The customer confirmed the order (call, email or a 3-D Secure challenge)."),
        ("known_good_history", "Known good history",
         "Long history of good orders with this customer, card, device and address."),
        ("innocent_explanation", "Signal explained",
         "What flagged the payment has an innocent explanation (travel, a gift, a company VPN)."),
    ),
    "decline": _reasons(
        ("stolen_card", "Stolen card", "The card is used by someone other than its holder."),
        ("card_testing", "Card testing", "Small or declined attempts probing which cards work."),
        ("account_takeover", "Account takeover", "Someone else is using a genuine customer's account."),
        ("identity_mismatch", "Identity mismatch",
         "Card, billing, IP and shipping details do not belong together."),
        ("policy_violation", "Against the merchant's policy", "Reseller abuse, banned goods or destinations."),
    ),
    "escalate": _reasons(
        ("needs_senior_review", "Needs a senior reviewer", "Beyond this reviewer's authority or experience."),
        ("awaiting_customer", "Waiting for the customer", "The customer was asked to confirm and has not yet."),
        ("high_value", "High value", "The amount needs a second pair of eyes by policy."),
    ),
}
REVERSAL_REASONS = _reasons(
    ("new_evidence", "New evidence", "Something learned after the decision changes it."),
    ("reviewer_error", "Reviewer error", "The decision was a mistake."),
    ("chargeback_received", "Chargeback received", "A chargeback arrived for an approved payment."),
    ("customer_confirmed", "Customer confirmed", "The customer confirmed a payment that was declined or held."),
)


def reason_label(code: str) -> str:
    """The words a page shows for a stored reason code (the code itself if it is unknown)."""
    for reasons in (*REASONS.values(), REVERSAL_REASONS):
        if code in reasons:
            return reasons[code].label
    return code


def checked_outcome(outcome: object) -> str:
    if outcome not in OUTCOMES:
        raise InvalidValue(f"a review decision is one of {', '.join(OUTCOMES)}, not {outcome!r}")
    return outcome  # type: ignore[return-value]


def checked_reason(outcome: str, reason: object, *, reversal: bool) -> str:
    allowed = dict(REASONS[outcome])
    if reversal:
        allowed.update(REVERSAL_REASONS)
    if reason not in allowed:
        raise InvalidValue(f"reason code for {outcome!r} must be one of {', '.join(allowed)}, not {reason!r}")
    return reason  # type: ignore[return-value]


def checked_flag(flagged_by: object) -> str:
    """``score`` or a rule name: a short name of letters, digits and underscores."""
    if (not isinstance(flagged_by, str) or not flagged_by or len(flagged_by) > 64
            or not flagged_by.replace("_", "").isalnum() or not flagged_by.isascii()):
        raise InvalidValue("flagged_by must be 'score' or a rule name (letters, digits and underscores, "
                           f"at most 64), got {flagged_by!r}")
    return flagged_by


def checked_number(value: object, field: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidValue(f"{field} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def checked_currency(value: object) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha() \
            or not value.isupper():
        raise InvalidValue(f"currency must be a three-letter ISO 4217 code such as EUR, got {value!r}")
    return value


AMOUNT_MAX = 10**12  # in the payment's currency; far above any single payment


def case_key(merchant_id: int, payment_id: int, amount: float, score: float) -> str:
    """The case's lease key: fixed-width digits that sort by amount (high first), score (high first),
    merchant, payment, so the lease queue's (rank, key) order is the review order for equal deadlines."""
    inverse_amount = 10**15 - round(amount * 1000)  # thousandths: exact below AMOUNT_MAX
    inverse_score = 10**9 - round(score * 10**9)
    return f"{inverse_amount:016d}.{inverse_score:010d}.{merchant_id:010d}.{payment_id:019d}"


def checked_sla(sla: object) -> dt.timedelta:
    low, high = SLA_RANGE
    if not isinstance(sla, dt.timedelta) or not low <= sla <= high:
        raise InvalidValue(f"a review SLA must be a duration from {low} to {high}, got {sla!r}")
    return sla
