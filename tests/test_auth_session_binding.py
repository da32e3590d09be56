"""Issue 6, item 11: a signed-in session cannot be taken over by presenting its session id.

Against the real server (tests/servers.py) with clients speaking Streamlit's websocket protocol:
the browser signs in; a second client then connects presenting the same session id (the third
``Sec-WebSocket-Protocol`` entry, as the Streamlit frontend does when it reconnects) but without
the binding cookie, and must get the login form, not the pages. The same id with the cookie
(the real browser reconnecting after a network drop) gets the pages back without signing in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import re
import shutil
import socket
import threading

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

from benchmarks.bench_ws_sessions import Client as BenchClient
from dashboard.auth import accounts, login
from dashboard.auth.binding import COOKIE_PREFIX
from tests.servers import dashboard_server

TIMEOUT = 180.0  # per script run: the first page run on a fresh server imports the data stack, slow on a busy machine
_SET_COOKIE = re.compile(r'document\.cookie = "(' + COOKIE_PREFIX + r'[0-9a-f]+)=([A-Za-z0-9_.-]+);')


def Client(ws) -> BenchClient:  # noqa: N802 - reads like the class it builds
    """The load benchmark's websocket client (Streamlit's protocol), with this test's longer run timeout."""
    return BenchClient(ws, timeout=TIMEOUT)


def _connect(url: str, session_id: str = "", cookie: str = ""):
    protocols = ["streamlit", "xsrf-unused", session_id] if session_id else ["streamlit"]
    headers = {"Cookie": cookie} if cookie else {}
    return connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=protocols, origin=url,
                   additional_headers=headers, max_size=None, open_timeout=TIMEOUT, close_timeout=5)


def _shows_pages(seen: dict) -> bool:
    return "Overview" in seen["headings"]


def _shows_login_form(seen: dict) -> bool:
    return login.USERNAME_KEY in seen["widgets"] and login.PASSWORD_KEY in seen["widgets"]


async def _scenario(url: str) -> dict:
    out: dict = {}
    async with _connect(url) as ws:  # the real browser
        browser = Client(ws)
        form = await browser.run()
        ids = form["widgets"]
        signed_in = await browser.run(widgets=((ids[login.USERNAME_KEY], "string_value", "demo-merchant"),
                                               (ids[login.PASSWORD_KEY], "string_value", accounts.DEMO_PASSWORD),
                                               (ids[login.SUBMIT_KEY], "trigger_value", True)))
        out["browser_signed_in"] = _shows_pages(signed_in) and not signed_in["problems"]
        cookies = [m.groups() for body in signed_in["html"] for m in [_SET_COOKIE.search(body)] if m]
        out["binding_cookie"] = cookies[0] if cookies else None
        out["again"] = _shows_pages(await browser.run())  # the first connection stays signed in
        session_id = browser.session_id
    out["session_id"] = session_id

    async with _connect(url, session_id) as ws:  # a stranger who learned the session id
        thief = Client(ws)
        seen = await thief.run()
        out["thief_same_session"] = thief.session_id == session_id
        out["thief_pages"] = _shows_pages(seen)
        out["thief_form"] = _shows_login_form(seen)

    if out["binding_cookie"]:
        name, value = out["binding_cookie"]
        async with _connect(url, session_id, cookie=f"{name}={value}") as ws:  # the browser, reconnecting
            back = Client(ws)
            seen = await back.run()
            out["reconnect_same_session"] = back.session_id == session_id
            out["reconnect_pages"] = _shows_pages(seen)
        async with _connect(url, session_id, cookie=f"{name}=forged-{value[:10]}") as ws:  # a guessed cookie
            seen = await Client(ws).run()
            out["forged_pages"] = _shows_pages(seen)
    return out


@pytest.mark.slow
def test_session_id_alone_does_not_carry_the_sign_in(fixture_warehouse_path, tmp_path):
    wh = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
           "RETAIL_PULSE_CREDENTIALS": str(tmp_path / "credentials.yaml")}
    with dashboard_server(env, timeout=120) as server:
        out = asyncio.run(_scenario(server.url))
    assert out["browser_signed_in"] and out["again"], out
    assert out["thief_same_session"], out  # the server did hand the stranger the signed-in session ...
    assert not out["thief_pages"] and out["thief_form"], out  # ... but it shows the login form, not the pages
    assert out["binding_cookie"], out
    assert out["reconnect_same_session"] and out["reconnect_pages"], out  # the real browser gets back in
    assert not out["forged_pages"], out


# -- the binding rules, without a server ---------------------------------------------------------------


class Connection:  # stands in for Streamlit's SessionClient (only its identity matters)
    pass


def test_binding_accepts_the_signing_in_connection_or_the_cookie_only(monkeypatch):
    from dashboard.auth import binding

    first, second = Connection(), Connection()
    monkeypatch.setattr(binding, "current_connection", lambda: first)
    held, secret = binding.new_binding()
    assert held.cookie_name.startswith(COOKIE_PREFIX) and secret not in repr(held)  # only a digest is kept
    assert binding.is_bound(held, {})  # the connection that signed in, before any cookie exists
    monkeypatch.setattr(binding, "current_connection", lambda: second)
    assert not binding.is_bound(held, {})  # another connection presenting the same session id
    assert not binding.is_bound(held, {held.cookie_name: secret[:-1] + "x"})
    assert not binding.is_bound(held, {COOKIE_PREFIX + "000000000000": secret})  # another tab's cookie name
    assert binding.is_bound(held, {held.cookie_name: secret})  # the same browser, reconnected
    monkeypatch.setattr(binding, "current_connection", lambda: None)
    assert not binding.is_bound(held, {}) and not binding.is_bound(None, {held.cookie_name: secret})
    assert binding.is_bound(held, {held.cookie_name: secret}, connection=False)  # HTTP requests: cookie only


