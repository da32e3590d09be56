"""A merchant's fraud settings: the costs, the review threshold, and the rules and lists with their backtests.

One document of kind ``fraud_settings`` per merchant (``data.store.documents``): every change is a new revision
with the whole body, recorded in the audit log with who made it, so the history of thresholds and rules is kept.

Where the threshold is read: ``threshold_for(store, merchant_id)`` here is the one place (the review queue and
``python -m models score`` call it); ``enabled_rules(store, merchant_id)`` gives the switched-on rules.

Body::

    {"costs": {"chargeback_fee": money, "margin_lost": 0..1, "review_cost": money} | None,
     "threshold": 0..1 | None, "threshold_source": "lowest cost" | "by hand" | None,
     "rules": [{"id", "version", "enabled", "rule": {name, kind, field, action, comparison, value, entries},
                "backtest": {"version", counts and amounts...} | None}]}

A rule switches on only when its current version has a backtest: editing a rule makes a new version, switched
off and without a backtest. The rule's own checks (known feature, numbers, list entries) are in
``models.fraud.rules``; this module checks the shape, sizes and ranges so no caller can store a broken body.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from data.store.documents import DocumentKind, Documents
from data.store.errors import InvalidValue
from data.store.principal import Principal

KIND = "fraud_settings"
SOURCES = ("lowest cost", "by hand")
MAX_RULES = 100
MAX_ENTRIES = 5000
MAX_TEXT = 200
_RULE_KEYS = {"name", "kind", "field", "action", "comparison", "value", "entries"}
_ACTIONS = {"condition": ("review", "decline"), "list": ("allow", "block")}
_ID_NAMESPACE = uuid.UUID("0f6c3b52-4d0e-4e44-9a52-6a0c2a7d9b11")
READER = "fraud-settings-reader"  # the principal name of internal reads (reads are not audited)


def _number(value: Any, what: str, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValue(f"{what} must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        span = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidValue(f"{what} must be {span}, got {value!r}")
    return float(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise InvalidValue(f"{what} must be text of 1 to {MAX_TEXT} characters")
    return value


def _check_costs(costs: Any) -> dict | None:
    if costs is None:
        return None
    if not isinstance(costs, dict) or set(costs) != {"chargeback_fee", "margin_lost", "review_cost"}:
        raise InvalidValue("fraud costs are {chargeback_fee, margin_lost, review_cost}")
    return {"chargeback_fee": _number(costs["chargeback_fee"], "the chargeback fee"),
            "margin_lost": _number(costs["margin_lost"], "the margin lost on a declined good order", 0.0, 1.0),
            "review_cost": _number(costs["review_cost"], "the cost of a manual review")}


def _check_rule(entry: Any) -> dict:
    if not isinstance(entry, dict) or set(entry) != {"id", "version", "enabled", "rule", "backtest"}:
        raise InvalidValue("a fraud rule entry is {id, version, enabled, rule, backtest}")
    rule = entry["rule"]
    if not isinstance(rule, dict) or set(rule) != _RULE_KEYS:
        raise InvalidValue(f"a fraud rule has the fields {', '.join(sorted(_RULE_KEYS))}")
    if rule["kind"] not in _ACTIONS or rule["action"] not in _ACTIONS[rule["kind"]]:
        raise InvalidValue(f"a fraud rule's kind and action must be one of {_ACTIONS}, got "
                           f"{rule['kind']!r} and {rule['action']!r}")
    _text(rule["name"], "a rule name"), _text(rule["field"], "a rule's field")
    entries = rule["entries"]
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise InvalidValue(f"a list holds at most {MAX_ENTRIES} entries")
    for e in entries:
        _text(e, "a list entry")
    if rule["kind"] == "condition":
        _number(rule["value"], "a rule's value", -math.inf)
        _text(rule["comparison"], "a rule's comparison")
    version = entry["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidValue(f"a rule version is a whole number from 1, got {version!r}")
    backtest = entry["backtest"]
    if backtest is not None and (not isinstance(backtest, dict) or backtest.get("version") != version):
        raise InvalidValue("a rule's backtest must be of its current version")
    if entry["enabled"] is not False and (entry["enabled"] is not True or backtest is None):
        raise InvalidValue(f"rule {rule['name']!r} cannot be switched on before its current version is "
                           "backtested")
    return entry


def check_body(body: Any) -> dict:
    """The body to store (see the module doc), or InvalidValue naming what is wrong."""
    if not isinstance(body, dict) or set(body) != {"costs", "threshold", "threshold_source", "rules"}:
        raise InvalidValue("fraud settings are {costs, threshold, threshold_source, rules}")
    threshold = body["threshold"]
    if threshold is not None:
        threshold = _number(threshold, "the review threshold", 0.0, 1.0)
    if body["threshold_source"] not in (None, *SOURCES):
        raise InvalidValue(f"the threshold is set by {' or '.join(SOURCES)}, not {body['threshold_source']!r}")
    rules = body["rules"]
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise InvalidValue(f"at most {MAX_RULES} rules and lists per merchant")
    ids = [r.get("id") if isinstance(r, dict) else None for r in rules]
    if len(set(ids)) != len(ids):
        raise InvalidValue("two rules share an id")
    return {"costs": _check_costs(body["costs"]), "threshold": threshold,
            "threshold_source": body["threshold_source"], "rules": [_check_rule(r) for r in rules]}


FRAUD_SETTINGS = DocumentKind(KIND, ("saved",), check_body,
                              "A merchant's fraud settings: costs, review threshold, rules and lists with backtests.")
EMPTY = {"costs": None, "threshold": None, "threshold_source": None, "rules": []}


class FraudSettings:
    """Reads and changes of the fraud settings; every change is one audited revision (pure: no streamlit)."""

    def __init__(self, store):
        self.documents = Documents(store, kinds=(FRAUD_SETTINGS,))

    def _current(self, who: Principal, merchant_id: int):
        revisions = self.documents.latest(who, kind=KIND, merchant_ids=[merchant_id])
        return revisions[-1] if revisions else None  # the oldest document of a merchant is the one revised

    def get(self, who: Principal, merchant_id: int) -> dict:
        """The merchant's settings body (EMPTY's shape when never saved)."""
        current = self._current(who, merchant_id)
        return dict(current.body) if current is not None else {**EMPTY, "rules": []}

    def _change(self, who: Principal, merchant_id: int, request_id: str, change) -> dict:
        current = self._current(who, merchant_id)
        body = change({**(current.body if current else EMPTY), "rules": [dict(r) for r in
                                                                          (current.body["rules"] if current else [])]})
        if current is None:
            saved = self.documents.create(who, kind=KIND, merchant_id=merchant_id, body=body, request_id=request_id,
                                          title="Fraud settings")
        else:
            saved = self.documents.revise(who, kind=KIND, document_id=current.document_id,
                                          base_revision=current.revision, request_id=request_id, body=body)
        return saved.body

    def save_costs(self, who: Principal, merchant_id: int, *, chargeback_fee: float, margin_lost: float,
                   review_cost: float, request_id: str) -> dict:
        costs = {"chargeback_fee": chargeback_fee, "margin_lost": margin_lost, "review_cost": review_cost}
        return self._change(who, merchant_id, request_id, lambda b: {**b, "costs": costs})

    def save_threshold(self, who: Principal, merchant_id: int, threshold: float, *, source: str,
                       request_id: str) -> dict:
        return self._change(who, merchant_id, request_id,
                            lambda b: {**b, "threshold": threshold, "threshold_source": source})

    def save_rule(self, who: Principal, merchant_id: int, rule, *, request_id: str, rule_id: str | None = None) -> str:
        """Add ``rule`` (a ``models.fraud.rules.Rule``) or make it the next version of ``rule_id``: switched off,
        not backtested. Returns the rule id."""
        new_id = rule_id or uuid.uuid5(_ID_NAMESPACE, request_id).hex[:12]

        def change(body):
            rules = body["rules"]
            found = [r for r in rules if r["id"] == new_id]
            if rule_id is not None and not found:
                raise InvalidValue(f"no rule {rule_id!r} for merchant {merchant_id}")
            version = found[0]["version"] + 1 if found else 1
            entry = {"id": new_id, "version": version, "enabled": False, "rule": rule.to_dict(), "backtest": None}
            kept = [entry if r["id"] == new_id else r for r in rules] if found else [*rules, entry]
            return {**body, "rules": kept}

        self._change(who, merchant_id, request_id, change)
        return new_id

    def _rule_change(self, who, merchant_id, rule_id, request_id, edit) -> dict:
        def change(body):
            if not any(r["id"] == rule_id for r in body["rules"]):
                raise InvalidValue(f"no rule {rule_id!r} for merchant {merchant_id}")
            return {**body, "rules": [edit(r) if r["id"] == rule_id else r for r in body["rules"]]}

        return self._change(who, merchant_id, request_id, change)

    def record_backtest(self, who: Principal, merchant_id: int, rule_id: str, *, version: int, result: dict,
                        request_id: str) -> dict:
        """Keep what version ``version`` of the rule would have done on history (``Backtest.to_dict`` and more)."""
        def edit(r):
            if r["version"] != version:
                raise InvalidValue(f"rule {r['rule']['name']!r} is at version {r['version']}, not {version}: "
                                   "backtest it again")
            return {**r, "backtest": {**result, "version": version}}

        return self._rule_change(who, merchant_id, rule_id, request_id, edit)

    def switch(self, who: Principal, merchant_id: int, rule_id: str, *, on: bool, request_id: str) -> dict:
        """Switch a rule on (refused unless its current version was backtested) or off."""
        def edit(r):
            if on and (r["backtest"] is None or r["backtest"].get("version") != r["version"]):
                raise InvalidValue(f"rule {r['rule']['name']!r} (version {r['version']}) has no backtest: "
                                   "backtest it on history before switching it on")
            return {**r, "enabled": bool(on)}

        return self._rule_change(who, merchant_id, rule_id, request_id, edit)

    def remove(self, who: Principal, merchant_id: int, rule_id: str, *, request_id: str) -> dict:
        return self._change(who, merchant_id, request_id,
                            lambda b: {**b, "rules": [r for r in b["rules"] if r["id"] != rule_id]})


def threshold_for(store, merchant_id: int, default: float | None = None) -> float | None:
    """The merchant's saved review threshold (payments scoring at or above it go to review), else ``default``
    (the scoring model's own, ``models.fraud.outputs.load_threshold``, is the natural one)."""
    saved = FraudSettings(store).get(Principal.staff(READER), int(merchant_id))["threshold"]
    return default if saved is None else saved


def enabled_rules(store, merchant_id: int) -> list[dict]:
    """The merchant's switched-on rules (each the ``rule`` dict of ``models.fraud.rules.Rule.to_dict``)."""
    body = FraudSettings(store).get(Principal.staff(READER), int(merchant_id))
    return [r["rule"] for r in body["rules"] if r["enabled"]]
