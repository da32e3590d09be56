"""The one data-access layer: scoped ibis tables in, polars frames out.

Every read made for a signed-in person goes through a ``DataAccess`` built with
that person's ``Scope``. ``table()`` returns the table already filtered to the
scope's merchants, so a caller cannot forget the scope; ``truth`` tables and
unknown names are refused. String filter values travel as data (an ibis
memtable, registered as an Arrow table) and never appear in SQL text; numbers
and dates are typed literals.

A DataAccess wraps one backend; on DuckDB that backend owns one cursor, so use
one DataAccess per thread (the dashboard makes one per cached call).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import polars as pl

from data.tables import OBSERVED_BY_NAME


class AccessDenied(PermissionError):
    """The table is not served through the data-access layer."""


@dataclass(frozen=True)
class Scope:
    """Merchants whose rows a read may return. ``merchant_ids=None`` is unrestricted (jobs, CLI, tests)."""

    merchant_ids: frozenset[int] | None

    def __post_init__(self) -> None:
        if self.merchant_ids is None:
            return
        ids = frozenset(self.merchant_ids)
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TypeError(f"merchant ids must be integers, got {sorted(map(repr, ids))}")
        object.__setattr__(self, "merchant_ids", ids)

    @classmethod
    def merchants(cls, ids: Iterable[int]) -> Scope:
        return cls(frozenset(ids))

    @classmethod
    def unrestricted(cls) -> Scope:
        return cls(None)

    @property
    def is_unrestricted(self) -> bool:
        return self.merchant_ids is None


class DataAccess:
    def __init__(self, backend: ibis.BaseBackend, scope: Scope):
        self._backend = backend
        self.scope = scope

    @property
    def engine(self) -> str:
        return self._backend.name

    def table(self, name: str) -> ir.Table:
        """Observed table ``name``, filtered to the scope's merchants."""
        spec = OBSERVED_BY_NAME.get(name)
        if spec is None:
            raise AccessDenied(f"table {name!r} is not served; known tables: {', '.join(sorted(OBSERVED_BY_NAME))}")
        t = self._backend.table(name)
        if self.scope.is_unrestricted:
            return t
        ids = sorted(self.scope.merchant_ids)
        if not ids:
            return t.filter(ibis.literal(False))
        return t.filter(t.merchant_id.isin(ids))

    def isin(self, column: ir.Column, values: Iterable[object]) -> ir.BooleanValue:
        """``column IN values`` with the values bound as data, never pasted into SQL text."""
        values = list(dict.fromkeys(values))
        if not values:
            return ibis.literal(False)
        if all(isinstance(v, str) for v in values):
            bound = ibis.memtable(pl.DataFrame({"v": values}, schema={"v": pl.Utf8}))
            return column.isin(bound.v)
        if all(isinstance(v, (int, float, dt.date)) and not isinstance(v, bool) for v in values):
            return column.isin(values)
        raise TypeError(f"filter values must be all strings or all numbers/dates, got {values[:5]!r}")

    def equals(self, column: ir.Column, value: object) -> ir.BooleanValue:
        """``column = value`` with a string value bound as data."""
        return self.isin(column, [value])

    def to_polars(self, expr: ir.Expr) -> pl.DataFrame:
        """Run an expression built from this access's tables; a polars frame comes back."""
        if not isinstance(expr, ir.Table):
            expr = expr.as_table()
        try:
            frame = pl.from_arrow(self._backend.to_pyarrow(expr))
        finally:
            if self._backend.name == "pyspark":  # its bound values are temp views that would pile up
                from data.spark import release_memtables

                release_memtables(self._backend, expr)
        return frame if isinstance(frame, pl.DataFrame) else frame.to_frame()

    def scalar(self, expr: ir.Scalar) -> object:
        frame = self.to_polars(expr.name("value"))
        return frame.item() if frame.height else None
