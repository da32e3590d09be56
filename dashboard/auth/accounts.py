"""Accounts: who may sign in, as whom, and for how long. The pure half of login; login.py draws it.

Import from here: roles (``Role``, ``Principal``), the credentials store (``add_user``,
``set_role``, ``set_merchants``, ``reset_password``, ``remove_user``, ``list_users``,
``create_demo_users``), settings (``load_auth_config``, config.py), password checks,
tokens, session epochs, the login throttle and its challenges.
Nothing here imports streamlit.
"""

from __future__ import annotations

import hmac
import threading
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
    is_demo_like,
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
from dashboard.auth.challenges import Challenge, ChallengeStore  # noqa: F401
from dashboard.auth.config import MAX_COOKIE_DAYS, AuthConfig, demo_notice, load_auth_config  # noqa: F401

COOKIE_NAME = "retail_pulse_session"
LOGIN_FAILED = "Sign-in failed: wrong username or password."


CHALLENGE_FAILED = "The characters did not match the picture (or it expired). Try the new picture."


def throttled_message(retry_after: float) -> str:
    return (
        f"Too many failed sign-in attempts. Wait {max(1, round(retry_after))} seconds, or type the characters "
        "in the picture to try again now."
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


_challenges = ChallengeStore()


def shared_challenges() -> ChallengeStore:
    """The process-wide store of issued sign-in challenges."""
    return _challenges


def reset_throttles() -> None:
    """Forget every failed login and issued challenge (tests; a server restart does the same)."""
    global _challenges
    with _throttles_lock:
        _throttles.clear()
        _challenges = ChallengeStore()


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
    message: str | None  # LOGIN_FAILED, CHALLENGE_FAILED or a throttled_message; None on success
    retry_after: float = 0.0
    needs_challenge: bool = False  # the next attempt for this username from this client needs one (or a wait)


def attempt_login(
    username: str,
    password: str,
    *,
    client: str,
    throttle: LoginThrottle,
    config: AuthConfig,
    challenge: tuple[str, str] | None = None,
    challenges: ChallengeStore | None = None,
) -> LoginOutcome:
    """Throttle, then check the password; one generic message for every failure.

    ``challenge`` is (challenge id, the answer typed): redeemed (once) in ``challenges``
    (default the shared store); a solved one admits this attempt during a backoff. The
    attempt is counted before bcrypt runs (``LoginThrottle.acquire``), so simultaneous
    guesses cannot overrun the allowance. Outside demo mode the public demo password is
    refused for every user, whatever the file holds.
    """
    passed = False
    if challenge is not None:
        passed = (challenges or shared_challenges()).redeem(challenge[0], username, challenge[1])
        if not passed:
            return LoginOutcome(None, None, CHALLENGE_FAILED, needs_challenge=True)
    decision = throttle.acquire(username, client, challenge_passed=passed)
    if not decision.allowed:
        return LoginOutcome(None, None, throttled_message(decision.retry_after), decision.retry_after, True)
    try:
        principal = verify_password(username, password, path=config.credentials_path)
    except BaseException:
        throttle.record_success(username, client, clear=False)  # not a guess: take the counted attempt back
        raise
    if principal is not None and not config.demo and is_demo_like(password):
        principal = None  # the public demo password (or a variant) signs nobody in outside demo mode
    if principal is None:
        return LoginOutcome(None, None, LOGIN_FAILED, needs_challenge=not throttle.check(username, client).allowed)
    # After a challenge the pair stays in backoff: someone at the same address may be guessing.
    throttle.record_success(username, client, clear=not passed)
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
