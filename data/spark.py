"""The Spark engine: the observed tables as Parquet, served through ibis' PySpark backend.

``export_parquet`` copies every observed table (and ``meta``, which holds the data
version) out of the DuckDB warehouse, one Parquet dataset (a folder) per table.
Truth tables are never exported, so the Spark engine cannot serve them at all.
``SparkWarehouse`` registers each dataset as a temporary view of the same name
in a SparkSession and hands out ibis backends on it; ``DataAccess`` works on it
unchanged (the scope filter, memtable-bound filter values, decimals, timestamps).

Timestamps are merchant local time without zone: DuckDB writes them as Parquet
timestamps not adjusted to UTC, Spark reads those as TIMESTAMP_NTZ, and the
session time zone is UTC, so no value shifts on the way.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

from data import schema
from data.tables import OBSERVED
from data.warehouse import WarehouseMissing, open_for_reading

META = "meta"
EXPORTED: tuple[str, ...] = tuple(t.name for t in OBSERVED) + (META,)

SESSION_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # The warehouse's tables are small for Spark; 200 shuffle partitions would mostly be empty tasks.
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def _sql_path(path: Path) -> str:
    # COPY takes no bound parameter for its target. The path comes from the operator's settings, not from
    # a signed-in person; quoting it as a string literal keeps a quote in a folder name harmless.
    return "'" + str(path).replace("'", "''") + "'"


def export_parquet(warehouse_path: Path | str, out_dir: Path | str) -> dict[str, int]:
    """Write each observed table and ``meta`` to ``out_dir/<table>/`` as Parquet; returns rows per table.

    Reads through a plain read-only DuckDB connection in one transaction (a consistent snapshot), so it
    fails with ``WarehouseBusy`` while a dashboard holds the file open. Every table is written to a
    staging folder first and then moved into place, ``meta`` last: a reader sees each table either old
    or new, never half written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    counts: dict[str, int] = {}
    try:
        con = open_for_reading(warehouse_path)
        try:
            con.execute("BEGIN TRANSACTION")
            for name in EXPORTED:
                (staging / name).mkdir()
                target = staging / name / "part-0.parquet"
                con.execute(
                    f"COPY (SELECT * FROM main.{name}) TO {_sql_path(target)} (FORMAT parquet, COMPRESSION zstd)"
                )
                counts[name] = con.execute(f"SELECT count(*) FROM main.{name}").fetchone()[0]
            con.execute("COMMIT")
        finally:
            con.close()
        for name in EXPORTED:  # meta is last in EXPORTED
            final = out / name
            old = out / f".old-{name}-{uuid.uuid4().hex}"
            if final.exists():
                final.rename(old)
            (staging / name).rename(final)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts


def get_session(master: str = "local[2]", conf: dict[str, str] | None = None):
    """The process's SparkSession (created on first use with ``SESSION_CONF``; logs quiet)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("retail-pulse")
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    # getOrCreate() ignores static settings of an existing session; the runtime ones are set again.
    session.conf.set("spark.sql.session.timeZone", "UTC")
    session.conf.set("spark.sql.shuffle.partitions", SESSION_CONF["spark.sql.shuffle.partitions"])
    return session


class SparkWarehouse:
    """The Parquet export served by Spark: one temp view per table, ibis backends on demand.

    The session is process-wide (Spark allows one per JVM): views of a second SparkWarehouse on another
    folder would replace these. ``backend()`` may be called per request; the ibis backend is light.
    ``data_version()`` reads the export's meta from disk and re-registers the views when a new export
    has replaced the folder's tables, so a running dashboard picks new data up with new cache keys.
    The folder must be a local or mounted path (shared storage on a cluster), not a URI.
    """

    engine = "spark"

    def __init__(self, parquet_dir: Path | str, master: str = "local[2]", conf: dict[str, str] | None = None):
        self.parquet_dir = Path(parquet_dir)
        missing = [name for name in EXPORTED if not (self.parquet_dir / name).is_dir()]
        if missing:
            raise WarehouseMissing(
                f"No Parquet export at {self.parquet_dir} (missing {', '.join(missing)}). "
                "Write one with `python -m data export`."
            )
        check_export(self.parquet_dir)
        self.master = master
        self.session = get_session(master, conf)
        self._lock = threading.Lock()
        self._loaded_version: int | None = None
        self.refresh()

    def refresh(self) -> None:
        """(Re)register every table's view on the folder's current files."""
        with self._lock:
            version = int(read_meta(self.parquet_dir).get("data_version") or 0)
            for name in EXPORTED:
                self.session.read.parquet(str(self.parquet_dir / name)).createOrReplaceTempView(name)
            self._loaded_version = version

    def backend(self):
        """An ibis PySpark backend on the session."""
        import ibis

        return ibis.pyspark.connect(self.session)

    def data_version(self) -> int:
        """The exported data version (a cache key); re-registers the views after a new export."""
        version = int(read_meta(self.parquet_dir).get("data_version") or 0)
        if version != self._loaded_version:
            self.refresh()
        return version

    def close(self) -> None:
        """Drop this warehouse's views; the session stays up for the rest of the process."""
        for name in EXPORTED:
            self.session.catalog.dropTempView(name)


def release_memtables(backend, expr) -> int:
    """Drop the temp views ibis registered for ``expr``'s in-memory tables; returns how many were dropped.

    ibis' PySpark backend registers every memtable (``DataAccess`` binds string filter values as one) as a
    session temp view and drops it only when the process exits, so a long-running dashboard's catalog
    grew by one view per filtered query. Forgetting the memtable too makes ibis register it again if the
    same expression runs once more.
    """
    import ibis.expr.operations as ops

    dropped = 0
    for op in expr.op().find(ops.InMemoryTable):
        if backend._session.catalog.dropTempView(op.name):
            dropped += 1
        backend._memtables.discard(op)
    return dropped


def read_meta(parquet_dir: Path | str) -> dict[str, str]:
    """The exported ``meta`` table (schema_version, data_version...) as a dict."""
    import pyarrow.parquet as pq

    table = pq.read_table(Path(parquet_dir) / META)
    return dict(zip(table.column("key").to_pylist(), table.column("value").to_pylist(), strict=True))


def check_export(parquet_dir: Path | str) -> None:
    """Raise SchemaError when the export was written by a different schema version."""
    version = int(read_meta(parquet_dir).get("schema_version", 0))
    if version != schema.SCHEMA_VERSION:
        raise schema.SchemaError(
            f"{parquet_dir} holds an export of schema version {version}; this Retail Pulse needs "
            f"{schema.SCHEMA_VERSION}. Upgrade the warehouse and run `python -m data export` again."
        )
