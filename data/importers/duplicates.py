"""Exact duplicate lines: a record identical in every column of the file to an earlier one.

Exports repeat lines for real reasons (two scans of one item) and by accident (a page
exported twice); the file cannot say which, so the mapping's ``[rules] duplicate_lines``
decides: ``keep`` (default; loaded, counted), ``refuse`` (each repeat is a reject naming
the line it repeats) or ``drop`` (loaded once, the repeats counted). This works without a
line-number column: the comparison is over the whole record as the file wrote it.
"""

from __future__ import annotations

import polars as pl

from data.importers.read import LINE, RawTable

RULE = 'rules.duplicate_lines'


def duplicate_lines(raw: RawTable) -> pl.DataFrame:
    """Columns line, first_line: every record that repeats an earlier record exactly, with that record's line."""
    frame = raw.frame.clone()
    # Positional names: a file's column names are never read as patterns.
    frame.columns = [c if c == LINE else f"__c{i}" for i, c in enumerate(frame.columns)]
    cols = [c for c in frame.columns if c != LINE]
    if not cols or frame.height < 2:
        return pl.DataFrame(schema={"line": pl.Int64, "first_line": pl.Int64})
    return (frame.select(pl.col(LINE).alias("line"), pl.col(LINE).min().over(cols).alias("first_line"))
            .filter(pl.col("line") != pl.col("first_line")))


def describe(dups: pl.DataFrame, rule: str, line_word: str) -> str:
    """The report's sentence for ``dups`` under ``rule``."""
    n = dups.height
    example = f"e.g. {line_word} {dups['line'][0]} = {line_word} {dups['first_line'][0]}"
    what = {"keep": "each is loaded as its own line", "drop": "dropped, the first of each loaded",
            "refuse": "each is rejected"}[rule]
    word = line_word + ("" if n == 1 else "s")
    return f"{n:,} exact duplicate {word} ({example}): {what} ({RULE} = \"{rule}\")"
