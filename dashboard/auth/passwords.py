"""Password rules and bcrypt hashing in streamlit-authenticator's format. Pure (no streamlit).

``bcrypt`` is used directly, with the library's hash format (``$2b$``) and cost (12):
importing ``streamlit_authenticator.utilities.hasher`` would import streamlit through
the package ``__init__``. tests/test_accounts.py checks the library's ``Hasher``
accepts what we write.
"""

from __future__ import annotations

import re
import secrets
import threading

import bcrypt

BCRYPT_ROUNDS = 12
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
DEMO_PASSWORD = "retail-pulse-demo"
_BCRYPT_HASH = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")


class AccountError(ValueError):
    """A user-management request that cannot be done; the message says why."""


class InvalidPassword(AccountError):
    pass


def is_demo_like(password: str) -> bool:
    """True for the public demo password and its obvious variants (case, blanks, separators)."""
    squeeze = "".join(ch for ch in str(password).lower() if ch.isalnum())
    return squeeze == "".join(ch for ch in DEMO_PASSWORD if ch.isalnum())


def check_new_password(password: str, *, demo_file: bool = False) -> None:
    """Raise InvalidPassword unless ``password`` is acceptable for a new or reset password."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidPassword(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise InvalidPassword(f"password must be at most {MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)")
    if password != password.strip():
        raise InvalidPassword("password must not start or end with blanks (streamlit-authenticator strips them)")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidPassword("password must not contain control characters")
    if is_demo_like(password) and not demo_file:
        raise InvalidPassword("that is the public demo password (or a variant of it); choose another")


def hash_password(password: str, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash in the format streamlit-authenticator's ``Hasher`` writes and checks."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


_dummy_lock = threading.Lock()
_dummy_hashes: dict[int, bytes] = {}


def dummy_hash(cost: int) -> bytes:
    """A hash of a random secret at ``cost``: checking any password against it costs what a real check costs."""
    with _dummy_lock:
        if cost not in _dummy_hashes:
            _dummy_hashes[cost] = bcrypt.hashpw(secrets.token_urlsafe(32).encode(), bcrypt.gensalt(cost))
        return _dummy_hashes[cost]


def hash_cost(password_hash: object) -> int | None:
    """The cost of a bcrypt hash string (``$2b$12$...`` -> 12); None when it is not one."""
    m = _BCRYPT_HASH.match(password_hash) if isinstance(password_hash, str) else None
    return int(m.group(1)) if m else None


_demo_lock = threading.Lock()
_demo_checked: dict[str, bool] = {}  # hash -> has the demo password; a hash never changes meaning


def has_demo_password(password_hash: str) -> bool:
    """True when ``password_hash`` is a hash of the public DEMO_PASSWORD (one bcrypt check per distinct hash).

    Remembered per hash, so the startup check costs one bcrypt run per user per file version,
    not one per page run.
    """
    with _demo_lock:
        known = _demo_checked.get(password_hash)
    if known is not None:
        return known
    try:
        found = hash_cost(password_hash) is not None and bcrypt.checkpw(
            DEMO_PASSWORD.encode(), password_hash.encode("ascii")
        )
    except ValueError:
        found = False
    with _demo_lock:
        if len(_demo_checked) > 100_000:
            _demo_checked.clear()
        _demo_checked[password_hash] = found
    return found


def check_password(password: str, password_hash: str | None, cost: int) -> bool:
    """True when ``password`` matches ``password_hash``; always exactly one bcrypt check.

    Without a usable hash (unknown user, broken entry) or with a password bcrypt cannot take,
    the check runs against ``dummy_hash(cost)`` and returns False, so the time taken does
    not tell which case it was.
    """
    pw = password.encode("utf-8") if isinstance(password, str) else b""
    usable = password_hash is not None and hash_cost(password_hash) is not None and 0 < len(pw) <= MAX_PASSWORD_BYTES
    target = password_hash.encode("ascii") if usable else dummy_hash(cost)  # type: ignore[union-attr]
    try:
        ok = bcrypt.checkpw(pw[:MAX_PASSWORD_BYTES], target)
    except ValueError:
        return False
    return ok and usable
