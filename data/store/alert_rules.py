"""A merchant's anomaly-alert rules: what is watched, how touchy, who owns them, and when the digest goes out.

One document of kind ``alert_rules`` per merchant (``data.store.documents``): every change is a new revision
with the whole body, audited with who made it. Delivery channels (apprise URLs, which hold secrets) are kept
apart in ``data.store.alert_channels`` so that neither the revisions nor the audit log ever hold a secret.

Body::

    {"owner": user name | None,           # who answers for this merchant's alerts
     "digest_hour": 0..23 | None,          # UTC hour after which the daily digest is sent; None: no digest
     "rules": [{"metric", "dimension", "sensitivity": 0..1, "direction": "drop" | "spike" | "both",
                "min_volume": >= 0, "quiet_hours": [0..23, ...], "enabled": bool}] | None}

``rules: None`` means "the detection's defaults" (``models.alerts.watch.DEFAULT_RULES``): a merchant that never
saved rules is watched on every metric and dimension. The store checks shapes and ranges; which metrics and
dimensions exist is the detection's registry, handed in as ``known`` (metric -> its dimensions) so that
``data`` never imports ``models``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from data.store.documents import DocumentKind, Documents
from data.store.errors import InvalidValue
from data.store.principal import Principal

KIND = "alert_rules"
DIRECTIONS = ("drop", "spike", "both")
MAX_RULES = 200
DEFAULT_DIGEST_HOUR = 8
DEFAULT_BODY: dict = {"owner": None, "digest_hour": DEFAULT_DIGEST_HOUR, "rules": None}
READER = "alert-rules-reader"  # the principal name of internal reads (reads are not audited)
_RULE_KEYS = {"metric", "dimension", "sensitivity", "direction", "min_volume", "quiet_hours", "enabled"}


def rule_key(metric: str, dimension: str) -> str:
    """How a rule is named in feedback and incidents: ``orders/region``."""
    return f"{metric}/{dimension}"


def _number(value: Any, what: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValue(f"{what} must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidValue(f"{what} must be {span}, got {value!r}")
    return float(value)


def _hour(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise InvalidValue(f"{what} must be a whole hour from 0 to 23, got {value!r}")
    return value


def _check_rule(n: int, rule: Any, known: Mapping[str, tuple[str, ...]] | None) -> dict:
    where = f"rule {n}"
    if not isinstance(rule, dict) or set(rule) != _RULE_KEYS:
        raise InvalidValue(f"{where}: a rule has the fields {', '.join(sorted(_RULE_KEYS))}")
    metric, dimension = rule["metric"], rule["dimension"]
    if not isinstance(metric, str) or not isinstance(dimension, str):
        raise InvalidValue(f"{where}: metric and dimension must be names")
    where = f"rule {n} ({rule_key(metric, dimension)})"
    if known is not None:
        if metric not in known:
            raise InvalidValue(f"{where}: unknown metric {metric!r}; known: {', '.join(known)}")
        if dimension not in known[metric]:
            raise InvalidValue(f"{where}: {metric!r} is not watched by {dimension!r}; choose one of "
                               f"{', '.join(known[metric])}")
    if rule["direction"] not in DIRECTIONS:
        raise InvalidValue(f"{where}: direction must be one of {', '.join(DIRECTIONS)}, got {rule['direction']!r}")
    if not isinstance(rule["quiet_hours"], list):
        raise InvalidValue(f"{where}: quiet hours must be a list of hours (0-23)")
    if not isinstance(rule["enabled"], bool):
        raise InvalidValue(f"{where}: enabled must be true or false")
    return {"metric": metric, "dimension": dimension,
            "sensitivity": _number(rule["sensitivity"], f"{where}: sensitivity", 0.0, 1.0),
            "direction": rule["direction"],
            "min_volume": _number(rule["min_volume"], f"{where}: minimum volume", 0.0),
            "quiet_hours": sorted({_hour(h, f"{where}: a quiet hour") for h in rule["quiet_hours"]}),
            "enabled": rule["enabled"]}


def check_body(body: Any, known: Mapping[str, tuple[str, ...]] | None = None) -> dict:
    """The body to store (see the module doc), or InvalidValue naming the field that is wrong."""
    if not isinstance(body, dict) or set(body) != set(DEFAULT_BODY):
        raise InvalidValue(f"alert rules are {{{', '.join(DEFAULT_BODY)}}}")
    owner = body["owner"]
    if owner is not None and (not isinstance(owner, str) or not owner.strip() or len(owner) > 200):
        raise InvalidValue("owner must be a user name of 1 to 200 characters, or none")
    digest_hour = None if body["digest_hour"] is None else _hour(body["digest_hour"], "digest hour")
    rules = body["rules"]
    if rules is not None:
        if not isinstance(rules, list) or len(rules) > MAX_RULES:
            raise InvalidValue(f"rules must be a list of at most {MAX_RULES}")
        rules = [_check_rule(n, r, known) for n, r in enumerate(rules, start=1)]
        seen = set()
        for r in rules:
            key = rule_key(r["metric"], r["dimension"])
            if key in seen:
                raise InvalidValue(f"rule {key} is listed twice; keep one")
            seen.add(key)
    return {"owner": owner, "digest_hour": digest_hour, "rules": rules}


ALERT_RULES = DocumentKind(KIND, ("current",), check_body,
                           "A merchant's anomaly-alert rules, owner and digest hour (issue 11).")


class AlertRules:
    """Reads and changes of the alert rules; every change is one audited revision (pure: no streamlit)."""

    def __init__(self, store, known: Mapping[str, tuple[str, ...]] | None = None):
        kind = ALERT_RULES if known is None else DocumentKind(KIND, ("current",), lambda b: check_body(b, known),
                                                             ALERT_RULES.doc)
        self._kind = kind
        self.documents = Documents(store, kinds=(kind,))

    def _current(self, who: Principal, merchant_id: int):
        revisions = self.documents.latest(who, kind=KIND, merchant_ids=[merchant_id])
        return revisions[-1] if revisions else None  # the oldest document of a merchant is the one revised

    def get(self, who: Principal, merchant_id: int) -> dict:
        """The merchant's body (DEFAULT_BODY when never saved), with ``saved``: whether anything was."""
        current = self._current(who, merchant_id)
        body = dict(current.body) if current is not None else dict(DEFAULT_BODY)
        return {**body, "saved": current is not None}

    def save(self, who: Principal, merchant_id: int, *, request_id: str, owner: Any = ...,
             digest_hour: Any = ..., rules: Any = ...) -> dict:
        """Change the fields given (the others carry over); returns the stored body. Saving what is already
        stored writes no revision (a re-clicked button gets a new request id)."""
        current = self._current(who, merchant_id)
        body = dict(current.body) if current is not None else dict(DEFAULT_BODY)
        for name, value in (("owner", owner), ("digest_hour", digest_hour), ("rules", rules)):
            if value is not ...:
                body[name] = value
        if current is not None and self._kind.check_body(body) == current.body:
            return current.body
        if current is None:
            saved = self.documents.create(who, kind=KIND, merchant_id=merchant_id, body=body,
                                          request_id=request_id, title="Alert rules")
        else:
            saved = self.documents.revise(who, kind=KIND, document_id=current.document_id,
                                          base_revision=current.revision, request_id=request_id, body=body)
        return saved.body

    def history(self, who: Principal, merchant_id: int) -> list:
        """Every revision of the merchant's rules, oldest first (who changed what, when)."""
        current = self._current(who, merchant_id)
        return [] if current is None else self.documents.history(who, kind=KIND, document_id=current.document_id)


def rules_for(store, merchant_id: int) -> dict:
    """The merchant's rules body for a job (no person's scope: detection and delivery run for every merchant)."""
    return AlertRules(store).get(Principal.staff(READER), int(merchant_id))
