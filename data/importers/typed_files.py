"""Parquet and Excel (.xlsx) files into the same all-string RawTable as CSV (see read.py).

Typed cells become the text a person would have typed: timestamps ISO
(``2024-03-01 10:00:00``), floats without binary noise (0.1 + 0.2 -> ``0.3``)
and integral floats without ``.0`` (a customer id 13085.0 -> ``13085``). The
``__line__`` of a Parquet row is its 1-based row number; of a sheet row, its row
number in the sheet (fastexcel skips leading blank rows, openpyxl finds them).
Nested or binary columns are a wrong schema.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from xml.etree.ElementTree import ParseError

import polars as pl

from data.importers.limits import Limits, check_xlsx, read_parquet_table
from data.importers.read import LINE, FileProblem, RawTable


def _float_to_text(expr: pl.Expr) -> pl.Expr:
    """Floats as the decimal a person typed: binary noise below 1e-9 removed, integral values without .0."""
    r3 = expr.round(3)
    clean = pl.when((expr - r3).abs() <= 1e-9 * pl.max_horizontal(expr.abs(), pl.lit(1.0))).then(r3).otherwise(expr)
    integral = (clean == clean.round(0)) & (clean.abs() < 1e15)
    return pl.when(integral).then(clean.cast(pl.Int64).cast(pl.Utf8)).otherwise(clean.cast(pl.Utf8))


def frame_to_text(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """Every column as Utf8: temporals ISO, floats cleaned; nested or binary columns are a FileProblem."""
    exprs = []
    # Positional access: pl.col("^...$") would read a column name from the file as a regex.
    for i, (col, dtype) in enumerate(frame.schema.items()):
        c = pl.nth(i)
        if dtype == pl.Utf8:
            exprs.append(c.alias(col))
        elif dtype.is_float():
            exprs.append(_float_to_text(c).alias(col))
        elif dtype.is_integer() or dtype.is_decimal() or dtype == pl.Boolean or dtype == pl.Categorical \
                or isinstance(dtype, pl.Enum):
            exprs.append(c.cast(pl.Utf8).alias(col))
        elif dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
            exprs.append(c.dt.strftime("%Y-%m-%d %H:%M:%S").alias(col))
        elif dtype == pl.Date:
            exprs.append(c.dt.strftime("%Y-%m-%d").alias(col))
        elif dtype == pl.Null:
            exprs.append(c.cast(pl.Utf8).alias(col))
        else:
            raise FileProblem(f"{name}: wrong schema: column {col!r} has type {dtype}, which cannot hold "
                              "order-line values (expected text, numbers, dates or timestamps)", column=col)
    return frame.select(exprs)


def read_parquet(path: Path, lim: Limits) -> RawTable:
    import pyarrow as pa

    name = path.name
    try:
        table = read_parquet_table(path, lim)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FileProblem(f"{name}: not a readable Parquet file ({exc})") from None
    if table.num_rows == 0:
        raise FileProblem(f"{name}: the Parquet file has no rows")
    try:
        frame = pl.from_arrow(table)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a schema problem of the file
        raise FileProblem(f"{name}: wrong schema: cannot read its columns ({exc})") from None
    if frame.width != len(set(frame.columns)):
        raise FileProblem(f"{name}: wrong schema: duplicate column names")
    text = frame_to_text(frame, name)
    text = text.with_columns(pl.int_range(1, text.height + 1, dtype=pl.Int64).alias(LINE))
    return RawTable(text, [c.strip() for c in frame.columns], "parquet").rename_strip()


def _first_used_row(path: Path, sheet_index: int) -> int:
    """1-based number of the sheet's first non-empty row (fastexcel skips leading blank rows)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[sheet_index]
        for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
            if any(v is not None and str(v).strip() for v in row):
                return number
        return 1
    finally:
        wb.close()


def read_excel(path: Path, sheet: str | int | None, lim: Limits) -> RawTable:
    import fastexcel

    name = path.name
    try:
        check_xlsx(path, lim)  # measured in chunks before calamine expands it in memory
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, ParseError) as exc:
        raise FileProblem(f"{name}: not a readable Excel workbook ({exc})") from None
    try:
        reader = fastexcel.read_excel(path)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error classes
        raise FileProblem(f"{name}: not a readable Excel workbook ({str(exc).splitlines()[0]})") from None
    names = reader.sheet_names
    if sheet is None:
        index = 0
    elif isinstance(sheet, int):
        index = sheet
    elif sheet in names:
        index = names.index(sheet)
    else:
        raise FileProblem(f"{name}: no sheet named {sheet!r}; sheets: {', '.join(names)}")
    if not 0 <= index < len(names):
        raise FileProblem(f"{name}: no sheet number {sheet}; it has {len(names)}")
    try:
        loaded = reader.load_sheet(index, dtypes="string")
        frame = loaded.to_polars()
    except Exception as exc:  # noqa: BLE001
        raise FileProblem(f"{name}: sheet {names[index]!r} cannot be read ({str(exc).splitlines()[0]})") from None
    if frame.width == 0:
        raise FileProblem(f"{name}: sheet {names[index]!r} is empty")
    unnamed = [c for c in frame.columns if c.startswith("__UNNAMED__")]
    if unnamed:
        pos = frame.columns.index(unnamed[0]) + 1
        raise FileProblem(f"{name}: sheet {names[index]!r}: the header row has an empty column name "
                          f"(column {pos})", column=unnamed[0])
    if frame.height == 0:
        raise FileProblem(f"{name}: sheet {names[index]!r} has a header but no data rows")
    header_row = _first_used_row(path, index)
    frame = frame_to_text(frame, name).with_columns(
        pl.int_range(header_row + 1, header_row + 1 + frame.height, dtype=pl.Int64).alias(LINE))
    return RawTable(frame, list(frame.columns[:-1]), "excel").rename_strip()

