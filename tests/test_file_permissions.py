"""Data files are private to the user running the app: files 0600, folders 0700.

Every test runs with the umask most systems give (022), under which anything not made private on
purpose comes out 0644 / 0755. The command line is run as people run it (``python -m data``, which
inherits that umask); the warehouse is held the way the dashboard holds it (``data.warehouse.Warehouse``)
in this process, whose umask stays 022, so the modes below come from the code and not from the test.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from data import inbox
from data.bootstrap import ensure_warehouse
from data.warehouse import Warehouse, open_for_loading

ROOT = Path(__file__).resolve().parents[1]
MAPPING_TOML = """name = "perm-shop"
[columns]
order_ref = "Order"
order_ts = "Date"
sku = "SKU"
quantity = "Qty"
unit_price = "Price"
"""
CSV = "Order,Date,SKU,Qty,Price\nP-1,2024-03-01 10:00,S-1,2,4.50\nP-2,2024-03-02 10:00,S-2,x,3.00\n"


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path, skip: set[Path] = frozenset()) -> dict[str, str]:
    """Every folder and file under ``root`` (itself included) whose mode is not 0700 / 0600."""
    wrong = {}
    for p in [root, *root.rglob("*")]:
        if p in skip:
            continue
        want = 0o700 if p.is_dir() else 0o600
        if mode(p) != want:
            wrong[str(p.relative_to(root.parent))] = f"{mode(p):o}"
    return wrong


def cli(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "COLUMNS": "200"})
    return out


def test_the_test_process_really_has_the_usual_umask(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    assert mode(tmp_path / "f") == 0o644 and mode(tmp_path / "d") == 0o755


def test_command_line_warehouse_inbox_report_and_export_are_private(tmp_path):
    data = tmp_path / "data"  # everything the app writes goes under here
    path = data / "wh" / "w.duckdb"
    made = cli("generate", "--size", "tiny", "--quiet", "--warehouse", str(path))
    assert made.returncode == 0, made.stderr
    assert not modes_under(data), modes_under(data)

    source = tmp_path / "in"  # the person's own files, not the app's
    source.mkdir()
    (source / "orders.csv").write_text(CSV)
    (source / "shop.toml").write_text(MAPPING_TOML)
    wh = Warehouse(path)  # held as the dashboard holds it: the import is staged in the inbox
    try:
        out = cli("import", str(source / "orders.csv"), "--warehouse", str(path), "--mapping",
                  str(source / "shop.toml"), "--merchant", "1", "--mode", "skip", "--report",
                  str(data / "reports" / "rejects.csv"))
        assert out.returncode == 0, out.stdout + out.stderr
        assert "staged" in out.stdout
        assert inbox.pending(path), "nothing staged"
        assert (data / "reports" / "rejects.csv").read_text().count("\n") == 2  # header + the bad row
        assert not modes_under(data), modes_under(data)  # the staged rows and manifest too
        assert len(wh.apply_pending_imports()) == 1
        assert not modes_under(data), modes_under(data)  # after the load (DuckDB's .wal)
    finally:
        wh.close()

    out = cli("export", "--warehouse", str(path), "--out", str(data / "parquet"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert any((data / "parquet").rglob("*.parquet"))
    assert not modes_under(data), modes_under(data)


def test_opening_a_warehouse_fixes_files_left_world_readable(fixture_warehouse_path, tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    path = folder / "w.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    staged = inbox.inbox_dir(path) / inbox.FAILED / "some-import"
    staged.mkdir(parents=True)
    (staged / "error.txt").write_text("refused")
    (folder / "w.duckdb.wal").write_bytes(b"")  # an empty log, as DuckDB leaves one after a checkpoint
    for p in (path, staged / "error.txt", folder / "w.duckdb.wal"):
        os.chmod(p, 0o644)
    assert modes_under(folder, skip={folder})  # world-readable to begin with

    Warehouse(path).close()  # the dashboard opening it
    assert not modes_under(folder, skip={folder}), modes_under(folder, skip={folder})

    os.chmod(path, 0o644)
    open_for_loading(path).close()  # a loader opening it
    assert mode(path) == 0o600


def test_first_start_builds_a_private_warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_DEMO_SIZE", "tiny")
    path = tmp_path / "warehouse" / "retail_pulse.duckdb"
    assert ensure_warehouse(path)
    assert not modes_under(path.parent), modes_under(path.parent)  # the folder, the file and the build lock
    assert (path.parent / "retail_pulse.duckdb.build.lock").exists()
