"""Hostile filter values are data, never SQL: they match nothing and change nothing.

Each value goes in beside a real value of each dimension (region, category, channel, payment
method), so the result must equal the one for a benign non-matching value beside those real values:
an injected tautology would add rows, a broken query would lose them or raise. After all of them,
every table's row count and content hash is unchanged and no file was written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb
import pytest
from polars.testing import assert_frame_equal

from analytics import breakdowns, kpis
from analytics.filters import Filters
from data.access import DataAccess, Scope
from data.tables import ALL_TABLES

PWNED = Path("/tmp/retail_pulse_hostile_pwned.csv")

HOSTILE: list[str] = [
    "'", "''", "\"", "`", "web'", "' OR '1'='1", "' OR 1=1 --", "web' OR 'a'='a", "') OR ('1'='1",
    "x'; DROP TABLE orders; --", "'; DELETE FROM orders; SELECT '", "'; UPDATE orders SET net_amount = 0; --",
    "' UNION SELECT 'web' --", "web' UNION SELECT channel FROM orders --",
    "' UNION SELECT * FROM read_csv('/etc/passwd') --", "read_csv('/etc/passwd')", "/etc/passwd",
    "' || (SELECT string_agg(name, ',') FROM merchants) || '",
    "'; ATTACH '/tmp/retail_pulse_hostile.duckdb' AS x; --", "ATTACH ':memory:' AS m",
    f"'; COPY orders TO '{PWNED}'; --", f"COPY (SELECT * FROM orders) TO '{PWNED}'",
    "'; INSTALL httpfs; LOAD httpfs; --", "'; SET enable_external_access = true; --", "'; PRAGMA version; --",
    "web --", "web/*", "*/ OR 1=1 /*", "/* comment */ web", "-- web", "web;", ";",
    "ｗｅｂ", "wеb",  # fullwidth letters; Cyrillic е
    "web\u200b", "\u202eweb", "ＯＲ １＝１", "ʼ OR ʼ1ʼ=ʼ1",  # zero-width space, RTL override, lookalike quotes
    "web\x00", "\x00' OR '1'='1", "\x00",
    "A" * 10_000, "' OR '" * 500, "🛒💳" * 100,
    "\\", "\\'", "web\\", "\\x27 OR 1=1", "%", "_", "web%", "%' OR '%'='",
    "$1", "$channel", "?", "??", ":name", "@p", "{0}", "%s", "NULL", "null", "None", "", " ", "\t\n",
    "1); SELECT 1; --", "'||chr(39)||'", "$$ OR 1=1 $$", "E'\\x27'", "' AND sleep(5) --",
]

FIELDS = ("regions", "categories", "channels", "payment_methods")
BENIGN = "zz-no-such-value"


def test_enough_hostile_values():
    assert len(set(HOSTILE)) >= 50


def _snapshot(path: Path) -> dict:
    """Row count and content hash of every table (observed, truth and meta), plus the table list."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {"tables": con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()}
        for t in [*(t.qualified for t in ALL_TABLES), "main.meta"]:
            out[t] = con.execute(f"SELECT count(*), sum(hash(x)) FROM {t} x").fetchall()[0]
    finally:
        con.close()
    return out


@pytest.fixture(scope="module")
def hostile_setup(fixture_warehouse_path, tmp_path_factory):
    """A private hardened warehouse (the module checks it afterwards) and real values to pair with."""
    import shutil

    from data.warehouse import Warehouse

    path = tmp_path_factory.mktemp("hostile") / "hostile.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        first, last = con.execute("SELECT min(order_ts)::DATE, max(order_ts)::DATE FROM orders").fetchall()[0]
        real = {
            "regions": con.execute("SELECT min(region) FROM stores").fetchall()[0][0],
            "categories": con.execute("SELECT min(category) FROM products WHERE is_merchandise").fetchall()[0][0],
            "channels": con.execute("SELECT min(channel) FROM orders").fetchall()[0][0],
            "payment_methods": con.execute("SELECT min(payment_method) FROM orders").fetchall()[0][0],
        }
        present = {
            "regions": "SELECT region FROM stores UNION SELECT shipping_region FROM orders",
            "categories": "SELECT DISTINCT category FROM products",
            "channels": "SELECT DISTINCT channel FROM orders",
            "payment_methods": "SELECT DISTINCT payment_method FROM orders",
        }
        present = {k: {r[0] for r in con.execute(q).fetchall()} for k, q in present.items()}
    finally:
        con.close()
    before = _snapshot(path)
    state = {"wh": Warehouse(path), "path": path, "real": real, "present": present,
             "filters": Filters(first, last), "before": before}
    yield state
    state["wh"].close()


