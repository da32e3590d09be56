"""Typed parsing of string columns, each returning the typed value and why it failed.

Every parser takes a Utf8 expression (already trimmed, empty = null) and returns
``Parsed(value, bad)``: ``value`` is the typed expression (null where it failed)
and ``bad`` a Utf8 expression holding the reason where a non-null input could
not be parsed (null elsewhere). Nothing is rounded silently: money with more
than 3 decimals, integers with a fraction and impossible dates are reasons.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from data.importers.options import NUMBER_FORMATS

PLAIN = "1234.56"

MONEY = pl.Decimal(18, 3)
INT_LIMIT = 2**31 - 1

# Integers: an optional sign, digits, optionally ".0" (spreadsheets write 3 as 3.0).
_INT_RE = r"^[+-]?\d+(\.0*)?$"
# Money: plain decimal notation, at most 3 decimals (trailing zeros beyond that are fine).
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_MONEY_RE = r"^[+-]?(\d+(\.\d{0,3}0*)?|\.\d{1,3}0*)$"

ISO_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
)
# d/m/y-like values: the only shapes where day and month order is a question.
AMBIGUOUS_RE = r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?$"


@dataclass(frozen=True)
class Parsed:
    value: pl.Expr
    bad: pl.Expr


def _reason(cond: pl.Expr, text: str) -> pl.Expr:
    return pl.when(cond).then(pl.lit(text)).otherwise(pl.lit(None, dtype=pl.Utf8))


def _number_reason(s: pl.Expr, number_format: str) -> pl.Expr:
    """"'2,55' is not a number; ..." with the hint that fits the mapping's number_format."""
    if number_format == PLAIN:
        hint = pl.when(s.str.contains(",")).then(pl.lit(
            '; set number_format = "1.234,56" in the mapping\'s [file] section if the file writes decimal '
            'commas (or "1 234,56", "1234,56", "1,234.56": see README)')).otherwise(pl.lit(""))
    else:
        hint = pl.lit(f'; the mapping says number_format = "{number_format}"')
    return pl.format("'{}' is not a number{}", s, hint)


def normalize_number(s: pl.Expr, number_format: str) -> tuple[pl.Expr, pl.Expr]:
    """(plain decimal text, shape ok) for text written in ``number_format`` (options.NUMBER_FORMATS).

    Thousands separators must group three digits (1.234,5 but not 12.34,5); the decimal mark becomes
    a point. The plain format is returned unchanged (its checks live in parse_int / parse_money).
    """
    if number_format == PLAIN:
        return s, pl.lit(True)
    decimal, thousands = NUMBER_FORMATS[number_format]
    d = re.escape(decimal)
    if thousands:
        t = "[" + re.escape(thousands) + "]"
        shape = rf"^[+-]?(\d{{1,3}}({t}\d{{3}})+|\d+)({d}\d*)?$"
        plain = s.str.replace_all(t, "")
    else:
        shape = rf"^[+-]?\d+({d}\d*)?$"
        plain = s
    return plain.str.replace(decimal, ".", literal=True), s.str.contains(shape)


def parse_int(s: pl.Expr, number_format: str = "1234.56") -> Parsed:
    raw = s
    s, written_ok = normalize_number(s, number_format)
    shape_ok = s.str.contains(_INT_RE) & written_ok
    digits = s.str.replace(r"\.0*$", "")
    as_int = pl.when(shape_ok).then(digits.cast(pl.Int64, strict=False))
    in_range = as_int.abs() <= INT_LIMIT
    value = pl.when(in_range).then(as_int).cast(pl.Int32)
    bad = (pl.when(s.is_null()).then(pl.lit(None, dtype=pl.Utf8))
           .when(~written_ok).then(_number_reason(raw, number_format))
           .when(~shape_ok & s.str.contains(r"^[+-]?\d+\.\d+$")).then(pl.lit("not a whole number"))
           .when(~shape_ok & raw.str.contains(",")).then(_number_reason(raw, number_format))
           .when(~shape_ok).then(pl.lit("not an integer"))
           .when(as_int.is_null() | ~in_range).then(pl.lit("integer out of range"))
           .otherwise(pl.lit(None, dtype=pl.Utf8)))
    return Parsed(value, bad)


