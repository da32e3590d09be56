"""30 concurrent websocket sessions x 20 page views against the real dashboard on 127.0.0.1.

Like bench_sessions.py, but each session is a lightweight client speaking Streamlit's own
websocket protocol (BackMsg / ForwardMsg protobufs on /_stcore/stream) instead of a headless
Chromium, so on a small machine the figures measure the server, not 30 browser renderers.
All clients share one asyncio event loop.

Each client runs the app once (login form), signs in through the form's widgets (ids taken
from the element protos), then switches between its pages by sending rerun_script with the
page_script_hash from the server's navigation message. A page view is timed from the send
until the run's script_finished. Errors: an exception element, a page without its title
heading, page_not_found, a script_finished other than success; a failed sign-in, a 30 s
timeout or a closed socket ends that session (one error, fewer views timed). The client declares no cached messages, so the server never sends "ref" messages
(one would be counted as an error). Bounded: a fixed number of views, each with a timeout;
loopback only.

    python benchmarks/bench_ws_sessions.py [--warehouse bench_out/demo.duckdb] [--sessions 30] [--views 20]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from dashboard.auth import login as auth  # noqa: E402
from benchmarks.sessions_common import USERS, main, print_report, rss_mb  # noqa: E402

TIMEOUT = 30.0  # seconds for connecting and for each script run
received = {"messages": 0, "bytes": 0}


class RunError(Exception):
    pass


class Client:
    """One Streamlit session over one websocket."""

    def __init__(self, ws, timeout: float = TIMEOUT) -> None:
        self.ws = ws
        self.timeout = timeout  # seconds for each script run
        self.pages: dict[str, str] = {}  # page title -> page_script_hash (from the navigation message)
        self.session_id = ""  # the server's id of this session (from the new_session message)

    async def run(self, page_hash: str = "", widgets: tuple = ()) -> dict:
        """Send one rerun_script and read until its run ends; returns what the run showed.

        ``widgets``: (widget id, WidgetState field, value) triples, sent together as a form submit is.
        """
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = page_hash
        for widget_id, field, value in widgets:
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            setattr(widget, field, value)
        await self.ws.send(msg.SerializeToString())
        seen = {"headings": [], "alerts": [], "widgets": {}, "problems": [], "html": []}
        async with asyncio.timeout(self.timeout):
            while True:
                data = await self.ws.recv()
                received["messages"] += 1
                received["bytes"] += len(data)
                fwd = ForwardMsg()
                fwd.ParseFromString(data)
                kind = fwd.WhichOneof("type")
                if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                    self._element(fwd.delta.new_element, seen)
                elif kind == "new_session":
                    self.session_id = fwd.new_session.initialize.session_id
                elif kind == "navigation":
                    self.pages = {p.page_name: p.page_script_hash for p in fwd.navigation.app_pages}
                elif kind == "ref_hash":
                    seen["problems"].append("unexpected ref_hash message")
                elif kind == "page_not_found":
                    seen["problems"].append(f"page_not_found {fwd.page_not_found.page_name!r}")
                elif kind == "session_event" and fwd.session_event.WhichOneof("type") == "script_compilation_exception":
                    seen["problems"].append("script compilation exception")
                elif kind == "script_finished":
                    if fwd.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue  # st.rerun() or a callback: another run of the same request follows
                    if fwd.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                        status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
                        seen["problems"].append(f"script_finished={status}")
                    return seen

    @staticmethod
    def _element(element, seen: dict) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            seen["problems"].append(f"exception {element.exception.type}: {element.exception.message[:80]}")
        elif kind == "heading":
            seen["headings"].append(element.heading.body)
        elif kind == "alert":
            seen["alerts"].append(element.alert.body)
        elif kind == "html":
            seen["html"].append(element.html.body)
        elif kind in ("text_input", "button"):
            widget = getattr(element, kind)
            seen["widgets"][widget.id.rsplit("-", 1)[-1]] = widget.id  # ids end with "-<user key>"


def check(seen: dict, title: str) -> None:
    if seen["problems"]:
        raise RunError("; ".join(seen["problems"]))
    if title not in seen["headings"]:
        raise RunError(f"no {title!r} heading (headings {seen['headings']}, alerts {[a[:60] for a in seen['alerts']]})")


async def one_session(url: str, user: str, password: str, views: int, times: list, errors: list) -> None:
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    try:
        async with connect(ws_url, subprotocols=["streamlit"], origin=url, max_size=None,
                           open_timeout=TIMEOUT, close_timeout=5) as ws:
            client = Client(ws)
            seen = await client.run()
            ids = seen["widgets"]
            if not all(k in ids for k in (auth.USERNAME_KEY, auth.PASSWORD_KEY, auth.SUBMIT_KEY)):
                raise RunError(f"login form widgets not found: {sorted(ids)}; problems {seen['problems']}")
            seen = await client.run(widgets=((ids[auth.USERNAME_KEY], "string_value", user),
                                             (ids[auth.PASSWORD_KEY], "string_value", password),
                                             (ids[auth.SUBMIT_KEY], "trigger_value", True)))
            check(seen, "Overview")
            titles = USERS[user]
            for i in range(views):
                title = titles[i % len(titles)]
                t0 = time.perf_counter()
                try:
                    seen = await client.run(page_hash=client.pages[title])
                    times.append(time.perf_counter() - t0)
                    check(seen, title)
                except RunError as exc:
                    errors.append(f"{user}: {title}: {exc}"[:200])
    except Exception as exc:  # noqa: BLE001 - a timeout or closed socket ends the session; counted once
        errors.append(f"{user}: session: {type(exc).__name__}: {str(exc)[:160]}")


async def run(url: str, pid: int, sessions: int, views: int, password: str) -> None:
    times: list[float] = []
    errors: list[str] = []
    users = list(USERS)
    # Warm the server once (first script run, caches) so "before" is the steady state.
    await one_session(url, "demo-analyst", password, 2, [], [])
    before = rss_mb(pid)
    received.update(messages=0, bytes=0)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(one_session(url, users[i % len(users)], password, views, times, errors)
                           for i in range(sessions)))
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0
    after = rss_mb(pid)
    print_report(sessions, views, times, errors, wall)
    print(f"received {received['messages']} messages, {received['bytes'] / 1e6:.1f} MB; "
          f"client CPU {client_cpu:.1f}s (all {sessions} clients, one process)")
    print(f"server RSS before={before:.0f} MB after={after:.0f} MB")


if __name__ == "__main__":
    main(__doc__, run)
