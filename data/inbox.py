"""Loads staged while the dashboard holds the warehouse, applied by that process.

DuckDB lets one process open the file read-write. When an import finds the
warehouse busy it stages the validated canonical rows in
``<warehouse>.inbox/<import_id>/`` (``rows.parquet`` + ``manifest.json``),
written under ``.tmp/`` and renamed into place, so a folder is either complete
or absent. The process holding the warehouse calls :func:`apply_pending`
(data.warehouse.Warehouse.apply_pending_imports): each folder, oldest first, is
loaded through the same all-or-nothing load as a direct import
(data.importers.load.load_rows, keyed by import_id) and deleted after commit. A
folder whose load fails moves to ``failed/<import_id>/`` with ``error.txt``;
a transient failure (connection closed, transaction conflict) leaves it pending
for the next call.
If the process dies between commit and delete, the next run finds the import_id
in main.imports, does nothing and deletes the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import traceback
from pathlib import Path

import duckdb
import polars as pl

from data import safe_csv

MANIFEST = "manifest.json"
ROWS = "rows.parquet"
FAILED = "failed"
REJECTS = "rejects.parquet"
TMP = ".tmp"
FORMAT = 1
# Failures that say nothing about the staged rows: the folder stays pending for the next call.
TRANSIENT = (duckdb.ConnectionException, duckdb.TransactionException, duckdb.InterruptException)


def inbox_dir(warehouse_path: str | Path) -> Path:
    path = Path(warehouse_path)
    return path.with_name(path.name + ".inbox")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage(warehouse_path: str | Path, rows: pl.DataFrame, *, import_id: str, merchant, mode: str,
          source: str, preset: str | None, rows_rejected: int = 0, line_word: str = "line",
          labels: dict[str, str] | None = None) -> Path:
    """Write validated canonical rows for a later apply; returns the staged folder.

    ``merchant`` is a data.importers.load.MerchantSpec. Staging the same import_id
    twice keeps the first folder.
    """
    inbox = inbox_dir(warehouse_path)
    final = inbox / import_id
    if final.exists():
        return final
    tmp = inbox / TMP / import_id
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    rows.write_parquet(tmp / ROWS)
    manifest = {
        "format": FORMAT, "import_id": import_id, "source": source, "preset": preset, "mode": mode,
        "merchant": merchant.to_json(), "rows": rows.height, "rows_rejected": rows_rejected,
        "line_word": line_word, "labels": labels or {}, "staged_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for f in (tmp / ROWS, tmp / MANIFEST, tmp):
        _fsync(f)
    os.replace(tmp, final)
    _fsync(inbox)
    return final


def pending(warehouse_path: str | Path) -> list[Path]:
    """Staged folders waiting to be applied, oldest first."""
    inbox = inbox_dir(warehouse_path)
    if not inbox.is_dir():
        return []
    folders = []
    for p in inbox.iterdir():
        if p.name in (FAILED, TMP) or not p.is_dir() or not (p / MANIFEST).is_file():
            continue
        try:
            staged_at = json.loads((p / MANIFEST).read_text(encoding="utf-8"))["staged_at"]
        except (OSError, ValueError, KeyError):
            staged_at = ""
        folders.append((staged_at, p.name, p))
    return [p for _, _, p in sorted(folders)]


def failed(warehouse_path: str | Path) -> list[tuple[str, str]]:
    """(import_id, error text) of staged loads that could not be applied."""
    root = inbox_dir(warehouse_path) / FAILED
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        err = p / "error.txt"
        out.append((p.name, err.read_text(encoding="utf-8") if err.is_file() else ""))
    return out


def _fail(folder: Path, error: str, rejects: pl.DataFrame | None = None) -> None:
    target = folder.parent / FAILED / folder.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    os.replace(folder, target)
    (target / "error.txt").write_text(error.rstrip() + "\n", encoding="utf-8")
    if rejects is not None and rejects.height:
        rejects.write_parquet(target / REJECTS)


def failure(warehouse_path: str | Path, import_id: str) -> tuple[str, pl.DataFrame | None] | None:
    """(reason, rejected rows or None) of a staged import that could not be applied; None if it did not fail."""
    folder = inbox_dir(warehouse_path) / FAILED / import_id
    if not folder.is_dir():
        return None
    err = folder / "error.txt"
    text = err.read_text(encoding="utf-8") if err.is_file() else "no reason recorded"
    rejects = pl.read_parquet(folder / REJECTS) if (folder / REJECTS).is_file() else None
    return text.split("\n\nline,column,value,reason")[0].strip(), rejects


def apply_pending(cursor: duckdb.DuckDBPyConnection, warehouse_path: str | Path) -> list[str]:
    """Apply every staged load through ``cursor``, oldest first; returns the import ids committed now."""
    import pyarrow.parquet as pq

    from data.importers.load import MerchantSpec, load_rows
    from data.importers.validate import CANONICAL_SCHEMA

    applied = []
    for folder in pending(warehouse_path):
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            rows = pl.from_arrow(pq.read_table(folder / ROWS))
            rows = rows.select([pl.col(c).cast(t) for c, t in CANONICAL_SCHEMA.items()])
            outcome = load_rows(
                cursor, rows, import_id=manifest["import_id"], merchant=MerchantSpec.from_json(manifest["merchant"]),
                mode=manifest["mode"], source=manifest["source"], preset=manifest.get("preset"),
                rows_rejected=manifest.get("rows_rejected", 0), line_word=manifest.get("line_word", "line"),
                labels=manifest.get("labels"))
        except TRANSIENT:
            break
        except Exception:  # noqa: BLE001 - any other failure parks the folder with its reason
            _fail(folder, f"staged import {folder.name} could not be applied; nothing was written.\n\n"
                  + traceback.format_exc())
            continue
        if outcome.status == "refused":
            text = outcome.message
            if outcome.rejects.height:
                text += "\n\nline,column,value,reason\n" + safe_csv.csv_text(outcome.rejects, include_header=False)
            _fail(folder, f"staged import {folder.name} ({manifest['source']}) refused; nothing was written: "
                  + text, outcome.rejects)
            continue
        shutil.rmtree(folder)
        if outcome.status == "loaded":
            applied.append(manifest["import_id"])
    return applied
