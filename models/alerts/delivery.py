"""Sending the outbox with apprise: each merchant's notifications go only to that merchant's channels.

``deliver_pending`` claims due rows of the outbox (``data.store.alert_outbox``), looks the channel up among
the row's OWN merchant's channels (a channel id of another merchant is simply not found there), sends with
apprise, and marks the row sent once apprise reports the receiver accepted it (HTTP 2xx, SMTP accepted), or
schedules a retry with exponential backoff. A row whose channel was removed since is cancelled.

``send`` is the one place apprise is called; tests and other transports pass their own ``sender``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from data.store.alert_channels import AlertChannels, redact
from data.store.alert_outbox import Backoff, Outbox
from models.alerts import messages

Sender = Callable[[str, str, str], tuple[bool, str]]
CLAIM_TTL = dt.timedelta(minutes=5)  # well above apprise's timeouts for one message


def send(url: str, title: str, body: str) -> tuple[bool, str]:
    """Send one message with apprise: (accepted, error in words; secrets of the URL masked)."""
    import apprise

    notifier = apprise.Apprise()
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        if not notifier.add(url):
            return False, redact("apprise cannot use this channel's URL any more: " + _last(log.getvalue()), url)
        try:
            accepted = bool(notifier.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT))
        except Exception as exc:  # noqa: BLE001 - a plugin's own bug must not stop the other deliveries
            accepted, log_text = False, f"{type(exc).__name__}: {exc}"
            return False, redact(log_text, url)
    return accepted, "" if accepted else redact(_last(log.getvalue()) or "the receiver refused the message", url)


def _last(log_text: str) -> str:
    lines = [ln.split(" - ", 2)[-1] for ln in log_text.splitlines() if ln.strip()]
    return " / ".join(lines[-3:])


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)  # "merchant 2, channel 'Ops': ..." (masked)


def deliver_pending(store, *, sender: Sender = send, backoff: Backoff = Backoff(), ttl: dt.timedelta = CLAIM_TTL,
                    merchant_ids: Iterable[int] | None = None, batch: int = 50) -> DeliveryReport:
    """Send every due notification (claimed in batches) until none is due; returns what happened."""
    outbox, channels = Outbox(store), AlertChannels(store)
    report = DeliveryReport()
    known: dict[int, dict[str, dict]] = {}
    while True:
        claimed = outbox.claim_due(ttl=ttl, limit=batch, merchant_ids=merchant_ids)
        if not claimed:
            return report
        for note in claimed:
            if note.merchant_id not in known:
                known[note.merchant_id] = channels.urls_for(note.merchant_id)
            channel = known[note.merchant_id].get(note.channel_id)
            if channel is None:
                outbox.cancel(note, "the delivery channel was removed before the message was sent")
                report.cancelled += 1
                continue
            title, body = messages.render(note.message, messages.dialect_for(channel["url"]))
            try:
                accepted, error = sender(channel["url"], title, body)
            except Exception as exc:  # noqa: BLE001 - one broken channel must not stop the others
                accepted, error = False, redact(f"{type(exc).__name__}: {exc}", channel["url"])
            if accepted:
                if outbox.mark_sent(note):
                    report.sent += 1
                continue
            status = outbox.mark_failed(note, error, backoff)
            report.errors.append(f"merchant {note.merchant_id}, channel {channel['label']!r} "
                                 f"(attempt {note.attempts}): {error}")
            if status == "failed":
                report.failed += 1
            else:
                report.retrying += 1
