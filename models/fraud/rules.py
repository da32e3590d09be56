"""Merchant rules over scored payments: simple feature rules and allow/block lists, their checks, and backtests.

A rule is either
    a condition on one feature:  "decline when cards_per_device_1h > 3" (action review or decline), or
    a list of values of one payment signal: card fingerprints, devices, IP prefixes or email domains, with the
    action allow (never flag these) or block (decline them).

Everything here is pure over a polars frame of payments: the features (``models.fraud.features.FEATURES``
columns), the signals (``LIST_FIELDS``), ``amount`` and, for a backtest, ``label`` (1 = fraud, from matured
chargebacks). ``evaluate`` says what the switched-on rules do to each payment: an allow-list match wins over
everything (the merchant vouched for it), then decline, then review.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import polars as pl

LIST_FIELDS = {"card_fingerprint": "card fingerprint", "device_id": "device", "ip_prefix": "IP prefix",
               "email_domain": "email domain"}
COMPARISONS = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most", "==": "equal to",
               "!=": "not equal to"}
CONDITION_ACTIONS = ("review", "decline")
LIST_ACTIONS = ("allow", "block")
MAX_ENTRIES = 5000
MAX_ENTRY_CHARS = 200
MAX_NAME_CHARS = 120
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RuleError(ValueError):
    """A rule that cannot be used; the message says which part and why, in words."""


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # "condition" or "list"
    field: str  # a feature (condition) or a LIST_FIELDS key (list)
    action: str  # review / decline (condition); allow / block (list)
    comparison: str | None = None
    value: float | None = None
    entries: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["entries"] = list(self.entries)
        return out

    @classmethod
    def from_dict(cls, body: Mapping) -> Rule:
        return cls(body["name"], body["kind"], body["field"], body["action"], body.get("comparison"),
                   body.get("value"), tuple(body.get("entries") or ()))

    def words(self, features: Mapping[str, str] | None = None) -> str:
        """The rule in a sentence, e.g. "decline when cards per device in 1 hour is more than 3"."""
        if self.kind == "list":
            what = LIST_FIELDS.get(self.field, self.field)
            verb = "never flag" if self.action == "allow" else "decline"
            return f"{verb} payments whose {what} is one of {len(self.entries):,} listed"
        label = (features or {}).get(self.field, self.field)
        return f"{self.action} when {label} is {COMPARISONS[self.comparison]} {self.value:g}"


def _name(name: object) -> str:
    text = str(name or "").strip()
    if not text:
        raise RuleError("Give the rule a name.")
    if len(text) > MAX_NAME_CHARS or _CONTROL.search(text):
        raise RuleError(f"A rule name is at most {MAX_NAME_CHARS} characters, without control characters.")
    return text


def known_features() -> dict[str, str]:
    """The scoring model's features (name -> words)."""
    from models.fraud.features import FEATURES

    return dict(FEATURES)


def parse_condition(name: object, feature: str, comparison: str, value: object, action: str,
                    features: Mapping[str, str] | None = None) -> Rule:
    """A checked condition rule, or RuleError naming the unknown feature, comparison, action or bad number."""
    features = known_features() if features is None else features
    if feature not in features:
        raise RuleError(f"Unknown feature {feature!r}: pick one of the model's features "
                        f"({', '.join(sorted(features)[:8])}{'...' if len(features) > 8 else ''}).")
    if comparison not in COMPARISONS:
        raise RuleError(f"Unknown comparison {comparison!r}: use one of {' '.join(COMPARISONS)}.")
    if action not in CONDITION_ACTIONS:
        raise RuleError(f"A rule's action is review or decline, not {action!r}.")
    if isinstance(value, bool):
        raise RuleError(f"The value must be a number, got {value!r}.")
    try:
        number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise RuleError(f"The value must be a number, like 3 or 0.5; got {str(value)[:40]!r}.") from None
    if not math.isfinite(number):
        raise RuleError(f"The value must be a finite number, got {value!r}.")
    return Rule(_name(name), "condition", feature, action, comparison, number)


def normalise_entry(field: str, raw: str) -> str:
    """One list entry in the form the payments carry it; RuleError names the entry when it cannot be."""
    text = str(raw).strip()
    shown = text[:40]
    if not text:
        raise RuleError("An empty list entry.")
    if len(text) > MAX_ENTRY_CHARS or _CONTROL.search(text):
        raise RuleError(f"Entry {shown!r} is too long or holds control characters.")
    if field == "ip_prefix":
        try:
            network = ipaddress.ip_network(text if "/" in text else _dotted(text), strict=False)
        except ValueError:
            raise RuleError(f"Entry {shown!r} is not an IPv4 address or prefix (like 203.0.113.0/24).") from None
        if network.version != 4 or network.prefixlen not in (8, 16, 24, 32):
            raise RuleError(f"Entry {shown!r}: use an IPv4 /8, /16 or /24 prefix or an address.")
        return str(network.supernet(new_prefix=24) if network.prefixlen == 32 else network)
    if field == "email_domain":
        domain = text.lower().lstrip("@").split("@")[-1]
        if not _DOMAIN.match(domain):
            raise RuleError(f"Entry {shown!r} is not an email domain (like example.com).")
        return domain
    if field in LIST_FIELDS:
        return text
    raise RuleError(f"Lists hold {', '.join(LIST_FIELDS.values())}; not {field!r}.")


