"""CSV files that a spreadsheet opens safely (no CSV injection).

A spreadsheet runs a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a
formula. Values from imported files (product names, rejected cells) are untrusted, so every text cell
that starts so is written with a leading apostrophe, as OWASP recommends. Numbers are untouched,
and so is text that is a negative number such as ``-5``, ``-3.2`` or, in a decimal-comma locale,
``-1,5`` and ``-1.234,56``.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

FORMULA_START = r"^([=+\-@\t\r])"
# A negative number (-5, -3.2, -1,5, -1.234,56, -1 234,56) is data, not a formula: a spreadsheet reads it
# as the number it is, and a prefix would turn a negative quantity or price in a report into text. Digits
# and separators only, so nothing that could call a function (-cmd, -1+A1) passes as a number.
PLAIN_NUMBER = "^-(\\d[\\d.,\u00a0\u202f ]*|[.,]\\d+)$"


def inert_text(value: str) -> str:
    """One piece of text as ``inert`` writes it."""
    return value if re.match(PLAIN_NUMBER, value) else re.sub(FORMULA_START, r"'\1", value)


def inert(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell a spreadsheet would run as a formula prefixed with ``'``, and its column
    names too (headings can come from data: a scenario's or a category's name)."""
    names = [inert_text(n) for n in frame.columns]
    if len(set(names)) == len(names) and names != frame.columns:
        frame = frame.rename(dict(zip(frame.columns, names)))
    text = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(PLAIN_NUMBER)).then(pl.col(name))
        .otherwise(pl.col(name).str.replace(FORMULA_START, "'${1}")).alias(name) for name in text)


def csv_text(frame: pl.DataFrame, include_header: bool = True) -> str:
    return inert(frame).write_csv(include_header=include_header)


def csv_bytes(frame: pl.DataFrame) -> bytes:
    return csv_text(frame).encode("utf-8")


def write_csv(frame: pl.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    inert(frame).write_csv(path)
    return path
