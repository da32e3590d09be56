"""Sign-in for the Streamlit app: startup checks, the login form, the logout button.

The entrypoint calls ``require_login()`` before ``st.navigation`` and stops when it
returns None; pages receive the ``Principal`` (never read roles from session state).

Why our own form instead of streamlit-authenticator 0.4.2's ``Authenticate.login``
(hashes and YAML stay in the library's format; see credentials.py and passwords.py):

* its ``check_credentials`` returns at once for an unknown username (285 ms vs
  0.001 ms in PITFALLS.md), and offers no hook to run a dummy bcrypt check;
* its only limit, ``max_login_attempts``, locks an account for good, for everyone,
  and cannot be put in front of the password check from outside;
* it strips passwords, sleeps 0.7 s on every signed-out rerun, and with a file path
  rewrites the YAML non-atomically on every login and logout;
* its cookie re-auth reads the cookie itself: default key ``some_key``, ``alg: none``
  raises ``InvalidAlgorithmError`` through the app, a token without ``exp_date`` raises
  ``KeyError``, an unknown user raises ``LoginError``, and logout does not revoke it.

So the library's cookie re-auth is not used at all (it never sees our cookie: we do
not construct ``Authenticate``). Our cookie (``accounts.COOKIE_NAME``) is read from
``st.context.cookies`` and checked by ``accounts.principal_from_token`` (tokens.py:
HS256 only, required ``exp``, our key, current user, epoch and password) before
anything trusts it; failures of any kind mean "show the login form". The cookie is
written by a tiny script (``st.html(unsafe_allow_javascript=True)``: Streamlit has
no way to send a Set-Cookie header), so it is ``SameSite=Strict``, ``Secure`` on
https, but cannot be HttpOnly; logout therefore revokes it on the server (per-user
session epoch, sessions.py), which also ends the user's other open sessions.

Streamlit keeps the session id across sign-in, and whoever presents it resumes the session,
so every sign-in (form or cookie) also binds the session to the browser that signed in
(binding.py: its connection, then a random cookie); a run that is not bound shows the form.
Past the backoff, the form adds a picture challenge (challenges.py) instead of a hard wait.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping

import streamlit as st

from dashboard import state
from dashboard.auth import accounts, binding
from dashboard.auth.accounts import AuthConfig, Principal, SessionTicket

log = logging.getLogger(__name__)

FORM_KEY = "rp_login_form"
USERNAME_KEY = "rp_login_username"
PASSWORD_KEY = "rp_login_password"
SUBMIT_KEY = "rp_login_submit"
CHALLENGE_KEY = "rp_login_challenge"
LOGOUT_KEY = "rp_logout"
UNAVAILABLE = "Sign-in is unavailable right now. Ask an administrator to check the server log."
_TICKET = "_rp_session_ticket"
_COOKIE_TRIED = "_rp_cookie_tried"
_DROP_COOKIE = "_rp_drop_cookie"
_LOGOUT_FAILED = "_rp_logout_failed"
_MESSAGE = "_rp_login_message"
_SET_COOKIE = "_rp_set_cookie"
_BINDING = "_rp_binding"  # binding.Binding: which browser this session's sign-in belongs to
_BIND_SECRET = "_rp_bind_secret"  # the binding cookie's value, until the next run writes it
_DROP_BINDING = "_rp_drop_binding"  # a binding cookie name to delete (after logout)
_CHALLENGE = "_rp_challenge"  # (challenge id, username, png): the answer stays on the server (challenges.py)
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_.-]*$")


def startup_checks() -> AuthConfig:
    """Refuse to run (st.error + st.stop) on an unsafe configuration; create the demo users in demo mode.

    Outside demo mode a missing, short, sample (``some_key``) or non-random cookie key, a
    missing or unreadable credentials file and the public demo file all stop the app with
    the reason and the fix. Returns the checked configuration.
    """
    config = accounts.load_auth_config()
    if config.problems:
        for problem in config.problems:
            _log_once(logging.ERROR, f"Retail Pulse refuses to start: {problem}")
        st.error("**Retail Pulse refuses to start:**\n\n" + "\n\n".join(f"- {p}" for p in config.problems))
        st.stop()
    if config.demo_users:
        try:
            if accounts.create_demo_users(config.credentials_path):
                log.warning("demo mode: created %s with the public demo users", config.credentials_path)
        except Exception:  # noqa: BLE001
            log.exception("could not create the demo credentials file")
            st.error(f"Demo mode could not create {config.credentials_path}; see the server log.")
            st.stop()
    for note in config.notes:
        _log_once(logging.WARNING, note)
    return config


_logged: set[str] = set()


def _log_once(level: int, message: str) -> None:
    # startup_checks runs on every rerun; the server log needs each message once per process
    if message not in _logged:
        _logged.add(message)
        log.log(level, message)


def require_login(*, cookies: Mapping[str, str] | None = None) -> Principal | None:
    """The signed-in Principal, or None after drawing the login form (the caller then calls st.stop()).

    Checks, in order: the session's ticket (still current: user exists, same password, not
    logged out), then the re-login cookie (``cookies`` defaults to ``st.context.cookies``; tests
    pass their own), then the form. Runs ``startup_checks`` first, so it refuses unsafe configs too.
    """
    config = startup_checks()
    ticket = st.session_state.get(_TICKET)
    foreign = False
    if isinstance(ticket, SessionTicket):
        if binding.is_bound(st.session_state.get(_BINDING), _cookies(cookies)):
            principal = accounts.resume_session(ticket, config)
            if principal is not None:
                _write_pending_cookies(ticket, config)
                return principal
            del st.session_state[_TICKET]
            st.session_state[_DROP_COOKIE] = True
            st.info("Your session has ended (logged out, or your account changed). Please sign in again.")
        else:
            # Another connection resumed this session by its id, without the binding cookie of the
            # browser that signed in (binding.py): a stranger, for all we know. It gets the form; the
            # ticket stays for the browser that holds the binding.
            log.warning("a signed-in session was resumed by a connection without its binding; showing the login form")
            foreign = True
    if foreign or not st.session_state.get(_COOKIE_TRIED):
        # A connection's cookies do not change while it lasts (st.context reads its handshake), so
        # one try per connection is enough; after a logout the cookie stays revoked anyway.
        st.session_state[_COOKIE_TRIED] = True
        got = accounts.principal_from_token(_cookie_value(cookies), config)
        if got is not None:
            _signed_in(got[1])
            _write_pending_cookies(got[1], config)
            return got[0]
        if _cookie_value(cookies):
            st.session_state[_DROP_COOKIE] = True
    state.remember_linked_page()  # a link to a page opens that page after sign-in (dashboard/state.py)
    _login_form(config)
    return None


def _signed_in(ticket: SessionTicket) -> None:
    # Every sign-in gets a new binding: the session id Streamlit keeps is no proof of who signed in.
    old = st.session_state.get(_BINDING)
    if isinstance(old, binding.Binding):
        st.session_state[_DROP_BINDING] = old.cookie_name
    new, secret = binding.new_binding()
    st.session_state.pop(_CHALLENGE, None)
    st.session_state[_TICKET] = ticket
    st.session_state[_BINDING] = new
    st.session_state[_BIND_SECRET] = secret


def _write_pending_cookies(ticket: SessionTicket, config: AuthConfig) -> None:
    stale = st.session_state.pop(_DROP_BINDING, None)
    if stale:
        _write_cookie(None, 0, name=stale)
    secret = st.session_state.pop(_BIND_SECRET, None)
    held = st.session_state.get(_BINDING)
    if secret and isinstance(held, binding.Binding):
        _write_cookie(secret, None, name=held.cookie_name)  # a browser-session cookie: no Max-Age
    if st.session_state.pop(_SET_COOKIE, False):
        _set_relogin_cookie(ticket, config)


def render_logout(principal: Principal, *, location: str = "sidebar") -> None:
    """'Signed in as ...' and a Log out button (key ``rp_logout``) in the sidebar or the main area."""
    area = st.sidebar if location == "sidebar" else st
    scope = "all merchants" if principal.merchant_ids is None else "merchant " + ", ".join(
        map(str, sorted(principal.merchant_ids))
    )
    area.caption(f"Signed in as **{principal.name}** ({principal.role}, {scope})")
    area.button("Log out", key=LOGOUT_KEY, on_click=_logout)


def _logout() -> None:
    # A button callback: runs before the script, so this very run shows the login form.
    ticket = st.session_state.pop(_TICKET, None)
    held = st.session_state.pop(_BINDING, None)
    st.session_state.pop(_BIND_SECRET, None)
    if isinstance(held, binding.Binding):
        st.session_state[_DROP_BINDING] = held.cookie_name
    st.session_state[_DROP_COOKIE] = True
    st.session_state[_COOKIE_TRIED] = True
    if isinstance(ticket, SessionTicket):
        try:
            accounts.end_session(ticket, accounts.load_auth_config())
        except Exception:  # noqa: BLE001
            log.exception("logout could not revoke the sessions of %s", ticket.username)
            st.session_state[_LOGOUT_FAILED] = True


def _login_form(config: AuthConfig) -> None:
    st.subheader("Sign in to Retail Pulse")
    notice = accounts.demo_notice(config)
    if notice:
        st.info(notice)
    if st.session_state.pop(_LOGOUT_FAILED, False):
        st.error("Logged out here, but your other sessions could not be ended. Tell an administrator.")
    with st.form(FORM_KEY, clear_on_submit=True):
        st.text_input("Username", key=USERNAME_KEY, autocomplete="username")
        st.text_input("Password", type="password", key=PASSWORD_KEY, autocomplete="current-password")
        challenge = st.session_state.get(_CHALLENGE)
        if challenge:
            st.image(challenge[2], caption="Too many failed sign-ins for this username from your network.")
            st.text_input("Type the characters in the picture", key=CHALLENGE_KEY, autocomplete="off")
        st.form_submit_button("Sign in", key=SUBMIT_KEY, on_click=_submit_login)
    message = st.session_state.pop(_MESSAGE, None)
    if message:
        st.error(message)
    if st.session_state.pop(_DROP_COOKIE, False):
        _write_cookie(None, 0)
    stale = st.session_state.pop(_DROP_BINDING, None)
    if stale:
        _write_cookie(None, 0, name=stale)


def _submit_login() -> None:
    # The form's submit callback: runs before the script, so the password can be wiped from
    # session state at once (clear_on_submit only clears the browser's copy) and the run
    # that follows already sees the new session.
    username = str(st.session_state.get(USERNAME_KEY) or "")
    password = str(st.session_state.get(PASSWORD_KEY) or "")
    st.session_state[PASSWORD_KEY] = ""
    answer = str(st.session_state.pop(CHALLENGE_KEY, "") or "")
    # An answered challenge is used up (the next try gets a new picture); an unanswered one stays
    # on screen, so resubmitting without reading it does not make the server draw picture after picture.
    shown = st.session_state.pop(_CHALLENGE, None) if answer.strip() else st.session_state.get(_CHALLENGE)
    config = accounts.load_auth_config()
    if config.problems:
        return  # the run that follows stops in startup_checks
    try:
        outcome = accounts.attempt_login(
            username, password, client=_client_id(), throttle=accounts.shared_throttle(config), config=config,
            challenge=(shown[0], answer) if shown and answer.strip() else None,
        )
    except Exception:  # noqa: BLE001 - broken credentials or sessions file
        log.exception("sign-in failed with an error")
        st.session_state[_MESSAGE] = UNAVAILABLE
        return
    if outcome.principal is None or outcome.ticket is None:
        st.session_state[_MESSAGE] = outcome.message or accounts.LOGIN_FAILED
        if outcome.needs_challenge and _CHALLENGE not in st.session_state:
            _issue_challenge(username)
        return
    _signed_in(outcome.ticket)
    st.session_state[_SET_COOKIE] = True


def _issue_challenge(username: str) -> None:
    try:
        issued = accounts.shared_challenges().issue(username)
    except Exception:  # noqa: BLE001 - no picture: the backoff's wait still works
        log.exception("could not draw a sign-in challenge")
        return
    st.session_state[_CHALLENGE] = (issued.id, username.strip()[:64], issued.png)


def _set_relogin_cookie(ticket: SessionTicket, config: AuthConfig) -> None:
    try:
        token = accounts.issue_session_token(ticket, config)
        if token:
            _write_cookie(token, config.cookie_lifetime_seconds)
    except Exception:  # noqa: BLE001 - the session works without the re-login cookie
        log.exception("could not set the re-login cookie")


def _client_id() -> str:
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001
        return "local"
    # Only a real address: AppTest answers with a new mock object each run, which would never match.
    return ip if isinstance(ip, str) and ip else "local"


def _cookies(cookies: Mapping[str, str] | None) -> Mapping[str, str]:
    """The cookies of this run's connection (its websocket handshake), or the ones a test passes."""
    try:
        return st.context.cookies if cookies is None else cookies
    except Exception:  # noqa: BLE001
        return {}


