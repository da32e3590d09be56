"""The re-login cookie: key rules and HS256 tokens we issue and check ourselves. Pure (no streamlit).

streamlit-authenticator 0.4.2 signs ``{username, exp_date}`` with a key that
defaults to ``some_key``, catches only two PyJWT errors (``alg: none`` raises
``InvalidAlgorithmError`` through the app), has no ``exp`` claim PyJWT would
check, and keeps accepting the cookie after logout. So the library never sees
our cookie (login.py) and tokens are made and checked here:

* the key must pass ``cookie_key_problem``: 32+ characters, not a published sample, no
  placeholder words, and an estimated entropy of at least ``MIN_KEY_BITS`` (``key_entropy_bits``);
* only a well-formed three-part JWS whose header is exactly ``{"alg": "HS256", "typ": "JWT"}``
  is decoded, with ``algorithms=["HS256"]``; ``exp``, ``iat``, ``iss``, ``sub`` and our
  claims are required; the lifetime cannot exceed the configured one;
* ``sep`` (the user's session epoch, sessions.py) and ``pwf`` (an HMAC of the user's password
  hash) bind the token to the user's current sessions and password: logout, a password reset
  or removing the user makes it worthless;
* ``decode_token`` never raises: anything unexpected is a rejected token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import string
import time
import zlib
from dataclasses import dataclass

import jwt

log = logging.getLogger(__name__)

ISSUER = "retail-pulse"
ALGORITHM = "HS256"
MIN_KEY_LENGTH = 32
MIN_KEY_DISTINCT_CHARS = 8
MIN_KEY_BITS = 128  # secrets.token_urlsafe(24), the shortest key we accept, carries 192
MAX_TOKEN_LENGTH = 2048
CLOCK_SKEW_SECONDS = 60
# Keys from streamlit-authenticator's code, README and example config, and the usual placeholders.
KNOWN_SAMPLE_KEYS = frozenset(
    {
        "some_key",
        "some_signature_key",
        "random_signature_key",
        "some_cookie_name",
        "abcdef",
        "secret",
        "secret_key",
        "your_secret_key",
        "your-secret-key",
        "changeme",
        "change-me",
        "change_me",
        "password",
        "key",
        "cookie_key",
    }
)
# Words people leave in placeholder keys. Only words of 5+ letters: a random 64-character
# urlsafe key contains a given 5-letter word (any case) with odds of about 1 in 500,000.
PLACEHOLDER_WORDS = (
    "change", "secret", "replace", "example", "sample", "placeholder", "default", "password",
    "insert", "generate", "random", "token", "signature", "cookie", "retail", "please", "todo-", "fixme",
)
KEY_HELP = (
    "Set RETAIL_PULSE_COOKIE_KEY to a random secret of at least 32 characters, for example "
    "`export RETAIL_PULSE_COOKIE_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(48))')\"`, "
    "and keep it out of version control (or run the public demo with RETAIL_PULSE_DEMO=1)."
)
_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_REQUIRED = ["exp", "iat", "iss", "sub", "sep", "pwf", "jti"]


def cookie_key_problem(key: str | None) -> str | None:
    """Why ``key`` must not sign cookies (None when it is acceptable)."""
    key = key or ""
    if not key.strip():
        return "No cookie key is set (RETAIL_PULSE_COOKIE_KEY is empty)."
    if key.strip().lower() in KNOWN_SAMPLE_KEYS:
        return f"The cookie key {key.strip()!r} is a published sample key; anyone could forge a login cookie with it."
    if len(key) < MIN_KEY_LENGTH:
        return f"The cookie key is too short ({len(key)} characters; at least {MIN_KEY_LENGTH} are required)."
    if len(set(key)) < MIN_KEY_DISTINCT_CHARS:
        return "The cookie key is not random enough (too few distinct characters)."
    lowered = key.lower()
    word = next((w for w in PLACEHOLDER_WORDS if w in lowered), None)
    if word:
        return f"The cookie key looks like a placeholder (it contains {word!r}); use a random secret instead."
    bits = key_entropy_bits(key)
    if bits < MIN_KEY_BITS:
        return (
            f"The cookie key is not random enough (about {bits:.0f} bits of entropy estimated from its characters, "
            f"repetition and runs; at least {MIN_KEY_BITS} are required)."
        )
    return None


_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
_ZLIB_OVERHEAD = len(zlib.compress(b"", 9))  # header, empty block, checksum


def key_entropy_bits(key: str) -> float:
    """A conservative estimate of the key's entropy in bits (an upper bound for a guessable key).

    Bits per character come from the alphabet used: hex digits alone count 4 bits, otherwise
    the character classes used (lowercase, uppercase, digits, other: as if drawn at random from
    the union), and text that reads like words (letters and spaces) 2 bits, about what English
    carries. The length that counts is the shortest of: the key, what zlib leaves of it
    (repeated text such as ``abcdefgh`` x 8 compresses away), and one period of a key that is a
    block repeated (``md5 x 2``); minus characters that merely continue a run (``abcdef``,
    ``12345``, ``zyx``, ``aAbBcC``) or walk along a keyboard row (``qwertyuiop``).
    """
    if not key:
        return 0.0
    if all(ch in string.hexdigits for ch in key):
        bits_per_char = 4.0 if len(set(key.lower())) > 10 else math.log2(max(len(set(key.lower())), 2))
    elif _reads_like_words(key):
        bits_per_char = 2.0
    else:
        pool = sum(len(c) for c in _CLASSES if any(ch in c for ch in key))
        if any(not ch.isascii() or not ch.isalnum() for ch in key):
            pool += 33  # punctuation and anything else
        bits_per_char = math.log2(max(pool, 2))
    raw = key.encode("utf-8")
    compressed = max(0, len(zlib.compress(raw, 9)) - _ZLIB_OVERHEAD)
    length = min(len(key), compressed, _period(key)) - _predictable(key)
    return max(0, length) * bits_per_char


def _period(key: str) -> int:
    """Length of the shortest block the key repeats (a partial last block allowed); len(key) if none."""
    for p in range(1, len(key) // 2 + 1):
        if all(key[i] == key[i % p] for i in range(len(key))):
            return p
    return len(key)


_KEYBOARD = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_NEXT_ON_KEYBOARD = {a: b for row in _KEYBOARD for a, b in zip(row, row[1:])}


def _predictable(key: str) -> int:
    """Characters that continue a run: the same small step twice (abc, 135, zyx), a case pair (aA), a keyboard walk."""
    low = key.lower()
    count = 0
    for i in range(2, len(key)):
        step, prev = ord(low[i]) - ord(low[i - 1]), ord(low[i - 1]) - ord(low[i - 2])
        if (step == prev and abs(step) <= 2) or (low[i] == low[i - 1] and key[i] != key[i - 1]):
            count += 1
        elif _NEXT_ON_KEYBOARD.get(low[i - 1]) == low[i] or _NEXT_ON_KEYBOARD.get(low[i]) == low[i - 1]:
            count += 1
    return count


def _reads_like_words(key: str) -> bool:
    """Letters and spaces or word separators, with words of ordinary length: a phrase, not random text."""
    letters = sum(ch.isalpha() for ch in key)
    words = [w for w in re.split(r"[\s_.,-]+", key) if w]
    vowels = sum(ch in "aeiouAEIOU" for ch in key)
    # A word of a phrase is of ordinary length and cased as words are (lower, UPPER or Title): random base64
    # text split at its - and _ (``ahpd-zfBU-gtirNzB_mDcR...``, one key in a few hundred) is not a phrase.
    return (letters >= 0.8 * len(key) and len(words) >= 3
            and all(w.isalpha() and len(w) <= 12 and (w.islower() or w.isupper() or w.istitle()) for w in words)
            and vowels >= 0.25 * letters)


def random_key() -> str:
    """A fresh 64-character key (used per process in demo mode when no good key is configured)."""
    return secrets.token_urlsafe(48)


def password_fingerprint(password_hash: str, key: str) -> str:
    """A keyed digest of the user's password hash: a token stops working when the password changes."""
    return hmac.new(key.encode("utf-8"), b"pwf\0" + password_hash.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class TokenClaims:
    username: str
    epoch: int
    fingerprint: str
    issued_at: int
    expires_at: int


def issue_token(
    username: str, *, key: str, epoch: int, fingerprint: str, lifetime_seconds: int, now: float | None = None
) -> str:
    """A signed HS256 token for the re-login cookie (ValueError for an unacceptable key)."""
    problem = cookie_key_problem(key)
    if problem:
        raise ValueError(problem)
    iat = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "sub": username,
        "iat": iat,
        "exp": iat + int(lifetime_seconds),
        "sep": int(epoch),
        "pwf": fingerprint,
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, key.encode("utf-8"), algorithm=ALGORITHM, headers={"typ": "JWT"})


