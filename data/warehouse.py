"""Opening the DuckDB warehouse file: plain for loaders, hardened for serving.

DuckDB lets one process open a file read-write. The dashboard process holds it
(hardened: no file access from SQL, configuration locked) and hands every query
its own cursor, because one connection shared by session threads returns other
sessions' rows (PITFALLS.md). Loads that start while the dashboard holds the
file are staged in the inbox folder beside it and applied by the dashboard
(see data/inbox.py).

The warehouse holds every tenant's orders and customers, so its files are
private to the user running the app: files 0600, folders 0700. The entry points
set the process umask (``use_private_umask``) so whatever the process creates
(the staged inbox, Parquet exports, reject reports, DuckDB's own .wal and .tmp)
starts private; ``make_private`` also fixes the files of a warehouse when it is
opened, and after a load, because DuckDB creates them itself and an older
version of the app left them 0644.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
import warnings
from pathlib import Path

import duckdb
from ibis.backends.duckdb import Backend as DuckDBBackend

from data import schema


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse file open for writing."""


class WarehouseMissing(FileNotFoundError):
    """No warehouse file at the configured path."""


_LOCK_PID = re.compile(r"PID (\d+)")
PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700
VERSION_RECHECK_S = 1.0  # Warehouse.data_version reads the version at least this often (seconds)


def use_private_umask() -> None:
    """From now on, files this process creates are 0600 and folders 0700 (umask 077). Call at entry points."""
    os.umask(PRIVATE_UMASK)


def _chmod(path: Path, mode: int) -> None:
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) == mode:
            return
        os.chmod(path, mode)
    except FileNotFoundError:  # a staged folder applied meanwhile, a WAL checkpointed away
        pass
    except OSError as exc:  # e.g. owned by another user: the app still works, but say so
        warnings.warn(f"could not make {path} private (mode {mode:o}): {exc}", stacklevel=3)


def make_private(path: Path | str) -> None:
    """Give a warehouse's files the modes new ones get: files 0600, folders 0700.

    Covers the file, its write-ahead log (.wal), DuckDB's spill folder (.tmp), the first-start build
    lock and the staged imports (<warehouse>.inbox/, every folder and file in it). The folder the
    warehouse sits in is the operator's choice and is left as it is.
    """
    path = Path(path)
    for suffix in ("", ".wal", ".build.lock"):
        _chmod(path.with_name(path.name + suffix), FILE_MODE)
    for suffix in (".inbox", ".tmp"):
        root = path.with_name(path.name + suffix)
        if not root.is_dir():
            continue
        _chmod(root, DIR_MODE)
        for folder, dirs, files in os.walk(root):
            for name in dirs:
                _chmod(Path(folder, name), DIR_MODE)
            for name in files:
                _chmod(Path(folder, name), FILE_MODE)


def _connect(path: Path, read_only: bool, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config or {})
    except duckdb.ConnectionException as exc:
        if "different configuration" not in str(exc):
            raise
        # This very process serves the file (the dashboard's admin page importing).
        raise WarehouseBusy(f"{path} is open in this process (the dashboard); the load is staged and applied "
                            "by it.") from exc
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" not in text.lower():
            raise
        pid = _LOCK_PID.search(text)
        holder = f"process {pid.group(1)}" if pid else "another process"
        raise WarehouseBusy(
            f"{path} is open in {holder} (probably the running dashboard). "
            "Imports are then staged and applied by that process; other commands must wait until it stops."
        ) from exc


def open_for_loading(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-write connection for generators and importers; creates or upgrades the schema."""
    path = Path(path)
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    con = _connect(path, read_only=False)
    try:
        schema.upgrade(con, str(path))
        make_private(path)  # DuckDB created the file (and maybe its .wal) with the process umask
    except BaseException:
        con.close()
        raise
    return con


def open_for_reading(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only plain connection (info, validate); the schema version must match."""
    path = Path(path)
    if not path.exists():
        raise WarehouseMissing(f"No warehouse at {path}. Create one with `python -m data generate`.")
    con = _connect(path, read_only=True)
    try:
        schema.check_version(con, str(path))
    except BaseException:
        con.close()
        raise
    return con


def harden(con: duckdb.DuckDBPyConnection) -> None:
    """Forbid file access, ATTACH, INSTALL and SET from SQL run on this connection (and its cursors).

    DuckDB serves one database instance per file within a process, so a second Warehouse on a file
    this process already serves gets the instance the first one hardened: its configuration is
    locked already (and SET would fail), so there is nothing left to do.
    """
    if con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
        return
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET lock_configuration = true")


def ibis_backend(cursor: duckdb.DuckDBPyConnection) -> DuckDBBackend:
    """An ibis DuckDB backend bound to one cursor.

    ``ibis.duckdb.from_connection`` runs SET statements, which a locked
    configuration refuses; harden() has already made those settings, so this
    builds the backend around the cursor directly (pinned ibis 12.0.0; covered by
    tests/test_access.py).
    """
    backend = DuckDBBackend()
    backend._can_reconnect = False
    backend.con = cursor
    backend._record_batch_readers_consumed = {}
    return backend


class Warehouse:
    """The serving process's handle on the warehouse file: hardened, one cursor per query."""

    engine = "duckdb"

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.exists():
            raise WarehouseMissing(f"No warehouse at {self.path}. Create one with `python -m data generate`.")
        con = _connect(self.path, read_only=False, config={"enable_external_access": False})
        try:
            schema.check_version(con, str(self.path))
            harden(con)
            make_private(self.path)  # also fixes files an older version of the app left world-readable
        except BaseException:
            con.close()
            raise
        self._root = con
        self._apply_lock = threading.Lock()
        self._version: tuple | None = None  # (files stamp, monotonic time read, data version)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._root.cursor()

    def backend(self) -> DuckDBBackend:
        """A fresh ibis backend on its own cursor; use it from one thread only."""
        return ibis_backend(self._root.cursor())

    def data_version(self) -> int:
        """The warehouse's data version (``meta``), read again only when its files changed.

        Every page run asks; the query was a tenth of a page's server time under load. A commit writes the .wal
        (a checkpoint, the file itself), so while neither file's size, mtime or ctime moved, the version read
        last still holds; it is read again at least every ``VERSION_RECHECK_S`` all the same (mtimes can be
        coarse)."""
        stamp = self._files_stamp()
        last = self._version
        if last is not None and last[0] == stamp and time.monotonic() - last[1] < VERSION_RECHECK_S:
            return last[2]
        began = time.monotonic()
        cur = self._root.cursor()
        try:
            version = int(schema.get_meta(cur, "data_version") or 0)
        finally:
            cur.close()
        self._version = (stamp, began, version)  # stamped before the read: a write during it reads again
        return version

    def _files_stamp(self) -> tuple:
        out = []
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = os.stat(p)
                out.append((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def apply_pending_imports(self) -> list[str]:
        """Apply loads staged by other processes (see data/inbox.py); returns the applied import ids."""
        from data import inbox  # local: inbox imports the importer, which is heavy

        with self._apply_lock:
            cur = self._root.cursor()
            try:
                return inbox.apply_pending(cur, self.path)
            finally:
                cur.close()
                make_private(self.path)  # a load may have made DuckDB create the .wal, failed/ folders...

    def close(self) -> None:
        self._root.close()
