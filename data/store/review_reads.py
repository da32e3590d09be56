"""Reading the fraud review queue: cases with their state, a case's decisions, reviewer stats, decision log.

A case's state is derived, never stored: ``open`` (no live lease), ``claimed`` (a live lease), or the outcome
of its current decision (``approve``, ``decline``, ``escalate``): the one with the highest sequence.
Every read takes a Principal and returns only its merchants' rows (OutOfScope when it names another's).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, or_, select

from data.store.errors import InvalidValue
from data.store.principal import Principal
from data.store.review_vocabulary import OUTCOMES, QUEUE
from data.store.tables import leases, review_cases, review_decisions

if TYPE_CHECKING:
    from data.store.store import Store

STATES = ("open", "claimed", *OUTCOMES)
WHAT = "review cases"


@dataclass(frozen=True)
class ReviewCase:
    id: int
    merchant_id: int
    payment_id: int
    score: float
    amount: float
    currency: str
    flagged_by: str  # "score" or the rule's name
    entered_at: dt.datetime
    due_at: dt.datetime  # entered_at + the merchant's SLA at that time
    state: str  # one of STATES, as of the read
    holder: str | None  # who holds the live lease (state "claimed")
    lease_expires_at: dt.datetime | None
    decided_by: str | None  # reviewer of the current decision
    decided_at: dt.datetime | None

    def time_left(self, now: dt.datetime) -> dt.timedelta:
        """Until the review deadline (negative once it has passed)."""
        return self.due_at - now


@dataclass(frozen=True)
class Decision:
    id: int
    request_id: str
    case_id: int
    merchant_id: int
    payment_id: int
    sequence: int  # 1: the reviewer's decision; 2, 3...: reversals
    outcome: str
    reason: str  # a code from review_vocabulary (reason_label gives the words)
    note: str | None  # stored as given, plain text
    reverses: int | None  # the decision this one replaces
    mode: str  # "lease", "bulk" or "reversal"
    reviewer: str
    claimed_at: dt.datetime | None  # when the reviewer's lease began ("lease" and "bulk" decisions)
    decided_at: dt.datetime
    duplicate: bool = False  # True when a re-sent request returned the first result
    current: bool | None = None  # set by decision_log: not reversed (yet)


@dataclass(frozen=True)
class ReviewerStats:
    reviewer: str
    decisions: int  # lease and bulk decisions in the window (reversals counted apart)
    bulk_decisions: int
    reversals: int
    active_hours: int  # distinct clock hours (UTC) with at least one decision or reversal
    cases_per_hour: float  # decisions / active_hours
    median_seconds_to_decision: float | None  # claim to decision, lease decisions only


def _current_decisions():
    """Decisions no later decision of the same case follows (one per decided case), as an alias to outer-join
    on case_id. Found through the unique (case_id, sequence) index, so reading one case stays cheap however
    many decisions the store holds (a grouped subquery made every claim scan them all)."""
    current = review_decisions.alias("current_decision")
    later = review_decisions.alias("later_decision")
    newer = (select(later.c.id).where(later.c.case_id == current.c.case_id, later.c.sequence > current.c.sequence)
             .exists())
    return current, ~newer


class ReviewReads:
    _store: Store

    def queue(self, principal: Principal, *, states: Iterable[str] | None = ("open", "claimed"),
              merchant_ids: Iterable[int] | None = None, limit: int = 100, offset: int = 0) -> list[ReviewCase]:
        """Cases in scope in claiming order (deadline first, then amount and score, highest first),
        optionally only those in ``states`` (None: every state). Open and claimed ones by default."""
        visible = principal.visible(merchant_ids, WHAT)
        wanted = None if states is None else list(states)
        for state in wanted or ():
            if state not in STATES:
                raise InvalidValue(f"review case state must be one of {', '.join(STATES)}, not {state!r}")
        with self._store.read() as conn:
            now = self._store.now()
            query, current = self._cases_query()
            if visible is not None:
                query = query.where(review_cases.c.merchant_id.in_(sorted(visible)))
            if wanted is not None:
                live = and_(leases.c.expires_at.is_not(None), leases.c.expires_at > now)
                conditions = [current.c.outcome.in_([s for s in wanted if s in OUTCOMES])]
                if "open" in wanted:
                    conditions.append(and_(current.c.id.is_(None), ~live))
                if "claimed" in wanted:
                    conditions.append(and_(current.c.id.is_(None), live))
                query = query.where(or_(*conditions))
            query = query.order_by(leases.c.rank, leases.c.item_key).limit(limit).offset(offset)
            return [_case(row, now) for row in conn.execute(query).mappings()]

    def case(self, principal: Principal, case_id: int) -> ReviewCase:
        """One case with its state now (InvalidValue if there is none, OutOfScope if another merchant's)."""
        with self._store.read() as conn:
            query, _ = self._cases_query()
            row = conn.execute(query.where(review_cases.c.id == case_id)).mappings().first()
            if row is None:
                raise InvalidValue(f"no review case {case_id!r}")
            principal.require(row["merchant_id"], WHAT)
            return _case(row, self._store.now())

    def history(self, principal: Principal, case_id: int) -> list[Decision]:
        """Every decision on a case, oldest first (reversals name the decision they replace)."""
        self.case(principal, case_id)  # scope check
        with self._store.read() as conn:
            rows = conn.execute(select(review_decisions).where(review_decisions.c.case_id == case_id)
                                .order_by(review_decisions.c.sequence)).mappings()
            return [Decision(**row) for row in rows]

    def decision_log(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None,
                     since: dt.datetime | None = None, until: dt.datetime | None = None,
                     limit: int = 100_000) -> list[Decision]:
        """Every decision in scope decided in [since, until), oldest first, each marked ``current`` unless a
        later one reversed it: what agreement with chargebacks needs (payment_id, outcome, reviewer)."""
        visible = principal.visible(merchant_ids, WHAT)
        d = review_decisions
        query = select(d).order_by(d.c.decided_at, d.c.id).limit(limit)
        if visible is not None:
            query = query.where(d.c.merchant_id.in_(sorted(visible)))
        if since is not None:
            query = query.where(d.c.decided_at >= since)
        if until is not None:
            query = query.where(d.c.decided_at < until)
        with self._store.read() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
            reversed_ids = _reversed(conn, [r["id"] for r in rows])
        return [Decision(**row, current=row["id"] not in reversed_ids) for row in rows]

    def reviewer_stats(self, principal: Principal, *, merchant_ids: Iterable[int] | None = None,
                       since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[ReviewerStats]:
        """Per reviewer over decisions in [since, until): how many, cases per active hour, and the median
        time from claiming a case to deciding it. Sorted by reviewer name."""
        per: dict[str, list[Decision]] = defaultdict(list)
        for decision in self.decision_log(principal, merchant_ids=merchant_ids, since=since, until=until):
            per[decision.reviewer].append(decision)
        return [compute_reviewer_stats(name, per[name]) for name in sorted(per)]

    def _cases_query(self):
        current, is_latest = _current_decisions()
        query = (select(review_cases, leases.c.rank, leases.c.holder, leases.c.expires_at.label("lease_expires_at"),
                        current.c.id.label("decision_id"), current.c.outcome, current.c.reviewer.label("decided_by"),
                        current.c.decided_at)
                 .select_from(review_cases
                              .join(leases, and_(leases.c.queue == QUEUE, leases.c.item_key == review_cases.c.case_key))
                              .outerjoin(current, and_(current.c.case_id == review_cases.c.id, is_latest))))
        return query, current


def compute_reviewer_stats(reviewer: str, decisions: list[Decision]) -> ReviewerStats:
    """One reviewer's stats from their decisions (pure: the tests compare it with a plain recount)."""
    firsts = [d for d in decisions if d.mode != "reversal"]
    hours = {d.decided_at.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
             for d in decisions}
    waits = [(d.decided_at - d.claimed_at).total_seconds() for d in firsts if d.mode == "lease" and d.claimed_at]
    return ReviewerStats(
        reviewer=reviewer, decisions=len(firsts), bulk_decisions=sum(d.mode == "bulk" for d in firsts),
        reversals=len(decisions) - len(firsts), active_hours=len(hours),
        cases_per_hour=len(firsts) / len(hours) if hours else 0.0,
        median_seconds_to_decision=statistics.median(waits) if waits else None)


def _reversed(conn: Connection, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), 5_000):  # keeps the IN list within every engine's parameter limit
        chunk = ids[start:start + 5_000]
        found.update(conn.execute(select(review_decisions.c.reverses)
                                  .where(review_decisions.c.reverses.in_(chunk))).scalars())
    return found


def _case(row, now: dt.datetime) -> ReviewCase:
    live = row["lease_expires_at"] is not None and row["lease_expires_at"] > now
    if row["outcome"] is not None:
        state = row["outcome"]
    else:
        state = "claimed" if live else "open"
    return ReviewCase(
        id=row["id"], merchant_id=row["merchant_id"], payment_id=row["payment_id"], score=row["score"],
        amount=row["amount"], currency=row["currency"], flagged_by=row["flagged_by"], entered_at=row["entered_at"],
        due_at=row["due_at"], state=state, holder=row["holder"] if state == "claimed" else None,
        lease_expires_at=row["lease_expires_at"] if state == "claimed" else None,
        decided_by=row["decided_by"], decided_at=row["decided_at"])
