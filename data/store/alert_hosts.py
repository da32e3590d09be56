"""Where a delivery channel may send: not to the dashboard's own machine or private network unless allowed.

A merchant user adds webhook and email channels; without this check, `json://169.254.169.254/...` or
`json://10.0.0.5/admin` would make the alert job post to the cloud metadata service or an internal admin
endpoint on the merchant's behalf (server-side request forgery). Self-hosted kinds (webhooks, email, ntfy,
gotify...) name their destination host; when it is a loopback, private, link-local or reserved address, or a name
that only resolves inside a network (``localhost``, no dot, ``.local``, ``.internal``), the channel is refused
unless the host is listed in ``RETAIL_PULSE_ALERT_PRIVATE_HOSTS`` (an admin's local mail relay, a test
receiver). Hosted services (Slack, Discord, Teams...) have fixed public endpoints and are not checked.
Names are not resolved here: a public name pointing at a private address is for egress rules to stop.
"""

from __future__ import annotations

import ipaddress

from data import settings
from data.store.errors import InvalidValue

SELF_HOSTED = {"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "ntfy", "ntfys", "gotify",
               "gotifys", "apprise", "apprises", "mqtt", "mqtts", "rocket", "rockets", "mmost", "mmosts"}
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def allowed_hosts(environ: dict[str, str] | None = None) -> list[str]:
    raw = settings.get("alert_private_hosts", environ)
    return [h.strip().lower() for h in raw.split(",") if h.strip()]


def _private(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(INTERNAL_SUFFIXES)
    return not ip.is_global or ip.is_multicast


def _listed(host: str, allowed: list[str]) -> bool:
    for entry in allowed:
        if "/" in entry:
            try:
                if ipaddress.ip_address(host.strip("[]")) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif host == entry:
            return True
    return False


def check_destination(scheme: str, host: str | None, field: str, environ: dict[str, str] | None = None) -> None:
    """InvalidValue naming ``field`` when a self-hosted channel points into a private network not allowed."""
    if scheme.lower() not in SELF_HOSTED or not host:
        return
    name = host.lower().rstrip(".")
    if _private(name) and not _listed(name, allowed_hosts(environ)):
        raise InvalidValue(f"{field}: {name} is on this machine or a private network, where alerts may not be "
                           "sent from here; an admin can allow it with RETAIL_PULSE_ALERT_PRIVATE_HOSTS")
