"""Payment signals of an import (schema 4): card fingerprint, device id, client IP, email, auth result.

What is kept is only what fraud review needs, never more:
- ``card_fingerprint`` is any stable token of the card (a hash); a value that looks like a card number
  (13-19 digits, spaces or dashes allowed, passing the Luhn check) is refused, and the reject shows only its
  last four digits, so the number reaches neither the warehouse nor the rejects report;
- ``device_id`` is refused the same way when it looks like a card number;
- ``ip_prefix`` takes a full IPv4 address or a /24 and keeps the /24 (``203.0.113.7`` -> ``203.0.113.0/24``);
- ``email_domain`` takes an address or a domain and keeps the lower-case domain (``Ann@Example.COM`` ->
  ``example.com``);
- ``auth_result`` is one of data.tables.AUTH_RESULTS (common spellings accepted, see fields.ENUMS).
Each parser returns parse.Parsed(value, reason); reasons are null where the value is fine.
"""

from __future__ import annotations

import polars as pl

from data.importers.parse import Parsed

MAX_ID_CHARS = 128
CARD_DIGITS = r"^\d{13,19}$"
_DOMAIN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
_IPV4 = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(/24)?$"
NULL_TEXT = pl.lit(None, dtype=pl.Utf8)


def _luhn_ok(digits: pl.Expr) -> pl.Expr:
    """True when a string of digits passes the Luhn check (vectorised: one column per position from the right)."""
    rev = digits.str.reverse()
    total = pl.lit(0, dtype=pl.Int64)
    for i in range(19):
        d = rev.str.slice(i, 1).cast(pl.Int64, strict=False).fill_null(0)
        if i % 2:
            d = pl.when(d * 2 > 9).then(d * 2 - 9).otherwise(d * 2)
        total = total + d
    return total % 10 == 0


def looks_like_card_number(text: pl.Expr) -> pl.Expr:
    digits = text.str.replace_all(r"[ \-]", "")
    return (digits.str.contains(CARD_DIGITS) & _luhn_ok(digits)).fill_null(False)


def masked(text: pl.Expr) -> pl.Expr:
    """What a reject may show of a value that looks like a card number: its last four digits only."""
    digits = text.str.replace_all(r"[ \-]", "")
    return pl.when(looks_like_card_number(text)).then(pl.format("(card number ending {})", digits.str.slice(-4))) \
        .otherwise(text)


def parse_identity(text: pl.Expr, field: str) -> Parsed:
    """card_fingerprint or device_id: kept as given, unless it is a card number or too long."""
    card = looks_like_card_number(text)
    reason = (pl.when(card).then(pl.lit(
        f"looks like a full card number (13-19 digits passing the Luhn check); {field} must be a fingerprint "
        "(a hash of the card, as your payment processor gives it), never the number: the row is refused and "
        "the number is not stored"))
        .when(text.str.len_chars() > MAX_ID_CHARS).then(pl.lit(f"longer than {MAX_ID_CHARS} characters")))
    return Parsed(pl.when(reason.is_null()).then(text), reason)


def parse_ip(text: pl.Expr) -> Parsed:
    """An IPv4 address or /24 prefix -> its /24 prefix ``a.b.c.0/24``."""
    parts = [text.str.extract(_IPV4, i).cast(pl.Int32, strict=False) for i in (1, 2, 3, 4)]
    shaped = text.str.contains(_IPV4).fill_null(False)
    in_range = pl.all_horizontal([p.is_between(0, 255) for p in parts]).fill_null(False)
    prefix = pl.format("{}.{}.{}.0/24", parts[0], parts[1], parts[2])
    reason = (pl.when(text.is_null()).then(NULL_TEXT).when(text.str.contains(":")).then(pl.lit(
        "IPv6 addresses are not supported yet; give the IPv4 address or its /24 (e.g. 203.0.113.0/24)"))
        .when(~shaped).then(pl.lit("not an IPv4 address or /24 prefix (e.g. 203.0.113.7 or 203.0.113.0/24)"))
        .when(~in_range).then(pl.lit("not an IPv4 address: each of the four numbers must be 0-255")))
    return Parsed(pl.when(reason.is_null()).then(prefix), reason)


def parse_email(text: pl.Expr) -> Parsed:
    """An email address or a domain -> the lower-case domain (the part after the last @)."""
    domain = text.str.to_lowercase().str.extract(r"([^@]*)$", 1).str.strip_chars().str.strip_suffix(".")
    ok = domain.str.contains(_DOMAIN).fill_null(False)
    reason = pl.when(text.is_not_null() & ~ok).then(pl.lit("not an email address or domain (e.g. ann@example.com or example.com)"))
    return Parsed(pl.when(ok).then(domain), reason)


def parse_signal(field: str, text: pl.Expr) -> Parsed:
    if field in ("card_fingerprint", "device_id"):
        return parse_identity(text, field)
    if field == "ip_prefix":
        return parse_ip(text)
    return parse_email(text)


PARSED_HERE = ("card_fingerprint", "device_id", "ip_prefix", "email_domain")