def _hostile(setup: dict) -> list[str]:
    # A value the data really holds (say a category named "NULL") would rightly match; leave it out.
    present = set().union(*setup["present"].values())
    values = [v for v in HOSTILE if v not in present]
    assert len(values) >= 50
    return values


def _paired(setup: dict, value: str) -> Filters:
    """``value`` beside a real value in every string dimension at once."""
    real = setup["real"]
    return dataclasses.replace(setup["filters"], **{f: (value, real[f]) for f in FIELDS})


def _run_all(access: DataAccess, f: Filters, value: str) -> list:
    return [
        kpis.compute_kpis(access, f),
        breakdowns.compute_product_breakdown(access, f, category=value),
        breakdowns.compute_store_breakdown(access, f, region=value),
    ]


@pytest.mark.slow
def test_hostile_values_match_nothing(hostile_setup):
    """Beside real values, a hostile one changes no figure: same result as a benign non-matching value.

    All four dimensions carry the value in one call: an injected condition in any of them would let in
    rows the real values exclude (checked below: each dimension does exclude rows), an error would raise.
    """
    access = DataAccess(hostile_setup["wh"].backend(), Scope.unrestricted())
    baseline = _run_all(access, _paired(hostile_setup, BENIGN), BENIGN)
    orders = dict(baseline[0].iter_rows())["orders"]
    assert orders > 0, "the real values must select rows"
    for field in FIELDS:  # each real value alone restricts more than nothing would, so a tautology would show
        wide = dataclasses.replace(_paired(hostile_setup, BENIGN), **{field: ()})
        assert dict(kpis.compute_kpis(access, wide).iter_rows())["orders"] > orders, field
    for value in _hostile(hostile_setup):
        got = _run_all(access, _paired(hostile_setup, value), value)
        for g, b in zip(got, baseline, strict=True):
            try:
                assert_frame_equal(g, b, check_exact=True)
            except AssertionError as exc:
                raise AssertionError(f"value {value[:80]!r} changed a result") from exc


def test_hostile_values_alone_select_nothing(hostile_setup):
    """On its own in every string dimension a hostile value matches no row."""
    access = DataAccess(hostile_setup["wh"].backend(), Scope.unrestricted())
    for value in _hostile(hostile_setup):
        f = dataclasses.replace(hostile_setup["filters"], **{field: (value,) for field in FIELDS})
        values = dict(kpis.compute_kpis(access, f).iter_rows())
        assert values["orders"] == 0 and values["revenue"] == 0, repr(value[:80])


def test_day_is_typed(hostile_setup):
    """The one non-string parameter of a page call must be a real date."""
    access = DataAccess(hostile_setup["wh"].backend(), Scope.unrestricted())
    with pytest.raises(TypeError):
        breakdowns.compute_day_orders(access, hostile_setup["filters"], "2024-01-01' OR '1'='1")
    assert isinstance(hostile_setup["filters"].start, dt.date)


def test_nothing_changed_and_no_file_written(hostile_setup):
    """Last in this module (pytest keeps file order): the warehouse is exactly as it was before."""
    hostile_setup["wh"].close()  # a read-only snapshot cannot open the file while the handle holds it
    assert _snapshot(hostile_setup["path"]) == hostile_setup["before"]
    assert not PWNED.exists()
    assert not Path("/tmp/retail_pulse_hostile.duckdb").exists()
