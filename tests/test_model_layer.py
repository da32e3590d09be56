"""The model layer: signed model files, training through the data layer, background jobs, model cards.

Trains the first real kind (merchant-total demand, statsforecast) on the tiny fixture warehouse and
checks what a person relies on: a changed, foreign or misplaced model file is refused with a clear
message; the training data is exactly the merchant's own (compared with plain SQL); a model trained
before an import is stale and a background job replaces it while the old one stays usable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from data.access import DataAccess, Scope
from data.warehouse import Warehouse
from models import registry
from models.artifacts import ModelFileError, ModelStore
from models.card import build_model_card
from models.forecasting import total
from models.jobs import DONE, FAILED, TrainingQueue

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- signed files

def test_round_trip_and_private_modes(tmp_path):
    store = ModelStore(tmp_path / "m", key=b"k" * 32)
    saved = store.save("total_demand", 1, b"fitted bytes", {"data_version": 3})
    again = store.load("total_demand", 1)
    assert again.payload == b"fitted bytes" and again.data_version == 3 and again.version == saved.version
    for path in [saved.path, *saved.path.iterdir()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_changed_payload_is_refused_and_an_older_good_version_still_serves(tmp_path):
    store = ModelStore(tmp_path / "m", key=b"k" * 32)
    good = store.save("total_demand", 1, b"old", {"data_version": 1})
    bad = store.save("total_demand", 1, b"new", {"data_version": 2})
    (bad.path / "model.bin").write_bytes(b"evil pickle")
    with pytest.raises(ModelFileError, match="does not match its recorded hash"):
        store.load("total_demand", 1)
    assert store.latest_usable("total_demand", 1).version == good.version


def test_edited_metadata_and_foreign_files_are_refused(tmp_path):
    ours = ModelStore(tmp_path / "ours", key=b"a" * 32)
    theirs = ModelStore(tmp_path / "theirs", key=b"b" * 32)
    saved = ours.save("total_demand", 1, b"x", {"data_version": 1})
    meta_path = saved.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["data_version"] = 99  # pretend to be fresh
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not signed by this installation"):
        ours.load("total_demand", 1)
    foreign = theirs.save("total_demand", 1, b"y", {"data_version": 1})  # a valid file, another key
    target = ours.root / "total_demand" / "merchant-1" / foreign.version
    shutil.copytree(foreign.path, target)
    with pytest.raises(ModelFileError, match="not signed by this installation"):
        ours.load("total_demand", 1, foreign.version)


def test_a_model_moved_to_another_merchant_is_refused(tmp_path):
    store = ModelStore(tmp_path / "m", key=b"k" * 32)
    saved = store.save("total_demand", 1, b"x", {"data_version": 1})
    target = store.root / "total_demand" / "merchant-2" / saved.version
    target.parent.mkdir(parents=True)
    shutil.copytree(saved.path, target)
    with pytest.raises(ModelFileError, match="not total_demand for merchant 2"):
        store.load("total_demand", 2)


def test_installation_key_is_created_once_and_private(tmp_path):
    store = ModelStore(tmp_path / "m")
    saved = store.save("total_demand", 1, b"x", {})
    key_file = tmp_path / "m" / "model.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ModelStore(tmp_path / "m").load("total_demand", 1).version == saved.version  # same key re-read


# ---------------------------------------------------------------- training through the layer

@pytest.fixture(scope="module")
def trained(fixture_warehouse_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("models")
    wh = tmp / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    eng = Warehouse(wh)
    store = ModelStore(tmp / "models", key=b"t" * 32)
    steps: list[tuple[float, str]] = []
    saved = registry.train("total_demand", eng.backend, 1, eng.data_version(), store,
                           progress=lambda f, text: steps.append((f, text)))
    yield eng, store, saved, steps
    eng.close()


def test_training_reads_only_the_merchants_rows_and_matches_plain_sql(trained):
    eng, _, saved, _ = trained
    history = total.load_daily_totals(DataAccess(eng.backend(), Scope.merchants([1])))
    cur = eng.cursor()
    expected = cur.sql("""
        SELECT CAST(o.order_ts AS DATE) AS ds, SUM(l.quantity) AS units, SUM(l.line_amount) AS revenue
        FROM orders o JOIN order_lines l ON l.order_id = o.order_id
        JOIN products p ON p.product_id = l.product_id
        WHERE o.merchant_id = 1 AND p.is_merchandise AND o.order_type IN ('sale', 'return')
          AND o.status <> 'cancelled' AND NOT (o.order_type = 'sale' AND o.status = 'returned')
        GROUP BY 1""").to_arrow_table()
    expected = pl.from_arrow(expected)
    got = history.pivot(on="unique_id", index="ds", values="y").filter((pl.col("units") != 0) | (pl.col("revenue") != 0))
    joined = expected.with_columns(pl.col("ds").cast(pl.Date)).join(got, on="ds", how="full", coalesce=True)
    assert joined.height == expected.height == got.height
    assert (joined["units"] - joined["units_right"]).abs().max() < 1e-9
    assert (joined["revenue"].cast(pl.Float64) - joined["revenue_right"]).abs().max() < 1e-6
    first, last = cur.execute("SELECT MIN(order_ts)::DATE, MAX(order_ts)::DATE FROM orders WHERE merchant_id = 1").fetchone()
    assert saved.meta["training_window"] == [str(first), str(last)]
    assert history.filter(pl.col("unique_id") == "units").height == (last - first).days + 1  # every day, zeros kept


def test_saved_forecast_and_metadata(trained):
    eng, store, saved, steps = trained
    meta = saved.meta
    assert meta["data_version"] == eng.data_version()
    assert meta["libraries"]["statsforecast"] == "2.1.1"
    assert set(meta["params"]["chosen"]) == {"units", "revenue"}
    for series in ("units", "revenue"):
        m = meta["metrics"][series]
        assert m["model"] in total.CANDIDATES and 0 <= m["coverage_80"] <= m["coverage_95"] <= 1
        assert m["wape"] is not None and m["naive_wape"] is not None and "accurate" in m["summary"]
    fc = total.load_forecast(store.load("total_demand", 1).payload)
    assert fc.height == 2 * total.HORIZON
    assert fc["day"].min() == dt.date.fromisoformat(meta["training_window"][1]) + dt.timedelta(days=1)
    assert (fc["lo_95"] <= fc["lo_80"]).all() and (fc["lo_80"] <= fc["forecast"]).all()
    assert (fc["forecast"] <= fc["hi_80"]).all() and (fc["hi_80"] <= fc["hi_95"]).all()
    assert fc["lo_95"].min() >= 0
    assert [f for f, _ in steps] == sorted(f for f, _ in steps) and steps[-1][0] == 1.0


def test_model_card_says_what_when_and_how_well(trained):
    eng, _, saved, _ = trained
    card = build_model_card(saved, eng.data_version())
    assert card.title == "Total demand forecast" and not card.stale
    assert card.training_window == " to ".join(saved.meta["training_window"])
    labels = dict(card.metrics)
    assert any("MASE" in k for k in labels) and any("80% interval" in k for k in labels)
    assert "statsforecast 2.1.1" in card.libraries
    assert build_model_card(saved, eng.data_version() + 1).stale


def test_too_little_history_falls_back_to_a_labelled_naive_forecast(trained, monkeypatch):
    eng, _, _, _ = trained
    monkeypatch.setattr(total, "MIN_HISTORY_DAYS", 10_000)
    fitted = total.fit(DataAccess(eng.backend(), Scope.merchants([2])), lambda f, t: None)
    assert fitted.params["chosen"] == {"units": "SeasonalNaive", "revenue": "SeasonalNaive"}
    assert "naive forecast" in fitted.notes[0] and fitted.metrics == {}


# ---------------------------------------------------------------- staleness and background training

@pytest.mark.slow
def test_an_import_makes_the_model_stale_and_the_background_job_replaces_it(fixture_warehouse_path, tmp_path,
                                                                              datasets_dir):
    from data.importers.api import import_file

    wh = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    store = ModelStore(tmp_path / "models", key=b"s" * 32)
    eng = Warehouse(wh)
    before = registry.train("total_demand", eng.backend, 1, eng.data_version(), store)
    eng.close()
    csv = tmp_path / "slice.csv"
    pl.read_csv(datasets_dir / "online_retail_II_2009_2010.csv.gz", n_rows=300,
                schema_overrides={"Invoice": pl.Utf8, "StockCode": pl.Utf8, "Customer ID": pl.Utf8}).write_csv(csv)
    import_file(wh, csv, preset="online_retail_ii", create_merchant=("Slice", "GB", "GBP"))
    eng = Warehouse(wh)
    try:
        version = eng.data_version()
        assert registry.is_stale(store.latest_usable("total_demand", 1), version)
        jobs = TrainingQueue(store, eng.backend)
        job = jobs.ensure("total_demand", 1, version)
        assert job is not None and job.active
        assert store.latest_usable("total_demand", 1).version == before.version  # the page keeps the last good one
        assert jobs.ensure("total_demand", 1, version) == jobs.status("total_demand", 1)  # queued once
        assert jobs.wait(timeout=300)
        done = jobs.status("total_demand", 1)
        assert done.state == DONE, done.message
        fresh = store.latest_usable("total_demand", 1)
        assert fresh.version == done.version != before.version and fresh.data_version == version
        assert jobs.ensure("total_demand", 1, version) is None  # fresh now: nothing queued
    finally:
        eng.close()


def test_a_failing_job_keeps_its_message_and_is_not_retried_for_the_same_data(tmp_path):
    calls = []

    def broken(kind, factory, merchant_id, data_version, store, progress):
        calls.append(data_version)
        progress(0.5, "halfway")
        raise ValueError("this merchant has no orders yet: nothing to forecast")

    jobs = TrainingQueue(ModelStore(tmp_path, key=b"f" * 32), lambda: None, train=broken)
    jobs.ensure("total_demand", 4, 7)
    assert jobs.wait(timeout=30)
    status = jobs.status("total_demand", 4)
    assert status.state == FAILED and "no orders yet" in status.message
    jobs.ensure("total_demand", 4, 7)
    jobs.ensure("total_demand", 4, 8)  # newer data: tried again
    assert jobs.wait(timeout=30) and calls == [7, 8]


# ---------------------------------------------------------------- command line

def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_refuses_unknown_kinds_and_merchants_in_one_line(fixture_warehouse_path, tmp_path):
    wh = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    bad_kind = _cli("train", "--kind", "crystal_ball", "--warehouse", str(wh))
    assert bad_kind.returncode == 2 and "unknown model kind" in bad_kind.stderr and "total_demand" in bad_kind.stderr
    assert "Traceback" not in bad_kind.stderr
    bad_merchant = _cli("train", "--merchant", "99", "--warehouse", str(wh))
    assert bad_merchant.returncode == 2 and "--merchant 99: no such merchant" in bad_merchant.stderr
    missing = _cli("list", "--warehouse", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 2 and "No warehouse" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_trains_and_lists(fixture_warehouse_path, tmp_path):
    wh = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    done = _cli("train", "--kind", "total_demand", "--merchant", "2", "--warehouse", str(wh))
    assert done.returncode == 0, done.stderr
    assert "100% Saved" in done.stdout and "saved total_demand / merchant 2" in done.stdout
    listed = _cli("list", "--warehouse", str(wh))
    assert "total_demand" in listed.stdout and "current" in listed.stdout
    assert (tmp_path / "wh.duckdb.models" / "total_demand" / "merchant-2").is_dir()
