"""Reading CSV (optionally gzipped), Parquet and Excel files into all-string frames.

Parquet and Excel are read by typed_files.py; this module dispatches and reads CSV.

Every value comes back as a string (or null) in a polars frame with a
``__line__`` column: the physical line of a CSV record (1 = header; a quoted
field spanning lines counts them all), or the sheet row / Parquet row number.
Typing happens later (validate.py), where a bad value can be reported with its
line, column and reason.

File-level problems raise :class:`FileProblem` naming the file and, where one
exists, the line. Structural problems of single CSV records (wrong number of
fields, broken quoting inside one line) are returned as rejects instead, so a
`skip` import can drop just those lines.

CSV takes a fast path (polars parses, a numpy scan of quotes and newlines gives
each record's line and field count) and falls back to Python's csv module,
which reports each malformed record exactly, when polars refuses the file or
the two disagree on the number of records.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from data.importers.limits import GZIP_ERRORS, LimitExceeded, Limits, read_gzip, read_plain
from data.settings import SettingError

LINE = "__line__"
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SNIFF_DELIMITERS = (",", ";", "\t", "|")


class FileProblem(Exception):
    """The whole file is refused; ``str()`` is a sentence naming the file (and line, column)."""

    def __init__(self, message: str, line: int | None = None, column: str | None = None,
                 value: str | None = None):
        super().__init__(message)
        self.line, self.column, self.value = line, column, value


@dataclass
class RawTable:
    frame: pl.DataFrame           # one Utf8 column per header name, plus LINE (Int64)
    columns: list[str]            # header names in file order
    kind: str                     # "csv", "parquet" or "excel"
    rejects: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)
    delimiter: str | None = None  # a CSV's field separator (given or sniffed): ";" hints at European numbers

    @property
    def line_word(self) -> str:
        return "line" if self.kind == "csv" else "row"

    def rename_strip(self) -> RawTable:
        """Header names trimmed of surrounding blanks (as the CSV path does)."""
        renames = {c: c.strip() for c in self.frame.columns if c != LINE and c != c.strip()}
        if renames:
            self.frame = self.frame.rename(renames)
            self.columns = [c.strip() for c in self.columns]
        if len(set(self.columns)) != len(self.columns):
            raise FileProblem("duplicate column names after trimming blanks: " + ", ".join(self.columns))
        return self


def read_source(path: str | Path, *, delimiter: str | None = None, encoding: str = "utf-8",
                sheet: str | int | None = None) -> RawTable:
    """Read ``path`` by its content (gzip, Parquet, xlsx) or extension; raise FileProblem if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileProblem(f"{path}: no such file")
    try:
        lim = Limits.current()
    except SettingError as exc:
        raise FileProblem(f"{path.name}: not read: {exc}") from None
    try:
        return _read(path, delimiter, encoding, sheet, lim)
    except LimitExceeded as exc:
        raise FileProblem(str(exc)) from None


def _read(path: Path, delimiter: str | None, encoding: str, sheet: str | int | None, lim: Limits) -> RawTable:
    name = path.name
    with path.open("rb") as fh:
        head = fh.read(8)
    suffix = path.suffix.lower()
    if head[:4] == b"PAR1" or suffix in (".parquet", ".pq"):
        from data.importers.typed_files import read_parquet

        return read_parquet(path, lim)
    if suffix in (".xlsx", ".xlsm") or (head[:2] == b"PK" and suffix not in (".csv", ".gz", ".txt", ".tsv")):
        from data.importers.typed_files import read_excel

        return read_excel(path, sheet, lim)
    if suffix == ".xls" or head[:4] == b"\xd0\xcf\x11\xe0":
        raise FileProblem(f"{name}: old binary Excel (.xls) is not supported; save it as .xlsx or CSV")
    if head[:2] == b"\x1f\x8b":
        try:
            data = read_gzip(path, lim)
        except GZIP_ERRORS as exc:
            raise FileProblem(f"{name}: corrupt gzip file ({exc})") from None
    else:
        data = read_plain(path, lim)
    return read_csv_bytes(data, name, delimiter=delimiter, encoding=encoding, limits=lim)