def decode_token(token: object, *, key: str, max_lifetime_seconds: int, now: float | None = None) -> TokenClaims | None:
    """The claims of a token we issued and that is still within its lifetime; None for anything else.

    Checks signature, algorithm, expiry and claim types only: whether the user still exists and the
    epoch and fingerprint are current is for the caller (accounts.principal_from_token). Never raises.
    """
    try:
        return _decode(token, key, max_lifetime_seconds, time.time() if now is None else now)
    except Exception as exc:  # noqa: BLE001 - a cookie is attacker input: any failure is a rejection
        log.info("re-login cookie rejected: %s", type(exc).__name__)
        return None


def _decode(token: object, key: str, max_lifetime: int, now: float) -> TokenClaims | None:
    if cookie_key_problem(key) or not isinstance(token, str):
        return None
    if len(token) > MAX_TOKEN_LENGTH or not _JWS.match(token):
        return None  # also rules out `alg: none` tokens, whose signature part is empty
    header = jwt.get_unverified_header(token)
    if header != {"alg": ALGORITHM, "typ": "JWT"}:
        return None
    p = jwt.decode(
        token,
        key.encode("utf-8"),
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": _REQUIRED, "verify_signature": True, "verify_exp": True, "verify_iat": True},
    )
    sub, sep, pwf, iat, exp = p["sub"], p["sep"], p["pwf"], p["iat"], p["exp"]
    if not (isinstance(sub, str) and isinstance(pwf, str)):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sep, iat, exp)):
        return None
    if exp <= now or iat > now + CLOCK_SKEW_SECONDS or exp - iat > max_lifetime or exp <= iat:
        return None
    return TokenClaims(username=sub, epoch=sep, fingerprint=pwf, issued_at=iat, expires_at=exp)
