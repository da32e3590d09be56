"""Every query of the KPI and sales pages gives identical results on DuckDB and on Spark local mode.

The fixture warehouse is exported to Parquet once; one SparkSession serves the module. Results are
compared exactly (same dtypes, same values, same order): the analytics code returns exact sums and
counts from the engine and derives ratios client-side, so there is no tolerance to hide behind.
"""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import breakdowns, comparisons, customers, kpis, operations, periods, ranking, trends
from analytics.filters import Filters
from data.access import AccessDenied, DataAccess, Scope

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed: Spark local mode needs a JVM"),
]

# name -> call(access, filters, facts): every analytics call the KPI and sales pages make.
PAGE_QUERIES = {
    "kpis": lambda a, f, x: kpis.compute_kpis(a, f),
    "kpi_comparison": lambda a, f, x: kpis.compute_kpi_comparison(a, f),
    "daily_trend_previous": lambda a, f, x: trends.compute_daily_trend(a, f, "previous"),
    "daily_trend_last_year": lambda a, f, x: trends.compute_daily_trend(a, f, "last_year"),
    "kpi_shifted": lambda a, f, x: comparisons.compute_kpi_shift_comparison(a, f, -350),
    "data_span": lambda a, f, x: pl.DataFrame([vars(periods.compute_data_span(a))]),
    "monthly_trend": lambda a, f, x: trends.compute_period_trend(a, f, "month"),
    "quarterly_trend": lambda a, f, x: trends.compute_period_trend(a, f, "quarter"),
    "weekday_hour": lambda a, f, x: trends.compute_weekday_hour(a, f),
    "category_breakdown": lambda a, f, x: breakdowns.compute_category_breakdown(a, f),
    "product_breakdown": lambda a, f, x: breakdowns.compute_product_breakdown(a, f, x["category"], limit=20),
    "region_breakdown": lambda a, f, x: breakdowns.compute_region_breakdown(a, f),
    "store_breakdown": lambda a, f, x: breakdowns.compute_store_breakdown(a, f),
    "store_breakdown_in_region": lambda a, f, x: breakdowns.compute_store_breakdown(a, f, x["region"]),
    "day_orders": lambda a, f, x: breakdowns.compute_day_orders(a, f, x["day"]),
    "payment_mix": lambda a, f, x: breakdowns.compute_payment_mix(a, f),
    "payment_mix_age": lambda a, f, x: breakdowns.compute_payment_mix(a, f, "age_band"),
    "payment_mix_gender": lambda a, f, x: breakdowns.compute_payment_mix(a, f, "gender"),
    "cohort_retention": lambda a, f, x: customers.compute_cohort_retention(a, f),
    "repeat_share": lambda a, f, x: customers.compute_repeat_customer_share(a, f),
    "delivery_performance": lambda a, f, x: operations.compute_delivery_performance(a, f),
    "category_profitability": lambda a, f, x: operations.compute_category_profitability(a, f),
    "merchant_ranking": lambda a, f, x: ranking.compute_merchant_ranking(a, f),
    "currency_totals": lambda a, f, x: ranking.compute_currency_totals(ranking.compute_merchant_ranking(a, f)),
}


@pytest.fixture(scope="module")
def spark_warehouse(fixture_warehouse_path, tmp_path_factory):
    from data.spark import SparkWarehouse, export_parquet

    out = tmp_path_factory.mktemp("parquet")
    export_parquet(fixture_warehouse_path, out)
    wh = SparkWarehouse(out, master="local[2]")
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def page_facts(fixture_warehouse_path) -> dict:
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        first, last = con.execute("SELECT min(order_ts)::DATE, max(order_ts)::DATE FROM orders").fetchall()[0]
        m = con.execute("SELECT min(merchant_id) FROM merchants").fetchall()[0][0]
        category = con.execute("""SELECT p.category FROM order_lines l JOIN products p USING (product_id)
                                  WHERE p.merchant_id = ? GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""",
                               [m]).fetchall()[0][0]
        region = con.execute("""SELECT s.region FROM stores s JOIN orders o USING (store_id)
                                WHERE s.merchant_id = ? AND s.region IS NOT NULL
                                GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""", [m]).fetchall()[0][0]
        channel, payment = con.execute("""SELECT channel, payment_method FROM orders WHERE merchant_id = ?
                                          GROUP BY ALL ORDER BY count(*) DESC, 1, 2 LIMIT 1""", [m]).fetchall()[0]
    finally:
        con.close()
    return {"first": first, "last": last, "merchant": m, "category": category, "region": region,
            "channel": channel, "payment": payment}


def _cases(x: dict) -> dict[str, tuple[Scope, Filters]]:
    last = x["last"]
    q = last - dt.timedelta(days=89)
    return {
        "all_merchants_90_days": (Scope.unrestricted(), Filters(q, last)),
        "one_merchant_year_filtered": (Scope.merchants([x["merchant"]]), Filters(
            max(x["first"], last - dt.timedelta(days=364)), last, regions=(x["region"], "It's"),
            categories=(x["category"],), channels=(x["channel"], "app"), payment_methods=(x["payment"], "card"))),
    }


