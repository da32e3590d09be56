"""Caps on what an import reads, so a small hostile file cannot fill the server's memory.

A 199 KiB ``.gz`` once took 1.2 GB to read and a 905 KiB ``.xlsx`` 420 MB. Every
reader checks two settings (data/settings.py) before it holds the content:
``RETAIL_PULSE_IMPORT_MAX_MB`` (bytes after decompression) and
``RETAIL_PULSE_IMPORT_MAX_CELLS`` (rows x columns). Compressed content is
decompressed in chunks and abandoned as soon as it passes the cap, so memory
stays near the cap whatever the file claims; an Excel workbook's parts are
measured the same way before the Excel reader sees them, and a Parquet file
is read batch by batch.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from data import settings

CHUNK = 1 << 20
MB = 1 << 20


class LimitExceeded(Exception):
    """Raised with a sentence naming the file, what was too big and the setting; read.py makes it a FileProblem."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_cells: int

    @classmethod
    def current(cls) -> Limits:
        """From the settings; a malformed setting raises settings.SettingError naming the variable."""
        return cls(settings.whole_number("import_max_mb", 1, 1 << 20) * MB,
                   settings.whole_number("import_max_cells", 1, 10**12))

    def too_big(self, name: str, what: str) -> LimitExceeded:
        return LimitExceeded(f"{name}: {what} more than {self.max_bytes // MB:,} MB, the import limit "
                             f"(RETAIL_PULSE_IMPORT_MAX_MB = {self.max_bytes // MB}); refused before reading it "
                             "all. Raise the setting if the file is genuine.")

    def too_many_cells(self, name: str, cells: int) -> LimitExceeded:
        return LimitExceeded(f"{name}: {cells:,} cells (rows x columns) is more than {self.max_cells:,}, the "
                             f"import limit (RETAIL_PULSE_IMPORT_MAX_CELLS = {self.max_cells}); refused. Split the "
                             "file or raise the setting.")

    def check_cells(self, name: str, cells: int) -> None:
        if cells > self.max_cells:
            raise self.too_many_cells(name, cells)


def read_plain(path: Path, lim: Limits) -> bytes:
    size = path.stat().st_size
    if size > lim.max_bytes:
        raise lim.too_big(path.name, f"is {size / MB:,.1f} MB,")
    return path.read_bytes()


def read_gzip(path: Path, lim: Limits) -> bytes:
    """The decompressed content, read in chunks; stops at the byte cap (a bomb never expands past it)
    and at the cell cap, counting lines x the header's fields as the text streams in."""
    chunks: list[bytes] = []
    total = lines = 0
    columns = None
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            total += len(chunk)
            if total > lim.max_bytes:
                raise lim.too_big(path.name, "decompresses to")
            if columns is None:
                first = chunk[:chunk.find(b"\n")]
                columns = 1 + max(first.count(d) for d in (b",", b";", b"\t", b"|"))
            lines += chunk.count(b"\n")
            lim.check_cells(path.name, lines * columns)
            chunks.append(chunk)
    return b"".join(chunks)


GZIP_ERRORS = (OSError, EOFError, zlib.error)


def check_xlsx(path: Path, lim: Limits) -> None:
    """Measure a workbook's parts by decompressing them in chunks (the sizes it declares may lie).

    Counts the cells of every worksheet (``<c`` elements) against the cell cap on the way.
    Raises LimitExceeded, or zipfile.BadZipFile for a damaged archive.
    """
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > lim.max_bytes:
            raise lim.too_big(path.name, f"declares {declared / MB:,.0f} MB of content,")
        total = cells = 0
        for info in infos:
            is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            tail = b""
            with zf.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    total += len(chunk)
                    if total > lim.max_bytes:
                        raise lim.too_big(path.name, "decompresses to")
                    if is_sheet:
                        window = tail + chunk
                        # A cell element is "<c " or "<c>"; the previous chunk's last 2 bytes catch one split
                        # across chunks (a 3-byte match cannot lie wholly inside them, so none counts twice).
                        cells += window.count(b"<c ") + window.count(b"<c>")
                        tail = chunk[-2:]
                        if cells > lim.max_cells:
                            raise lim.too_many_cells(path.name, cells)


def read_parquet_table(path: Path, lim: Limits):
    """A pyarrow Table read batch by batch, refused once its decoded size passes the byte cap."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.metadata
    lim.check_cells(path.name, meta.num_rows * meta.num_columns)
    batches, total = [], 0
    for batch in pf.iter_batches(batch_size=65_536):
        total += batch.nbytes
        if total > lim.max_bytes:
            raise lim.too_big(path.name, "holds")
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=pf.schema_arrow)
