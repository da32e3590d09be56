"""The rows behind the charts and the data coverage give identical results on DuckDB and Spark local mode."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest
from polars.testing import assert_frame_equal

from analytics import coverage, details
from analytics.filters import Filters
from data.access import DataAccess, Scope

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed: Spark local mode needs a JVM"),
]


@pytest.fixture(scope="module")
def spark_warehouse(fixture_warehouse_path, tmp_path_factory):
    from data.spark import SparkWarehouse, export_parquet

    out = tmp_path_factory.mktemp("parquet_details")
    export_parquet(fixture_warehouse_path, out)
    wh = SparkWarehouse(out, master="local[2]")
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def selection(fixture_warehouse_path) -> Filters:
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        last = con.execute("SELECT max(order_ts)::DATE FROM orders").fetchall()[0][0]
        region = con.execute("SELECT min(region) FROM stores WHERE merchant_id = 2 AND kind = 'store'").fetchall()[0][0]
    finally:
        con.close()
    return Filters(last - dt.timedelta(days=89), last, regions=(region,))


@pytest.mark.parametrize("merchants", [None, [2]])
@pytest.mark.parametrize("kind", list(details.DETAILS_BY_KEY))
def test_details_agree(serving_warehouse, spark_warehouse, selection, merchants, kind):
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    duck, spark = (DataAccess(w.backend(), scope) for w in (serving_warehouse, spark_warehouse))
    got = details.compute_details(duck, selection, kind)
    assert got.height > 0
    assert_frame_equal(got, details.compute_details(spark, selection, kind), check_exact=True)
    assert details.compute_detail_count(spark, selection, kind) == got.height


@pytest.mark.parametrize("merchants", [None, [1], []])
def test_coverage_agrees(serving_warehouse, spark_warehouse, merchants):
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    duck, spark = (DataAccess(w.backend(), scope) for w in (serving_warehouse, spark_warehouse))
    assert_frame_equal(coverage.compute_data_coverage(duck), coverage.compute_data_coverage(spark), check_exact=True)
