"""Where a merchant's alerts are delivered: apprise URLs (email, Slack, webhooks, and the rest apprise knows).

A URL usually holds a secret (an SMTP password, a Slack webhook token), so:
- it is checked with apprise before it is stored, and a refusal names the channel and the URL's scheme, never
  the URL itself;
- it is shown back only masked (apprise's own privacy form: ``slack://T...2/A...D/T...7``), and the audit
  log records only that masked form;
- only the delivery job reads it in full (``urls_for``).

Each change is a new row of ``alert_channels``; the latest row per (merchant, channel id) is current, and a
row without a URL removes the channel. ``instant``: each new incident is sent at once; ``digest``: the daily
digest goes there.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from data.store import audit
from data.store.alert_hosts import check_destination
from data.store.errors import InvalidValue
from data.store.idempotency import checked_request_id, insert_once
from data.store.principal import Principal
from data.store.tables import NAME, alert_channels
from data.store.text import checked_text

if TYPE_CHECKING:
    from data.store.store import Store

MAX_CHANNELS = 20
MAX_URL = 2000
READER = "alert-delivery"
_ID_NAMESPACE = uuid.UUID("6c1e0d84-3a5b-4f7e-9d2c-2b8f5e1a9c30")
# Parts of a URL that are not secrets and make an error message readable.
_WORDS = {"mailto", "mailtos", "slack", "json", "jsons", "http", "https", "form", "xml", "mode", "insecure",
          "example", "smtp", "from", "user"}
_SAME = ("merchant_id", "channel_id", "label", "url", "instant", "digest")


@dataclass(frozen=True)
class Channel:
    """A channel as people see it: the URL masked."""

    merchant_id: int
    channel_id: str
    label: str
    masked_url: str
    service: str  # apprise's name of the service: "Slack", "E-Mail", "JSON"...
    instant: bool
    digest: bool
    changed_by: str
    changed_at: dt.datetime


def inspect_url(url: object, field: str) -> tuple[str, str]:
    """(masked URL, service name) of an apprise URL, or InvalidValue naming ``field`` and why (without the URL,
    which may hold a secret)."""
    import apprise  # imported here: only channel changes and delivery need it

    if not isinstance(url, str) or not url.strip():
        raise InvalidValue(f"{field}: an apprise URL is required, e.g. mailto://user:password@smtp.example.com or "
                           "slack://TokenA/TokenB/TokenC or json://hooks.example.com/alerts")
    if len(url) > MAX_URL or any(ord(c) < 32 for c in url):
        raise InvalidValue(f"{field}: the URL must be one line of at most {MAX_URL} characters")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        plugin = apprise.Apprise.instantiate(url.strip())
    if plugin is None:
        lines = [ln.split(" - ", 2)[-1] for ln in log.getvalue().splitlines() if ln.strip()]
        reason = redact(next((ln for ln in lines if not ln.startswith("Could not load") and "URL" not in ln), ""),
                        url)
        what = f"a {scheme}:// URL" if scheme else "the URL"
        hint = f" ({reason})" if reason else ""
        raise InvalidValue(f"{field}: apprise cannot use {what}{hint}; see https://github.com/caronc/apprise/wiki "
                           "for the form each service takes")
    check_destination(scheme, getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None), field)
    return mask_path(plugin.url(privacy=True)), str(plugin.service_name)


_PLAIN_SEGMENT = re.compile(r"^[a-z][a-z-]{0,15}$")


def mask_path(url: str) -> str:
    """Apprise masks the secrets of the services it knows, but a generic webhook (json://, xml://, form://) keeps
    its path, where the token of a hook URL often sits (``/T0001/B0002/secret``): each path segment that is not
    a plain lowercase word shows as its first and last character, as apprise shows the tokens it knows."""
    head, sep, rest = url.partition("://")
    if not sep or "/" not in rest:
        return url
    host, _, tail = rest.partition("/")
    path, qmark, query = tail.partition("?")
    masked = "/".join(seg if not seg or _PLAIN_SEGMENT.match(seg) or "..." in seg
                      else (f"{seg[0]}...{seg[-1]}" if len(seg) > 2 else "...") for seg in path.split("/"))
    return f"{head}://{host}/{masked}{qmark}{query}"


def redact(text: str, url: str) -> str:
    """``text`` (an apprise message) with every run of 4+ letters or digits that comes from ``url`` masked:
    apprise names a bad token in its messages, and a token is a secret."""
    for part in sorted(set(re.findall(r"[A-Za-z0-9]{4,}", url or "")), key=len, reverse=True):
        if part.lower() not in _WORDS:
            text = text.replace(part, "****")
    return text


class AlertChannels:
    def __init__(self, store: Store):
        self._store = store

    def save(self, principal: Principal, *, merchant_id: int, label: str, url: str, request_id: str,
             instant: bool = True, digest: bool = True, channel_id: str | None = None) -> Channel:
        """Add a channel (``channel_id`` None) or replace one; the URL is checked with apprise first."""
        principal.require(merchant_id, "alert delivery channels")
        name = checked_text(label, "channel name", max_chars=NAME, required=True)
        masked, service = inspect_url(url, f"delivery channel {name!r}, URL")
        if not isinstance(instant, bool) or not isinstance(digest, bool):
            raise InvalidValue(f"delivery channel {name!r}: 'each incident' and 'daily digest' are yes or no")
        new_id = channel_id or uuid.uuid5(_ID_NAMESPACE, checked_request_id(request_id)).hex[:16]
        values = {"merchant_id": merchant_id, "channel_id": new_id, "label": name, "url": url.strip(),
                  "instant": instant, "digest": digest}
        with self._store.transaction():
            current = self._current(merchant_id)
            if channel_id is not None and channel_id not in current:
                raise InvalidValue(f"merchant {merchant_id} has no delivery channel {channel_id!r}")
            if channel_id is None and len(current) >= MAX_CHANNELS:
                raise InvalidValue(f"a merchant has at most {MAX_CHANNELS} delivery channels; remove one first")
            # The same URL twice would send every notification twice to one receiver (a form sent again).
            twin = next((row["label"] for cid, row in current.items() if cid != new_id and row["url"] == url.strip()),
                        None)
            if twin is not None:
                raise InvalidValue(f"delivery channel {name!r}: the channel {twin!r} already sends to this URL")
            self._write(principal, values, request_id, current.get(new_id),
                        after={"label": name, "url": masked, "instant": instant, "digest": digest})
        return self.channels(principal, merchant_id)[new_id]

    def remove(self, principal: Principal, *, merchant_id: int, channel_id: str, request_id: str) -> None:
        principal.require(merchant_id, "alert delivery channels")
        with self._store.transaction():
            current = self._current(merchant_id)
            if channel_id not in current:
                raise InvalidValue(f"merchant {merchant_id} has no delivery channel {channel_id!r}")
            old = current[channel_id]
            self._write(principal, {"merchant_id": merchant_id, "channel_id": channel_id, "label": old["label"],
                                    "url": None, "instant": False, "digest": False}, request_id, old, after=None)

    def channels(self, principal: Principal, merchant_id: int) -> dict[str, Channel]:
        """The merchant's current channels by id, URLs masked."""
        principal.require(merchant_id, "alert delivery channels")
        out = {}
        for cid, row in self._current(merchant_id).items():
            try:
                masked, service = inspect_url(row["url"], "stored URL")
            except InvalidValue:  # a URL apprise no longer reads (after an upgrade): shown, never sent
                masked, service = row["url"].split("://", 1)[0] + "://(not usable)", "unknown"
            out[cid] = Channel(merchant_id, cid, row["label"], masked, service, row["instant"], row["digest"],
                               row["actor"], row["recorded_at"])
        return out

    def urls_for(self, merchant_id: int) -> dict[str, dict]:
        """For the delivery job only: channel id -> {label, url, instant, digest} of one merchant, URLs in full."""
        return {cid: {k: row[k] for k in ("label", "url", "instant", "digest")}
                for cid, row in self._current(merchant_id).items()}

    def _write(self, principal: Principal, values: dict, request_id: str, before_row, after) -> None:
        with self._store.transaction() as conn:
            row = {**values, "request_id": checked_request_id(request_id),
                   "actor": checked_text(principal.user, "user", max_chars=NAME, required=True),
                   "recorded_at": self._store.now()}
            stored, inserted = insert_once(conn, alert_channels, row, _SAME)
            if inserted:
                before = None if before_row is None else {
                    "label": before_row["label"], "url": inspect_masked(before_row["url"]),
                    "instant": before_row["instant"], "digest": before_row["digest"]}
                audit.append(conn, at=stored["recorded_at"], actor=principal.user,
                             merchant_id=values["merchant_id"], entity="alert_channel",
                             entity_id=values["channel_id"], action="remove" if after is None else "save",
                             before=before, after=after, request_id=request_id)

    def _current(self, merchant_id: int) -> dict[str, dict]:
        t = alert_channels
        newest = (select(func.max(t.c.id)).where(t.c.merchant_id == merchant_id)
                  .group_by(t.c.channel_id).scalar_subquery())
        query = select(t).where(t.c.id.in_(newest), t.c.url.is_not(None)).order_by(t.c.id)
        with self._store.read() as conn:
            return {row["channel_id"]: dict(row) for row in conn.execute(query).mappings()}


def inspect_masked(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        return inspect_url(url, "stored URL")[0]
    except InvalidValue:
        return url.split("://", 1)[0] + "://(not usable)"
