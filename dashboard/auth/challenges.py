"""Sign-in challenges: a picture of characters a person reads and types. Pure (no streamlit).

The throttle (throttle.py) asks for one when a username is in backoff for the client
trying it. Solving it admits one password attempt at once instead of a wait, so an
attacker behind the same proxy or NAT as the account's owner cannot keep the owner out,
while an automated attacker (who cannot read the picture) stays refused at no bcrypt cost.

Checked on the server only: the answer never leaves this module except as the picture,
and what is kept is its SHA-256 with the challenge's username and expiry. A challenge is
single-use (redeeming it removes it, right answer or not), expires after ``ttl`` seconds,
and is tied to the username it was issued for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: characters that read alike in a distorted picture.
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
LENGTH = 5
TTL_SECONDS = 300.0


@dataclass(frozen=True)
class Challenge:
    id: str
    png: bytes  # the picture to show; its characters are the answer


@dataclass
class _Pending:
    username: str
    digest: bytes
    expires_at: float


def _random_text() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def render_png(text: str) -> bytes:
    """The characters as a distorted PNG (captcha's ImageCaptcha; imported here: it pulls in Pillow)."""
    from captcha.image import ImageCaptcha

    return ImageCaptcha(width=240, height=80).generate(text).getvalue()


def _normalize_answer(answer: object) -> str:
    return "".join(str(answer or "").split()).upper()[:32]


def _normalize_user(username: object) -> str:
    return str(username or "").strip().lower()[:128]


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class ChallengeStore:
    """Issued, unanswered challenges. Thread-safe; one per server process (``accounts.shared_challenges``)."""

    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        make_text: Callable[[], str] = _random_text,
        render: Callable[[str], bytes] = render_png,
    ):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._make_text = make_text
        self._render = render
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def issue(self, username: str) -> Challenge:
        """A new challenge for ``username``; the picture is the only place its answer appears."""
        text = self._make_text()
        challenge_id = secrets.token_urlsafe(18)
        now = self._clock()
        with self._lock:
            self._prune(now)
            self._pending[challenge_id] = _Pending(_normalize_user(username), _digest(text.upper()), now + self.ttl)
        return Challenge(challenge_id, self._render(text))

    def redeem(self, challenge_id: str, username: str, answer: str) -> bool:
        """True once for the right answer, the same username and before expiry; the challenge is used up either way."""
        with self._lock:
            pending = self._pending.pop(str(challenge_id or ""), None)
        if pending is None or self._clock() > pending.expires_at:
            return False
        same_user = hmac.compare_digest(pending.username.encode(), _normalize_user(username).encode())
        return hmac.compare_digest(pending.digest, _digest(_normalize_answer(answer))) and same_user

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def _prune(self, now: float) -> None:
        if len(self._pending) < self.max_entries:
            return
        for key in [k for k, p in self._pending.items() if p.expires_at < now]:
            del self._pending[key]
        if len(self._pending) >= self.max_entries:  # a flood of unanswered challenges: drop the oldest half
            for key in sorted(self._pending, key=lambda k: self._pending[k].expires_at)[: len(self._pending) // 2]:
                del self._pending[key]
