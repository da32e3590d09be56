"""Kill -9 an import at random moments: the warehouse is exactly as before or exactly as after,
and a retry with the same import_id then gives the 'after' state, once."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from data.importers import import_file
from tests.import_support import fingerprint, target  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[1]
TRIALS = 22
LINES = 60_000
IMPORT_ID = "crash-test-import"

CHILD = """
import sys
from data.importers import import_file
print("ready", flush=True)
r = import_file(sys.argv[1], sys.argv[2], merchant=int(sys.argv[3]), import_id=sys.argv[4])
print(r.status, r.message, flush=True)
"""


def synthetic_file(path: Path, lines: int = LINES, seed: int = 3) -> Path:
    """Order lines with canonical column names: ~3 lines per order, 800 SKUs, 6,000 customers, 6 stores."""
    rng = random.Random(seed)
    order = [i // 3 + (1 if rng.random() < 0.1 else 0) for i in range(lines)]
    frame = pl.DataFrame({
        "order_ref": [f"S-{o:07d}" for o in order],
        "order_ts": [f"2024-{1 + o % 12:02d}-{1 + o % 28:02d} {o % 24:02d}:{o % 60:02d}:00" for o in order],
        "sku": [f"SKU-{rng.randrange(800):04d}" for _ in range(lines)],
        "product_name": [None] * lines,
        "quantity": [rng.randint(1, 5) for _ in range(lines)],
        "unit_price": [f"{rng.randint(100, 20000) / 100:.2f}" for _ in range(lines)],
        "customer_ref": [f"CX-{(o * 7919) % 6000}" for o in order],
        "store": [f"Store {o % 6}" for o in order],
    })
    frame.write_csv(path)
    return path


def start_child(warehouse: Path, file: Path, merchant: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(warehouse), str(file), str(merchant), IMPORT_ID],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=os.environ | {"PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


@pytest.mark.slow
def test_killed_import_leaves_before_or_after_and_retry_completes_once(target, tmp_path):
    base, mid = target
    data = synthetic_file(tmp_path / "orders.csv")
    before = fingerprint(base)

    # Reference run: the 'after' state and how long the import itself takes.
    reference = tmp_path / "reference.duckdb"
    shutil.copy(base, reference)
    proc = start_child(reference, data, mid)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=300)
    duration = time.monotonic() - t0
    assert proc.returncode == 0 and out.startswith("loaded"), err
    after = fingerprint(reference)
    assert after != before

    rng = random.Random(11)
    outcomes = []
    for trial in range(TRIALS):
        path = tmp_path / f"trial{trial}.duckdb"
        shutil.copy(base, path)
        # Stratified over [0, 1.2 x duration]: kills land while reading, validating, loading,
        # committing, and after the commit.
        delay = duration * 1.2 * (trial + rng.random()) / TRIALS
        proc = start_child(path, data, mid)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        state = fingerprint(path)
        assert state in (before, after), f"trial {trial}: killed after {delay:.2f}s: half-applied import"
        outcomes.append("after" if state == after else "before")

        retry = import_file(path, data, merchant=mid, import_id=IMPORT_ID)
        assert retry.status == "loaded", retry.message
        assert fingerprint(path) == after
        again = import_file(path, data, merchant=mid, import_id=IMPORT_ID)
        assert again.status == "loaded" and "already loaded" in again.message
        assert fingerprint(path) == after
        path.unlink()
    print(f"import {duration:.2f}s; outcomes {outcomes}")
    # The kills really did land on both sides of the commit.
    assert "before" in outcomes and "after" in outcomes, outcomes
