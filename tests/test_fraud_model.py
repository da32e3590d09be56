"""The fraud model on the tiny warehouse: features against plain SQL, no look-ahead, signed save and load,
`python -m models score` enqueueing flagged payments once, and merchant scope."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import ibis
import polars as pl
import pytest

from data.access import DataAccess, Scope
from models import registry
from models.artifacts import ModelFileError, ModelStore
from models.fraud import outputs
from models.fraud.features import FEATURES, IDENTITY_COLUMNS, compute_features
from models.fraud.scoring import flagged_payments, score_payments

ROOT = Path(__file__).resolve().parents[1]
KEY = b"fraud-test-key-" + b"k" * 32


def _access(con, merchants=None) -> DataAccess:
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    return DataAccess(ibis.duckdb.from_connection(con.cursor()), scope)


@pytest.fixture(scope="module")
def con(fixture_warehouse_path):
    c = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def features(con) -> pl.DataFrame:
    return compute_features(_access(con))


@pytest.fixture(scope="module")
def saved(fixture_warehouse_path, con, tmp_path_factory):
    store = ModelStore(tmp_path_factory.mktemp("fraud_models"), key=KEY)
    version = int(con.execute("SELECT value FROM main.meta WHERE key = 'data_version'").fetchone()[0])
    model = registry.train("fraud_score", lambda: ibis.duckdb.from_connection(con.cursor()), 1, version, store)
    return store, model


def test_columns_and_descriptions(features):
    assert features.columns == [*IDENTITY_COLUMNS, *[f for f in FEATURES if f != "amount"]]
    assert features["payment_id"].n_unique() == features.height
    assert all(desc and "_" not in desc for desc in FEATURES.values())


def _sql_counts(con, payment_ids: list[int]) -> pl.DataFrame:
    """Velocity, cards per device and mismatches of the given payments, by a plain self-join."""
    sql = """
    WITH p AS (SELECT * FROM payments WHERE payment_id IN (SELECT unnest($ids)))
    SELECT p.payment_id,
      (SELECT count(*) FROM payments q WHERE q.merchant_id = p.merchant_id AND q.device_id = p.device_id
         AND q.paid_ts >= p.paid_ts - INTERVAL 10 MINUTE AND q.paid_ts < p.paid_ts) AS device_payments_10m,
      (SELECT count(*) FROM payments q WHERE q.merchant_id = p.merchant_id AND q.card_fingerprint = p.card_fingerprint
         AND q.paid_ts >= p.paid_ts - INTERVAL 1 HOUR AND q.paid_ts < p.paid_ts) AS card_payments_1h,
      (SELECT count(*) FROM payments q WHERE q.merchant_id = p.merchant_id AND q.ip_prefix = p.ip_prefix
         AND q.paid_ts >= p.paid_ts - INTERVAL 24 HOUR AND q.paid_ts < p.paid_ts) AS ip_payments_24h,
      (SELECT count(*) FROM payments q WHERE q.merchant_id = p.merchant_id AND q.customer_id = p.customer_id
         AND q.paid_ts < p.paid_ts) AS customer_prior_payments,
      (SELECT count(DISTINCT q.card_fingerprint) FROM payments q WHERE q.merchant_id = p.merchant_id
         AND q.device_id = p.device_id AND q.paid_ts >= p.paid_ts - INTERVAL 1 HOUR AND q.paid_ts <= p.paid_ts)
         AS cards_per_device_1h,
      (SELECT count(*) FILTER (WHERE q.status = 'declined') FROM payments q WHERE q.merchant_id = p.merchant_id
         AND q.device_id = p.device_id AND q.paid_ts >= p.paid_ts - INTERVAL 1 HOUR AND q.paid_ts < p.paid_ts)
         AS device_declines_1h,
      (p.card_country IS NOT NULL AND p.ip_country IS NOT NULL AND p.card_country <> p.ip_country)::INT
         AS card_ip_mismatch,
      (p.ip_country IS NOT NULL AND p.shipping_country IS NOT NULL AND p.ip_country <> p.shipping_country)::INT
         AS ip_shipping_mismatch
    FROM p ORDER BY p.payment_id"""
    return pl.from_arrow(con.sql(sql, params={"ids": payment_ids}).to_arrow_table())


def test_features_equal_plain_sql_for_busy_and_ordinary_payments(con, features):
    busy = features.filter((pl.col("device_payments_10m") >= 2) | (pl.col("cards_per_device_1h") >= 3)
                           | (pl.col("card_ip_mismatch") == 1)).head(40)
    ordinary = features.sample(40, seed=1)
    picked = pl.concat([busy, ordinary]).unique("payment_id")
    assert busy.height >= 10, "the tiny warehouse should hold card-testing and velocity bursts"
    expected = _sql_counts(con, picked["payment_id"].to_list())
    got = picked.select(expected.columns).sort("payment_id")
    # NULL identity -> 0 in the features; SQL's comparison with NULL also matches nothing, so counts agree.
    assert got.cast({c: pl.Float64 for c in expected.columns if c != "payment_id"}).equals(
        expected.cast({c: pl.Float64 for c in expected.columns if c != "payment_id"}))


def test_amount_against_the_customers_history_is_the_mean_of_earlier_payments(con, features):
    row = features.filter(pl.col("customer_prior_payments") >= 3).row(0, named=True)
    mean = con.execute("SELECT avg(amount) FROM payments WHERE merchant_id = ? AND customer_id = ? AND paid_ts < ?",
                       [row["merchant_id"], row["customer_id"], row["paid_ts"]]).fetchone()[0]
    assert row["amount_vs_customer_mean"] == pytest.approx(row["amount"] / float(mean), rel=1e-6)


def test_nothing_after_a_payment_changes_its_features_and_an_earlier_row_does(writable_warehouse):
    c = duckdb.connect(str(writable_warehouse))
    try:
        target = c.execute("SELECT payment_id, merchant_id, paid_ts, device_id, card_fingerprint, customer_id "
                           "FROM payments WHERE device_id IS NOT NULL AND customer_id IS NOT NULL "
                           "ORDER BY paid_ts LIMIT 1 OFFSET 3000").fetchone()
        pid, m, ts, device, card, customer = target
        before = compute_features(_access(c, [m]), since=ts, until=ts).filter(pl.col("payment_id") == pid)
        # Later rows take the payment's identities and move right after it, with other amounts and statuses.
        c.execute("UPDATE payments SET device_id = ?, card_fingerprint = ?, customer_id = ?, "
                  "paid_ts = ? + INTERVAL 1 SECOND + (paid_ts - ?) / 1000, amount = amount * 7, status = 'declined' "
                  "WHERE merchant_id = ? AND paid_ts > ?", [device, card, customer, ts, ts, m, ts])
        after = compute_features(_access(c, [m]), since=ts, until=ts).filter(pl.col("payment_id") == pid)
        assert before.height == 1 and before.equals(after)
        # One more attempt from the same device a minute earlier is seen.
        c.execute("INSERT INTO payments SELECT * REPLACE (payment_id + 10000000000 AS payment_id, "
                  "paid_ts - INTERVAL 1 MINUTE AS paid_ts, 'declined' AS status) FROM payments WHERE payment_id = ?",
                  [pid])
        added = compute_features(_access(c, [m]), since=ts, until=ts).filter(pl.col("payment_id") == pid)
    finally:
        c.close()
    assert added["device_payments_10m"][0] == before["device_payments_10m"][0] + 1
    assert added["device_declines_1h"][0] == before["device_declines_1h"][0] + 1
    assert added["customer_prior_payments"][0] == before["customer_prior_payments"][0] + 1


def test_features_from_a_date_equal_the_full_computation_from_that_date(con, features):
    """Scoring new payments runs its windows over the last 30 days and adds the earlier totals: same numbers."""
    since = features["paid_ts"].sort()[int(features.height * 0.8)]
    part = compute_features(_access(con), since=since, until=since + dt.timedelta(days=20))
    expected = features.filter(pl.col("paid_ts").is_between(since, since + dt.timedelta(days=20)))
    assert part.height > 100 and part.equals(expected)
    assert (part["customer_prior_payments"] > 5).any() and (part["card_prior_payments"] > 5).any()


def test_a_merchants_features_are_the_same_scoped_or_not(con, features):
    scoped = compute_features(_access(con, [2]))
    assert set(scoped["merchant_id"].unique()) == {2}
    assert scoped.equals(features.filter(pl.col("merchant_id") == 2))
    assert compute_features(_access(con, [])).height == 0


def test_saved_model_loads_signed_scores_and_a_changed_file_is_refused(saved, con):
    store, model = saved
    loaded = store.load("fraud_score", 1)
    assert loaded.payload == model.payload and loaded.meta["metrics"]["validation_payments"] > 0
    scored = score_payments(_access(con, [1]), loaded.payload)
    assert set(scored["merchant_id"].unique()) == {1}
    for col in ("probability", "anomaly", "score"):
        assert scored[col].is_between(0.0, 1.0).all(), col
    assert scored["paid_ts"].is_sorted()
    flagged = scored.filter(pl.col("score") >= 0.5)
    assert flagged.height and (flagged["reasons"].list.len() >= 1).all()
    assert all(len(r) <= 3 for r in scored["reasons"].to_list())
    assert outputs.load_validation(loaded.payload).columns == list(outputs.VALIDATION_COLUMNS)
    assert len(outputs.load_training_scores(loaded.payload)) > 1000
    assert b"pickle" not in loaded.payload  # booster JSON, skops and parquet only
    tampered = loaded.path / "model.bin"
    os.chmod(tampered, 0o600)
    tampered.write_bytes(loaded.payload[:-1] + bytes([loaded.payload[-1] ^ 1]))
    with pytest.raises(ModelFileError, match="changed"):
        store.load("fraud_score", 1, loaded.version)


def _run(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "models", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_score_command_enqueues_the_flagged_payments_once(fixture_warehouse_path, tmp_path):
    from data.store import Principal, open_store

    path = tmp_path / "wh.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    env = {**os.environ, "RETAIL_PULSE_MODEL_KEY": KEY.decode(), "RETAIL_PULSE_STATE_URL": "",
           "RETAIL_PULSE_MODELS_DIR": str(tmp_path / "models")}
    missing = _run("score", "-m", "1", "-w", str(path), env=env)
    assert missing.returncode == 1 and "python -m models train --kind fraud_score --merchant 1" in missing.stderr
    assert _run("train", "--kind", "fraud_score", "-m", "1", "-w", str(path), env=env).returncode == 0
    first = _run("score", "-m", "1", "--since", "2025-01-01", "-w", str(path), env=env)
    assert first.returncode == 0, first.stderr
    again = _run("score", "-m", "1", "--since", "2025-01-01", "-w", str(path), env=env)
    assert "0 newly queued" in again.stdout.replace("\n", " ")
    bad = _run("score", "--since", "next week", "-w", str(path), env=env)
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr

    # What should have been queued, computed here from the saved model.
    store = ModelStore(tmp_path / "models", key=KEY)
    payload = store.load("fraud_score", 1).payload
    with duckdb.connect(str(path), read_only=True) as c:
        scored = score_payments(_access(c, [1]), payload, since=dt.datetime(2025, 1, 1))
    expected = flagged_payments(scored, outputs.load_threshold(payload))
    assert expected.height > 0
    queue = open_store(warehouse=path)
    try:
        cases = queue.reviews.queue(Principal.staff("lead"), merchant_ids=None, limit=10_000)
    finally:
        queue.close()
    assert sorted(c.payment_id for c in cases) == sorted(expected["payment_id"].to_list())
    assert {c.merchant_id for c in cases} == {1}
    assert f"{expected.height:,} newly queued" in first.stdout.replace("\n", " ")


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed: Spark local mode needs a JVM")
def test_features_on_spark_equal_duckdb(fixture_warehouse_path, tmp_path, con):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from data.spark import SparkWarehouse, export_parquet

    export_parquet(fixture_warehouse_path, tmp_path / "parquet")
    wh = SparkWarehouse(tmp_path / "parquet", master="local[2]")
    try:
        on_spark = compute_features(DataAccess(wh.backend(), Scope.merchants([1])))
    finally:
        wh.close()
    assert on_spark.height > 1000 and on_spark.equals(compute_features(_access(con, [1])))
