"""Failed-login backoff that slows guessing without letting anyone lock an account. Pure, clock injectable.

Failures are counted per (username, client) and per client:

* a (username, client) pair gets ``free_attempts`` tries, then each further try waits
  ``base_delay * 2**k`` seconds after the last one, capped at ``max_delay``;
* a client gets ``4 * free_attempts`` failures across all usernames (password
  spraying); past that, every username the client has already failed on waits
  the same backoff, so a sprayer gets one guess per username, not five;
* a pair or client not failing for ``forget_after`` seconds starts afresh.

Atomic: ``acquire`` decides and counts the attempt as a failure in one step, before the
bcrypt check runs; a right password then takes it back (``record_success``). So
simultaneous guesses cannot all pass a check that none of them has counted yet
(12 concurrent wrong guesses all reached bcrypt where 5 were allowed).

A wait is not the only way through: while a pair is in backoff, a solved challenge
(challenges.py, a picture of characters a person reads) admits one attempt at once
(``acquire(..., challenge_passed=True)``). Behind a proxy or NAT everyone is one client,
so an attacker there can keep a username in backoff around the clock; its owner then
solves a challenge and signs in, where a hard wait kept them out (1,428 of 1,440 tries
refused over a simulated day). A sign-in that needed a challenge does not clear the
pair, so the attacker's backoff keeps growing and the owner's successes never hand it
fresh free guesses. An automated attacker cannot solve challenges: its refused tries
cost no bcrypt check and do not count.

Nothing is permanent and nothing is counted per username alone, so failures from
one client never block another client from signing in to the same account
(streamlit-authenticator's ``max_login_attempts`` locks the account for good,
for everybody). The client-wide count never refuses a username the client has
not failed on itself. Unknown usernames are throttled exactly like known ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

ANY_USER = "\0any"  # the per-client bucket; cannot collide with a real (printable) username


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    retry_after: float  # seconds to wait before the next attempt is accepted (0 when allowed)


@dataclass
class _Bucket:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Thread-safe. One instance per server process (``accounts.shared_throttle``)."""

    def __init__(
        self,
        free_attempts: int = 5,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        forget_after: float | None = None,
        client_free_attempts: int | None = None,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        if free_attempts < 1 or base_delay <= 0 or max_delay < base_delay:
            raise ValueError("need free_attempts >= 1 and 0 < base_delay <= max_delay")
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = max(forget_after if forget_after is not None else 3 * max_delay, max_delay)
        self.client_free_attempts = client_free_attempts or 4 * free_attempts
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def check(self, username: str, client: str) -> ThrottleDecision:
        """May ``client`` try a password for ``username`` now? (Counts nothing; ``acquire`` does.)"""
        now = self._clock()
        pair, per_client = self._keys(username, client)
        with self._lock:
            wait = self._wait_locked(pair, per_client, now)
        return ThrottleDecision(allowed=wait <= 0, retry_after=max(wait, 0.0))

    def acquire(self, username: str, client: str, *, challenge_passed: bool = False) -> ThrottleDecision:
        """Decide and, when allowed, count the attempt as a failure, atomically (before the password check).

        With ``challenge_passed`` the attempt is allowed even during a backoff (and still counted).
        Call ``record_success`` when the password was right.
        """
        now = self._clock()
        pair, per_client = self._keys(username, client)
        with self._lock:
            wait = self._wait_locked(pair, per_client, now)
            if wait > 0 and not challenge_passed:
                return ThrottleDecision(allowed=False, retry_after=wait)
            self._count_locked(username, client, now)
        return ThrottleDecision(allowed=True, retry_after=0.0)

    def record_failure(self, username: str, client: str) -> ThrottleDecision:
        """Count a wrong password (for callers that do not ``acquire``); returns when the next try is accepted."""
        now = self._clock()
        with self._lock:
            wait = self._count_locked(username, client, now)
        return ThrottleDecision(allowed=wait <= 0, retry_after=max(wait, 0.0))

    def record_success(self, username: str, client: str, *, clear: bool = True) -> None:
        """The password was right: take back the attempt ``acquire`` counted, or with ``clear`` forget the pair.

        ``clear=False`` after a challenge: the pair stays in backoff (someone else may be guessing
        from the same address) and only this attempt is taken back. The client's spraying count stays.
        """
        pair, per_client = self._keys(username, client)
        with self._lock:
            if clear:
                self._buckets.pop(pair, None)
            for key in (pair, per_client):
                b = self._buckets.get(key)
                if b is not None:
                    b.failures = max(0, b.failures - 1)
                    if key == per_client and b.failures < self.client_free_attempts:
                        b.blocked_until = 0.0  # the attempt that started it is taken back

    def _wait_locked(self, pair: tuple[str, str], per_client: tuple[str, str], now: float) -> float:
        own = self._live(pair, now)  # the client-wide count only slows names the client failed on
        return 0.0 if own is None else max(own.blocked_until - now, self._wait(per_client, now))

    def _count_locked(self, username: str, client: str, now: float) -> float:
        self._prune(now)
        waits = []
        for key in self._keys(username, client):
            free = self.client_free_attempts if key[0] == ANY_USER else self.free_attempts
            b = self._live(key, now) or self._buckets.setdefault(key, _Bucket())
            b.failures += 1
            b.last_failure = now
            if b.failures >= free:  # the free-th failure starts the backoff: exactly `free` tries are free
                delay = min(self.base_delay * 2 ** (b.failures - free), self.max_delay)
                b.blocked_until = now + delay
            waits.append(b.blocked_until - now)
        return max(waits)

    def _keys(self, username: str, client: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return (self._norm(username), client), (ANY_USER, client)

    @staticmethod
    def _norm(username: str) -> str:
        return str(username).strip().lower()[:128]

    def _live(self, key: tuple[str, str], now: float) -> _Bucket | None:
        b = self._buckets.get(key)
        if b is not None and now - b.last_failure > self.forget_after:
            del self._buckets[key]
            return None
        return b

    def _wait(self, key: tuple[str, str], now: float) -> float:
        b = self._live(key, now)
        return 0.0 if b is None else b.blocked_until - now

    def _prune(self, now: float) -> None:
        if len(self._buckets) < self.max_entries:
            return
        for key in [k for k, b in self._buckets.items() if now - b.last_failure > self.forget_after]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_entries:  # flood: drop the oldest half
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].last_failure)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]