# ---------------------------------------------------------------- CSV

def _to_utf8(data: bytes, name: str, encoding: str) -> bytes:
    """UTF-8 bytes without BOM; a decoding error names the line and byte."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    elif data.startswith(UTF16_BOMS):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileProblem(f"{name}: starts with a UTF-16 byte-order mark but is not valid UTF-16 "
                              f"({exc.reason} at byte {exc.start})") from None
    enc = encoding.lower().replace("_", "-")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start:exc.start + 1].hex()
        hint = ' (set encoding = "latin-1" or "cp1252" in the mapping if that is what it is)' \
            if enc in ("utf-8", "utf8") else ""
        raise FileProblem(f"{name}: line {line} is not valid {encoding}: byte 0x{bad} at byte offset "
                          f"{exc.start} (character {col} of the line){hint}", line=line) from None
    if "\x00" in text:
        at = text.index("\x00")
        line = text.count("\n", 0, at) + 1
        raise FileProblem(f"{name}: line {line} contains a NUL byte; this is not a text CSV file "
                          "(binary, or UTF-16 without a byte-order mark)", line=line)
    if enc not in ("utf-8", "utf8"):
        data = text.encode("utf-8")
    return data


def _sniff_delimiter(first_line: bytes) -> str:
    counts = {d: first_line.count(d.encode()) for d in SNIFF_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _header(data: bytes, delimiter: str, name: str) -> tuple[list[str], int]:
    """Header names and the number of lines the header record spans."""
    reader = csv.reader(io.StringIO(data[:1 << 20].decode("utf-8", "replace"), newline=""),
                        delimiter=delimiter, strict=True)
    try:
        names = next(reader)
    except csv.Error as exc:
        raise FileProblem(f"{name}: line 1 (the header) is malformed: {exc}", line=1) from None
    names = [n.strip() for n in names]
    for i, n in enumerate(names, start=1):
        if not n:
            raise FileProblem(f"{name}: line 1 (the header) has an empty column name (column {i})", line=1)
    seen: dict[str, int] = {}
    for i, n in enumerate(names, start=1):
        if n in seen:
            raise FileProblem(f"{name}: line 1 (the header) names column {n!r} twice "
                              f"(columns {seen[n]} and {i})", line=1, column=n)
        seen[n] = i
    return names, reader.line_num


def read_csv_bytes(data: bytes, name: str, *, delimiter: str | None = None,
                   encoding: str = "utf-8", limits: Limits | None = None) -> RawTable:
    """Parse CSV bytes into a RawTable (see module doc); raises FileProblem for file-level errors."""
    if not data.strip(b" \t\r\n"):
        raise FileProblem(f"{name}: the file is empty")
    data = _to_utf8(data, name, encoding)
    if not data.strip(b" \t\r\n"):
        raise FileProblem(f"{name}: the file is empty")
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # classic Mac line ends
    first_line = data[:data.find(b"\n")] if b"\n" in data else data  # no copy of the rest
    sep = delimiter or _sniff_delimiter(first_line)
    _check_quotes(data, name)
    names, header_lines = _header(data, sep, name)
    if limits is not None:  # before parsing: the parsed frame costs several times the text
        limits.check_cells(name, len(names) * (data.count(b"\n") + 1))
    try:
        raw = _fast_csv(data, names, sep, header_lines)
    except _NeedSlowPath:
        raw = _exact_csv(data, names, sep)
    if raw.frame.height == 0 and not raw.rejects:
        raise FileProblem(f"{name}: has a header but no data rows")
    raw.delimiter = sep
    return raw


class _NeedSlowPath(Exception):
    pass


def _check_quotes(data: bytes, name: str) -> None:
    """Refuse a file whose quote characters do not pair up, naming the line of the unmatched one."""
    buf = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(buf == ord('"'))
    if quotes.size % 2 == 0:
        return
    newlines = np.flatnonzero(buf == ord("\n"))
    parity = np.searchsorted(quotes, newlines)  # quotes before each newline
    terminators = newlines[parity % 2 == 0]
    start = int(terminators[-1]) + 1 if terminators.size else 0
    # The unmatched quote opens a field after the last record boundary; first quote from there.
    opening = int(quotes[np.searchsorted(quotes, start)])
    line = int(np.searchsorted(newlines, opening)) + 1
    raise FileProblem(f"{name}: line {line} has an unterminated quote (a quoted field that never closes, "
                      "or a stray \" inside an unquoted field); the rest of the file cannot be read reliably",
                      line=line)


def _fast_csv(data: bytes, names: list[str], sep: str, header_lines: int) -> RawTable:
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    quotes = np.flatnonzero(buf == ord('"'))
    if quotes.size:
        terminators = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    else:
        terminators = newlines
    starts = np.concatenate(([0], terminators + 1))
    ends = np.concatenate((terminators, [len(buf)]))
    if starts[-1] >= len(buf):  # file ends with a newline: no record after it
        starts, ends = starts[:-1], ends[:-1]
    first_data = np.searchsorted(starts, _line_start(newlines, header_lines))
    starts, ends = starts[first_data:], ends[first_data:]
    lines = np.searchsorted(newlines, starts) + 1
    seps = np.flatnonzero(buf == ord(sep))
    if quotes.size:
        seps = seps[np.searchsorted(quotes, seps) % 2 == 0]
    rec_of_sep = np.searchsorted(starts, seps, side="right") - 1
    nfields = np.bincount(rec_of_sep[rec_of_sep >= 0], minlength=len(starts))[:len(starts)] + 1
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (buf[np.maximum(ends - 1, 0)] == ord("\r")))
    try:
        frame = pl.read_csv(data, separator=sep, has_header=True, infer_schema=False, quote_char='"',
                            new_columns=names, raise_if_empty=False, truncate_ragged_lines=False,
                            skip_rows=0)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, pl.exceptions.ShapeError):
        raise _NeedSlowPath from None
    if frame.height != len(starts) or frame.width != len(names):
        raise _NeedSlowPath
    frame = frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    bad = (nfields != len(names)) & ~blank
    rejects = [(int(ln), None, None, f"has {int(n)} fields; the header has {len(names)}")
               for ln, n in zip(lines[bad], nfields[bad], strict=True)]
    keep = ~bad & ~blank
    if not keep.all():
        frame = frame.filter(pl.Series(keep))
    return RawTable(frame, names, "csv", rejects)


def _line_start(newlines: np.ndarray, line: int) -> int:
    """Byte offset where 1-based ``line + 1`` begins (the first data line after a header of ``line`` lines)."""
    return int(newlines[line - 1]) + 1 if len(newlines) >= line else 1 << 62


def _exact_csv(data: bytes, names: list[str], sep: str) -> RawTable:
    """Python's csv module: slower, but every malformed record is reported with its line."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=sep, strict=True)
    columns: list[list[str | None]] = [[] for _ in names]
    lines: list[int] = []
    rejects: list[tuple[int, str | None, str | None, str]] = []
    prev = 0
    header_done = False
    while True:
        start = prev + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejects.append((start, None, None, f"malformed CSV record: {exc}"))
            prev = reader.line_num
            continue
        prev = reader.line_num
        if not header_done:
            header_done = True
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != len(names):
            rejects.append((start, None, None, f"has {len(row)} fields; the header has {len(names)}"))
            continue
        lines.append(start)
        for col, value in zip(columns, row, strict=True):
            col.append(value if value != "" else None)
    frame = pl.DataFrame({n: pl.Series(n, c, dtype=pl.Utf8) for n, c in zip(names, columns, strict=True)})
    frame = frame.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    return RawTable(frame, names, "csv", rejects)
