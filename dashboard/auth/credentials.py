"""The users file: streamlit-authenticator's YAML credentials format, bcrypt hashes. Pure (no streamlit).

Layout (what ``stauth.Authenticate(config["credentials"], ...)`` reads, plus our keys)::

    credentials:
      usernames:
        alice:
          name: Alice
          email: alice@example.com
          password: $2b$12$...      # bcrypt, cost 12, like stauth's Hasher
          roles: [merchant]         # exactly one of Role
          merchant_ids: [1, 2]      # merchant users only
    retail_pulse: {format: 1, demo: true}   # only in the generated demo file

Every change is a locked read-modify-write that replaces the file atomically
(atomic_file.py), so concurrent readers never see a partial file and concurrent
admins never lose each other's edits. Keys we do not know are kept. A user
entry that does not validate is listed with its problem and cannot sign in.
Hashing: passwords.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from dashboard.auth import sessions
from dashboard.auth.atomic_file import CachedReader, locked, write_atomically
from dashboard.auth.passwords import (
    BCRYPT_ROUNDS,
    DEMO_PASSWORD,
    AccountError,
    check_new_password,
    dummy_hash,
    hash_cost,
    hash_password,
)
from dashboard.auth.roles import Principal, Role, parse_merchant_ids, parse_role
from data import settings

# username -> (display name, role, merchant ids)
DEMO_USERS: dict[str, tuple[str, Role, tuple[int, ...]]] = {
    "demo-merchant": ("Demo merchant (merchant 1)", Role.MERCHANT, (1,)),
    "demo-ops": ("Demo operations", Role.OPERATIONS, ()),
    "demo-analyst": ("Demo analyst", Role.ANALYST, ()),
    "demo-fraud": ("Demo fraud reviewer", Role.FRAUD_REVIEWER, ()),
    "demo-admin": ("Demo admin", Role.ADMIN, ()),
}
_HEADER = (
    "# Retail Pulse users: streamlit-authenticator credentials format, bcrypt hashes.\n"
    "# Manage with `python -m dashboard.auth.users` (writes are atomic; hand edits are read but not locked).\n"
)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,63}$")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: about 8x faster
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class UnknownUser(AccountError):
    """No user of that name."""


class DuplicateUser(AccountError):
    """A user of that name exists."""


class LastAdmin(AccountError):
    """The change would leave no admin."""


class CredentialsError(RuntimeError):
    """The credentials file is missing or unreadable."""


class CredentialsMissing(CredentialsError, FileNotFoundError):
    """No credentials file at the path."""


@dataclass(frozen=True)
class UserAccount:
    """One user as listed (no password hash). ``merchant_ids`` is None for staff."""

    username: str
    name: str
    email: str | None
    role: Role
    merchant_ids: frozenset[int] | None

    def principal(self) -> Principal:
        return Principal(self.username, self.name, self.role, self.merchant_ids)


@dataclass(frozen=True)
class Credentials:
    """A parsed credentials file. ``invalid`` maps usernames whose entry is broken to the reason."""

    users: Mapping[str, UserAccount]
    hashes: Mapping[str, str]
    invalid: Mapping[str, str]
    demo: bool
    cost: int  # bcrypt cost of the stored hashes (the highest), used for the unknown-user dummy check


def credentials_path(path: Path | str | None = None) -> Path:
    """The credentials file: ``path`` if given, else RETAIL_PULSE_CREDENTIALS, else the default."""
    return Path(path) if path else Path(settings.get("credentials"))


def normalize_username(username: str) -> str:
    """Lower-cased, trimmed username (as the library stores them); AccountError if not a valid name."""
    name = str(username).strip().lower()
    if not _USERNAME.match(name):
        raise AccountError(
            f"invalid username {username!r}: use 1-64 of a-z 0-9 . _ @ + - , starting with a letter or digit"
        )
    return name


# -- reading -----------------------------------------------------------------------------------------


def _load_doc(data: bytes, path: Path) -> dict:
    try:
        doc = yaml.load(data.decode("utf-8"), Loader=_Loader)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path} is not valid YAML: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise CredentialsError(f"{path}: expected a mapping with a `credentials` key")
    creds = doc.setdefault("credentials", {}) or {}
    if not isinstance(creds, dict):
        raise CredentialsError(f"{path}: `credentials` must be a mapping")
    doc["credentials"] = creds
    users = creds.get("usernames") or {}
    if not isinstance(users, dict):
        raise CredentialsError(f"{path}: `credentials.usernames` must be a mapping")
    creds["usernames"] = users
    return doc


def _is_demo(doc: dict) -> bool:
    meta = doc.get("retail_pulse")
    return isinstance(meta, dict) and meta.get("demo") is True


def _parse_user(username: object, entry: object) -> tuple[UserAccount, str]:
    """(account, hash) or ValueError with the reason."""
    if not isinstance(username, str) or _USERNAME.match(username) is None:
        raise ValueError("invalid username (must be lower-case: a-z 0-9 . _ @ + -)")
    if not isinstance(entry, dict):
        raise ValueError("entry is not a mapping")
    pw = entry.get("password")
    if not isinstance(pw, str) or hash_cost(pw) is None:
        raise ValueError("password is not a bcrypt hash (set one with reset-password)")
    roles = entry.get("roles")
    if not isinstance(roles, list) or len(roles) != 1:
        raise ValueError("`roles` must list exactly one role")
    role = parse_role(roles[0])
    raw_ids = entry.get("merchant_ids") or []
    if not isinstance(raw_ids, list):
        raise ValueError("`merchant_ids` must be a list")
    ids = parse_merchant_ids(raw_ids)
    if role is Role.MERCHANT and not ids:
        raise ValueError("merchant user without merchant_ids")
    if role is not Role.MERCHANT and ids:
        raise ValueError(f"{role} is a staff role and sees all merchants; remove merchant_ids")
    name = entry.get("name") or f"{entry.get('first_name') or ''} {entry.get('last_name') or ''}".strip()
    email = str(entry["email"]) if entry.get("email") else None
    return UserAccount(username, str(name or username), email, role, ids if role is Role.MERCHANT else None), pw


def _parse_credentials(doc: dict) -> Credentials:
    users, hashes, invalid = {}, {}, {}
    for username, entry in doc["credentials"]["usernames"].items():
        try:
            account, pw = _parse_user(username, entry)
        except ValueError as exc:
            invalid[str(username)] = str(exc)
            continue
        users[username], hashes[username] = account, pw
    cost = max((hash_cost(h) or BCRYPT_ROUNDS for h in hashes.values()), default=BCRYPT_ROUNDS)
    dummy_hash(cost)  # computed here, once per file change, so no login pays for it
    return Credentials(users=users, hashes=hashes, invalid=invalid, demo=_is_demo(doc), cost=cost)


_readers: dict[Path, CachedReader] = {}  # one per file: the cache holds that file's bytes
_readers_lock = threading.Lock()


def load_credentials(path: Path | str | None = None) -> Credentials:
    """The parsed credentials file (re-parsed only when it changed). CredentialsMissing/CredentialsError."""
    p = credentials_path(path).absolute()
    with _readers_lock:
        if p not in _readers:
            _readers[p] = CachedReader(lambda data: _parse_credentials(_load_doc(data, p)))
        reader = _readers[p]
    try:
        return reader.read(p)
    except FileNotFoundError:
        raise CredentialsMissing(f"no credentials file at {p}") from None


def list_users(path: Path | str | None = None) -> list[UserAccount]:
    """Every valid user, sorted by username (see ``load_credentials(...).invalid`` for broken entries)."""
    creds = load_credentials(path)
    return [creds.users[u] for u in sorted(creds.users)]


# -- writing -----------------------------------------------------------------------------------------


def _dump(doc: dict) -> bytes:
    text = yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=False)
    return (_HEADER + text).encode("utf-8")


def _mutate(path: Path | str | None, change: Callable[[dict, dict], object], *, create: bool = False) -> None:
    """Locked read-modify-write: ``change(usernames, doc)`` edits the raw document, then it is replaced.

    ``change`` returning ``False`` means nothing changed (no write).
    """
    p = credentials_path(path)
    with locked(p):
        try:
            doc = _load_doc(p.read_bytes(), p)
        except FileNotFoundError:
            if not create:
                raise CredentialsMissing(
                    f"no credentials file at {p}; `python -m dashboard.auth.users add` creates it"
                ) from None
            doc = _load_doc(b"", p)
        before = _admins(doc)
        if change(doc["credentials"]["usernames"], doc) is False:
            return
        if before and not _admins(doc):
            raise LastAdmin("refused: that would leave no admin; add or promote another admin first")
        write_atomically(p, _dump(doc))


def _admins(doc: dict) -> set[str]:
    admins = set()
    for username, entry in doc["credentials"]["usernames"].items():
        try:
            if _parse_user(username, entry)[0].role is Role.ADMIN:
                admins.add(username)
        except ValueError:
            pass
    return admins


def _entry(usernames: dict, username: str) -> dict:
    entry = usernames.get(username)
    if not isinstance(entry, dict):
        raise UnknownUser(f"unknown user {username!r}")
    return entry


def _set_binding(entry: dict, role: Role, merchant_ids: Iterable[object] | None) -> None:
    ids = parse_merchant_ids(merchant_ids or ())
    if role is Role.MERCHANT:
        if not ids:
            raise AccountError("a merchant user must be bound to at least one merchant id")
        entry["merchant_ids"] = sorted(ids)
    else:
        if ids:
            raise AccountError(f"{role} is a staff role and sees all merchants; do not give merchant ids")
        entry.pop("merchant_ids", None)
    entry["roles"] = [role.value]


def add_user(
    username: str,
    password: str,
    role: Role | str,
    merchant_ids: Iterable[int] = (),
    *,
    name: str | None = None,
    email: str | None = None,
    path: Path | str | None = None,
    rounds: int = BCRYPT_ROUNDS,
) -> UserAccount:
    """Add a user (creates the file if needed). DuplicateUser, UnknownRole, InvalidPassword, AccountError."""
    user, role = normalize_username(username), parse_role(role)
    demo = _file_is_demo(path)
    check_new_password(password, demo_file=demo)
    entry: dict = {"name": (name or "").strip() or user, "email": (email or "").strip() or None}
    _set_binding(entry, role, merchant_ids)  # validate before paying for the hash
    entry["password"] = hash_password(password, rounds)

    def change(usernames: dict, doc: dict) -> None:
        if user in usernames:
            raise DuplicateUser(f"user {user!r} already exists")
        usernames[user] = {k: entry[k] for k in ("name", "email", "password", "roles", "merchant_ids") if k in entry}

    _mutate(path, change, create=True)
    return _account(user, path)


def set_role(
    username: str, role: Role | str, merchant_ids: Iterable[int] | None = None, *, path: Path | str | None = None
) -> UserAccount:
    """Change a user's role. A merchant needs ``merchant_ids`` (or already has some); staff lose theirs."""
    user, role = normalize_username(username), parse_role(role)

    def change(usernames: dict, doc: dict) -> None:
        entry = _entry(usernames, user)
        ids = merchant_ids
        if ids is None and role is Role.MERCHANT:
            ids = entry.get("merchant_ids") or ()
        _set_binding(entry, role, ids)

    _mutate(path, change)
    return _account(user, path)


