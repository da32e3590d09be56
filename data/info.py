"""Row counts and date ranges per table: `python -m data info` and the admin Data page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import ibis
import polars as pl

from data.tables import Table


def date_column(table: Table) -> str | None:
    """The first DATE or TIMESTAMP column of a table (what its date range is measured on)."""
    return next((c.name for c in table.columns if c.type in ("DATE", "TIMESTAMP")), None)


def compute_table_stats(backend: ibis.BaseBackend, tables: Iterable[Table]) -> pl.DataFrame:
    """One row per table: table (schema.name), rows, first, last (as text), date_column.

    Runs unscoped: for operators (CLI, admin page), never for a merchant.
    """
    rows = []
    for spec in tables:
        t = backend.table(spec.name, database=spec.schema) if spec.schema != "main" else backend.table(spec.name)
        col = date_column(spec)
        if col:
            stats = t.aggregate(rows=t.count(), first=t[col].min(), last=t[col].max()).to_pyarrow().to_pylist()[0]
        else:
            stats = {"rows": t.count().to_pyarrow().as_py(), "first": None, "last": None}
        rows.append({
            "table": spec.qualified, "rows": int(stats["rows"]),
            "first": None if stats["first"] is None else str(stats["first"]),
            "last": None if stats["last"] is None else str(stats["last"]),
            "date_column": col,
        })
    schema = {"table": pl.Utf8, "rows": pl.Int64, "first": pl.Utf8, "last": pl.Utf8, "date_column": pl.Utf8}
    return pl.DataFrame(rows, schema=schema)


def data_as_of(generated: str | None, last_order: dt.datetime | dt.date | None) -> str | None:
    """The warehouse's "data as of" day (ISO): the later of the generator's end date and the newest order.

    A generated warehouse records its end date in main.meta; an imported one has only its orders.
    """
    days = [dt.date.fromisoformat(generated)] if generated else []
    if last_order is not None:
        days.append(last_order.date() if isinstance(last_order, dt.datetime) else last_order)
    return max(days).isoformat() if days else None