def test_dead_connection_never_matches_a_new_one(monkeypatch):
    import gc

    from dashboard.auth import binding

    conn = Connection()
    monkeypatch.setattr(binding, "current_connection", lambda: conn)
    held, _ = binding.new_binding()
    del conn
    gc.collect()
    fresh = Connection()  # may even reuse the old object's address
    monkeypatch.setattr(binding, "current_connection", lambda: fresh)
    assert not binding.is_bound(held, {})


def test_upload_guard_view_checks_the_binding_cookie_when_given(monkeypatch, tmp_path):
    from dashboard.auth import binding

    path = tmp_path / "credentials.yaml"
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.setenv("RETAIL_PULSE_DEMO", "1")
    monkeypatch.delenv("RETAIL_PULSE_COOKIE_KEY", raising=False)
    accounts.create_demo_users(path, rounds=4)
    ticket = accounts.start_session("demo-admin", accounts.load_auth_config())
    monkeypatch.setattr(binding, "current_connection", lambda: None)
    held, secret = binding.new_binding()
    state = {login._TICKET: ticket, login._BINDING: held}
    assert login.principal_of_session_state(state, {held.cookie_name: secret}).username == "demo-admin"
    assert login.principal_of_session_state(state, {}) is None
    assert login.principal_of_session_state(state, {held.cookie_name: "guess"}) is None


class DroppingProxy:
    """A TCP relay in front of the server whose connections a test can cut, as a network drop would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def drop_all(self) -> None:
        with self.lock:
            cut, self.open = self.open, []
        for s in cut:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


@pytest.mark.slow
@pytest.mark.browser
def test_real_browser_keeps_its_session_and_a_stranger_with_its_id_does_not(fixture_warehouse_path, tmp_path):
    """Chromium signs in and the binding cookie lands in the browser; after its websocket drops, the
    browser reconnects to the same session with the cookie and stays signed in. A stranger presenting
    the session id gets the form; the browser reconnects again and is still signed in."""
    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM, CHROMIUM_ARGS
    from tests.test_browser import idle, sign_in

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing")
    wh = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    # Re-login cookies off: after a reconnect only the binding cookie can vouch for the browser.
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1", "RETAIL_PULSE_COOKIE_EXPIRY_DAYS": "0",
           "RETAIL_PULSE_CREDENTIALS": str(tmp_path / "credentials.yaml")}
    session_ids: list[str] = []
    sockets: list[object] = []

    def frames(ws) -> None:
        sockets.append(ws)

        def received(payload) -> None:
            if isinstance(payload, bytes):
                fwd = ForwardMsg()
                try:
                    fwd.ParseFromString(payload)
                except Exception:  # noqa: BLE001 - not every frame needs to parse
                    return
                if fwd.WhichOneof("type") == "new_session":
                    session_ids.append(fwd.new_session.initialize.session_id)
        ws.on("framereceived", received)

    with dashboard_server(env, timeout=120) as server, sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        ctx = b.new_context()
        page = ctx.new_page()
        page.on("websocket", frames)
        proxy = DroppingProxy(int(server.url.rsplit(":", 1)[1]))
        sign_in(page, f"http://127.0.0.1:{proxy.port}", "demo-merchant")
        bind = [c for c in ctx.cookies() if c["name"].startswith(COOKIE_PREFIX)]
        assert len(bind) == 1 and bind[0]["sameSite"] == "Strict", ctx.cookies()
        assert session_ids, "no new_session frame seen"

        def reconnect_and_open(title: str) -> None:
            # What a network drop does: the frontend reconnects, presenting its session id (kept in
            # memory) and the browser's cookies. A new connection, so only the binding cookie can vouch.
            opened = len(sockets)
            proxy.drop_all()
            for _ in range(60):
                if len(sockets) > opened:
                    break
                page.wait_for_timeout(500)
            assert len(sockets) > opened, "the browser did not reconnect"
            idle(page)
            page.get_by_role("link", name=title).click()  # a new run, on the new connection
            page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
            idle(page)
            assert page.get_by_text("Sign in to Retail Pulse").count() == 0
            assert set(session_ids) == {session_ids[0]}  # the same Streamlit session all along

        reconnect_and_open("Sales analytics")

        async def stranger() -> bool:
            async with _connect(server.url, session_ids[-1]) as ws:
                thief = Client(ws)
                seen = await thief.run()
                return thief.session_id == session_ids[-1] and _shows_login_form(seen) and not _shows_pages(seen)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
            assert pool.submit(asyncio.run, stranger()).result(timeout=120)
        # Streamlit handed the session to the stranger and left the browser's socket idle; the browser
        # takes it back by reconnecting, and is still signed in.
        reconnect_and_open("Overview")
        # Control: the same browser without its binding cookie is a stranger too.
        ctx.clear_cookies(name=bind[0]["name"])
        opened = len(sockets)
        proxy.drop_all()
        for _ in range(60):
            if len(sockets) > opened:
                break
            page.wait_for_timeout(500)
        idle(page)
        page.get_by_role("link", name="Sales analytics").click()
        page.get_by_text("Sign in to Retail Pulse").wait_for(timeout=60_000)
        assert len(sockets) > opened and set(session_ids) == {session_ids[0]}
        b.close()
        proxy.close()
