"""Client-side finishing of query results, shared by every analytics module.

Engines disagree on decimal division (DuckDB gives a double, Spark a rounded
DECIMAL), on the type of integer sums and on where NULLs sort. So queries return
exact sums and counts, and this module turns them into floats, takes the ratios
and sorts, identically whatever engine ran the query.
"""

from __future__ import annotations

import polars as pl


def normalise(frame: pl.DataFrame, counts: tuple[str, ...] = ()) -> pl.DataFrame:
    """Decimals to Float64 (money stays exact up to the cast), ``counts`` to Int64 with nulls as 0.

    The frame comes back in one chunk: a float sum adds chunk by chunk, and engines deliver different
    chunkings, so a total over several chunks can differ in its last bit between engines.
    """
    frame = frame.rechunk()
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Decimal):
            exprs.append(pl.col(name).cast(pl.Float64))
        elif name in counts:
            exprs.append(pl.col(name).cast(pl.Int64).fill_null(0))
        elif dtype in (pl.Float32,):
            exprs.append(pl.col(name).cast(pl.Float64))
    return frame.with_columns(exprs) if exprs else frame


def zero_fill(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Nulls in ``columns`` (sums over no rows) become 0."""
    return frame.with_columns([pl.col(c).fill_null(0) for c in columns])


def ratio(numerator: str | pl.Expr, denominator: str | pl.Expr) -> pl.Expr:
    """numerator / denominator as Float64, null when the denominator is 0 or null."""
    num = pl.col(numerator) if isinstance(numerator, str) else numerator
    den = pl.col(denominator) if isinstance(denominator, str) else denominator
    return pl.when(den.is_not_null() & (den != 0)).then(num.cast(pl.Float64) / den.cast(pl.Float64))


def share(column: str, over: list[str] | None = None) -> pl.Expr:
    """column / its total (within ``over`` groups), null when the total is 0.

    Float addition is order dependent: take shares of a frame already in its final (sorted) order.
    """
    total = pl.col(column).sum() if over is None else pl.col(column).sum().over(over)
    return ratio(pl.col(column), total)


def sort(frame: pl.DataFrame, by: list[str], descending: list[bool] | bool = False) -> pl.DataFrame:
    """Deterministic order, NULLs last whatever the direction."""
    return frame.sort(by, descending=descending, nulls_last=True, maintain_order=True)
