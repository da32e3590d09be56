"""The shared filters offer exactly what the scope holds, and presets end on the scope's last order day."""

from __future__ import annotations

import duckdb
import pytest

from analytics.options import compute_data_as_of, compute_filter_options
from data.access import DataAccess, Scope


@pytest.fixture(scope="module")
def plain(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield con
    con.close()


def _merchants(plain) -> list[int]:
    return [r[0] for r in plain.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]


def _column(plain, sql: str, ids: list[int]) -> list:
    listed = ", ".join(str(int(i)) for i in ids)
    return [r[0] for r in plain.execute(sql.format(ids=listed)).fetchall()]


def test_options_equal_plain_sql_for_every_scope(serving_warehouse, plain):
    ids_all = _merchants(plain)
    scopes = [(Scope.unrestricted(), ids_all)] + [(Scope.merchants([m]), [m]) for m in ids_all]
    for scope, ids in scopes:
        opts = compute_filter_options(DataAccess(serving_warehouse.backend(), scope))
        regions = _column(plain, """
            SELECT shipping_region FROM orders WHERE merchant_id IN ({ids}) AND shipping_region IS NOT NULL
            UNION
            SELECT region FROM stores WHERE merchant_id IN ({ids}) AND kind <> 'warehouse' AND region IS NOT NULL
            ORDER BY 1""", ids)
        assert opts["regions"]["region"].to_list() == regions, scope
        if scope.merchant_ids is None:
            assert set(regions) - {r for r in opts["stores"]["region"].to_list() if r}, \
                "the fixture ships to regions with no store there: the region filter must offer them too"
        assert opts["categories"]["category"].to_list() == _column(
            plain, "SELECT DISTINCT category FROM products WHERE merchant_id IN ({ids}) AND is_merchandise "
                   "AND category IS NOT NULL ORDER BY 1", ids)
        assert opts["channels"]["channel"].to_list() == _column(
            plain, "SELECT DISTINCT channel FROM orders WHERE merchant_id IN ({ids}) AND channel IS NOT NULL "
                   "ORDER BY 1", ids)
        assert opts["payment_methods"]["payment_method"].to_list() == _column(
            plain, "SELECT DISTINCT payment_method FROM orders WHERE merchant_id IN ({ids}) "
                   "AND payment_method IS NOT NULL ORDER BY 1", ids)
        assert sorted(opts["merchants"]["merchant_id"].to_list()) == ids
        last = plain.execute(
            f"SELECT max(order_ts)::DATE FROM orders WHERE merchant_id IN ({', '.join('?' * len(ids))})",
            ids).fetchone()[0]
        assert compute_data_as_of(DataAccess(serving_warehouse.backend(), scope)) == last
