"""The HTTP guard in front of Streamlit (dashboard/web_guard.py), as a unit and on the real server.

Unit tests drive the ASGI middleware with a stand-in app. The server tests start
``streamlit run dashboard/serve.py`` and speak Streamlit's websocket protocol (the benchmark's
client) to get real session ids, signed out, as a merchant and as an admin, then PUT files to
Streamlit's upload endpoint with a valid XSRF token, as a browser would.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import pytest
import requests
from websockets.asyncio.client import connect

from benchmarks.bench_ws_sessions import Client
from dashboard.auth import login
from dashboard.auth.binding import COOKIE_PREFIX
from dashboard.web_guard import SECURITY_HEADERS, WebGuard
from data import settings
from tests.servers import dashboard_server

PASSWORD = "retail-pulse-demo"
MB = 1024 * 1024


# ---------------------------------------------------------------- unit: the middleware alone

class StandIn:
    """An ASGI app that reads the whole body and answers 204 (like Streamlit's upload route)."""

    def __init__(self) -> None:
        self.calls = 0
        self.body = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        while True:
            message = await receive()
            self.body += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(guard, path: str, method: str = "GET", headers=(), chunks=(b"",)) -> tuple[int, dict, bytes]:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method,
             "headers": [(k.encode(), v.encode()) for k, v in headers]}
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def guard_with(roles: dict[str, str], max_bytes: int = MB, token: str = "") -> tuple[WebGuard, StandIn]:
    app = StandIn()
    return WebGuard(app, role_of_session=lambda sid, cookies: roles.get(sid), max_bytes=max_bytes,
                    metrics_token=token), app


def test_cookies_reach_the_session_lookup():
    seen = []
    guard = WebGuard(StandIn(), role_of_session=lambda sid, cookies: seen.append(cookies) or "admin",
                     max_bytes=MB, metrics_token="")
    call(guard, "/_stcore/upload_file/s1/f", "PUT", headers=[("cookie", "a=1; retail_pulse_bind_ab=xyz")])
    assert seen == [{"a": "1", "retail_pulse_bind_ab": "xyz"}]


def test_every_answer_carries_the_security_headers():
    guard, _ = guard_with({})
    status, headers, _ = call(guard, "/")
    assert status == 204
    for name, value in SECURITY_HEADERS:
        assert headers[name.decode()] == value.decode()


@pytest.mark.parametrize("session, status", [("nobody", 403), ("m1", 403), ("a1", 204)])
def test_uploads_only_from_signed_in_admins_and_refused_before_the_body_is_read(session, status):
    guard, app = guard_with({"m1": "merchant", "a1": "admin"})
    got, _, body = call(guard, f"/_stcore/upload_file/{session}/f1", "PUT", chunks=(b"x" * 1000, b""))
    assert got == status
    assert (app.calls, app.body) == ((1, 1000) if status == 204 else (0, 0))
    if session == "nobody":
        assert b"Sign in" in body


def test_upload_cap_holds_whatever_content_length_claims():
    guard, app = guard_with({"a1": "admin"}, max_bytes=MB)
    status, _, body = call(guard, "/_stcore/upload_file/a1/f", "PUT", headers=[("content-length", str(3 * MB))])
    assert status == 413 and app.calls == 0 and b"RETAIL_PULSE_MAX_UPLOAD_MB" in body
    # chunked (no length) or a lying length: counted while it streams, stopped past the cap
    chunks = tuple([b"y" * (256 * 1024)] * 8 + [b""])
    status, _, _ = call(guard, "/_stcore/upload_file/a1/f", "PUT", headers=[("content-length", "10")], chunks=chunks)
    assert status == 413
    assert app.body < 2 * MB  # the stand-in read no further than just past the cap


