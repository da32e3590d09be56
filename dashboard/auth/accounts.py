"""Accounts: who may sign in, as whom, and for how long. The pure half of login; login.py draws it.

Import from here: roles (``Role``, ``Principal``), the credentials store (``add_user``,
``set_role``, ``set_merchants``, ``reset_password``, ``remove_user``, ``list_users``,
``create_demo_users``), password checks, tokens, session epochs and the login throttle.
Nothing here imports streamlit.

Demo mode (``RETAIL_PULSE_DEMO``): ``1`` on, ``0`` off, ``auto`` (default) on only while
no cookie key is set and the credentials file is missing (it is then created with
one demo user per role, password ``DEMO_PASSWORD``) or is that generated demo file.
So ``streamlit run`` on a fresh machine starts the demo, and a deployment that sets
``RETAIL_PULSE_COOKIE_KEY`` is never silently in demo mode: without a real
credentials file it refuses to start. Outside demo mode ``load_auth_config``
lists every reason to refuse (bad key, missing, broken or demo credentials file);
in demo mode an unusable key is replaced by a random per-process key.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dashboard.auth.credentials import (  # noqa: F401 - re-exported API
    DEMO_USERS,
    Credentials,
    CredentialsError,
    CredentialsMissing,
    DuplicateUser,
    LastAdmin,
    UnknownUser,
    UserAccount,
    add_user,
    create_demo_users,
    credentials_path,
    list_users,
    load_credentials,
    normalize_username,
    remove_user,
    reset_password,
    set_merchants,
    set_role,
)
from dashboard.auth.passwords import (  # noqa: F401
    DEMO_PASSWORD,
    MIN_PASSWORD_LENGTH,
    AccountError,
    InvalidPassword,
    check_password,
    has_demo_password,
)
from dashboard.auth.roles import ROLE_NAMES, STAFF_ROLES, Principal, Role, UnknownRole, parse_role  # noqa: F401
from dashboard.auth.sessions import SessionStoreError, bump_epoch, current_epoch  # noqa: F401
from dashboard.auth.throttle import LoginThrottle, ThrottleDecision  # noqa: F401
from dashboard.auth.tokens import (  # noqa: F401
    KEY_HELP,
    cookie_key_problem,
    decode_token,
    issue_token,
    password_fingerprint,
    random_key,
)
from data import settings

COOKIE_NAME = "retail_pulse_session"
LOGIN_FAILED = "Sign-in failed: wrong username or password."
MAX_COOKIE_DAYS = 30
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_PROCESS_KEY = random_key()  # demo mode only, when no usable key is configured


def throttled_message(retry_after: float) -> str:
    return f"Too many failed sign-in attempts. Wait {max(1, round(retry_after))} seconds and try again."


@dataclass(frozen=True)
class AuthConfig:
    """Resolved login settings. ``problems`` non-empty means the app must refuse to start."""

    credentials_path: Path
    demo: bool
    demo_users: bool  # the credentials file is the generated demo file (or will be)
    cookie_key: str
    cookie_lifetime_seconds: int  # 0: no re-login cookie
    free_attempts: int
    max_backoff_seconds: float
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def load_auth_config(environ: Mapping[str, str] | None = None) -> AuthConfig:
    """Read the login settings from ``environ`` (default ``os.environ``) and check them."""
    env = dict(os.environ if environ is None else environ)
    path = Path(settings.get("credentials", env))
    key = settings.get("cookie_key", env)
    problems: list[str] = []
    notes: list[str] = []
    state, detail = _file_state(path)
    mode = settings.get("demo", env).strip().lower()
    if mode in _TRUE:
        demo = True
    elif mode in _FALSE:
        demo = False
    elif mode == "auto":
        demo = not key.strip() and state in ("missing", "demo")
    else:
        demo = False
        problems.append(f"RETAIL_PULSE_DEMO={mode!r} must be 1, 0 or auto.")
    lifetime = _number(env, "cookie_expiry_days", 0, MAX_COOKIE_DAYS, problems)
    free = int(_number(env, "login_free_attempts", 1, 1000, problems, integer=True))
    backoff = _number(env, "login_max_backoff_seconds", 2, 3600, problems)
    if state == "broken":
        problems.append(detail)
    key_problem = cookie_key_problem(key)
    if demo:
        if key_problem:
            if key.strip():
                notes.append(f"Demo mode: {key_problem} A random key is used for this process instead.")
            key = _PROCESS_KEY
        if state == "real":
            notes.append(f"Demo mode with the real credentials file {path}: no demo users are added.")
    else:
        if key_problem:
            problems.append(f"{key_problem} {KEY_HELP}")
        if state == "missing":
            problems.append(
                f"No credentials file at {path}. Create the first admin with "
                "`python -m dashboard.auth.users add YOUR_NAME --role admin` "
                "(RETAIL_PULSE_CREDENTIALS sets the path), or start the public demo with RETAIL_PULSE_DEMO=1."
            )
        elif state == "demo":
            problems.append(
                f"{path} is the generated demo file: its users share the public demo password. Move it away and "
                "create real users with `python -m dashboard.auth.users add`, or set RETAIL_PULSE_DEMO=1."
            )
        elif state == "real" and detail == "empty":
            problems.append(f"{path} has no valid users; add one with `python -m dashboard.auth.users add`.")
        if state == "real":
            problems.extend(_demo_password_problems(path))
    return AuthConfig(
        credentials_path=path,
        demo=demo,
        demo_users=demo and state in ("missing", "demo"),
        cookie_key=key,
        cookie_lifetime_seconds=int(lifetime * 86400),
        free_attempts=free,
        max_backoff_seconds=backoff,
        problems=tuple(problems),
        notes=tuple(notes),
    )


def _file_state(path: Path) -> tuple[str, str]:
    try:
        creds = load_credentials(path)
    except CredentialsMissing:
        return "missing", ""
    except (CredentialsError, OSError) as exc:
        return "broken", f"Cannot read the credentials file: {exc}"
    return ("demo" if creds.demo else "real"), ("" if creds.users else "empty")


def _demo_password_problems(path: Path) -> list[str]:
    # A demo file with its marker removed, or a hash copied from one: the password is public.
    try:
        creds = load_credentials(path)
    except (CredentialsError, OSError):
        return []  # reported as "broken" already
    names = [u for u in sorted(creds.hashes) if has_demo_password(creds.hashes[u])]
    if not names:
        return []
    fixes = "; ".join(f"`python -m dashboard.auth.users reset-password {u}`" for u in names)
    return [
        f"{path}: {', '.join(names)} still {'has' if len(names) == 1 else 'have'} the public demo password "
        f"({DEMO_PASSWORD!r}), which is refused outside demo mode. Set a new password: {fixes} "
        "(or remove the user with `python -m dashboard.auth.users remove NAME`)."
    ]


def _number(env: dict, name: str, lo: float, hi: float, problems: list[str], integer: bool = False) -> float:
    raw = settings.get(name, env)
    try:
        value = int(raw) if integer else float(raw)
        if not lo <= value <= hi:
            raise ValueError
        return value
    except ValueError:
        s = settings._BY_NAME[name]
        problems.append(f"{s.env}={raw!r} must be a {'whole ' if integer else ''}number from {lo} to {hi}.")
        return int(s.default) if integer else float(s.default)


def demo_notice(config: AuthConfig) -> str | None:
    """What the login page says in demo mode (None outside it)."""
    if not config.demo:
        return None
    if not config.demo_users:
        return "Demo mode (RETAIL_PULSE_DEMO=1) with this deployment's own users."
    users = ", ".join(f"`{u}` ({role}{' ' + str(ids[0]) if ids else ''})" for u, (_, role, ids) in DEMO_USERS.items())
    return (
        f"**Demo mode.** One user per role: {users}. Every demo user's password is `{DEMO_PASSWORD}`. "
        "Do not put real data in a demo deployment."
    )


_throttles: dict[tuple[int, float], LoginThrottle] = {}
_throttles_lock = threading.Lock()


def shared_throttle(config: AuthConfig) -> LoginThrottle:
    """The process-wide throttle for the configured limits: every browser session uses the same one."""
    key = (config.free_attempts, config.max_backoff_seconds)
    with _throttles_lock:
        if key not in _throttles:
            _throttles[key] = LoginThrottle(free_attempts=config.free_attempts, max_delay=config.max_backoff_seconds)
        return _throttles[key]


def reset_throttles() -> None:
    """Forget every failed login (tests; a server restart does the same)."""
    with _throttles_lock:
        _throttles.clear()


# -- signing in --------------------------------------------------------------------------------------


def verify_password(username: str, password: str, *, path: Path | str | None = None) -> Principal | None:
    """The Principal when ``password`` is right for ``username``, else None.

    Exactly one bcrypt check runs whether or not the user exists (a dummy hash of the file's
    cost stands in), so the time taken does not reveal which usernames exist.
    Raises CredentialsError when the credentials file is missing or unreadable.
    """
    creds = load_credentials(path)
    try:
        user = normalize_username(username)
    except AccountError:
        user = ""
    ok = check_password(password, creds.hashes.get(user), creds.cost)
    return creds.users[user].principal() if ok else None


@dataclass(frozen=True)
class SessionTicket:
    """What a signed-in session keeps: checked again on every rerun (resume_session)."""

    username: str
    epoch: int
    fingerprint: str


@dataclass(frozen=True)
class LoginOutcome:
    principal: Principal | None
    ticket: SessionTicket | None
    message: str | None  # LOGIN_FAILED or a throttled_message, None on success
    retry_after: float = 0.0


def attempt_login(
    username: str, password: str, *, client: str, throttle: LoginThrottle, config: AuthConfig
) -> LoginOutcome:
    """Throttle, then check the password; one generic message for every failure.

    Outside demo mode the public demo password is refused for every user, whatever the file holds.
    """
    decision = throttle.check(username, client)
    if not decision.allowed:
        return LoginOutcome(None, None, throttled_message(decision.retry_after), decision.retry_after)
    principal = verify_password(username, password, path=config.credentials_path)
    if principal is not None and not config.demo and hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode()):
        principal = None
    if principal is None:
        throttle.record_failure(username, client)
        return LoginOutcome(None, None, LOGIN_FAILED)
    throttle.record_success(username, client)
    ticket = start_session(principal.username, config)
    if ticket is None:
        return LoginOutcome(None, None, LOGIN_FAILED)
    return LoginOutcome(principal, ticket, None)


def start_session(username: str, config: AuthConfig) -> SessionTicket | None:
    """A ticket bound to the user's current epoch and password (None if the user vanished meanwhile)."""
    creds = load_credentials(config.credentials_path)
    pw_hash = creds.hashes.get(username)
    if pw_hash is None:
        return None
    epoch = current_epoch(config.credentials_path, username)
    return SessionTicket(username, epoch, password_fingerprint(pw_hash, config.cookie_key))


