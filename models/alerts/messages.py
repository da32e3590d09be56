"""The words of a notification: one incident, or the daily digest, as plain text with a link to the page.

A message is a small dict kept in the outbox row (``{"title", "lines", "link"}``), built once when the
incident is stored, so a retry days later sends the same words. Every value that comes from data (product,
store, campaign, region, merchant names, cause evidence) goes through ``plain`` first: control and
bidirectional-override characters removed, whitespace folded to single spaces (a name cannot forge extra
lines), and length capped.

``render(message, dialect)`` gives (title, body) for one channel. The body is always handed to apprise as
plain TEXT, so apprise escapes it for the target: HTML-escaped in an HTML email, ``&``, ``<`` and ``>``
entity-escaped for Slack (so ``<!channel>`` or ``<https://x|click>`` in a name stay literal). For Slack the
mrkdwn control characters (``* _ ~ ` |``) of the text are also neutralised by a zero-width space after each,
so a name cannot make bold, strike-through or code either, whatever the Slack URL's format option says.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from models.alerts.watch import change_words, is_rate

MAX_VALUE = 120
MAX_CAUSES = 3
MAX_DIGEST_LINES = 20
SLACK_CONTROL = "*_~`|>"
ZWSP = "\u200b"
# apprise schemes whose text is markup of the Slack kind (mrkdwn)
SLACK_SCHEMES = ("slack",)


def plain(value: Any, max_chars: int = MAX_VALUE) -> str:
    """``value`` as one line of plain text: no control or format characters, single spaces, capped."""
    text = "" if value is None else str(value)
    kept = "".join(" " if c.isspace() else c for c in text
                   if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    folded = " ".join(kept.split())
    return folded if len(folded) <= max_chars else folded[:max_chars - 1].rstrip() + "…"


def incident_link(base_url: str, key: str) -> str | None:
    """``<base>/alerts?incident=<key>`` (None without a public base URL)."""
    base = (base_url or "").strip().rstrip("/")
    return f"{base}/alerts?incident={quote(str(key), safe='')}" if base else None


def _number(value: float) -> str:
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _when(value: dt.datetime) -> str:
    return value.strftime("%d %b %Y %H:%M")


def _words(name: str) -> str:
    return plain(name).replace("_", " ")


def incident_title(incident: Any) -> str:
    """"Orders dropped 38% (region: North)": the lead series and how far it is from expected."""
    change = change_words(incident.metric, incident.observed, incident.expected)
    verb = "dropped" if incident.direction == "drop" else "spiked"
    where = ("" if incident.dimension == "total"
             else f" ({_words(incident.dimension)}: {plain(incident.dimension_value)})")
    return f"{_words(incident.metric).capitalize()} {verb}{change}{where}"


def incident_message(incident: Any, *, merchant_name: str, base_url: str) -> dict:
    """The message of one new incident (``models.alerts.incidents.Incident`` or a stored incident)."""
    start = getattr(incident, "start", None) or incident.started_at
    end = getattr(incident, "end", None) or incident.ended_at
    fig = (lambda v: f"{v:.1%}") if is_rate(incident.metric) else _number  # noqa: E731 - a share of payments...
    lines = [f"Merchant: {plain(merchant_name)}",
             f"When: {_when(start)} to {_when(end)} (shop time)",
             f"Observed {fig(incident.observed)} against {fig(incident.expected)} expected "
             f"(normal range {fig(incident.low)} to {fig(incident.high)})"]
    causes = list(incident.causes)[:MAX_CAUSES]
    if causes:
        lines.append("Likely causes:")
        for n, cause in enumerate(causes, start=1):
            label = cause["label"] if isinstance(cause, dict) else cause.label
            evidence = cause["evidence"] if isinstance(cause, dict) else cause.evidence
            lines.append(f"{n}. {plain(label)}: {plain(evidence, 240)}")
    return {"title": f"Retail Pulse alert: {incident_title(incident)}", "lines": lines,
            "link": incident_link(base_url, getattr(incident, "key", None) or incident.incident_key)}


def digest_message(incidents: Sequence[Any], statuses: dict[str, str], *, merchant_name: str, day: dt.date,
                   base_url: str) -> dict:
    """The daily digest of one merchant: the incidents of the last day, each with its status in words."""
    count = len(incidents)
    lines = [f"Merchant: {plain(merchant_name)}",
             f"{count} incident{'' if count == 1 else 's'} in the 24 hours before this digest."]
    for inc in list(incidents)[:MAX_DIGEST_LINES]:
        lines.append(f"- {incident_title(inc)}, from {_when(inc.started_at)}: "
                     f"{plain(statuses.get(inc.incident_key, 'Open'))}")
    if count > MAX_DIGEST_LINES:
        lines.append(f"... and {count - MAX_DIGEST_LINES} more")
    base = (base_url or "").strip().rstrip("/")
    return {"title": f"Retail Pulse daily digest for {day:%d %b %Y}: {count} incident{'' if count == 1 else 's'}",
            "lines": lines, "link": f"{base}/alerts" if base else None}


def _slack_safe(text: str) -> str:
    return "".join(c + ZWSP if c in SLACK_CONTROL else c for c in text)


def dialect_for(url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return "slack" if scheme in SLACK_SCHEMES else "text"


def render(message: dict, dialect: str = "text") -> tuple[str, str]:
    """(title, body) of a stored message for one channel; the body ends with the link to the page."""
    title, lines = str(message["title"]), [str(line) for line in message["lines"]]
    if dialect == "slack":
        title, lines = _slack_safe(title), [_slack_safe(line) for line in lines]
    link = message.get("link")
    body = "\n".join([*lines, *([f"Open the incident: {link}"] if link and "incident=" in link else
                                ([f"Open the alerts: {link}"] if link else []))])
    return title, body