def parse_money(s: pl.Expr, number_format: str = "1234.56") -> Parsed:
    raw = s
    s, written_ok = normalize_number(s, number_format)
    money_ok = s.str.contains(_MONEY_RE) & written_ok
    number_ok = s.str.contains(_NUMBER_RE) & written_ok
    value = pl.when(money_ok).then(s.cast(MONEY, strict=False))
    bad = (pl.when(s.is_null()).then(pl.lit(None, dtype=pl.Utf8))
           .when(~number_ok).then(_number_reason(raw, number_format))
           .when(~money_ok).then(pl.lit("more than 3 decimal places (amounts are kept to 0.001)"))
           .when(value.is_null()).then(pl.lit("amount out of range"))
           .otherwise(pl.lit(None, dtype=pl.Utf8)))
    return Parsed(value, bad)


def date_formats(date_format: str | None, day_first: bool | None) -> tuple[str, ...]:
    """Formats tried in order: the mapping's own, then day/month-first shapes, then ISO (never ambiguous)."""
    formats: list[str] = []
    if date_format:
        formats.append(date_format)
    elif day_first is not None:
        d, m = ("%d", "%m") if day_first else ("%m", "%d")
        for sep in "/.-":
            date = f"{d}{sep}{m}{sep}%Y"
            formats += [f"{date} %H:%M:%S", f"{date} %H:%M", date]
    return (*formats, *ISO_FORMATS)


def datetime_value(s: pl.Expr, date_format: str | None, day_first: bool | None) -> pl.Expr:
    """The first format (see date_formats) that parses the whole value; null if none does."""
    return pl.coalesce([s.str.strptime(pl.Datetime("us"), f, strict=False, exact=True)
                        for f in date_formats(date_format, day_first)])


def datetime_problems(s: pl.Expr, value: pl.Expr, date_format: str | None, lo: dt.date, hi: dt.date) -> Parsed:
    """Given raw text ``s`` and its parsed ``value``: the value within [lo, hi] and the reasons."""
    lo_ts, hi_ts = dt.datetime.combine(lo, dt.time()), dt.datetime.combine(hi, dt.time())
    out_of_range = (value < lo_ts) | (value >= hi_ts + dt.timedelta(days=1))
    hint = f"; expected format {date_format}" if date_format else ""
    bad = (pl.when(s.is_null()).then(pl.lit(None, dtype=pl.Utf8))
           .when(value.is_null()).then(pl.lit(f"not a valid date{hint}"))
           .when(out_of_range).then(pl.lit(f"date outside the accepted range {lo} .. {hi}"))
           .otherwise(pl.lit(None, dtype=pl.Utf8)))
    return Parsed(pl.when(~out_of_range).then(value), bad)


def ambiguous_dates(values: pl.Series) -> pl.Series:
    """Mask of values whose day and month order cannot be told from their shape (like 5/8/2022)."""
    return values.str.contains(AMBIGUOUS_RE).fill_null(False)


def day_first_evidence(values: pl.Series) -> str | None:
    """A sentence saying which order the values themselves prove, if any (16/05/2021 proves day first)."""
    parts = values.filter(ambiguous_dates(values)).str.extract_groups(r"^(\d{1,2})[/.\-](\d{1,2})")
    first = parts.struct.field("1").cast(pl.Int32)
    second = parts.struct.field("2").cast(pl.Int32)
    day_first = values.filter(ambiguous_dates(values)).filter(first > 12)
    month_first = values.filter(ambiguous_dates(values)).filter(second > 12)
    if day_first.len() and not month_first.len():
        return f"values such as {day_first[0]!r} suggest day first (day_first = true)"
    if month_first.len() and not day_first.len():
        return f"values such as {month_first[0]!r} suggest month first (day_first = false)"
    return None


def slug(s: pl.Expr) -> pl.Expr:
    """Lower case with underscores: 'Credit Card' -> 'credit_card'."""
    return s.str.to_lowercase().str.replace_all(r"[^0-9a-z]+", "_").str.strip_chars("_")

