"""Turning generated numpy columns into Arrow and appending them to the warehouse.

Column conventions of the generator: money columns (DECIMAL) are integer
cents; DATE columns are datetime64[D] or int day numbers since 1970-01-01;
TIMESTAMP columns are int64 microseconds since the epoch (or datetime64[us]);
strings are ``Cat`` (codes into labels, -1 null) or a Python list; a
``Nullable`` wraps values with a null mask.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from data.tables import ALL_TABLES, Table

TABLES = {t.qualified: t for t in ALL_TABLES}
BATCH_ROWS = 122_880  # one DuckDB row group: an Arrow table in batches this size is inserted by all threads
DECIMAL = pa.decimal128(18, 3)


@dataclass
class Cat:
    codes: np.ndarray
    labels: list[str]


@dataclass
class Nullable:
    values: np.ndarray
    mask: np.ndarray  # True = null


def _decimal_from_cents(cents: np.ndarray, mask: np.ndarray | None) -> pa.Array:
    milli = np.asarray(cents, dtype=np.int64) * 10
    buf = np.empty((len(milli), 2), dtype=np.int64)
    buf[:, 0] = milli
    buf[:, 1] = milli >> 63  # sign extension to 128 bits
    validity = None
    null_count = 0
    if mask is not None and mask.any():
        validity = pa.array(~mask).buffers()[1]
        null_count = int(mask.sum())
    return pa.Array.from_buffers(DECIMAL, len(milli), [validity, pa.py_buffer(buf)], null_count=null_count)


def _arrow(value, sql_type: str) -> pa.Array:
    mask = None
    if isinstance(value, Nullable):
        value, mask = value.values, value.mask
    if isinstance(value, pa.Array):
        return value
    if isinstance(value, Cat):
        codes = np.asarray(value.codes, dtype=np.int32)
        indices = pa.array(codes, mask=codes < 0)
        # Plain strings: DuckDB ingests them faster than dictionary arrays (measured: 5.4 s vs 8.0 s, 2.5M orders).
        return pa.DictionaryArray.from_arrays(indices, pa.array(value.labels, type=pa.string())).cast(pa.string())
    if isinstance(value, list):
        return pa.array(value, type=pa.string())
    if sql_type.startswith("DECIMAL"):
        return _decimal_from_cents(value, mask)
    arr = np.asarray(value)
    if sql_type == "DATE":
        days = arr.astype("datetime64[D]").astype(np.int32) if arr.dtype.kind == "M" else arr.astype(np.int32)
        return pa.array(days, type=pa.int32(), mask=mask).view(pa.date32())
    if sql_type == "TIMESTAMP":
        us = arr.astype("datetime64[us]").astype(np.int64) if arr.dtype.kind == "M" else arr.astype(np.int64)
        return pa.array(us, type=pa.int64(), mask=mask).view(pa.timestamp("us"))
    types = {"INTEGER": pa.int32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
    return pa.array(arr, type=types[sql_type], mask=mask)


def to_arrow(table: Table, columns: dict) -> pa.Table:
    missing = set(table.column_names) - set(columns)
    extra = set(columns) - set(table.column_names)
    if missing or extra:
        raise ValueError(f"{table.qualified}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    arrays = [_arrow(columns[c.name], c.type) for c in table.columns]
    data = pa.Table.from_arrays(arrays, names=list(table.column_names))
    if data.num_rows > BATCH_ROWS:  # zero-copy slices
        data = pa.Table.from_batches(data.to_batches(max_chunksize=BATCH_ROWS), schema=data.schema)
    return data


class Writer:
    """Appends generated chunks to the warehouse and counts rows per table.

    With ``background=True`` the inserts run on a thread of their own, so DuckDB
    compresses and writes one merchant's rows while numpy draws the next
    (both release the GIL). At most ``max_pending`` chunks wait in the queue,
    which bounds memory. Call ``close()`` to wait for the last insert; an insert
    error is raised there or by the next ``append``.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, background: bool = False, max_pending: int = 3):
        self.con = con
        self.rows: dict[str, int] = {t.qualified: 0 for t in ALL_TABLES}
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=max_pending)
            self._thread = threading.Thread(target=self._drain, name="generator-writer", daemon=True)
            self._thread.start()

    def append(self, qualified: str, columns: dict) -> None:
        self._raise_pending()
        table = TABLES[qualified]
        data = to_arrow(table, columns)
        if data.num_rows == 0:
            return
        self.rows[qualified] += data.num_rows
        if self._queue is None:
            self._insert(qualified, data)
        else:
            self._queue.put((qualified, data))

    def close(self) -> None:
        """Wait for queued inserts; raise the first insert error, if any."""
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _insert(self, qualified: str, data: pa.Table) -> None:
        self.con.register("_generator_chunk", data)
        try:
            self.con.execute(f"INSERT INTO {qualified} SELECT * FROM _generator_chunk")
        finally:
            self.con.unregister("_generator_chunk")

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after a failure keep draining so the producer never blocks
                try:
                    self._insert(*item)
                except BaseException as exc:  # noqa: BLE001 - handed to the producer thread
                    self._error = exc
            del item
