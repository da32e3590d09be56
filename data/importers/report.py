"""What an import or a dry run reports: rejected rows and a sentence a person can act on.

A rejects frame always has the columns ``line`` (Int64: CSV line, or sheet /
Parquet row; null for a file-level problem), ``column`` (the file's column
name, or the canonical field when the value came from a constant or was
derived; null when the whole record is broken), ``value`` (the raw text) and
``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from data import safe_csv

REJECT_SCHEMA = {"line": pl.Int64, "column": pl.Utf8, "value": pl.Utf8, "reason": pl.Utf8}
MAX_IN_MESSAGE = 3


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def rejects_frame(rows: list[tuple[int | None, str | None, str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REJECT_SCHEMA, orient="row") if rows else empty_rejects()


def describe_reject(row: dict, line_word: str = "line") -> str:
    where = [f"{line_word} {row['line']}"] if row["line"] is not None else []
    if row["column"] is not None:
        where.append(f"column {row['column']!r}")
    value = f" {row['value']!r}:" if row["value"] is not None else ""
    head = ", ".join(where)
    return f"{head}:{value} {row['reason']}" if head else f"{value.strip(':')} {row['reason']}".strip()


def first_problems(rejects: pl.DataFrame, line_word: str = "line", limit: int = MAX_IN_MESSAGE) -> str:
    """'line 5, column 'Qty': 'abc': not an integer; ...' for the first few rejects (real problems first)."""
    if rejects.is_empty():
        return ""
    collateral = pl.col("reason").str.starts_with(COLLATERAL_PREFIX)
    ordered = rejects.with_columns(collateral.alias("_c")).sort(["_c", "line"], nulls_last=False)
    parts = [describe_reject(r, line_word) for r in ordered.head(limit).iter_rows(named=True)]
    more = rejects.height - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


COLLATERAL_PREFIX = "not loaded: another line of order"


def count_phrase(rejects: pl.DataFrame, line_word: str = "line") -> str:
    """'3 rejected lines (4 problems)': lines counted once however many problems they have.

    A file-level problem (no line) is a problem but not a line.
    """
    lines = int(rejects.filter(pl.col("line").is_not_null())["line"].n_unique())
    problems = rejects.height
    text = f"{plural(lines, 'rejected ' + line_word)}"
    return text + (f" ({plural(problems, 'problem')})" if problems != lines else "")


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def write_rejects_csv(rejects: pl.DataFrame, path: str | Path) -> Path:
    """Write the rejects (line, column, value, reason) as a UTF-8 CSV file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return safe_csv.write_csv(rejects.select(list(REJECT_SCHEMA)), path)


@dataclass
class ValidationReport:
    """Outcome of reading and validating one file (no warehouse involved).

    ``rows`` are the canonical rows that passed (see data/importers/validate.py for
    their columns and units); ``rejects`` lists every problem; ``fatal`` is the
    sentence of a file-level problem (then nothing can be loaded in any mode).
    """

    source: str
    preset: str
    line_word: str = "line"
    rows_read: int = 0
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    fatal: str | None = None
    warnings: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # canonical field -> file column
    duplicate_lines: int = 0  # records identical to an earlier one (see duplicates.py)

    @property
    def rows_rejected(self) -> int:
        """Distinct lines that will not be loaded (a line with two problems counts once)."""
        return int(self.rejects.filter(pl.col("line").is_not_null())["line"].n_unique())

    @property
    def ok(self) -> bool:
        return self.fatal is None and self.rejects.is_empty()

    @property
    def message(self) -> str:
        if self.fatal:
            return self.fatal
        if self.rejects.is_empty():
            return (f"{self.source}: {self.rows.height:,} rows valid"
                    + (f" ({'; '.join(self.warnings)})" if self.warnings else ""))
        return (f"{self.source}: {self.rows_rejected:,} of {plural(self.rows_read, 'row')} rejected - "
                + first_problems(self.rejects, self.line_word))

    def write_rejects_csv(self, path: str | Path) -> Path:
        return write_rejects_csv(self.rejects, path)


@dataclass
class ImportResult:
    """Outcome of import_file.

    status: ``loaded`` (committed, or already committed under this import_id),
    ``staged`` (the warehouse is held by a running dashboard; the rows wait in its
    inbox and that process applies them) or ``refused`` (nothing written).
    rows_loaded counts order lines written (or staged); rows_rejected counts lines
    not loaded; rejects has line, column, value, reason.
    """

    status: str
    import_id: str
    source: str
    message: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    warnings: list[str] = field(default_factory=list)
    merchant_id: int | None = None
    data_version: int | None = None
    staged_path: Path | None = None
    applied_before: list[str] = field(default_factory=list)  # staged imports applied first
    line_word: str = "line"
    per_merchant: list[tuple[int, str, int]] = field(default_factory=list)  # (merchant id, name, lines loaded)
    duplicate_lines: int = 0  # exact duplicate records found in the file (warnings say what became of them)

    def write_rejects_csv(self, path: str | Path) -> Path:
        return write_rejects_csv(self.rejects, path)
