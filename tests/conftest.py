"""Shared fixtures: one small seeded warehouse built once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from data.access import DataAccess, Scope
from data.warehouse import Warehouse

# Pages never start background training in tests unless a test asks for it (it would train for minutes on the
# shared CPU and make page tests depend on timing); tests of training set RETAIL_PULSE_TRAIN_IN_APP=on.
os.environ.setdefault("RETAIL_PULSE_TRAIN_IN_APP", "off")
os.environ.setdefault("RETAIL_PULSE_ALERTS_EVERY_MINUTES", "off")  # likewise the in-app alert check
# The local receivers of the delivery tests listen on 127.0.0.1 (tests/test_alert_hosts.py checks the default).
os.environ.setdefault("RETAIL_PULSE_ALERT_PRIVATE_HOSTS", "127.0.0.1")

FIXTURE_SEED = 7
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def fixture_warehouse_path(tmp_path_factory) -> Path:
    """A `tiny` generated warehouse (seed 7). Read-only by convention: copy it before writing."""
    from data.generator import generate

    path = tmp_path_factory.mktemp("fixture") / "fixture.duckdb"
    generate(path, size="tiny", seed=FIXTURE_SEED, progress=False)
    return path


@pytest.fixture
def writable_warehouse(fixture_warehouse_path, tmp_path) -> Path:
    """A private copy of the fixture warehouse that a test may change."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    return path


@pytest.fixture(scope="session")
def serving_warehouse(fixture_warehouse_path, tmp_path_factory):
    """The hardened serving handle on a copy of the fixture warehouse (as the dashboard opens it)."""
    path = tmp_path_factory.mktemp("serving") / "serving.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    wh = Warehouse(path)
    yield wh
    wh.close()


@pytest.fixture
def access_all(serving_warehouse) -> DataAccess:
    return DataAccess(serving_warehouse.backend(), Scope.unrestricted())


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    if not DATASETS.is_dir():
        pytest.fail(f"real datasets folder missing: {DATASETS} (CI checks out ../shared beside the repo)")
    return DATASETS


@pytest.fixture(scope="session")
def trained_models(fixture_warehouse_path, tmp_path_factory) -> dict[str, str]:
    """Demand forecasts of every merchant of the fixture warehouse, trained once and saved signed, current for
    its data version. Returns the environment a page test sets (models folder and signing key) so the model
    pages open with a saved model and start no training."""
    import duckdb
    import ibis

    from models import registry
    from models.artifacts import ModelStore

    root = tmp_path_factory.mktemp("models")
    key = "fixture-model-key-" + "k" * 32
    store = ModelStore(root, key=key.encode())
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
        merchants = [r[0] for r in con.execute("SELECT merchant_id FROM main.merchants ORDER BY 1").fetchall()]
        registry.load_families()
        for m in merchants:
            registry.train("demand_forecast", lambda: ibis.duckdb.from_connection(con.cursor()), m, version, store)
    finally:
        con.close()
    return {"RETAIL_PULSE_MODELS_DIR": str(root), "RETAIL_PULSE_MODEL_KEY": key}


DEMO_MERCHANTS = (1, 2)  # a GB gifts shop and a DE fashion shop: every merchant would double the time, test no more
DEMO_HOLDOUT = 28


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory) -> Path:
    """The `demo` warehouse (seed 42) with its planted truth. Read-only by convention."""
    from data.generator import generate

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    generate(path, size="demo", seed=42, progress=False)
    return path


@pytest.fixture(scope="session")
def demo_forecasts(demo_warehouse):
    """(connection, cutoff, {merchant: Forecasts}): demand forecasts of DEMO_MERCHANTS trained only on days up to
    the cutoff (the last planted day minus DEMO_HOLDOUT), 90 days ahead, shared by the truth tests of the
    forecasts and of stock-out risk. The connection is read-only; truth tables are read through it."""
    import datetime as dt

    import duckdb
    import ibis

    from models.forecasting import demand

    con = duckdb.connect(str(demo_warehouse), read_only=True)
    last = con.execute("SELECT max(day) FROM truth.demand_daily").fetchone()[0]
    until = last - dt.timedelta(days=DEMO_HOLDOUT)
    out = {}
    for m in DEMO_MERCHANTS:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        out[m] = demand.train_forecasts(access, until=until, horizon=demand.MAX_HORIZON)
    yield con, until, out
    con.close()
