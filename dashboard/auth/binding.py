"""Tie a signed-in Streamlit session to the browser that signed in, not to the session id.

Streamlit names a session by an id the browser sends when its websocket (re)connects (the
third entry of ``Sec-WebSocket-Protocol``). Whoever presents a live session's id gets that
session and its ``st.session_state``: ``WebsocketSessionManager.connect_session`` in 1.67
even disconnects the session's current browser and hands the session to the newcomer. The
id does not change at sign-in, so a ticket kept in session state alone follows the id:
anyone who learned it (a log line, a shared screen, a proxy) was signed in.

So every sign-in also makes a binding, and a run counts as signed in only when it is bound:

* the connection: Streamlit's ``SessionClient`` object for the websocket the sign-in came
  through (held by weak reference, so a dead connection never matches a new one). That
  connection opened before any cookie of ours existed, so it is recognised by identity;
* a cookie ``retail_pulse_bind_<nonce>`` holding a fresh random secret, of which only the
  SHA-256 stays in session state. ``st.context.cookies`` reads the handshake of the run's
  *current* websocket, so when the same browser reconnects (network drop, laptop sleep)
  the cookie comes along, and a stranger resuming the id from elsewhere has none.
  ``SameSite=Strict``, ``Secure`` on https; set by script (Streamlit cannot send
  Set-Cookie), so not HttpOnly: script injection in the page could read it, as it could
  the re-login cookie. A per-binding name lets several tabs each keep their own.

The HTTP side (uploads, web_guard.py) has no websocket: it can check the cookie only
(``is_bound(..., connection=False)``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from unittest.mock import NonCallableMock

COOKIE_PREFIX = "retail_pulse_bind_"
_IN_APPTEST = "apptest"  # AppTest runs in-process with a mock runtime: there is no websocket to resume


@dataclass(frozen=True)
class Binding:
    cookie_name: str
    digest: str  # SHA-256 of the cookie's secret, hex
    connection: object  # weakref.ref to the SessionClient, _IN_APPTEST, or None (no connection at sign-in)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def current_connection() -> object:
    """The SessionClient this script run answers; ``_IN_APPTEST`` under AppTest; None when there is none.

    Reads the session's client the way ``st.context`` does (``Runtime.get_client``).
    """
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.session_manager import SessionClient

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    client = runtime.get_instance().get_client(ctx.session_id)
    if isinstance(client, NonCallableMock):
        return _IN_APPTEST  # AppTest's MagicMock runtime: a new mock every run, and no websocket at all
    if client is None or SessionClient not in type(client).__mro__:
        return None  # fail closed on anything unexpected
    return client


def new_binding() -> tuple[Binding, str]:
    """(binding for the current connection, the cookie secret to set in the browser)."""
    secret = secrets.token_urlsafe(32)
    conn = current_connection()
    held = weakref.ref(conn) if conn is not None and conn != _IN_APPTEST else conn
    return Binding(COOKIE_PREFIX + secrets.token_hex(6), _digest(secret), held), secret


def is_bound(binding: object, cookies: Mapping[str, str] | None, *, connection: bool = True) -> bool:
    """True when this run (or HTTP request, with ``connection=False``) comes from the browser that signed in."""
    if not isinstance(binding, Binding):
        return False
    if connection:
        conn = current_connection()
        if conn == _IN_APPTEST or binding.connection == _IN_APPTEST:
            return conn == binding.connection
        held = binding.connection() if isinstance(binding.connection, weakref.ref) else None
        if conn is not None and held is conn:
            return True
    try:
        value = (cookies or {}).get(binding.cookie_name)
    except Exception:  # noqa: BLE001 - an odd cookie mapping means "no cookie"
        return False
    return isinstance(value, str) and hmac.compare_digest(_digest(value), binding.digest)