def test_metrics_need_the_token():
    guard, app = guard_with({}, token="s3cret-token")
    assert call(guard, "/_stcore/metrics")[0] == 404
    assert call(guard, "/_stcore/metrics", headers=[("authorization", "Bearer wrong")])[0] == 404
    assert call(guard, "/_stcore/metrics", headers=[("authorization", "Bearer s3cret-token")])[0] == 204
    open_guard, _ = guard_with({}, token="")
    assert call(open_guard, "/_stcore/metrics", headers=[("authorization", "Bearer ")])[0] == 404


def test_upload_size_setting_is_checked():
    assert settings.max_upload_mb({}) == int(settings.get("max_upload_mb", {}))
    assert settings.max_upload_mb({"RETAIL_PULSE_MAX_UPLOAD_MB": "50"}) == 50
    for bad in ("0", "-1", "1e3", "lots", "4096"):
        with pytest.raises(settings.SettingError, match="RETAIL_PULSE_MAX_UPLOAD_MB"):
            settings.max_upload_mb({"RETAIL_PULSE_MAX_UPLOAD_MB": bad})


# ---------------------------------------------------------------- the real server

@pytest.fixture(scope="module")
def server(fixture_warehouse_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guard")
    wh = tmp / "guard.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
           "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml"), "RETAIL_PULSE_MAX_UPLOAD_MB": "1"}
    with dashboard_server(env, timeout=120) as s:
        yield s.url


BIND_COOKIE = re.compile(r'document\.cookie = "(' + COOKIE_PREFIX + r'[0-9a-f]+)=([A-Za-z0-9_.-]+);')


async def _session(url: str, user: str | None, puts: list[bytes], bind: bool = True) -> list[int]:
    """Open a session (signed in as ``user`` unless None), then PUT each payload to its upload URL.

    ``bind``: send the browser's binding cookie with the uploads, as the signed-in browser does.
    """
    http = requests.Session()
    http.get(url + "/_stcore/health", timeout=10)  # the page's first call; it sets the XSRF cookie
    xsrf = http.cookies.get("_streamlit_xsrf")
    assert xsrf, "the server set no XSRF cookie"
    async with connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                       origin=url, max_size=None, open_timeout=30) as ws:
        client = Client(ws)
        seen = await client.run()
        if user is not None:
            ids = seen["widgets"]
            seen = await client.run(widgets=((ids[login.USERNAME_KEY], "string_value", user),
                                             (ids[login.PASSWORD_KEY], "string_value", PASSWORD),
                                             (ids[login.SUBMIT_KEY], "trigger_value", True)))
            assert "Overview" in seen["headings"], seen
            if bind:  # the cookie the page's script sets in a browser (auth/binding.py)
                name, value = next(m.groups() for body in seen["html"] for m in [BIND_COOKIE.search(body)] if m)
                http.cookies.set(name, value)
        assert client.session_id
        statuses = []
        for i, payload in enumerate(puts):
            r = await asyncio.to_thread(
                http.put, f"{url}/_stcore/upload_file/{client.session_id}/file{i}",
                files={"file": ("orders.csv", payload, "text/csv")}, headers={"X-Xsrftoken": xsrf}, timeout=30)
            statuses.append(r.status_code)
        return statuses


@pytest.mark.slow
def test_real_server_refuses_signed_out_and_non_admin_uploads_and_caps_admin_ones(server):
    small, large = b"order_ref,sku\n1,A\n", b"z" * (2 * MB)
    assert asyncio.run(_session(server, None, [small])) == [403]
    assert asyncio.run(_session(server, "demo-merchant", [small])) == [403]
    assert asyncio.run(_session(server, "demo-admin", [small, large])) == [204, 413]
    # the admin's session id without the admin browser's binding cookie (a stolen id) uploads nothing
    assert asyncio.run(_session(server, "demo-admin", [small], bind=False)) == [403]


@pytest.mark.slow
def test_real_server_headers_and_private_metrics(server):
    r = requests.get(server + "/", timeout=10)
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert requests.get(server + "/_stcore/metrics", timeout=10).status_code == 404
    assert requests.get(server + "/_stcore/health", timeout=10).headers["X-Frame-Options"] == "DENY"
