"""Imports while the dashboard holds the warehouse: staged, not lost, applied by the holder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data import inbox
from data.importers import Mapping, import_file
from data.warehouse import Warehouse
from tests.import_support import BASE_COLUMNS, BASE_CSV, fingerprint, fingerprint_con, target  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
MAPPING = Mapping(name="test-shop", columns=BASE_COLUMNS)

CHILD = """
import json, sys
from data.importers import Mapping, import_file
columns = json.loads(sys.argv[4])
r = import_file(sys.argv[1], sys.argv[2], mapping=Mapping(name="test-shop", columns=columns),
                merchant=sys.argv[3])
print(json.dumps({"status": r.status, "import_id": r.import_id, "message": r.message,
                  "staged": str(r.staged_path)}))
"""


def run_child_import(warehouse: Path, file: Path, merchant: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(warehouse), str(file), merchant,
                           json.dumps(BASE_COLUMNS)], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def held(target):
    """The warehouse opened as the dashboard opens it (hardened, read-write) for the test's duration."""
    path, mid = target
    wh = Warehouse(path)
    yield wh, path, mid
    wh.close()


def state(wh: Warehouse) -> dict:
    cur = wh.cursor()
    try:
        return fingerprint_con(cur)
    finally:
        cur.close()


def count_refs(wh: Warehouse, mid: int) -> int:
    cur = wh.cursor()
    try:
        return cur.execute("SELECT count(*) FROM main.orders WHERE merchant_id = ? AND external_ref IN "
                           "('O-1', 'O-2', 'O-3')", [mid]).fetchall()[0][0]
    finally:
        cur.close()


def test_import_from_another_process_is_staged_then_applied(held, tmp_path):
    wh, path, mid = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    before, version = state(wh), wh.data_version()

    out = run_child_import(path, f, str(mid))

    assert out["status"] == "staged", out["message"]
    assert "the running dashboard will apply it" in out["message"]
    folder = inbox.inbox_dir(path) / out["import_id"]
    assert folder.is_dir() and (folder / "rows.parquet").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["merchant"]["ref"] == str(mid) and manifest["rows"] == 4 and manifest["mode"] == "refuse"
    assert state(wh) == before  # nothing written yet

    assert wh.apply_pending_imports() == [out["import_id"]]
    assert wh.data_version() == version + 1
    assert count_refs(wh, mid) == 3
    after = state(wh)
    assert after["main.order_lines"][0] == before["main.order_lines"][0] + 4
    assert not folder.exists()
    assert wh.apply_pending_imports() == []  # applied once only
    assert state(wh) == after


def test_import_inside_the_serving_process_is_staged(held, tmp_path):
    """The admin page imports from the dashboard process itself: that is WarehouseBusy too."""
    wh, path, mid = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    result = import_file(path, f, mapping=MAPPING, merchant=mid)
    assert result.status == "staged", result.message
    assert result.rows_loaded == 4
    assert wh.apply_pending_imports() == [result.import_id]
    assert count_refs(wh, mid) == 3


def test_failing_staged_import_moves_to_failed_and_changes_nothing(held, tmp_path):
    wh, path, _ = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    result = import_file(path, f, mapping=MAPPING, merchant="Nobody Ltd")  # cannot be checked while held
    assert result.status == "staged"
    before, version = state(wh), wh.data_version()

    assert wh.apply_pending_imports() == []

    assert state(wh) == before and wh.data_version() == version
    assert inbox.pending(path) == []
    failed = dict(inbox.failed(path))
    assert "unknown merchant 'Nobody Ltd'" in failed[result.import_id]
    assert "nothing was written" in failed[result.import_id]
    assert (inbox.inbox_dir(path) / "failed" / result.import_id / "rows.parquet").is_file()


def test_second_staged_copy_of_a_file_fails_as_duplicate(held, tmp_path):
    wh, path, mid = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    first = import_file(path, f, mapping=MAPPING, merchant=mid)
    second = import_file(path, f, mapping=MAPPING, merchant=mid)
    assert first.status == second.status == "staged"
    assert [p.name for p in inbox.pending(path)] == [first.import_id, second.import_id]  # oldest first

    assert wh.apply_pending_imports() == [first.import_id]

    assert count_refs(wh, mid) == 3
    assert "already in the warehouse" in dict(inbox.failed(path))[second.import_id]


def test_crash_between_commit_and_delete_does_not_apply_twice(held, tmp_path):
    wh, path, mid = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    result = import_file(path, f, mapping=MAPPING, merchant=mid)
    folder = inbox.inbox_dir(path) / result.import_id
    keep = tmp_path / "copy"
    shutil.copytree(folder, keep)
    assert wh.apply_pending_imports() == [result.import_id]
    after, version = state(wh), wh.data_version()
    shutil.copytree(keep, folder)  # as if the process died after COMMIT, before deleting the folder

    assert wh.apply_pending_imports() == []

    assert state(wh) == after and wh.data_version() == version
    assert not folder.exists() and inbox.failed(path) == []


def test_staging_the_same_import_id_twice_keeps_one_folder(held, tmp_path):
    wh, path, mid = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    a = import_file(path, f, mapping=MAPPING, merchant=mid, import_id="retry-1")
    b = import_file(path, f, mapping=MAPPING, merchant=mid, import_id="retry-1")
    assert a.status == b.status == "staged" and a.staged_path == b.staged_path
    assert [p.name for p in inbox.pending(path)] == ["retry-1"]
    assert wh.apply_pending_imports() == ["retry-1"]


def test_next_direct_import_applies_staged_loads_first(target, tmp_path):
    path, mid = target
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    wh = Warehouse(path)
    staged = import_file(path, f, mapping=MAPPING, merchant=mid)
    wh.close()  # the dashboard stopped before applying it
    assert staged.status == "staged"
    g = tmp_path / "more.csv"
    g.write_text("Order,Date,SKU,Product,Qty,Price,Customer\nO-7,2024-05-01,SKU-1,Mug,1,4.50,C-1\n")

    result = import_file(path, g, mapping=MAPPING, merchant=mid)

    assert result.status == "loaded", result.message
    assert result.applied_before == [staged.import_id]
    assert inbox.pending(path) == []
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    ids = [i for (i,) in con.execute("SELECT import_id FROM main.imports ORDER BY loaded_at").fetchall()]
    con.close()
    assert ids[-2:] == [staged.import_id, result.import_id]


def test_transient_failure_leaves_the_staged_import_pending(held, tmp_path):
    """A connection closed under the apply (dashboard shutting down) says nothing about the file."""
    wh, path, mid = held
    f = tmp_path / "orders.csv"
    f.write_text(BASE_CSV)
    result = import_file(path, f, mapping=MAPPING, merchant=mid)
    cur = wh.cursor()
    cur.close()
    assert inbox.apply_pending(cur, path) == []
    assert [p.name for p in inbox.pending(path)] == [result.import_id] and inbox.failed(path) == []
    assert wh.apply_pending_imports() == [result.import_id]