def _dotted(text: str) -> str:
    """'203.0.113' -> '203.0.113.0/24'; a full address stays an address."""
    parts = text.rstrip(".").split(".")
    if len(parts) == 4:
        return text
    if not 1 <= len(parts) <= 3:
        raise ValueError(text)
    return ".".join(parts + ["0"] * (4 - len(parts))) + f"/{8 * len(parts)}"


def parse_list(name: object, field: str, entries: str | Iterable[str], action: str) -> Rule:
    """A checked list (one entry a line or comma), or RuleError naming the first bad entry."""
    if field not in LIST_FIELDS:
        raise RuleError(f"Lists hold {', '.join(LIST_FIELDS.values())}; not {field!r}.")
    if action not in LIST_ACTIONS:
        raise RuleError(f"A list allows or blocks, not {action!r}.")
    raw = re.split(r"[\n,;]+", entries) if isinstance(entries, str) else list(entries)
    cleaned = sorted({normalise_entry(field, e) for e in raw if str(e).strip()})
    if not cleaned:
        raise RuleError("The list is empty: give at least one entry.")
    if len(cleaned) > MAX_ENTRIES:
        raise RuleError(f"A list holds at most {MAX_ENTRIES:,} entries, got {len(cleaned):,}.")
    return Rule(_name(name), "list", field, action, entries=tuple(cleaned))


def matches(rule: Rule) -> pl.Expr:
    """True where ``rule`` applies to a payment (null feature or signal: it does not)."""
    col = pl.col(rule.field)
    if rule.kind == "condition":
        ops = {">": col > rule.value, ">=": col >= rule.value, "<": col < rule.value, "<=": col <= rule.value,
               "==": col == rule.value, "!=": col != rule.value}
        return ops[rule.comparison].fill_null(False)
    if rule.field != "ip_prefix":
        return col.is_in(list(rule.entries)).fill_null(False)
    hit = pl.lit(False)
    for entry in rule.entries:  # a /24 is the payments' own form; wider prefixes match their leading octets
        network = ipaddress.ip_network(entry)
        octets = network.prefixlen // 8
        stem = ".".join(str(network.network_address).split(".")[:octets]) + "."
        hit = hit | (col == entry if octets == 3 else col.str.starts_with(stem))
    return hit.fill_null(False)


def _need(frame: pl.DataFrame, rule: Rule, extra: tuple[str, ...] = ()) -> None:
    missing = [c for c in (rule.field, "amount", *extra) if c not in frame.columns]
    if missing:
        raise RuleError(f"The payments have no {', '.join(missing)} to test rule {rule.name!r} on.")


@dataclass(frozen=True)
class Backtest:
    """What a rule would have done to the labelled history: payments matched, frauds and good orders, amounts."""

    payments: int
    matched: int
    frauds: int
    fraud_amount: float
    good: int
    good_amount: float
    frauds_total: int

    def to_dict(self) -> dict:
        return asdict(self)


def backtest(frame: pl.DataFrame, rule: Rule) -> Backtest:
    """Apply ``rule`` to labelled payments (``label`` 1 = fraud) and count what it matched."""
    _need(frame, rule, ("label",))
    hit = frame.filter(matches(rule))
    fraud = hit.filter(pl.col("label") == 1)
    good = hit.filter(pl.col("label") != 1)
    return Backtest(frame.height, hit.height, fraud.height, float(fraud["amount"].sum()), good.height,
                    float(good["amount"].sum()), int((frame["label"] == 1).sum()))


def evaluate(frame: pl.DataFrame, rules: Iterable[Rule]) -> pl.DataFrame:
    """``frame`` with ``rule_action`` (allow, decline, review or null) and ``rule_name`` (the first rule deciding).

    Allow-list matches win, then decline rules and block lists, then review rules; the rule order breaks ties."""
    rank = {"allow": 0, "block": 1, "decline": 1, "review": 2}
    ordered = sorted(rules, key=lambda r: rank[r.action])
    action, name = pl.lit(None, pl.Utf8), pl.lit(None, pl.Utf8)
    for rule in reversed(ordered):  # the last applied wins, so walk from the weakest
        _need(frame, rule)
        hit = matches(rule)
        action = pl.when(hit).then(pl.lit("decline" if rule.action == "block" else rule.action)).otherwise(action)
        name = pl.when(hit).then(pl.lit(rule.name)).otherwise(name)
    return frame.with_columns(action.alias("rule_action"), name.alias("rule_name"))
