"""A fraud model trained once per test session on the tiny fixture warehouse (merchant 1 only: training takes
about 15 s a merchant on the shared CI machine, and one merchant with a model beside others without one is
what the page tests need). Import it into a test module: ``from tests.fraud_support import fraud_models``."""

from __future__ import annotations

import pytest

FRAUD_MERCHANTS = (1,)


@pytest.fixture(scope="session")
def fraud_models(fixture_warehouse_path, tmp_path_factory) -> dict[str, str]:
    """Signed ``fraud_score`` models of FRAUD_MERCHANTS, current for the fixture's data version. Returns the
    environment a page test sets (models folder and signing key)."""
    import duckdb
    import ibis

    from models import registry
    from models.artifacts import ModelStore

    root = tmp_path_factory.mktemp("fraud_models")
    key = "fixture-fraud-key-" + "f" * 32
    store = ModelStore(root, key=key.encode())
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
        registry.load_families()
        for m in FRAUD_MERCHANTS:
            registry.train("fraud_score", lambda: ibis.duckdb.from_connection(con.cursor()), m, version, store)
    finally:
        con.close()
    return {"RETAIL_PULSE_MODELS_DIR": str(root), "RETAIL_PULSE_MODEL_KEY": key}