def _cookie_value(cookies: Mapping[str, str] | None) -> str | None:
    try:
        value = _cookies(cookies).get(accounts.COOKIE_NAME)
        return value if isinstance(value, str) and value else None
    except Exception:  # noqa: BLE001
        return None


def _is_https() -> bool:
    try:
        return (st.context.url or "").startswith("https://")
    except Exception:  # noqa: BLE001
        return False


def _write_cookie(value: str | None, max_age: int | None, *, name: str = accounts.COOKIE_NAME) -> None:
    """Set (or, with None, delete) a cookie in the browser: the re-login cookie unless ``name`` says otherwise.

    ``max_age`` None: a browser-session cookie.
    """
    value = value or ""
    if not _TOKEN_CHARS.match(value) or not _TOKEN_CHARS.match(name):
        return
    attrs = [f"{name}={value}", "Path=/", "SameSite=Strict"]
    if max_age is not None:
        attrs.insert(2, f"Max-Age={int(max_age)}")
    if _is_https():
        attrs.append("Secure")
    st.html(f"<script>document.cookie = {json.dumps('; '.join(attrs))};</script>", unsafe_allow_javascript=True)


def principal_of_session_state(
    state: Mapping[str, object], cookies: Mapping[str, str] | None = None
) -> Principal | None:
    """The Principal a Streamlit session is signed in as, read from that session's state, or None.

    For code outside a script run (the HTTP guard in web_guard.py checks uploads with it); applies
    the same checks as a page run (user still exists, same password, not logged out). With the
    request's ``cookies``, also that the request comes from the browser that signed in (binding.py).
    """
    try:
        ticket = state[_TICKET] if _TICKET in state else None
        held = state[_BINDING] if _BINDING in state else None
    except Exception:  # noqa: BLE001 - a session torn down mid-read
        return None
    if not isinstance(ticket, SessionTicket):
        return None
    if cookies is not None and not binding.is_bound(held, cookies, connection=False):
        return None
    return accounts.resume_session(ticket, accounts.load_auth_config())
