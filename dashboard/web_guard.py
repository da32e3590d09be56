"""HTTP guard in front of Streamlit's own routes: security headers, uploads, metrics.

An ASGI middleware (``dashboard/serve.py`` installs it through ``st.App``). Why it exists:

* Streamlit's upload endpoint (``/_stcore/upload_file/<session>/<file>``) accepts a file
  from any live session, signed in or not, and keeps it in memory until the session
  expires (PITFALLS.md: two 100 MB uploads raised server memory 405 -> 608 MB). Here a
  PUT is refused before its body is read unless the session belongs to a signed-in user
  whose role may import, and the request carries that browser's binding cookie (a session id
  alone signs nobody in: dashboard/auth/binding.py); an allowed one is capped at ``RETAIL_PULSE_MAX_UPLOAD_MB``
  while it streams, whatever Content-Length claims.
* ``/_stcore/metrics`` describes every session's caches and uploads to anyone: it answers
  404 unless ``RETAIL_PULSE_METRICS_TOKEN`` is set and the request carries that bearer token.
* Every HTTP answer gets anti-framing and no-sniff headers (clickjacking, MIME sniffing).
  A reverse proxy should set them too (README); the app does not rely on it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from data import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (session id, the request's cookies) -> role name of the signed-in user, or None when the session is
# signed out, unknown, or the request does not come from the browser that signed in (auth/binding.py)
RoleLookup = Callable[[str, Mapping[str, str]], "str | None"]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
UPLOAD_ROLES = frozenset({"admin"})  # the Data page's import form is the only uploader
UPLOAD_MARK = "/_stcore/upload_file/"
METRICS_MARK = "/_stcore/metrics"


class UploadTooLarge(Exception):
    """The body grew past the cap while streaming."""


def max_upload_bytes(environ: dict[str, str] | None = None) -> int:
    """RETAIL_PULSE_MAX_UPLOAD_MB in bytes (settings.SettingError names a bad value)."""
    return settings.max_upload_mb(environ) * 1024 * 1024


class WebGuard:
    """ASGI middleware; ``role_of_session`` tells which role a Streamlit session is signed in with."""

    def __init__(self, app: ASGIApp, role_of_session: RoleLookup | None = None,
                 max_bytes: int | None = None, metrics_token: str | None = None):
        self.app = app
        self.role_of_session = role_of_session or _streamlit_session_role
        self.max_bytes = max_upload_bytes() if max_bytes is None else max_bytes
        self.metrics_token = settings.get("metrics_token") if metrics_token is None else metrics_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        path = str(scope.get("path", ""))
        if path.rstrip("/").endswith(METRICS_MARK) and not self._metrics_allowed(scope):
            await _plain(send, 404, "Not found")
            return
        if UPLOAD_MARK in path and scope.get("method") == "PUT":
            refusal = self._upload_refusal(scope, path)
            if refusal:
                await _plain(send, *refusal)
                return
            try:
                await self.app(scope, _capped(receive, self.max_bytes), send)
            except UploadTooLarge:
                await _plain(send, 413, self._too_large())
            return
        await self.app(scope, receive, send)

    def _metrics_allowed(self, scope: Scope) -> bool:
        if not self.metrics_token:
            return False
        given = _header(scope, b"authorization")
        return hmac.compare_digest(given.encode(), f"Bearer {self.metrics_token}".encode())

    def _upload_refusal(self, scope: Scope, path: str) -> tuple[int, str] | None:
        session_id = path.split(UPLOAD_MARK, 1)[1].split("/", 1)[0]
        try:
            role = self.role_of_session(session_id, _cookies(scope)) if session_id else None
        except Exception:  # noqa: BLE001 - an unreadable session is a signed-out one
            role = None
        if role is None:
            return 403, "Sign in before uploading a file."
        if role not in UPLOAD_ROLES:
            return 403, "Your role may not upload files."
        length = _header(scope, b"content-length")
        if length:
            if not length.isdigit():
                return 400, "Invalid Content-Length header."
            if int(length) > self.max_bytes + _MULTIPART_SLACK:
                return 413, self._too_large()
        return None

    def _too_large(self) -> str:
        return (f"File too large: uploads are limited to {self.max_bytes // (1024 * 1024)} MB "
                "(setting RETAIL_PULSE_MAX_UPLOAD_MB).")


# multipart framing around the file (boundaries, part headers)
_MULTIPART_SLACK = 64 * 1024


def _capped(receive: Receive, max_bytes: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes + _MULTIPART_SLACK:
                raise UploadTooLarge
        return message

    return wrapped


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message.get("type") == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [h for h in SECURITY_HEADERS if h[0] not in present]
            message["headers"] = headers
        await send(message)

    return wrapped


def _cookies(scope: Scope) -> dict[str, str]:
    jar: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key.lower() == b"cookie":
            parsed = SimpleCookie()
            try:
                parsed.load(value.decode("latin-1"))
            except CookieError:
                continue
            jar.update({name: morsel.value for name, morsel in parsed.items()})
    return jar


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return ""


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _streamlit_session_role(session_id: str, cookies: Mapping[str, str]) -> str | None:
    # Imported here: the guard module stays importable (and testable) without a running server.
    from streamlit.runtime import Runtime

    from dashboard.auth import login

    if not Runtime.exists():
        return None
    session = Runtime.instance().get_app_session(session_id)
    if session is None:
        return None
    principal = login.principal_of_session_state(session.session_state, cookies)
    return None if principal is None else str(principal.role)


def forget_uploads() -> None:
    """Drop every file the current Streamlit session has uploaded (the entrypoint calls it on signed-out runs)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and Runtime.exists():
        Runtime.instance().uploaded_file_mgr.remove_session_files(ctx.session_id)
