"""What the Fraud review page reads: the queue (operational store), the payments behind its cases (warehouse),
the tables in words, and the downloads.

Scope: the store principal of a page run is the signed-in person limited to the merchants the page shows
(``review_principal``): a merchant user's own, or the staff member's sidebar choice narrowed to one currency.
The store refuses any other merchant's case, and the warehouse reads take the case's merchant, which the store
has just vouched for, as their scope. Warehouse reads are cached per payment and data version, shared by
sessions; store reads are never cached (a claim or a decision must show at once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from analytics import fraud_links
from dashboard import cache
from dashboard.auth.accounts import Principal
from dashboard.tables import COLUMNS, Column
from data.store.principal import Principal as StorePrincipal
from data.store.review_reads import ReviewCase
from data.store.review_vocabulary import reason_label

FETCH = 1_000  # cases read from the store per view; filters narrow these
SHOWN = 100  # cases drawn in the grid (with their reasons)
STATE_FILTERS = {"waiting": "Waiting (open or claimed)", "open": "Open", "claimed": "Claimed",
                 "approve": "Approved", "decline": "Declined", "escalate": "Escalated", "all": "Every state"}
STATE_WORDS = {"open": "Open", "claimed": "Claimed", "approve": "Approved", "decline": "Declined",
               "escalate": "Escalated"}
OUTCOME_WORDS = {"approve": "Approve", "decline": "Decline", "escalate": "Escalate"}
OUTCOME_DONE = {"approve": "approved", "decline": "declined", "escalate": "escalated"}

REVIEW_COLUMNS: dict[str, Column] = {
    **COLUMNS,
    "case_id": Column("Case", "id"), "payment_id": Column("Payment", "id"), "merchant": Column("Merchant", "text"),
    "time_left": Column("Time left", "text", "Until the review deadline the merchant set (negative: overdue)."),
    "due_at": Column("Deadline (UTC)", "datetime"), "amount": Column("Amount", "money"),
    "score": Column("Score", "rate", "The model's chance that the payment is fraud."),
    "top_reason": Column("Top reason", "text", "What raised the score most."),
    "flagged_by": Column("Flagged by", "text"), "state_text": Column("State", "text"),
    "paid_ts": Column("Paid at", "datetime"), "status": Column("Payment status", "text"),
    "linked_by": Column("Shares", "text", "What this payment has in common with the case's payment."),
    "hours_apart": Column("Hours from the case's payment", "number", "Negative: before it."),
    "shares": Column("Same", "text"), "this_payment": Column("This payment", "flag"),
    "chargeback": Column("Charged back", "flag"), "identity": Column("Whose history", "text"),
    "payments": Column("Payments", "count"), "declined": Column("Declined", "count"),
    "charged_back": Column("Charged back", "count"), "captured_amount": Column("Paid, not declined", "money"),
    "first_paid": Column("First payment", "datetime"), "last_paid": Column("Latest payment", "datetime"),
    "about": Column("About", "text"), "detail": Column("Value", "text"),
    "decided_at": Column("When (UTC)", "datetime"), "reviewer": Column("Reviewer", "text"),
    "outcome_text": Column("Decision", "text"), "reason_text": Column("Reason", "text"), "note": Column("Note", "text"),
    "decisions": Column("Decisions", "count", "Approve, decline and escalate (reversals apart)."),
    "cases_per_hour": Column("Cases per hour", "number", "Decisions per clock hour with at least one decision."),
    "minutes_to_decision": Column("Time to decision (minutes)", "number", "Median from claiming a case to deciding it."),
    "reversals": Column("Reversals", "count"),
    "judged": Column("Decisions with a known outcome", "count",
                 "Approvals and declines whose payment was charged back, or whose chargeback window has closed."),
    "agreement": Column("Agreement with chargebacks", "rate",
                    "Declined and charged back, or approved and never charged back, out of those judged."),
    "approved_charged_back": Column("Approved, then charged back", "count"),
    "declined_good": Column("Declined, never charged back", "count"),
    "pending": Column("Chargeback window still open", "count"),
}


def review_principal(principal: Principal, merchant_ids: Iterable[int]) -> StorePrincipal:
    """The store's principal for this page run: the person, limited to the merchants the page shows."""
    return StorePrincipal.merchants(principal.username, [m for m in merchant_ids if principal.can_see_merchant(m)])


