"""Caps on what an import reads, so a small hostile file cannot fill the server's memory.

A 199 KiB ``.gz`` once took 1.2 GB to read and a 905 KiB ``.xlsx`` 420 MB. Every
reader checks two settings (data/settings.py) before it holds the content:
``RETAIL_PULSE_IMPORT_MAX_MB`` (bytes after decompression) and
``RETAIL_PULSE_IMPORT_MAX_CELLS`` (rows x columns). Compressed content is
decompressed in chunks and abandoned as soon as it passes the cap, so memory
stays near the cap whatever the file claims; an Excel workbook's parts are
measured the same way before the Excel reader sees them, and a Parquet file's
decoded size is known from its metadata (and, for dictionary-encoded text, a
counting pass) before it is read.
"""

from __future__ import annotations

import gzip
import re
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
        _check_xlsx_text(zf, path.name, lim)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _check_xlsx_text(zf: zipfile.ZipFile, name: str, lim: Limits) -> None:
    """Refuse a workbook whose cells hold more text than the cap once shared strings are expanded.

    A cell of type "s" names a shared string by index; the reader copies that string into every such
    cell, so 1,500 cells pointing at one 200 KB string are 300 MB of text (this peaked at 1.39 GB).
    Shared strings are streamed with iterparse (elements dropped as they end; memory holds one length
    per string), sheets scanned in chunks with a regular expression (iterparse took 37 s for 1.6M cells).
    Part sizes were already capped by check_xlsx, so no single element is over the cap.
    """
    from xml.etree.ElementTree import iterparse

    names = zf.namelist()
    lengths: list[int] = []
    shared = next((n for n in names if n.lower() == "xl/sharedstrings.xml"), None)
    if shared is not None:
        with zf.open(shared) as fh:
            parent = None
            for event, el in iterparse(fh, events=("start", "end")):
                if event == "start":
                    parent = el if parent is None else parent  # <sst>: its finished children are dropped
                elif _local(el.tag) == "si":
                    lengths.append(sum(len(t.text or "") for t in el.iter() if _local(t.tag) == "t"))
                    parent.clear()
    total = 0
    for part in names:
        if not (part.startswith("xl/worksheets/") and part.endswith(".xml")) or not lengths:
            continue
        tail = b""
        with zf.open(part) as fh:
            while True:
                chunk = fh.read(CHUNK)
                window = tail + chunk
                # Whole rows only (a cell never straddles the cut); the rest waits for the next chunk.
                cut = window.rfind(b"row>") + 4 if chunk else len(window)
                cut = cut if cut >= 4 else 0
                for index in _SHARED_CELL.findall(window, 0, cut):
                    i = int(index)
                    total += lengths[i] if i < len(lengths) else 0
                if total > lim.max_bytes:
                    raise lim.too_big(name, "its cells' text (a shared string counted in every cell using it) is")
                tail = window[cut:]
                if not chunk:
                    break


# A cell of type "s" and its <v> (a shared string's index), with or without a namespace prefix or a
# formula before the value. Other cells' text is in the sheet itself, whose size is already capped.
_SHARED_CELL = re.compile(
    rb"<(?:\w+:)?c\s[^>]*?\bt\s*=\s*[\"']s[\"'][^>]*>\s*(?:<(?:\w+:)?f\b[^>]*?(?:/>|>[^<]*</(?:\w+:)?f>)\s*)?"
    rb"<(?:\w+:)?v>\s*(\d+)\s*</(?:\w+:)?v>")


def read_parquet_table(path: Path, lim: Limits):
    """A pyarrow Table, read only once its decoded size is known to be within the byte cap.

    The metadata gives each column chunk's uncompressed size, which bounds what a plainly encoded
    column decodes to. A dictionary-encoded text column stores each distinct value once, so 2 KB on disk
    once decoded to 6.2 GB (20,000 rows x one 100 KB value): those columns are counted before the real
    read, in small batches kept dictionary-encoded, as the sum over rows of their value's length.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    meta = pf.metadata
    lim.check_cells(path.name, meta.num_rows * meta.num_columns)
    top = set(pf.schema_arrow.names)
    stored = plain = 0
    fan_out: set[str] = set()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            stored += chunk.total_uncompressed_size
            if chunk.has_dictionary_page and chunk.physical_type in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY") \
                    and chunk.path_in_schema in top:
                fan_out.add(chunk.path_in_schema)
            else:
                plain += chunk.total_uncompressed_size
    if stored > lim.max_bytes:
        raise lim.too_big(path.name, f"stores {stored / MB:,.1f} MB of uncompressed column data,")
    if fan_out:
        _count_dictionary_text(path, sorted(fan_out), plain, lim)
    return pf.read()


def _count_dictionary_text(path: Path, columns: list[str], decoded: int, lim: Limits) -> None:
    """Add each row's decoded text length of the dictionary-encoded ``columns`` to ``decoded``; refuse past
    the cap. Batches stay dictionary-encoded (indices plus one dictionary), so this pass holds little."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, read_dictionary=columns)
    for batch in pf.iter_batches(batch_size=8_192, columns=columns):
        for col in batch.columns:
            if pa.types.is_dictionary(col.type):
                lengths = pc.take(pc.binary_length(col.dictionary), col.indices)
            else:
                lengths = pc.binary_length(col)
            decoded += (pc.sum(lengths).as_py() or 0) + 4 * len(col)
        if decoded > lim.max_bytes:
            raise lim.too_big(path.name, "decodes to")