def resume_session(ticket: SessionTicket, config: AuthConfig) -> Principal | None:
    """The Principal if the ticket is still current (user exists, same password, not logged out). Never raises."""
    try:
        creds = load_credentials(config.credentials_path)
        account, pw_hash = creds.users.get(ticket.username), creds.hashes.get(ticket.username)
        if account is None or pw_hash is None:
            return None
        if not hmac.compare_digest(password_fingerprint(pw_hash, config.cookie_key), ticket.fingerprint):
            return None
        if current_epoch(config.credentials_path, ticket.username) != ticket.epoch:
            return None
        return account.principal()
    except Exception:  # noqa: BLE001 - unreadable files mean "not signed in", never a crash
        return None


def issue_session_token(ticket: SessionTicket, config: AuthConfig) -> str | None:
    """The re-login cookie value for a session (None when cookies are off)."""
    if config.cookie_lifetime_seconds <= 0:
        return None
    return issue_token(
        ticket.username,
        key=config.cookie_key,
        epoch=ticket.epoch,
        fingerprint=ticket.fingerprint,
        lifetime_seconds=config.cookie_lifetime_seconds,
    )


def principal_from_token(token: object, config: AuthConfig) -> tuple[Principal, SessionTicket] | None:
    """Sign in from a re-login cookie value: (principal, ticket), or None for any bad cookie. Never raises."""
    if config.cookie_lifetime_seconds <= 0 or not token:
        return None
    claims = decode_token(token, key=config.cookie_key, max_lifetime_seconds=config.cookie_lifetime_seconds)
    if claims is None:
        return None
    ticket = SessionTicket(claims.username, claims.epoch, claims.fingerprint)
    principal = resume_session(ticket, config)
    return (principal, ticket) if principal is not None else None


def end_session(ticket: SessionTicket, config: AuthConfig) -> None:
    """Log out: bump the user's epoch, ending all their sessions and re-login cookies everywhere."""
    bump_epoch(config.credentials_path, ticket.username)
