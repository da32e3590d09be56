"""The fraud review queue: flagged payments enter once, reviewers claim them under leases, decide, reverse.

    added = store.reviews.enqueue(job, merchant_id=1, payment_id=42, score=0.93, amount=120.0,
                                  currency="EUR", flagged_by="score")
    claimed = store.reviews.claim_next(ana)                  # ClaimedCase(case, lease) or None
    store.reviews.decide(ana, claimed.lease, outcome="decline", reason="stolen_card", note="...",
                         request_id=rid)                   # a re-sent rid returns the first result

Guarantees (tests/test_store_reviews.py checks each on SQLite and PostgreSQL):
- a payment is enqueued once per merchant; its deadline is entered_at + the merchant's SLA then;
- ``claim_next`` hands out the case with the least time left, then the largest amount, then the highest
  score, under a lease (data/store/leases.py) that no second claim can overlap; an expired one is free again;
- a decision is recorded only under the holder's live lease, or by ``decide_bulk``, which claims every
  case itself in the same transaction; either way the case's lease completes in that transaction, so a case
  decided once is out of the queue; deciding it again is refused (AlreadyDecided) unless it is a reversal;
- a decision is never edited: ``reverse`` adds one that names the decision it replaces (the unique
  (case, sequence) pair refuses two reversals of the same decision);
- every decision appends an audit entry (who, when, what, before, after) in its own transaction.

An escalated case leaves the queue too; the senior reviewer's answer is a ``reverse`` of the escalation.
``decide_and_claim_next`` is the page's call: the decision and the next case in one commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from data.store import audit
from data.store.errors import AlreadyDecided, CaseHeld, InvalidValue, LeaseLost, RequestIdReused, StaleRevision
from data.store.idempotency import checked_request_id, insert_once
from data.store.leases import Lease
from data.store.principal import Principal
from data.store.review_reads import WHAT, Decision, ReviewCase, ReviewReads
from data.store.review_vocabulary import (AMOUNT_MAX, BULK_MAX_CASES, DEFAULT_SLA, NOTE_MAX_CHARS, QUEUE, case_key,
                                          checked_currency,
                                          checked_flag, checked_number, checked_outcome, checked_reason,
                                          checked_sla)
from data.store.tables import NAME, leases, review_cases, review_decisions, review_settings
from data.store.text import checked_text

if TYPE_CHECKING:
    from data.store.store import Store

DEFAULT_TTL = dt.timedelta(minutes=15)
_SAME = ("case_id", "outcome", "reason", "note", "reverses")


@dataclass(frozen=True)
class ClaimedCase:
    case: ReviewCase
    lease: Lease


@dataclass(frozen=True)
class Enqueued:
    case_id: int
    added: bool  # False: the payment was already queued (nothing changed)


class Reviews(ReviewReads):
    def __init__(self, store: Store):
        self._store = store

    # --- the merchant's SLA -------------------------------------------------------------------------------
    def set_sla(self, principal: Principal, *, merchant_id: int, sla: dt.timedelta, request_id: str) -> bool:
        """Set the review deadline for cases entering from now on; False when the request was re-sent."""
        principal.require(merchant_id, "review settings")
        values = {"request_id": checked_request_id(request_id), "merchant_id": merchant_id,
                  "sla_seconds": int(checked_sla(sla).total_seconds()),
                  "actor": checked_text(principal.user, "user", max_chars=NAME, required=True)}
        with self._store.transaction() as conn:
            before = self._sla(conn, merchant_id)
            values["recorded_at"] = self._store.now()
            _, inserted = insert_once(conn, review_settings, values, ("merchant_id", "sla_seconds"))
            if inserted:
                audit.append(conn, at=values["recorded_at"], actor=principal.user, merchant_id=merchant_id,
                             entity="review_settings", entity_id=str(merchant_id), action="set_sla",
                             before={"sla_seconds": int(before.total_seconds())},
                             after={"sla_seconds": values["sla_seconds"]}, request_id=request_id)
            return inserted

    def sla(self, principal: Principal, merchant_id: int) -> dt.timedelta:
        principal.require(merchant_id, "review settings")
        with self._store.read() as conn:
            return self._sla(conn, merchant_id)

    # --- entering the queue ---------------------------------------------------------------------------------
    def enqueue(self, principal: Principal, *, merchant_id: int, payment_id: int, score: float, amount: float,
                currency: str, flagged_by: str) -> Enqueued:
        """Put one flagged payment in the queue (once: a payment already queued is left as it is)."""
        return self.enqueue_many(principal, [{"merchant_id": merchant_id, "payment_id": payment_id, "score": score,
                                              "amount": amount, "currency": currency, "flagged_by": flagged_by}])[0]

    def enqueue_many(self, principal: Principal, payments: Iterable[Mapping[str, Any]]) -> list[Enqueued]:
        """Enqueue a scoring run's flagged payments in one transaction (all or none), in the given order.
        Each mapping has merchant_id, payment_id, score (0 to 1), amount, currency and flagged_by."""
        rows = [self._checked_payment(principal, n, p) for n, p in enumerate(payments, start=1)]
        actor = checked_text(principal.user, "user", max_chars=NAME, required=True)
        with self._store.transaction() as conn:
            now = self._store.now()
            slas = {m: self._sla(conn, m) for m in {r["merchant_id"] for r in rows}}
            values = []
            for row in rows:
                sla = slas[row["merchant_id"]]
                values.append({**row, "case_key": case_key(row["merchant_id"], row["payment_id"], row["amount"],
                                                           row["score"]),
                               "entered_at": now, "due_at": now + sla, "sla_seconds": int(sla.total_seconds()),
                               "actor": actor})
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            if values:
                conn.execute(dialect.insert(review_cases).on_conflict_do_nothing(
                    index_elements=["merchant_id", "payment_id"]), values)
            # A payment queued before keeps its first case (and key): look every one up.
            wanted = {(v["merchant_id"], v["payment_id"]) for v in values}
            found: dict[tuple[int, int], tuple[int, str]] = {}
            payment_ids = sorted({p for _, p in wanted})
            for start in range(0, len(payment_ids), 500):
                query = select(review_cases.c.merchant_id, review_cases.c.payment_id, review_cases.c.id,
                               review_cases.c.case_key).where(review_cases.c.payment_id.in_(payment_ids[start:start + 500]))
                found.update({(m, p): (i, k) for m, p, i, k in conn.execute(query) if (m, p) in wanted})
            added = self._store.leases.enqueue_many(principal, queue=QUEUE, items={
                found[m, p]: (m, found[m, p][1], v["due_at"].timestamp())
                for v in values for m, p in [(v["merchant_id"], v["payment_id"])]}.values())
            result, seen = [], set()
            for v in values:
                case_id, key = found[v["merchant_id"], v["payment_id"]]
                result.append(Enqueued(case_id, key in added and case_id not in seen))
                seen.add(case_id)
            return result

    # --- claiming -------------------------------------------------------------------------------------------
    def claim_next(self, principal: Principal, *, ttl: dt.timedelta = DEFAULT_TTL,
                   merchant_ids: Iterable[int] | None = None) -> ClaimedCase | None:
        """The next free case in scope (least time left, then amount, then score, highest first) under a
        fresh lease for ``principal.user``; None when no case is free. The lease queue's own order is the
        review order (rank = deadline, key = case_key), so this is the leases' claim_next."""
        with self._store.transaction() as conn:
            lease = self._store.leases.claim_next(principal, queue=QUEUE, holder=principal.user, ttl=ttl,
                                                  merchant_ids=merchant_ids)
            return None if lease is None else _claimed(self._case_by_key(conn, principal, lease.item_key), lease)

    def claim(self, principal: Principal, case_id: int, *, ttl: dt.timedelta = DEFAULT_TTL) -> ClaimedCase | None:
        """Claim one named case; None when another reviewer holds it or it is decided."""
        with self._store.transaction() as conn:
            return self._claim_row(principal, self._case_row(conn, principal, case_id), ttl)

    def release(self, principal: Principal, lease: Lease) -> None:
        """Give a claimed case back undecided (claimable at once)."""
        self._store.leases.release(principal, lease)

    # --- deciding -------------------------------------------------------------------------------------------
    def decide(self, principal: Principal, lease: Lease, *, outcome: str, reason: str, request_id: str,
               note: str | None = None) -> Decision:
        """Record the decision on the case ``lease`` holds, and take the case out of the queue.

        Re-sent (same request id): the first result, with duplicate=True, and nothing new recorded.
        AlreadyDecided if the case has a decision; LeaseLost if the lease expired or is someone else's.
        """
        principal.require(lease.merchant_id, WHAT)
        if lease.queue != QUEUE:
            raise InvalidValue(f"lease is for queue {lease.queue!r}, not the review queue {QUEUE!r}")
        values = self._checked_decision(principal, outcome, reason, note, request_id, reversal=False)
        with self._store.transaction() as conn:
            case = self._case_by_key(conn, principal, lease.item_key)
            values.update(case_id=case["id"], merchant_id=case["merchant_id"], payment_id=case["payment_id"],
                          sequence=1, reverses=None, mode="lease", claimed_at=lease.claimed_at)
            # A re-sent request finds its lease completed (LeaseLost below) and returns the first result; while
            # the lease is live no decision exists (each one completes its lease in its own transaction).
            now = self._store.now()  # taken before verify, so a decision is always inside its lease
            try:
                if lease.holder != principal.user:
                    raise LeaseLost(f"the lease on case {case['id']} is held by {lease.holder!r}, not by "
                                    f"{principal.user!r}; the decision was not recorded")
                self._store.leases.verify(lease)
            except LeaseLost:
                # Read after verify's row lock, so a concurrent copy of this request that won is seen.
                if (prior := self._prior(conn, values)) is not None:
                    return prior
                self._refuse_if_decided(conn, case)
                raise
            decision = self._record(conn, principal, values, case, now, before={"state": "claimed",
                                                                                "holder": lease.holder})
            self._store.leases.complete(principal, lease)
            return decision

    def decide_and_claim_next(self, principal: Principal, lease: Lease, *, outcome: str, reason: str,
                              request_id: str, note: str | None = None, ttl: dt.timedelta = DEFAULT_TTL,
                              merchant_ids: Iterable[int] | None = None) -> tuple[Decision, ClaimedCase | None]:
        """``decide``, then ``claim_next`` in the same transaction (one commit: the next case loads with the
        answer). A re-sent decision returns the first result and claims nothing: (decision, None)."""
        with self._store.transaction():
            decision = self.decide(principal, lease, outcome=outcome, reason=reason, request_id=request_id,
                                   note=note)
            if decision.duplicate:
                return decision, None
            return decision, self.claim_next(principal, ttl=ttl, merchant_ids=merchant_ids)

    def decide_bulk(self, principal: Principal, case_ids: Iterable[int], *, outcome: str, reason: str,
                    request_id: str, note: str | None = None) -> list[Decision]:
        """One decision per case (same outcome, reason and note), all in one transaction that claims each
        case itself: every case or none. Refused (CaseHeld, AlreadyDecided) if any case is held by another
        reviewer or decided already. Re-sent: the first results, duplicate=True."""
        ids = list(dict.fromkeys(case_ids))
        if not 1 <= len(ids) <= BULK_MAX_CASES or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InvalidValue(f"a bulk decision takes 1 to {BULK_MAX_CASES:,} case ids (integers), got {len(ids):,}")
        rid = checked_request_id(request_id)
        if len(rid) > 180:
            raise InvalidValue("a bulk decision's request id must be at most 180 characters")
        template = self._checked_decision(principal, outcome, reason, note, rid, reversal=False)
        with self._store.transaction() as conn:
            cases = {c["id"]: c for c in (self._case_row(conn, principal, i) for i in ids)}  # scope first
            wanted = [{**template, "request_id": f"{rid}#{i}", "case_id": i, "merchant_id": cases[i]["merchant_id"],
                       "payment_id": cases[i]["payment_id"], "sequence": 1, "reverses": None, "mode": "bulk"}
                      for i in sorted(ids)]
            priors = [self._prior(conn, values) for values in wanted]
            if all(p is not None for p in priors):
                return priors  # type: ignore[return-value]
            decided = [i for i in sorted(ids) if self._current(conn, i) is not None]
            if decided:
                raise AlreadyDecided(f"{len(decided)} of the {len(ids)} cases already have a decision (case "
                                     f"{_few(decided)}); nothing was recorded: record a reversal to change one")
            claims, held = [], []
            for values in wanted:
                lease = self._store.leases.claim(principal, queue=QUEUE, item_key=cases[values["case_id"]]["case_key"],
                                                 holder=principal.user, ttl=dt.timedelta(minutes=1))
                (held.append(values["case_id"]) if lease is None else claims.append((values, lease)))
            if held:
                raise CaseHeld(f"{len(held)} of the {len(ids)} cases are being reviewed by someone else (case "
                               f"{_few(held)}); nothing was recorded")
            decisions = []
            for values, lease in claims:
                values["claimed_at"] = lease.claimed_at
                decisions.append(self._record(conn, principal, values, cases[values["case_id"]], self._store.now(),
                                              before={"state": "open", "holder": None}))
                self._store.leases.complete(principal, lease)
            return decisions

    def reverse(self, principal: Principal, decision_id: int, *, outcome: str, reason: str, request_id: str,
                note: str | None = None) -> Decision:
        """A new decision replacing ``decision_id``, which must be the case's current one (StaleRevision
        otherwise) and have a different outcome. The reversed decision stays as it was."""
        values = self._checked_decision(principal, outcome, reason, note, request_id, reversal=True)
        with self._store.transaction() as conn:
            target = conn.execute(select(review_decisions).where(review_decisions.c.id == decision_id)
                                  ).mappings().first()
            if target is None:
                raise InvalidValue(f"no review decision {decision_id!r}")
            principal.require(target["merchant_id"], WHAT)
            case = self._case_row(conn, principal, target["case_id"])
            values.update(case_id=case["id"], merchant_id=case["merchant_id"], payment_id=case["payment_id"],
                          sequence=target["sequence"] + 1, reverses=target["id"], mode="reversal", claimed_at=None)
            if (prior := self._prior(conn, values)) is not None:
                return prior
            current = self._current(conn, case["id"])
            if current["id"] != target["id"]:
                raise StaleRevision(f"decision {target['id']} on case {case['id']} was already reversed; its "
                                    f"current decision is {current['id']} ({current['outcome']} by "
                                    f"{current['reviewer']!r}): reverse that one if it is still wrong")
            if outcome == target["outcome"]:
                raise InvalidValue(f"decision {target['id']} is already {outcome!r}: a reversal changes the outcome")
            try:
                return self._record(conn, principal, values, case, self._store.now(),
                                    before=_public(Decision(**target)))
            except IntegrityError:
                raise StaleRevision(f"decision {target['id']} on case {case['id']} was reversed by someone else "
                                    "at the same moment; reload the case") from None

    # --- internals ------------------------------------------------------------------------------------------
    def _record(self, conn: Connection, principal: Principal, values: dict, case: Mapping, at: dt.datetime,
                before: Any) -> Decision:
        values["decided_at"] = at
        row, inserted = insert_once(conn, review_decisions, values, _SAME)
        decision = Decision(**row, duplicate=not inserted)
        if inserted:
            audit.append(conn, at=decision.decided_at, actor=principal.user, merchant_id=case["merchant_id"],
                         entity="review_case", entity_id=str(case["id"]),
                         action=("reverse:" if decision.reverses else "decide:") + decision.outcome,
                         before=before, after=_public(decision), request_id=decision.request_id)
        return decision

    def _checked_decision(self, principal, outcome, reason, note, request_id, *, reversal: bool) -> dict:
        outcome = checked_outcome(outcome)
        return {"request_id": checked_request_id(request_id), "outcome": outcome,
                "reason": checked_reason(outcome, reason, reversal=reversal),
                "note": checked_text(note, "note", max_chars=NOTE_MAX_CHARS),
                "reviewer": checked_text(principal.user, "user", max_chars=NAME, required=True)}

    @staticmethod
    def _checked_payment(principal: Principal, n: int, payment: Mapping[str, Any]) -> dict:
        try:
            missing = [k for k in ("merchant_id", "payment_id", "score", "amount", "currency", "flagged_by")
                       if k not in payment]
            if missing:
                raise InvalidValue(f"missing {', '.join(missing)}")
            payment_id = payment["payment_id"]
            if isinstance(payment_id, bool) or not isinstance(payment_id, int) or not 0 <= payment_id < 2**63:
                raise InvalidValue(f"payment_id must be a non-negative whole number, got {payment_id!r}")
            principal.require(payment["merchant_id"], WHAT)
            if not 0 <= payment["merchant_id"] < 10**10:
                raise InvalidValue(f"merchant_id must be from 0 to 9,999,999,999, got {payment['merchant_id']!r}")
            return {"merchant_id": payment["merchant_id"], "payment_id": payment_id,
                    "score": checked_number(payment["score"], "score", low=0.0, high=1.0),
                    "amount": checked_number(payment["amount"], "amount", low=0.0, high=AMOUNT_MAX),
                    "currency": checked_currency(payment["currency"]),
                    "flagged_by": checked_flag(payment["flagged_by"])}
        except InvalidValue as exc:
            raise InvalidValue(f"payment {n}: {exc}") from None

    def _claim_row(self, principal: Principal, row: dict, ttl: dt.timedelta) -> ClaimedCase | None:
        lease = self._store.leases.claim(principal, queue=QUEUE, item_key=row["case_key"], holder=principal.user,
                                         ttl=ttl)
        return None if lease is None else _claimed(row, lease)

    @staticmethod
    def _sla(conn: Connection, merchant_id: int) -> dt.timedelta:
        seconds = conn.execute(select(review_settings.c.sla_seconds).where(review_settings.c.merchant_id == merchant_id)
                               .order_by(review_settings.c.id.desc()).limit(1)).scalar()
        return DEFAULT_SLA if seconds is None else dt.timedelta(seconds=seconds)

    @staticmethod
    def _case_row(conn: Connection, principal: Principal, case_id: int) -> dict:
        row = conn.execute(select(review_cases).where(review_cases.c.id == case_id)).mappings().first()
        if row is None:
            raise InvalidValue(f"no review case {case_id!r}")
        principal.require(row["merchant_id"], WHAT)
        return dict(row)

    @staticmethod
    def _case_by_key(conn: Connection, principal: Principal, key: str) -> dict:
        row = conn.execute(select(review_cases).where(review_cases.c.case_key == key)).mappings().first()
        if row is None:
            raise InvalidValue(f"the lease's item {key!r} is not a review case")
        principal.require(row["merchant_id"], WHAT)
        return dict(row)

    @staticmethod
    def _current(conn: Connection, case_id: int) -> dict | None:
        row = conn.execute(select(review_decisions).where(review_decisions.c.case_id == case_id)
                           .order_by(review_decisions.c.sequence.desc()).limit(1)).mappings().first()
        return None if row is None else dict(row)

    def _refuse_if_decided(self, conn: Connection, case: Mapping) -> None:
        current = self._current(conn, case["id"])
        if current is not None:
            raise AlreadyDecided(f"case {case['id']} (payment {case['payment_id']}) was already decided: "
                                 f"{current['outcome']} by {current['reviewer']!r} at "
                                 f"{current['decided_at']:%Y-%m-%d %H:%M} UTC (decision {current['id']}); "
                                 "nothing was recorded: record a reversal of that decision to change it")

    @staticmethod
    def _prior(conn: Connection, values: dict) -> Decision | None:
        """The decision already stored under this request id (RequestIdReused if it is a different one)."""
        row = conn.execute(select(review_decisions).where(review_decisions.c.request_id == values["request_id"])
                           ).mappings().first()
        if row is None:
            return None
        if any(row[k] != values[k] for k in _SAME):
            raise RequestIdReused(f"request id {values['request_id']!r} already names a different change; "
                                  "make a new request id for every new change")
        return Decision(**row, duplicate=True)


def _claimed(row: Mapping, lease: Lease) -> ClaimedCase:
    case = ReviewCase(**{k: row[k] for k in ("id", "merchant_id", "payment_id", "score", "amount", "currency",
                                             "flagged_by", "entered_at", "due_at")},
                      state="claimed", holder=lease.holder, lease_expires_at=lease.expires_at,
                      decided_by=None, decided_at=None)
    return ClaimedCase(case, lease)


def _public(decision: Decision) -> dict:
    public = asdict(decision)
    for private in ("duplicate", "current", "request_id"):
        public.pop(private)
    return public


def _few(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:5])) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