def set_merchants(username: str, merchant_ids: Iterable[int], *, path: Path | str | None = None) -> UserAccount:
    """Bind a merchant user to exactly ``merchant_ids``; AccountError for staff users."""
    user = normalize_username(username)

    def change(usernames: dict, doc: dict) -> None:
        entry = _entry(usernames, user)
        roles = entry.get("roles") or []
        if [str(r) for r in roles] != [Role.MERCHANT.value]:
            raise AccountError(f"{user!r} is not a merchant user; staff roles see all merchants (use set-role)")
        _set_binding(entry, Role.MERCHANT, merchant_ids)

    _mutate(path, change)
    return _account(user, path)


def reset_password(
    username: str, password: str, *, path: Path | str | None = None, rounds: int = BCRYPT_ROUNDS
) -> None:
    """Set a new password and end every session and re-login cookie of the user."""
    user = normalize_username(username)
    check_new_password(password, demo_file=_file_is_demo(path))
    new_hash = hash_password(password, rounds)
    _mutate(path, lambda usernames, doc: _entry(usernames, user).__setitem__("password", new_hash))
    sessions.bump_epoch(credentials_path(path), user)


def remove_user(username: str, *, path: Path | str | None = None) -> None:
    """Remove a user and end their sessions (the epoch is kept, so re-adding the name revives no cookie)."""
    user = normalize_username(username)

    def change(usernames: dict, doc: dict) -> None:
        _entry(usernames, user)
        del usernames[user]

    _mutate(path, change)
    sessions.bump_epoch(credentials_path(path), user)