def utc(at: dt.datetime | None) -> dt.datetime | None:
    """A stored time as naive UTC (SQLite hands back naive UTC, PostgreSQL an aware time)."""
    if at is None:
        return None
    return at.astimezone(dt.timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def time_left_words(left: dt.timedelta) -> str:
    """"3 h 20 min", "45 min", or "overdue by 2 h 5 min"."""
    minutes = int(abs(left.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = ([f"{days} d"] if days else []) + ([f"{hours} h"] if hours else []) + (
        [f"{mins} min"] if mins or not (days or hours) else [])
    text = " ".join(parts[:2])
    return text if left.total_seconds() >= 0 else f"overdue by {text}"


def flag_words(flagged_by: str) -> str:
    if flagged_by == "score":
        return "Score over the threshold"
    return "Rule: " + flagged_by.replace("_", " ")


def state_words(case: ReviewCase) -> str:
    if case.state == "claimed":
        return f"Claimed by {case.holder} until {utc(case.lease_expires_at):%H:%M} UTC"
    if case.state in OUTCOME_DONE:
        return f"{STATE_WORDS[case.state]} by {case.decided_by}"
    return STATE_WORDS.get(case.state, case.state)


@dataclass(frozen=True)
class QueueFilters:
    state: str = "waiting"
    min_amount: float = 0.0
    min_score: float = 0.0  # a fraction


def store_states(state: str) -> tuple[str, ...] | None:
    """The store's states for a filter choice (None: every state)."""
    return {"waiting": ("open", "claimed"), "all": None}.get(state, (state,))


def build_queue_frame(cases: Sequence[ReviewCase], now: dt.datetime, names: Mapping[int, str],
                      reasons: Mapping[int, list[str]], filters: QueueFilters) -> pl.DataFrame:
    """The queue as a page shows it, in the store's order (deadline, then amount and score), filtered.
    Columns: case_id, merchant_id, merchant, payment_id, time_left, due_at, amount, currency, score, top_reason,
    flagged_by, state_text, state."""
    now = utc(now)
    rows = [{"case_id": c.id, "merchant_id": c.merchant_id, "merchant": str(names.get(c.merchant_id, c.merchant_id)),
             "payment_id": c.payment_id, "time_left": time_left_words(utc(c.due_at) - now), "due_at": utc(c.due_at),
             "amount": float(c.amount), "currency": c.currency, "score": float(c.score),
             "top_reason": (reasons.get(c.payment_id) or [""])[0], "flagged_by": flag_words(c.flagged_by),
             "state_text": state_words(c), "state": c.state}
            for c in cases if c.amount >= filters.min_amount and c.score >= filters.min_score]
    schema = {"case_id": pl.Int64, "merchant_id": pl.Int64, "merchant": pl.Utf8, "payment_id": pl.Int64,
              "time_left": pl.Utf8, "due_at": pl.Datetime("us"), "amount": pl.Float64, "currency": pl.Utf8,
              "score": pl.Float64, "top_reason": pl.Utf8, "flagged_by": pl.Utf8, "state_text": pl.Utf8,
              "state": pl.Utf8}
    return pl.DataFrame(rows, schema=schema)


def decisions_frame(decisions) -> pl.DataFrame:
    """Decisions (store ``Decision`` rows) as a table in words: case, payment, when, reviewer, decision, reason,
    note; a reversal says which decision it replaces."""
    rows = [{"case_id": d.case_id, "payment_id": d.payment_id, "merchant_id": d.merchant_id,
             "decided_at": utc(d.decided_at), "reviewer": d.reviewer,
             "outcome_text": OUTCOME_DONE[d.outcome].capitalize() + (
                 f" (reverses decision {d.reverses})" if d.reverses else "") + (
                 " (bulk)" if d.mode == "bulk" else ""),
             "reason_text": reason_label(d.reason), "note": d.note or "",
             "outcome": d.outcome, "decision_id": d.id, "current": d.current}
            for d in decisions]
    schema = {"case_id": pl.Int64, "payment_id": pl.Int64, "merchant_id": pl.Int64, "decided_at": pl.Datetime("us"),
              "reviewer": pl.Utf8, "outcome_text": pl.Utf8, "reason_text": pl.Utf8, "note": pl.Utf8,
              "outcome": pl.Utf8, "decision_id": pl.Int64, "current": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


# ---------------------------------------------------------------------------------------------- warehouse reads


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=64)
def _payment_memo(merchant_id: int, data_version: int) -> dict[int, dict | None]:
    """payment id -> its row (None: not in the warehouse), filled in as payments are asked about."""
    return {}


def payments(merchant_id: int, payment_ids: Iterable[int], data_version: int) -> dict[int, dict]:
    """Rows (fraud_links.PAYMENT_COLUMNS) of those payments of ``merchant_id`` the warehouse has, each read once
    per data version: the queue's cases are read as they come into view, and the case view finds its payment
    read already."""
    memo = _payment_memo(merchant_id, data_version)
    ids = [int(p) for p in payment_ids]
    missing = [p for p in dict.fromkeys(ids) if p not in memo]
    if missing:
        rows = fraud_links.compute_payments(cache.access((merchant_id,)), missing)
        found = {int(r["payment_id"]): r for r in rows.iter_rows(named=True)}
        memo.update({p: found.get(p) for p in missing})
    return {p: memo[p] for p in ids if memo.get(p) is not None}


def payment(merchant_id: int, payment_id: int, data_version: int) -> dict | None:
    """One payment of ``merchant_id`` (fraud_links.PAYMENT_COLUMNS), or None when the warehouse has none."""
    return payments(merchant_id, [payment_id], data_version).get(int(payment_id))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=1024)
def _email_is_common(merchant_id: int, domain: str, data_version: int) -> bool:
    access = cache.access((merchant_id,))
    return fraud_links.email_domain_is_common(access, {"merchant_id": merchant_id, "email_domain": domain})


@dataclass(frozen=True)
class CaseLinks:
    summary: pl.DataFrame  # the customer's, card's and device's histories (fraud_links.compute_case_links)
    history: pl.DataFrame  # their latest payments
    linked: pl.DataFrame  # payments linked by card, device, network or email domain
    email_is_common: bool  # the email domain was too common to link on


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=128)
def case_links(merchant_id: int, payment_id: int, data_version: int) -> CaseLinks | None:
    """What the case view shows around a payment, from one warehouse read (None: payment not in the warehouse).
    Whether an email domain is common is kept per domain: gmail.com is asked about at nearly every case."""
    row = payment(merchant_id, payment_id, data_version)
    if row is None:
        return None
    domain = row.get("email_domain")
    common = domain is not None and _email_is_common(merchant_id, domain, data_version)
    summary, history, linked = fraud_links.compute_case_links(cache.access((merchant_id,)), row,
                                                              email_is_common=common)
    return CaseLinks(summary, history, linked, common)


def chargeback_window_days() -> int:
    """The fraud model's setting (RETAIL_PULSE_CHARGEBACK_WINDOW_DAYS): after it, no chargeback means good."""
    from models.fraud.train import chargeback_window_days as setting

    return setting()


def agreement(merchant_ids: tuple[int, ...], decisions: pl.DataFrame, as_of: dt.datetime) -> pl.DataFrame:
    return fraud_links.compute_chargeback_agreement(cache.access(merchant_ids), decisions, as_of=as_of,
                                                    window_days=chargeback_window_days())


def payment_facts(row: Mapping, currency: str) -> list[tuple[str, str]]:
    """The payment in words, for the case view's About / Value table."""
    def country(c: str) -> str:
        return row.get(c) or "unknown"

    age = row.get("account_age_days")
    return [("Paid at", f"{row['paid_ts']:%d %b %Y, %H:%M}"), ("Amount", f"{currency} {row['amount']:,.2f}"),
            ("Order", str(row["order_id"])),
            ("Customer", "guest" if row.get("customer_id") is None else str(row["customer_id"])),
            ("Account age", "guest checkout" if not age else f"{age:,} days"),
            ("Payment method", str(row.get("method") or "unknown")),
            ("Status", f"{row['status']} ({str(row.get('auth_result') or 'unknown').replace('_', ' ')})"),
            ("Countries", f"card issued in {country('card_country')}, billing in {country('billing_country')}, "
                          f"IP in {country('ip_country')}, shipping to {country('shipping_country')}"),
            ("Card fingerprint", row.get("card_fingerprint") or "unknown"),
            ("Device", f"{row.get('device') or 'unknown'} ({row.get('device_id') or 'no device id'})"),
            ("IP network", row.get("ip_prefix") or "unknown"), ("Email domain", row.get("email_domain") or "unknown"),
            ("Charged back", "no" if not row.get("chargeback") else f"yes, on {row['chargeback_date']:%d %b %Y}")]


# ---------------------------------------------------------------------------------------------- downloads

QUEUE_EXPORT = {"case_id": "Case", "merchant": "Merchant", "payment_id": "Payment", "time_left": "Time left",
                "due_at": "Deadline (UTC)", "amount": "Amount", "currency": "Currency", "score": "Score (%)",
                "top_reason": "Top reason", "flagged_by": "Flagged by", "state_text": "State"}
DECISION_EXPORT = {"decision_id": "Decision", "case_id": "Case", "payment_id": "Payment", "decided_at": "When (UTC)",
                   "reviewer": "Reviewer", "outcome_text": "Decision taken", "reason_text": "Reason", "note": "Note"}


def export(frame: pl.DataFrame, headings: Mapping[str, str]) -> pl.DataFrame:
    """Columns renamed to words (scores as percentages); the CSV writer makes formula-like text inert."""
    out = frame.select(list(headings))
    if "score" in out.columns:
        out = out.with_columns((pl.col("score") * 100).round(1))
    return out.rename(dict(headings))


def lazy(build: Callable[[], pl.DataFrame], headings: Mapping[str, str]) -> Callable[[], bytes]:
    from dashboard import downloads

    return lambda: downloads.csv_bytes(export(build(), headings))
