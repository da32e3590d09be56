"""Opening the operational store: migrations to head (also from two processes at once), where it lives,
and how the SQLite file is set up. Same tests on SQLite and PostgreSQL where they apply."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from data.cli import app
from data.store import Principal, StoreUnavailable, open_store
from data.store import location, migration
from data.store.tables import metadata
from tests.store_support import postgres_server, store, store_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_a_fresh_store_upgrades_to_head_and_matches_the_tables_module(store):
    assert migration.current_revision(store.engine) == migration.head_revision()
    assert set(inspect(store.engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"migrations and data/store/tables.py disagree: {diff}"
    # Opening again is a no-op.
    assert migration.upgrade_to_head(store.engine) == (migration.head_revision(), migration.head_revision())


OPENER = """
import sys, time
from data.store import Principal, open_store
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
store = open_store(sys.argv[1])
store.alerts.acknowledge(Principal.staff("opener"), merchant_id=1, alert_key=sys.argv[3], request_id=sys.argv[3])
print("ok")
"""


def test_opening_a_new_store_from_several_processes_at_once_is_safe(store_url):
    start = time.time() + 3  # every child is imported and waiting when the moment comes
    children = [subprocess.Popen([sys.executable, "-c", OPENER, store_url, str(start), f"p{n}"], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)}) for n in range(4)]
    results = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0 and out.strip() == "ok", err[-2000:]
    store = open_store(store_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == \
                [migration.head_revision()]
        assert len(store.alerts.states(Principal.staff("check"))) == 4
    finally:
        store.close()


def test_a_store_from_a_newer_version_is_refused_with_a_clear_message(store):
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreUnavailable, match="at migration '9999', which this version of Retail Pulse does not"):
        migration.upgrade_to_head(store.engine)


def test_default_location_is_beside_the_warehouse_owner_only_in_wal_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("RETAIL_PULSE_STATE_URL", raising=False)
    warehouse = tmp_path / "shop" / "retail.duckdb"
    store = open_store(warehouse=warehouse)
    try:
        path = tmp_path / "shop" / "retail.duckdb.state.sqlite"
        assert Path(store.url.database) == path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        store.alerts.acknowledge(Principal.staff("x"), merchant_id=1, alert_key="k", request_id="r")
        for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):  # SQLite copies the file's mode
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    finally:
        store.close()


def test_the_setting_chooses_the_store_and_bad_urls_are_refused(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("RETAIL_PULSE_STATE_URL", f"sqlite:///{target}")
    assert location.resolve_url(warehouse=tmp_path / "w.duckdb").database == str(target)
    monkeypatch.setenv("RETAIL_PULSE_STATE_URL", "postgresql://u:secret@db.example/state")
    assert location.resolve_url().drivername == "postgresql+psycopg"
    for bad, message in [("mysql://u@h/db", "names 'mysql'"), ("not a url", "not a database URL"),
                         ("sqlite://", "needs a SQLite file")]:
        monkeypatch.setenv("RETAIL_PULSE_STATE_URL", bad)
        with pytest.raises(StoreUnavailable, match=message):
            location.resolve_url()


def test_an_unreachable_server_is_named_without_its_password():
    with pytest.raises(StoreUnavailable) as refused:
        open_store("postgresql://u:hunter2@127.0.0.1:1/state")
    assert "127.0.0.1" in str(refused.value) and "hunter2" not in str(refused.value)


def test_store_upgrade_and_info_commands(tmp_path):
    runner = CliRunner()
    warehouse = tmp_path / "w.duckdb"
    first = runner.invoke(app, ["store", "upgrade", "--warehouse", str(warehouse)], env={"RETAIL_PULSE_STATE_URL": ""})
    assert first.exit_code == 0, first.output
    assert f"migration None -> {migration.head_revision()}" in first.output
    again = runner.invoke(app, ["store", "upgrade", "--warehouse", str(warehouse)], env={"RETAIL_PULSE_STATE_URL": ""})
    assert "already at migration" in again.output
    info = runner.invoke(app, ["store", "info", "--warehouse", str(warehouse)], env={"RETAIL_PULSE_STATE_URL": ""})
    assert info.exit_code == 0 and "audit_log" in info.output and "w.duckdb.state.sqlite" in info.output
    bad = runner.invoke(app, ["store", "upgrade", "--url", "mysql://x/y"])
    assert bad.exit_code == 1 and "sqlite or postgresql" in bad.output


def test_the_store_package_never_imports_streamlit():
    code = "import sys, data.store.store, data.store.commands; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "False", out.stderr


def test_migration_env_refuses_to_run_without_the_locking_caller():
    from alembic import command

    with pytest.raises(RuntimeError, match="python -m data store upgrade"):
        command.upgrade(migration._config(None), "head")
