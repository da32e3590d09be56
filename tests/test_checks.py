from __future__ import annotations

import duckdb

from data.checks import CHECKS, run_checks


def _failed(path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    with con:
        return {r.check.name: r.violations for r in run_checks(con) if not r.ok}


def test_generated_warehouse_passes_every_check(fixture_warehouse_path):
    assert _failed(fixture_warehouse_path) == {}


def test_checks_catch_broken_rows(writable_warehouse):
    con = duckdb.connect(str(writable_warehouse))
    with con:
        con.execute("INSERT INTO orders SELECT * FROM orders LIMIT 1")  # duplicate order key
        con.execute("UPDATE order_lines SET product_id = -5 WHERE order_id = (SELECT min(order_id) FROM order_lines)")
        con.execute("UPDATE orders SET net_amount = net_amount + 100 WHERE order_id = (SELECT max(order_id) FROM orders)")
    failed = _failed(writable_warehouse)
    assert failed.get("orders_key_unique") == 1
    assert failed.get("order_lines_product_id_known", 0) >= 1
    assert failed.get("order_net_arithmetic", 0) >= 1


def test_check_names_are_unique_and_documented():
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    assert all(c.doc.endswith(".") for c in CHECKS)
