"""The data-access layer keeps merchants apart under concurrency, refuses what it does not serve,
and the hardened warehouse refuses file access and configuration changes from SQL."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from data.access import AccessDenied, DataAccess, Scope
from data.engines import open_engine
from data.tables import OBSERVED, TRUTH
from data.warehouse import Warehouse

THREADS = 8
QUERIES_PER_THREAD = 300


@pytest.fixture(scope="module")
def expected(fixture_warehouse_path) -> dict:
    """Per merchant: rows per scoped table, orders per channel; computed on a plain read-only connection."""
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
        rows = {}
        for t in ("orders", "order_lines", "customers", "products", "payments"):
            for m, n in con.execute(f"SELECT merchant_id, count(*) FROM main.{t} GROUP BY 1").fetchall():
                rows[(t, m)] = n
        channels = {}
        for m, ch, n in con.execute(
                "SELECT merchant_id, channel, count(*) FROM orders WHERE channel IS NOT NULL GROUP BY 1, 2").fetchall():
            channels[(m, ch)] = n
        revenue = dict(con.execute("SELECT merchant_id, sum(net_amount) FROM orders GROUP BY 1").fetchall())
    finally:
        con.close()
    return {"merchants": merchants, "rows": rows, "channels": channels, "revenue": revenue}


def test_threads_each_see_only_their_merchant(serving_warehouse, expected):
    """8 threads x 300 scoped queries, each thread with its own DataAccess (as Streamlit sessions would)."""
    merchants = expected["merchants"]
    assert len(merchants) >= 2, "the fixture needs several merchants for this test to mean anything"
    channel_names = sorted({ch for (_, ch) in expected["channels"]})
    results: list[tuple[bool, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(i: int) -> None:
        m = merchants[i % len(merchants)]
        access = DataAccess(serving_warehouse.backend(), Scope.merchants([m]))
        start.wait()
        local = []
        for q in range(QUERIES_PER_THREAD):
            try:
                kind = q % 3
                if kind == 0:  # every row's merchant and the row count of a table
                    table = ("orders", "order_lines", "customers", "products", "payments")[q % 5]
                    t = access.table(table)
                    got = access.to_polars(t.group_by("merchant_id").aggregate(n=t.count()))
                    ok = got["merchant_id"].to_list() == [m] and got["n"].to_list() == [expected["rows"][(table, m)]]
                elif kind == 1:  # a string filter bound through a memtable
                    ch = channel_names[q % len(channel_names)]
                    o = access.table("orders")
                    o = o.filter(access.equals(o.channel, ch))
                    got = access.to_polars(o.group_by("merchant_id").aggregate(n=o.count()))
                    want = expected["channels"].get((m, ch), 0)
                    ok = (got["merchant_id"].to_list(), got["n"].to_list()) == (([m], [want]) if want else ([], []))
                else:  # a money sum
                    o = access.table("orders")
                    got = access.to_polars(o.aggregate(s=o.net_amount.sum(), lo=o.merchant_id.min(),
                                                       hi=o.merchant_id.max()))
                    ok = got.row(0) == (expected["revenue"][m], m, m)
                local.append((ok, f"thread {i} query {q} merchant {m}"))
            except Exception as exc:  # an error counts as a wrong answer
                local.append((False, f"thread {i} query {q}: {type(exc).__name__}: {exc}"))
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    correct = sum(ok for ok, _ in results)
    wrong = [msg for ok, msg in results if not ok]
    assert (correct, len(results)) == (THREADS * QUERIES_PER_THREAD, THREADS * QUERIES_PER_THREAD), wrong[:5]


def test_unknown_and_truth_tables_are_refused(access_all):
    for name in ["nope", "meta", "truth.fraud", "main.orders", "orders; DROP TABLE orders", ""] + [
            t.name for t in TRUTH if t.name not in {o.name for o in OBSERVED}]:
        with pytest.raises(AccessDenied):
            access_all.table(name)


def test_empty_scope_returns_nothing(serving_warehouse):
    access = DataAccess(serving_warehouse.backend(), Scope.merchants([]))
    for spec in OBSERVED:
        t = access.table(spec.name)
        assert access.to_polars(t.aggregate(n=t.count()))["n"].to_list() == [0], spec.name


def test_scope_limits_every_table(serving_warehouse, expected):
    m = expected["merchants"][0]
    access = DataAccess(serving_warehouse.backend(), Scope.merchants([m]))
    for spec in OBSERVED:
        t = access.table(spec.name)
        ids = access.to_polars(t.select("merchant_id").distinct())["merchant_id"].to_list()
        assert set(ids) <= {m}, spec.name


@pytest.mark.parametrize("ids", [["1"], [1.0], [True], [None], [1, "2"]])
def test_non_int_merchant_ids_are_refused(ids):
    with pytest.raises(TypeError):
        Scope.merchants(ids)


def test_isin_refuses_mixed_values(access_all):
    o = access_all.table("orders")
    with pytest.raises(TypeError):
        access_all.isin(o.channel, ["web", 1])


# ---------------------------------------------------------------------------------------------- hardening


@pytest.fixture
def secret_file(tmp_path) -> Path:
    p = tmp_path / "secret.csv"
    p.write_text("a,b\n1,2\n")
    return p


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM '{secret}'",
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM glob('{dir}/*')",
])
def test_cursor_cannot_read_files(serving_warehouse, secret_file, sql):
    cur = serving_warehouse.cursor()
    try:
        with pytest.raises(duckdb.Error):
            cur.execute(sql.format(secret=secret_file, dir=secret_file.parent)).fetchall()
    finally:
        cur.close()


def test_cursor_cannot_attach_copy_install_or_set(serving_warehouse, tmp_path):
    out = tmp_path / "out.csv"
    other = tmp_path / "other.duckdb"
    statements = [
        f"ATTACH '{other}' AS other",
        f"ATTACH '{serving_warehouse.path}' AS again (READ_ONLY)",
        f"COPY orders TO '{out}' (FORMAT csv)",
        f"COPY (SELECT 1) TO '{out}'",
        f"EXPORT DATABASE '{tmp_path / 'dump'}'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET threads = 1",
        "RESET lock_configuration",
    ]
    cur = serving_warehouse.cursor()
    try:
        for sql in statements:
            with pytest.raises(duckdb.Error):
                cur.execute(sql)
        assert not out.exists() and not other.exists() and not (tmp_path / "dump").exists()
        assert cur.execute("SELECT current_setting('enable_external_access')").fetchall() == [(False,)]
        assert cur.execute("SELECT current_setting('lock_configuration')").fetchall() == [(True,)]
    finally:
        cur.close()


def test_ibis_backend_cannot_read_files(serving_warehouse, secret_file):
    backend = serving_warehouse.backend()
    with pytest.raises(Exception):
        backend.read_csv(str(secret_file)).count().execute()


def test_open_engine_by_setting(serving_warehouse):
    env = {"RETAIL_PULSE_BACKEND": "duckdb", "RETAIL_PULSE_WAREHOUSE": str(serving_warehouse.path)}
    second = open_engine(environ=env)  # the same file in the same process: DuckDB shares the hardened instance
    try:
        assert second.engine == "duckdb" and second.data_version() == serving_warehouse.data_version()
        with pytest.raises(duckdb.Error):
            second.cursor().execute("SET enable_external_access = true")
    finally:
        second.close()
    with pytest.raises(ValueError, match="unknown backend"):
        open_engine(environ={"RETAIL_PULSE_BACKEND": "sqlite"})


def test_open_engine_duckdb(writable_warehouse):
    eng = open_engine(environ={"RETAIL_PULSE_BACKEND": "duckdb", "RETAIL_PULSE_WAREHOUSE": str(writable_warehouse)})
    try:
        assert isinstance(eng, Warehouse) and eng.engine == "duckdb" and eng.data_version() >= 1
    finally:
        eng.close()


def test_a_second_warehouse_on_the_same_file_in_one_process_shares_the_hardened_instance(writable_warehouse):
    """DuckDB serves one instance per file in a process: the second open finds its configuration locked already."""
    from data.warehouse import Warehouse

    first, second = Warehouse(writable_warehouse), Warehouse(writable_warehouse)
    try:
        cur = second.cursor()
        assert cur.execute("SELECT current_setting('lock_configuration')").fetchone()[0] is True
        with pytest.raises(duckdb.Error):
            cur.execute("SET enable_external_access = true")
    finally:
        second.close()
        first.close()
