"""Files for "see the rows behind this": CSV and Excel bytes of a whole result, built on demand.

Pure (no streamlit). ``st.download_button`` receives ``csv_builder(...)``/``excel_builder(...)``,
no-argument functions it calls only when the person clicks, so a page run never pays for a file
nobody downloads and big results are not held in the page.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import polars as pl
import xlsxwriter

from data import safe_csv

# One worksheet holds 1,048,576 rows; the header takes one.
EXCEL_MAX_ROWS = 1_048_576
CSV_MIME = "text/csv"
EXCEL_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Source = pl.DataFrame | Callable[[], pl.DataFrame]
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DAY_MS = 86_400_000


def excel_fits(rows: int, limit: int | None = None) -> bool:
    """Whether ``rows`` data rows plus a header fit on one Excel worksheet."""
    return rows + 1 <= (EXCEL_MAX_ROWS if limit is None else limit)


def _frame(source: Source) -> pl.DataFrame:
    return source() if callable(source) else source


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """UTF-8 CSV of ``frame``; text a spreadsheet would run as a formula is made inert (see data.safe_csv)."""
    return safe_csv.csv_bytes(frame)


def excel_bytes(frame: pl.DataFrame, limit: int | None = None) -> bytes:
    if not excel_fits(frame.height, limit):
        # A file Excel would truncate is worse than none; the page offers CSV instead.
        raise ValueError(f"{frame.height:,} rows do not fit on an Excel worksheet; download CSV instead")
    # Dates become Excel serial numbers in one vectorised step; cells are streamed row by row in
    # constant_memory mode, so a million-row sheet does not hold every cell object in memory.
    formats: dict[int, str] = {}
    exprs = []
    for i, (name, dtype) in enumerate(frame.schema.items()):
        if dtype == pl.Datetime or dtype == pl.Date:
            formats[i] = "yyyy-mm-dd hh:mm:ss" if dtype == pl.Datetime else "yyyy-mm-dd"
            ts = pl.col(name).cast(pl.Datetime("ms")).dt.replace_time_zone(None)
            exprs.append(((ts - pl.lit(_EXCEL_EPOCH)).dt.total_milliseconds() / _DAY_MS).alias(name))
        elif dtype == pl.Decimal:
            exprs.append(pl.col(name).cast(pl.Float64))
        elif dtype in (pl.Time, pl.Duration) or isinstance(dtype, (pl.Categorical, pl.Enum)):
            exprs.append(pl.col(name).cast(pl.Utf8))
    cells = frame.with_columns(exprs) if exprs else frame
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"constant_memory": True, "strings_to_numbers": False,
                                    "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("rows")
    for i, fmt in formats.items():
        sheet.set_column(i, i, 19 if "hh" in fmt else 11, book.add_format({"num_format": fmt}))
    sheet.write_row(0, 0, frame.columns)
    writers = [sheet.write_string if dtype == pl.Utf8 else sheet.write_boolean if dtype == pl.Boolean
               else sheet.write_number if dtype.is_numeric() else _write_text(sheet)
               for dtype in cells.schema.values()]
    for r, row in enumerate(cells.iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is not None:
                writers[c](r, c, value)
    book.close()
    return buf.getvalue()


def _write_text(sheet) -> Callable[[int, int, object], object]:
    return lambda r, c, value: sheet.write_string(r, c, str(value))


def csv_builder(source: Source) -> Callable[[], bytes]:
    """A no-argument function returning the CSV of ``source`` (a frame, or a function that loads one)."""
    return lambda: csv_bytes(_frame(source))


def excel_builder(source: Source) -> Callable[[], bytes]:
    """A no-argument function returning the .xlsx of ``source``."""
    return lambda: excel_bytes(_frame(source))


def file_stem(*parts: object) -> str:
    """A safe file name stem from parts: ``file_stem("sales", "Food & Beverage", date)``."""
    text = "_".join(str(p) for p in parts if p not in (None, ""))
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text)
    return "-".join(filter(None, safe.split("-")))[:120] or "rows"