@pytest.mark.parametrize("case", ["all_merchants_90_days", "one_merchant_year_filtered"])
@pytest.mark.parametrize("query", list(PAGE_QUERIES))
def test_duckdb_and_spark_agree(serving_warehouse, spark_warehouse, page_facts, case, query):
    scope, f = _cases(page_facts)[case]
    duck_access = DataAccess(serving_warehouse.backend(), scope)
    x = dict(page_facts)
    if query == "day_orders":  # the busiest day of this selection
        daily = trends.compute_daily_trend(duck_access, f)
        x["day"] = daily.sort(["orders", "day"], descending=[True, False])["day"][0]
    duck = PAGE_QUERIES[query](duck_access, f, x)
    spark = PAGE_QUERIES[query](DataAccess(spark_warehouse.backend(), scope), f, x)
    assert duck.height > 0, "the case must select rows or the comparison proves nothing"
    assert_frame_equal(duck, spark, check_exact=True)


def test_dashboard_query_registry_is_covered():
    """Every analytics function the dashboard's cache registry can call is in PAGE_QUERIES' calls."""
    import inspect

    called = {name for fn in PAGE_QUERIES.values() for name in fn.__code__.co_names}
    # Modules the pages use; every public compute_* in them must be exercised here.
    for module in (kpis, trends, breakdowns, customers, operations, comparisons, periods, ranking):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("compute_") and fn.__module__ == module.__name__:
                assert name in called, f"{module.__name__}.{name} has no Spark parity case"


def test_engine_handle(spark_warehouse, serving_warehouse):
    assert spark_warehouse.engine == "spark"
    assert spark_warehouse.data_version() == serving_warehouse.data_version()
    access = DataAccess(spark_warehouse.backend(), Scope.merchants([]))
    o = access.table("orders")
    assert access.to_polars(o.aggregate(n=o.count()))["n"].to_list() == [0]
    for name in ("fraud", "meta", "customer_profiles"):
        with pytest.raises(AccessDenied):
            access.table(name)


def test_spark_types_match_duckdb(serving_warehouse, spark_warehouse):
    """Decimals, timestamps (no zone shift) and integers come back as on DuckDB, row for row."""
    def sample(wh):
        a = DataAccess(wh.backend(), Scope.unrestricted())
        o = a.table("orders")
        return a.to_polars(o.select("order_id", "order_ts", "net_amount", "store_id", "customer_id")
                           .order_by("order_id").limit(500))

    assert_frame_equal(sample(serving_warehouse), sample(spark_warehouse), check_exact=True)


def test_open_engine_spark(spark_warehouse):
    from data.engines import open_engine
    from data.spark import SparkWarehouse

    eng = open_engine(environ={"RETAIL_PULSE_BACKEND": "spark",
                               "RETAIL_PULSE_PARQUET_DIR": str(spark_warehouse.parquet_dir),
                               "RETAIL_PULSE_SPARK_MASTER": "local[2]"})
    assert isinstance(eng, SparkWarehouse) and eng.data_version() == spark_warehouse.data_version()


def test_hostile_values_are_data_on_spark(spark_warehouse, page_facts):
    """Filter values reach Spark as a registered DataFrame too: quotes, NUL, comments, config syntax match nothing."""
    access = DataAccess(spark_warehouse.backend(), Scope.unrestricted())
    last = page_facts["last"]
    base = Filters(last - dt.timedelta(days=29), last, channels=(page_facts["channel"], "zz-no-such-value"))
    want = kpis.compute_kpis(access, base)
    assert dict(want.iter_rows())["orders"] > 0
    for value in ["' OR '1'='1", "x`; DROP VIEW orders; --", "' UNION SELECT 'app' --", "web\x00\\'",
                  "${spark.sql.warehouse.dir}'; SET spark.sql.ansi.enabled=false; --"]:
        got = kpis.compute_kpis(access, Filters(base.start, base.end, channels=(page_facts["channel"], value)))
        assert_frame_equal(got, want, check_exact=True)
    o = access.table("orders")
    assert access.to_polars(o.count().name("n"))["n"][0] > 0  # the views are still there


def test_new_export_is_picked_up(fixture_warehouse_path, tmp_path, spark_warehouse):
    """A re-export into the served folder shows up with a new data version, without a restart.

    The session's views are process-wide: this test's warehouse replaces the module's, which are put
    back at the end.
    """
    from data import schema
    from data.spark import SparkWarehouse, export_parquet
    from data.warehouse import open_for_loading

    src = tmp_path / "src.duckdb"
    shutil.copy(fixture_warehouse_path, src)
    out = tmp_path / "parquet"
    export_parquet(src, out)
    wh = SparkWarehouse(out)
    try:
        access = DataAccess(wh.backend(), Scope.unrestricted())
        before_version = wh.data_version()
        o = access.table("orders")
        before = access.to_polars(o.count().name("n"))["n"][0]
        con = open_for_loading(src)
        try:
            con.execute("DELETE FROM orders WHERE order_id IN (SELECT min(order_id) FROM orders)")
            schema.bump_data_version(con)
        finally:
            con.close()
        export_parquet(src, out)
        assert wh.data_version() == before_version + 1
        access = DataAccess(wh.backend(), Scope.unrestricted())
        o = access.table("orders")
        assert access.to_polars(o.count().name("n"))["n"][0] == before - 1
    finally:
        wh.close()
        spark_warehouse.refresh()
