"""Schema 4 payment signals: the generator plants fraud through card, device, network and email identities,
every older table stays what it was, and `python -m data upgrade` lifts a schema-3 warehouse keeping its rows.

Each pattern is measured from ``main.payments`` with its own SQL; ``truth.fraud`` only says where it was planted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from data import schema, warehouse
from data.tables import ALL_TABLES, AUTH_RESULTS, PAYMENT_SIGNALS
from tests.conftest import FIXTURE_SEED

ROOT = Path(__file__).resolve().parents[1]
HASHED = [t for t in ALL_TABLES if t.qualified != "main.imports"]  # imports: uuid + load time
# Failed checkouts of payment outages (data/generator/outages.py, drawn after every other table): a baseline from
# before them lacks their orders, lines and payments, and the daily rollups that count them.
FAILED_CHECKOUTS = "SELECT order_id FROM main.payments WHERE auth_result = 'declined_processing_error'"


@pytest.fixture(scope="module")
def con(fixture_warehouse_path):
    c = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield c
    c.close()


def q(con, sql: str) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql).to_arrow_table())


def one(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


SCHEMA5_TABLES = ("rollup_order_categories", "rollup_category_bits")  # added after schema 4


def column_hashes(path: Path, columns: dict[str, list[str]] | None = None,
                  without_failed_checkouts: bool = False) -> dict[str, tuple[int, int]]:
    """Rows and an order-free checksum of the given columns of the given tables (default: every declared column of
    every table); ``without_failed_checkouts``: leave out the rows of the failed checkouts of payment outages."""
    out = {}
    with duckdb.connect(str(path), read_only=True) as c:
        for t in HASHED:
            if columns is not None and t.qualified not in columns:
                continue
            cols = (columns or {}).get(t.qualified, list(t.column_names))
            where = ""
            if without_failed_checkouts and "order_id" in t.column_names:
                where = f" WHERE order_id IS NULL OR order_id NOT IN ({FAILED_CHECKOUTS})"
            out[t.qualified] = tuple(c.execute(
                f"SELECT count(*), coalesce(sum(hash({', '.join(cols)})::HUGEINT), 0) FROM {t.qualified}{where}"
            ).fetchone())
    return out


# --- nothing else moved ----------------------------------------------------------------------------------------


def test_old_columns_of_every_table_equal_the_main_branch(fixture_warehouse_path, tmp_path):
    """The main branch's generator (git archive of `main`, run in its own process) gives the same rows and
    values in every column it knows, for the fixture's size and seed: the signals use a stream of their own."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    ref = os.environ.get("RP_BASELINE_REF", "main")
    code = tmp_path / "baseline"
    code.mkdir()
    archive = subprocess.run(["git", "archive", ref, "data"], cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"no git ref {ref!r} to compare with: {archive.stderr.decode()[:200]}")
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
    out = tmp_path / "baseline.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    made = subprocess.run([sys.executable, "-c", "import sys; from data.generator import generate; "
                           f"generate(sys.argv[1], size='tiny', seed={FIXTURE_SEED}, progress=False)", str(out)],
                          cwd=code, env=env, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    with duckdb.connect(str(out), read_only=True) as c:
        theirs = {t.qualified: [r[0] for r in c.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position", [t.schema, t.name]).fetchall()] for t in HASHED}
    common = {t: [c for c in cols if c in {x.name for x in next(y for y in HASHED if y.qualified == t).columns}]
              for t, cols in theirs.items()}
    assert set(PAYMENT_SIGNALS) <= set(next(t for t in HASHED if t.name == "payments").column_names)
    with duckdb.connect(str(out), read_only=True) as c:
        has_failed = c.execute("SELECT count(*) FROM main.payments WHERE auth_result = "
                               "'declined_processing_error'").fetchone()[0] > 0
    if not has_failed:  # a baseline from before the failed checkouts: compare everything else
        common = {t: cols for t, cols in common.items() if not t.startswith("main.rollup_")}
    assert (column_hashes(fixture_warehouse_path, common, without_failed_checkouts=not has_failed)
            == column_hashes(out, common, without_failed_checkouts=not has_failed))


# --- what the signals look like -----------------------------------------------------------------------------


def test_fields_are_well_formed_and_never_hold_a_card_number(con):
    p = q(con, "SELECT * FROM main.payments")
    assert p["card_fingerprint"].drop_nulls().str.contains(r"^fp_[0-9a-f]{16}$").all()
    assert p["device_id"].drop_nulls().str.contains(r"^dev_[0-9a-f]{16}$").all()
    assert p["ip_prefix"].drop_nulls().str.contains(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.0/24$").all()
    octets = p["ip_prefix"].drop_nulls().str.extract_all(r"\d+").explode().cast(pl.Int32)
    assert octets.max() <= 255
    assert p["email_domain"].drop_nulls().str.contains(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$").all()
    assert set(p["auth_result"].unique()) <= set(AUTH_RESULTS)
    for col in PAYMENT_SIGNALS:  # no run of 13 or more digits anywhere (a card number would be one)
        assert not p[col].drop_nulls().str.contains(r"\d{13,}").any(), col
    # Consistent with the older columns.
    assert (p["card_fingerprint"].is_null() == p["card_country"].is_null()).all()
    assert (p["device_id"].is_null() == (p["device"] == "pos")).all()
    assert (p["ip_prefix"].is_null() == p["ip_country"].is_null()).all()
    assert ((p["status"] == "declined") == (p["auth_result"] != "approved")).all()
    assert one(con, "SELECT count(*) FROM (SELECT card_fingerprint FROM main.payments WHERE card_fingerprint "
                    "IS NOT NULL GROUP BY 1 HAVING count(DISTINCT card_country) > 1)") == 0
    assert one(con, "SELECT count(*) FROM (SELECT device_id FROM main.payments WHERE device_id IS NOT NULL "
                    "GROUP BY 1 HAVING count(DISTINCT merchant_id) > 1)") == 0


def test_legitimate_customers_reuse_cards_devices_networks_and_email(con):
    legit = ("FROM main.payments p WHERE p.customer_id IS NOT NULL AND p.payment_id NOT IN "
             "(SELECT payment_id FROM truth.fraud)")
    per = q(con, f"""SELECT p.customer_id, count(*) AS n, count(card_fingerprint) AS card_payments,
        count(DISTINCT card_fingerprint) AS cards, count(DISTINCT device_id) AS devices,
        count(DISTINCT ip_prefix) AS nets, count(DISTINCT email_domain) AS domains,
        count(ip_prefix) AS net_payments, count(device_id) AS device_payments {legit} GROUP BY 1""")
    busy = per.filter(pl.col("card_payments") >= 5)
    assert busy.height > 100
    assert busy["cards"].max() <= 6  # at most 3 own cards plus a few foreign ones from travel
    assert (busy["cards"] / busy["card_payments"]).mean() < 0.3  # the same cards again and again
    busy_dev = per.filter(pl.col("device_payments") >= 5)
    assert (busy_dev["devices"] / busy_dev["device_payments"]).mean() < 0.45
    busy_net = per.filter(pl.col("net_payments") >= 5)
    assert (busy_net["nets"] / busy_net["net_payments"]).mean() < 0.35
    assert per["domains"].max() == 1  # one account, one address
    # A legitimate card belongs to one customer.
    assert one(con, f"SELECT count(*) FROM (SELECT card_fingerprint {legit} AND card_fingerprint IS NOT NULL "
                    "GROUP BY 1 HAVING count(DISTINCT customer_id) > 1)") == 0


def test_card_testing_is_bursts_of_small_declined_attempts_on_one_device_or_card(con):
    """Per payment: declined attempts on the same device or card in the 10 minutes up to it (SQL windows)."""
    p = q(con, """
        WITH x AS (SELECT p.*, f.pattern FROM main.payments p LEFT JOIN truth.fraud f USING (payment_id))
        SELECT payment_id, pattern, amount, status, auth_result,
          count(*) FILTER (WHERE status = 'declined') OVER (PARTITION BY merchant_id, device_id ORDER BY paid_ts
            RANGE BETWEEN INTERVAL 10 MINUTE PRECEDING AND CURRENT ROW) AS dev_declines_10m,
          count(*) FILTER (WHERE status = 'declined') OVER (PARTITION BY merchant_id, card_fingerprint
            ORDER BY paid_ts RANGE BETWEEN INTERVAL 10 MINUTE PRECEDING AND CURRENT ROW) AS card_declines_10m,
          count(DISTINCT card_fingerprint) OVER (PARTITION BY merchant_id, device_id) AS cards_on_device
        FROM x WHERE device_id IS NOT NULL AND card_fingerprint IS NOT NULL""")
    burst = pl.max_horizontal("dev_declines_10m", "card_declines_10m")
    testing = p.filter(pl.col("pattern") == "card_testing")
    legit = p.filter(pl.col("pattern").is_null())
    assert testing.height >= 3 * 8  # one burst per merchant at least, 8+ attempts each
    assert (testing["status"] == "declined").mean() > 0.7
    assert testing["amount"].cast(pl.Float64).median() < 0.25 * legit["amount"].cast(pl.Float64).median()
    assert testing.select((burst >= 3).mean()).item() > 0.8
    assert legit.select((burst >= 3).mean()).item() < 0.001
    # The decline reasons of testers are not those of people short of money.
    reasons = testing.filter(pl.col("status") == "declined")["auth_result"]
    assert (reasons == "declined_insufficient_funds").sum() == 0
    assert reasons.is_in(["declined_invalid_number", "declined_cvc"]).mean() > 0.3
    # Many cards on one device: the tester's device holds far more cards than any legitimate one.
    assert testing["cards_on_device"].max() >= 8
    assert legit["cards_on_device"].quantile(0.999) <= 4


def test_velocity_is_one_card_and_device_used_again_within_two_hours(con):
    v = q(con, """SELECT p.merchant_id, card_fingerprint, count(*) AS n, count(DISTINCT device_id) AS devices,
                    count(DISTINCT email_domain) AS domains, date_diff('second', min(paid_ts), max(paid_ts)) AS span
                  FROM main.payments p JOIN truth.fraud f USING (payment_id) WHERE f.pattern = 'velocity'
                  GROUP BY 1, 2""")
    assert v.height >= 3 * 2
    assert (v["n"] >= 3).all() and (v["devices"] == 1).all() and (v["domains"] == 1).all()
    assert (v["span"] <= 2 * 3600 + 600).all()
    # A legitimate card is rarely used 3 times within 2 hours.
    legit_fast = one(con, """SELECT count(*) FROM (SELECT count(*) OVER (PARTITION BY merchant_id, card_fingerprint
        ORDER BY paid_ts RANGE BETWEEN INTERVAL 2 HOUR PRECEDING AND CURRENT ROW) AS k, payment_id FROM main.payments
        WHERE card_fingerprint IS NOT NULL AND status <> 'declined') x
        WHERE k >= 3 AND payment_id NOT IN (SELECT payment_id FROM truth.fraud)""")
    assert legit_fast < 10


def test_fraud_identities_are_new_and_disposable_email_marks_fraud(con):
    f = q(con, """SELECT f.pattern, p.email_domain, p.customer_id IS NOT NULL AS known, p.card_fingerprint,
                    (SELECT count(*) FROM main.payments e WHERE e.merchant_id = p.merchant_id
                      AND e.card_fingerprint = p.card_fingerprint AND e.paid_ts < p.paid_ts - INTERVAL 1 DAY) AS seen
                  FROM main.payments p LEFT JOIN truth.fraud f USING (payment_id)""")
    fraud = f.filter(pl.col("pattern").is_not_null())
    disposable = ["mailinator.com", "guerrillamail.com", "yopmail.com", "10minutemail.com"]
    assert fraud["email_domain"].is_in(disposable).mean() > 0.3
    assert f.filter(pl.col("pattern").is_null())["email_domain"].is_in(disposable).sum() == 0
    assert (fraud.filter(pl.col("card_fingerprint").is_not_null())["seen"] == 0).all()  # never seen a day before


# --- upgrade of a schema-3 warehouse ------------------------------------------------------------------------


def test_schema3_warehouse_upgrades_keeping_every_row(fixture_warehouse_path, tmp_path):
    path = tmp_path / "v3.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    with duckdb.connect(str(path)) as c:  # a schema-3 warehouse: payments without the signals, no schema-5 rollups
        for col in PAYMENT_SIGNALS:
            c.execute(f"ALTER TABLE main.payments DROP COLUMN {col}")
        for table in SCHEMA5_TABLES:
            c.execute(f"DROP TABLE IF EXISTS main.{table}")
        schema.set_meta(c, "schema_version", "3")
    old = {t: [n for n in cols if n not in PAYMENT_SIGNALS] for t, cols in
           ((t.qualified, list(t.column_names)) for t in HASHED if t.name not in SCHEMA5_TABLES)}
    before = column_hashes(path, old)
    with pytest.raises(schema.SchemaError, match=r"python -m data upgrade --warehouse"):
        warehouse.Warehouse(path)
    out = subprocess.run([sys.executable, "-m", "data", "upgrade", "--warehouse", str(path)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(rf"schema v3 -> v{schema.SCHEMA_VERSION}", out.stdout)
    assert column_hashes(path, old) == before
    with duckdb.connect(str(path), read_only=True) as c:
        assert schema.read_version(c) == schema.SCHEMA_VERSION >= 4
        declared = [col.name for col in next(t for t in HASHED if t.name == "payments").columns]
        assert [r[0] for r in c.execute("DESCRIBE main.payments").fetchall()] == declared
        nulls = c.execute("SELECT " + ", ".join(f"count({col})" for col in PAYMENT_SIGNALS)
                          + " FROM main.payments").fetchone()
        assert nulls == (0,) * len(PAYMENT_SIGNALS)
        comment = c.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'payments' "
                            "AND column_name = 'ip_prefix'").fetchone()[0]
        assert "/24" in comment
    warehouse.Warehouse(path).close()  # opens now
    again = subprocess.run([sys.executable, "-m", "data", "upgrade", "--warehouse", str(path)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert again.returncode == 0 and f"already v{schema.SCHEMA_VERSION}" in again.stdout


def test_failed_signals_upgrade_leaves_schema3_untouched(fixture_warehouse_path, tmp_path, monkeypatch):
    path = tmp_path / "v3.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    with duckdb.connect(str(path)) as c:
        for col in PAYMENT_SIGNALS:
            c.execute(f"ALTER TABLE main.payments DROP COLUMN {col}")
        schema.set_meta(c, "schema_version", "3")
        real = schema.MIGRATIONS[4]

        def half(con):
            real(con)
            raise RuntimeError("power cut")

        monkeypatch.setitem(schema.MIGRATIONS, 4, half)
        with pytest.raises(RuntimeError, match="power cut"):
            schema.upgrade(c, str(path))
        assert schema.read_version(c) == 3
        cols = {r[0] for r in c.execute("DESCRIBE main.payments").fetchall()}
        assert not cols & set(PAYMENT_SIGNALS)


def test_validate_checks_catch_a_stored_card_number_and_a_wrong_decline(writable_warehouse):
    from data.checks import run_checks

    with duckdb.connect(str(writable_warehouse)) as c:
        def violations() -> dict[str, int]:
            return {r.check.name: r.violations for r in run_checks(c)
                    if r.check.name in ("payment_auth_result_known", "payment_signals_well_formed")}

        assert violations() == {"payment_auth_result_known": 0, "payment_signals_well_formed": 0}
        c.execute("UPDATE main.payments SET card_fingerprint = '4111 1111 1111 1111' "
                  "WHERE payment_id = (SELECT min(payment_id) FROM main.payments)")
        c.execute("UPDATE main.payments SET ip_prefix = '203.0.113.7' "
                  "WHERE payment_id = (SELECT max(payment_id) FROM main.payments WHERE ip_prefix IS NOT NULL)")
        c.execute("UPDATE main.payments SET auth_result = 'approved' "
                  "WHERE payment_id = (SELECT min(payment_id) FROM main.payments WHERE status = 'declined')")
        assert violations() == {"payment_auth_result_known": 1, "payment_signals_well_formed": 2}