def create_demo_users(path: Path | str | None = None, *, rounds: int = BCRYPT_ROUNDS) -> bool:
    """Create the demo credentials file (one user per role, password DEMO_PASSWORD) unless the file exists.

    Returns True when it created the file. Safe when several processes start at once.
    """
    p = credentials_path(path)
    if p.exists():
        return False
    hashed = hash_password(DEMO_PASSWORD, rounds)  # one hash: all demo users share the public password
    created = False

    def change(usernames: dict, doc: dict) -> bool:
        nonlocal created
        if usernames or doc.get("retail_pulse"):
            return False  # another process won the race
        for user, (name, role, ids) in DEMO_USERS.items():
            entry: dict = {"name": name, "email": None}
            _set_binding(entry, role, ids)
            usernames[user] = {"name": name, "email": None, "password": hashed, **entry}
        doc["retail_pulse"] = {"format": 1, "demo": True}
        created = True
        return True

    _mutate(p, change, create=True)
    return created


def _file_is_demo(path: Path | str | None) -> bool:
    try:
        return load_credentials(path).demo
    except CredentialsMissing:
        return False


def _account(username: str, path: Path | str | None) -> UserAccount:
    creds = load_credentials(path)
    if username in creds.users:
        return creds.users[username]
    raise AccountError(f"{username!r} was saved but does not validate: {creds.invalid.get(username)}")
