"""Failed-login backoff that slows guessing without letting anyone lock an account. Pure, clock injectable.

Failures are counted per (username, client) and per client:

* a (username, client) pair gets ``free_attempts`` failures, then must wait
  ``base_delay * 2**k`` seconds before each further try, capped at ``max_delay``;
* a client gets ``4 * free_attempts`` failures across all usernames (password
  spraying); past that, every username the client has already failed on waits
  the same backoff, so a sprayer gets one guess per username, not five;
* a pair or client not failing for ``forget_after`` seconds starts afresh, and a
  success clears the pair.

Nothing is permanent and nothing is counted per username alone, so failures from
one client never block another client from signing in to the same account
(streamlit-authenticator's ``max_login_attempts`` locks the account for good,
for everybody). The client-wide count never refuses a username the client has
not failed on itself: behind a proxy or NAT that makes everyone one client, an
attacker's failures cannot keep the others out (the price: a first guess at each
username is slowed only by bcrypt's cost). Someone sharing that address who
mistypes their own password does share the attacker's backoff on that username,
for at most ``max_delay`` seconds after the attacker's last failure.
Attempts refused while a backoff runs do not count as failures, and unknown
usernames are throttled exactly like known ones (no hint that a name exists).
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
        """May ``client`` try a password for ``username`` now?"""
        now = self._clock()
        pair, per_client = self._keys(username, client)
        with self._lock:
            own = self._live(pair, now)  # the client-wide count only slows names the client failed on
            wait = 0.0 if own is None else max(own.blocked_until - now, self._wait(per_client, now))
        return ThrottleDecision(allowed=wait <= 0, retry_after=max(wait, 0.0))

    def record_failure(self, username: str, client: str) -> ThrottleDecision:
        """Count a wrong password; returns when the next attempt will be accepted."""
        now = self._clock()
        with self._lock:
            self._prune(now)
            waits = []
            for key in self._keys(username, client):
                free = self.client_free_attempts if key[0] == ANY_USER else self.free_attempts
                b = self._live(key, now) or self._buckets.setdefault(key, _Bucket())
                b.failures += 1
                b.last_failure = now
                if b.failures > free:
                    delay = min(self.base_delay * 2 ** (b.failures - free - 1), self.max_delay)
                    b.blocked_until = now + delay
                waits.append(b.blocked_until - now)
        wait = max(waits)
        return ThrottleDecision(allowed=wait <= 0, retry_after=max(wait, 0.0))

    def record_success(self, username: str, client: str) -> None:
        """Forget the pair's failures (the client's spraying count stays)."""
        with self._lock:
            self._buckets.pop((self._norm(username), client), None)

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
