"""Delivery of anomaly alerts with apprise to real local receivers: a webhook server (json://), an SMTP server
(aiosmtpd, mailto://), a server posing as Slack's webhook; retries with backoff, markup injection through names,
the daily digest, and channels per merchant. The receivers are also used by tests/test_alerts_check.py."""

from __future__ import annotations

import datetime as dt
import email
import http.server
import json
import threading
import time
from email import policy

import pytest
from aiosmtpd.controller import Controller

from data.store import Principal, open_store
from data.store.alert_channels import AlertChannels
from data.store.alert_incidents import AlertIncidents
from data.store.alert_outbox import Backoff, Outbox
from data.store.alert_rules import AlertRules
from models.alerts import messages
from models.alerts.check import queue_digests
from models.alerts.delivery import deliver_pending
from models.alerts.incidents import Cause, Incident
from tests.servers import free_port

STAFF = Principal.staff("ops")
T0 = dt.datetime(2026, 3, 2, 14, 0)
BASE = "https://pulse.example.com"
EVIL = "<!channel> <https://evil.example|click me> *bold* _it_ ~gone~ `code` & <script>alert(1)</script>\nFAKE LINE"


class HttpReceiver:
    """A local HTTP server that records every POST (path, JSON body) and can refuse the first N per path."""

    def __init__(self, fail_first: int = 0, delay: float = 0.0):
        self.posts: list[tuple[str, dict]] = []
        self.refused = 0
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(delay)  # a slow receiver keeps concurrent senders' work overlapping
                with receiver._lock:
                    n = receiver._seen.get(self.path, 0)
                    receiver._seen[self.path] = n + 1
                    ok = n >= fail_first
                    if ok:
                        receiver.posts.append((self.path, json.loads(body)))
                    else:
                        receiver.refused += 1
                self.send_response(200 if ok else 500)
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"try later")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """aiosmtpd on a free loopback port; ``messages`` holds every accepted email (parsed)."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                receiver.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self, to: str) -> str:
        return (f"mailto://127.0.0.1:{self.port}?to={to}&from=alerts@retail.example.com&mode=insecure")

    def close(self):
        self.controller.stop()


@pytest.fixture
def http_receiver():
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp_receiver():
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


def incident(merchant_id: int, key: str, value: str = "North") -> Incident:
    return Incident(merchant_id=merchant_id, key=key, metric="orders", dimension="region", dimension_value=value,
                    direction="drop", start=T0, end=T0 + dt.timedelta(hours=2), observed=40.0, expected=100.0,
                    low=80.0, high=120.0, score=6.0, anomalies=(),
                    causes=(Cause("stockout", f"Out of stock: {value}", f"store {value} had none", 0.9),))


def record(store, merchant_id: int, incidents, name: str = "Shop") -> None:
    AlertIncidents(store).record(merchant_id, incidents, channels=AlertChannels(store).urls_for(merchant_id),
                                 message_for=lambda i: messages.incident_message(i, merchant_name=name,
                                                                                 base_url=BASE))


def add_channel(store, merchant_id: int, url: str, label: str = "hook", digest: bool = False) -> str:
    return AlertChannels(store).save(STAFF, merchant_id=merchant_id, label=label, url=url, digest=digest,
                                     request_id=f"{merchant_id}:{label}:{url}").channel_id


@pytest.fixture
def store(tmp_path):
    clock = [dt.datetime(2026, 3, 2, 16, 5, tzinfo=dt.timezone.utc)]
    opened = open_store(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=lambda: clock[0])
    opened.test_clock = clock
    yield opened
    opened.close()


def test_webhook_and_email_receive_each_merchants_own_alerts_with_a_link(store, http_receiver, smtp_receiver):
    add_channel(store, 1, http_receiver.url("m1"), "m1 hook")
    add_channel(store, 1, smtp_receiver.url("ops@one.example.com"), "m1 email")
    add_channel(store, 2, http_receiver.url("m2"), "m2 hook")
    record(store, 1, [incident(1, "k1"), incident(1, "k2", "South")], name="Shop One")
    record(store, 2, [incident(2, "k3", "East")], name="Shop Two")
    report = deliver_pending(store)
    assert (report.sent, report.retrying, report.failed) == (5, 0, 0), report.errors
    by_path = {}
    for path, body in http_receiver.posts:
        by_path.setdefault(path, []).append(body)
    assert sorted(by_path) == ["/m1", "/m2"]
    assert sorted("incident=k1" in b["message"] or "incident=k2" in b["message"] for b in by_path["/m1"]) == \
        [True, True] and len(by_path["/m1"]) == 2
    assert all("Shop One" in b["message"] and "Shop Two" not in b["message"] for b in by_path["/m1"])
    assert [("incident=k3" in b["message"], "Shop Two" in b["message"]) for b in by_path["/m2"]] == [(True, True)]
    assert f"{BASE}/alerts?incident=k3" in by_path["/m2"][0]["message"]
    assert len(smtp_receiver.messages) == 2
    assert sorted(m["To"] for m in smtp_receiver.messages) == ["ops@one.example.com"] * 2
    subjects = sorted(str(m["Subject"]) for m in smtp_receiver.messages)
    assert subjects == ["Retail Pulse alert: Orders dropped 60% (region: North)",
                        "Retail Pulse alert: Orders dropped 60% (region: South)"]
    assert deliver_pending(store).sent == 0  # nothing is sent twice
    assert all(n.status == "sent" for n in Outbox(store).notifications(STAFF))


def test_a_receiver_failing_twice_then_accepting_gets_exactly_one(store):
    receiver = HttpReceiver(fail_first=2)
    try:
        add_channel(store, 1, receiver.url("flaky"))
        record(store, 1, [incident(1, "k1")])
        backoff = Backoff(base=dt.timedelta(seconds=30))
        first = deliver_pending(store, backoff=backoff)
        assert (first.sent, first.retrying) == (0, 1)
        assert "500" in first.errors[0] or "Internal Server Error" in first.errors[0], first.errors
        store.test_clock[0] += dt.timedelta(seconds=29)
        assert deliver_pending(store, backoff=backoff).sent == 0  # not due yet: nothing sent, nothing tried
        assert receiver.refused == 1
        store.test_clock[0] += dt.timedelta(seconds=1)
        assert deliver_pending(store, backoff=backoff).retrying == 1  # attempt 2 refused, next in 60 s
        store.test_clock[0] += dt.timedelta(seconds=60)
        assert deliver_pending(store, backoff=backoff).sent == 1
        store.test_clock[0] += dt.timedelta(hours=1)
        assert deliver_pending(store, backoff=backoff).sent == 0
        assert receiver.refused == 2 and len(receiver.posts) == 1
        note = Outbox(store).notifications(STAFF)[0]
        assert (note.status, note.attempts) == ("sent", 3)
    finally:
        receiver.close()


def test_a_receiver_that_never_accepts_is_given_up_after_the_last_attempt(store):
    add_channel(store, 1, "json://127.0.0.1:1/closed")  # nothing listens on port 1
    record(store, 1, [incident(1, "k1")])
    backoff = Backoff(base=dt.timedelta(seconds=1), max_attempts=3)
    outcomes = []
    for _ in range(3):
        outcomes.append(deliver_pending(store, backoff=backoff))
        store.test_clock[0] += dt.timedelta(minutes=1)
    assert [(r.retrying, r.failed) for r in outcomes] == [(1, 0), (1, 0), (0, 1)]
    note = Outbox(store).notifications(STAFF)[0]
    assert note.status == "failed" and note.last_error
    assert [e.action for e in store.audit.entries(STAFF, entity="alert:incident")] == ["detect", "notify_failed"]


def test_names_cannot_inject_markup_into_slack(store, http_receiver, monkeypatch):
    from apprise.plugins.slack import NotifySlack

    # apprise's own Slack plugin, posting to the local server instead of hooks.slack.com
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{http_receiver.port}/services")
    add_channel(store, 1, "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7?footer=no&image=no", "slack")
    record(store, 1, [incident(1, "k1", value=EVIL)], name=EVIL)
    assert deliver_pending(store).sent == 1
    [(path, payload)] = http_receiver.posts
    assert path == "/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"
    attachment = payload["attachments"][0]
    text = attachment["text"] + "\n" + attachment["title"]
    assert payload["mrkdwn"] is False
    for raw in ("<!channel>", "<https://evil", "<script>", " & "):
        assert raw not in text, raw
    assert "&lt;!channel&gt;" in text and "&lt;https://evil.example|" in text and "&amp;" in text
    for control in "*_~`":  # each mrkdwn control character of the name is followed by a zero-width space
        assert all(text[i + 1] == messages.ZWSP for i, c in enumerate(text) if c == control), control
    assert "\nFAKE LINE" not in text and "FAKE LINE" in text  # a name cannot start a line of its own
    assert f"{BASE}/alerts?incident=k1" in attachment["text"]


def test_names_cannot_inject_markup_into_email(store, smtp_receiver):
    # Default: the email is plain text (no HTML part at all). With format=html in the URL, apprise sends HTML
    # and escapes the text: either way a name is shown literally, never as markup.
    add_channel(store, 1, smtp_receiver.url("plain@one.example.com"), "plain")
    add_channel(store, 1, smtp_receiver.url("html@one.example.com") + "&format=html", "html")
    record(store, 1, [incident(1, "k1", value=EVIL)], name=EVIL)
    assert deliver_pending(store).sent == 2
    mails = {str(m["To"]): m for m in smtp_receiver.messages}
    plain = mails["plain@one.example.com"]
    assert plain.get_content_type() == "text/plain" and plain.get_body(("html",)) is None
    assert "<script>alert(1)</script>" in plain.get_content()  # literal text, shown as typed
    html = mails["html@one.example.com"].get_body(("html",)).get_content()
    assert "<script>" not in html and "<https://evil" not in html and "&lt;script&gt;" in html
    for mail in mails.values():
        assert "FAKE LINE" in str(mail["Subject"]) + mail.get_body().get_content()
        assert "\n" not in str(mail["Subject"]).strip()


def test_the_daily_digest_goes_once_a_day_to_digest_channels(store, http_receiver):
    add_channel(store, 1, http_receiver.url("instant"), "instant")
    add_channel(store, 1, http_receiver.url("digest"), "digest", digest=True)
    AlertRules(store).save(STAFF, 1, request_id="r", digest_hour=17)
    record(store, 1, [incident(1, "k1"), incident(1, "k2", "South")])
    store.alerts.acknowledge(STAFF, merchant_id=1, alert_key="k1", request_id="ack", alert_kind="incident")
    assert queue_digests(store, {1: "Shop"}, now=store.now(), base_url=BASE) == 0  # 16:05 UTC: before the digest hour
    store.test_clock[0] += dt.timedelta(hours=1)
    assert queue_digests(store, {1: "Shop"}, now=store.now(), base_url=BASE) == 1  # the digest channel only
    assert queue_digests(store, {1: "Shop"}, now=store.now(), base_url=BASE) == 0
    deliver_pending(store)
    digests = [b["message"] for p, b in http_receiver.posts if "digest" in b["title"]]
    assert len(digests) == 1 and "2 incidents" in digests[0]
    assert [p for p, b in http_receiver.posts if "digest" in b["title"]] == ["/digest"]
    assert "Acknowledged by ops" in digests[0] and f"{BASE}/alerts" in digests[0]


def test_plain_text_of_names():
    assert messages.plain("a\nb\r\tc\u202ed\x00e") == "a b cde"
    assert len(messages.plain("x" * 500)) == messages.MAX_VALUE
    assert messages.incident_link(BASE + "/", "a b&c") == f"{BASE}/alerts?incident=a%20b%26c"
    assert messages.incident_link("", "k") is None


def test_a_rate_incident_reads_as_percentages_in_the_message():
    """A rate's lead figure is a share of payments: the message says "to 50% (usually 0.2%)", not "24900%"."""
    start = dt.datetime(2026, 5, 27, 11)
    inc = Incident(merchant_id=2, key="f1", metric="payment_failures", dimension="total", dimension_value=None,
                   direction="spike", start=start, end=start + dt.timedelta(hours=3), observed=0.5,
                   expected=0.002, low=0.0, high=0.01, score=7.0, anomalies=(),
                   causes=(Cause("declines", "Payments failing at the processor in Köln", "3 of 3", 0.9),))
    msg = messages.incident_message(inc, merchant_name="Nordlicht", base_url="")
    assert msg["title"] == "Retail Pulse alert: Payment failures spiked to 50% (usually 0.2%)"
    assert "Observed 50.0% against 0.2% expected (normal range 0.0% to 1.0%)" in msg["lines"]
    orders = Incident(merchant_id=2, key="o1", metric="orders", dimension="total", dimension_value=None,
                      direction="drop", start=start, end=start + dt.timedelta(hours=3), observed=4.0,
                      expected=20.0, low=12.0, high=28.0, score=7.0, anomalies=(), causes=())
    assert messages.incident_title(orders) == "Orders dropped 80%"
