"""KPIs and breakdowns equal an independent computation: plain SQL on a read-only connection.

The oracle below restates the definitions of analytics/facts.py in its own words
(SQL over the raw tables, lists bound as parameters) without using any analytics
code, and every figure the pages show is compared with it for several filter
combinations and merchant scopes.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import breakdowns, customers, frames, kpis, operations, trends
from analytics.filters import LAST_YEAR_DAYS, PRESETS, Filters, compute_period
from data.access import DataAccess, Scope

# ---------------------------------------------------------------------------------------------- oracle

ORACLE_CTES = """
WITH
sel AS (
  SELECT o.*, CASE WHEN o.shipping_region IS NULL THEN s.region ELSE o.shipping_region END AS order_region
  FROM orders o LEFT JOIN stores s ON s.store_id = o.store_id
  WHERE ($all_m OR list_contains($m, o.merchant_id))
    AND (len($ch) = 0 OR list_contains($ch, o.channel))
    AND (len($pm) = 0 OR list_contains($pm, o.payment_method))
    AND (len($st) = 0 OR list_contains($st, o.store_id))
    AND (len($rg) = 0 OR list_contains($rg, order_region))
),
dated AS (SELECT * FROM sel WHERE CAST(order_ts AS DATE) BETWEEN $start AND $end),
with_cat AS (
  SELECT * FROM dated d
  WHERE len($cat) = 0 OR EXISTS (
    SELECT 1 FROM order_lines l JOIN products p ON p.product_id = l.product_id
    WHERE l.order_id = d.order_id AND list_contains($cat, p.category))
),
sale_docs AS (SELECT * FROM with_cat WHERE order_type = 'sale'),
placed AS (SELECT * FROM sale_docs WHERE status <> 'cancelled'),
rl AS (
  SELECT l.order_id, l.product_id, l.quantity, l.line_amount, l.discount_amount, l.unit_price,
         COALESCE(l.unit_cost, p.unit_cost) AS cost, p.category, p.sku, p.name AS product_name,
         d.order_ts, d.order_type, d.status, d.customer_id, d.store_id, d.order_region,
         d.order_type = 'sale' AS sale,
         (d.order_type = 'sale' AND d.status = 'completed') OR d.order_type = 'return' AS kept
  FROM order_lines l
  JOIN dated d ON d.order_id = l.order_id
  JOIN products p ON p.product_id = l.product_id
  WHERE p.is_merchandise AND d.status <> 'cancelled' AND d.order_type IN ('sale', 'return')
    AND (len($cat) = 0 OR list_contains($cat, p.category))
),
firsts AS (
  SELECT customer_id, min(order_ts) AS first_ts FROM orders
  WHERE order_type = 'sale' AND status <> 'cancelled' AND customer_id IS NOT NULL
    AND ($all_m OR list_contains($m, merchant_id))
  GROUP BY customer_id
),
sess AS (
  SELECT session_id, bool_or(event_type = 'purchase') AS conv FROM interactions
  WHERE ($all_m OR list_contains($m, merchant_id))
    AND CAST(event_ts AS DATE) BETWEEN $start AND $end
    AND (len($ch) = 0 OR list_contains($ch, channel))
  GROUP BY session_id
)
"""


class Oracle:
    def __init__(self, con: duckdb.DuckDBPyConnection, f: Filters, merchants: list[int] | None):
        self.con, self.f, self.merchants = con, f, merchants

    def params(self) -> dict:
        f = self.f
        return {
            "all_m": self.merchants is None, "m": list(self.merchants or []), "start": f.start, "end": f.end,
            "ch": list(f.channels), "pm": list(f.payment_methods), "st": list(f.store_ids), "rg": list(f.regions),
            "cat": list(f.categories),
        }

    def sql(self, body: str, **extra) -> pl.DataFrame:
        body = body.strip()
        if body.startswith("WITH "):  # the body's own CTEs continue the oracle's
            body = "," + body[4:]
        text = ORACLE_CTES + body
        params = {k: v for k, v in {**self.params(), **extra}.items() if "$" + k in text}
        cur = self.con.cursor()
        try:
            return pl.from_arrow(cur.sql(text, params=params).to_arrow_table())
        finally:
            cur.close()

    def one(self, body: str, **extra) -> dict:
        return self.sql(body, **extra).row(0, named=True)


def fl(x) -> float | None:
    return None if x is None else float(x)


def div(a, b) -> float | None:
    return None if a is None or not b else float(a) / float(b)


def oracle_kpis(o: Oracle) -> dict[str, float | None]:
    r = o.one("""SELECT sum(line_amount) FILTER (WHERE kept) AS revenue, sum(line_amount) FILTER (WHERE sale) AS sales,
                        sum(quantity) FILTER (WHERE kept) AS units,
                        sum(line_amount) FILTER (WHERE kept AND cost IS NOT NULL) AS costed,
                        sum(quantity * cost) FILTER (WHERE kept) AS cogs FROM rl""")
    s = o.one("""SELECT count(*) AS all_sales, count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
                        count(*) FILTER (WHERE status <> 'cancelled') AS orders FROM sale_docs""")
    c = o.one("""SELECT count(DISTINCT p.customer_id) AS customers,
                        count(DISTINCT p.customer_id) FILTER (WHERE CAST(fi.first_ts AS DATE) BETWEEN $start AND $end)
                          AS new
                 FROM placed p LEFT JOIN firsts fi ON fi.customer_id = p.customer_id""")
    e = o.one("SELECT count(*) AS sessions, count(*) FILTER (WHERE conv) AS conv FROM sess")
    f = o.f
    funnel_ok = not (f.regions or f.store_ids or f.categories or f.payment_methods)
    revenue, sales = fl(r["revenue"]) or 0.0, fl(r["sales"]) or 0.0
    return {
        "revenue": revenue,
        "orders": float(s["orders"]),
        "average_order_value": div(sales, s["orders"]),
        "units": float(r["units"] or 0),
        "customers": float(c["customers"]),
        "new_customer_share": div(c["new"], c["customers"]),
        "returning_customer_share": div(c["customers"] - c["new"], c["customers"]),
        "conversion_rate": div(e["conv"], e["sessions"]) if funnel_ok else None,
        "cancellation_rate": div(s["cancelled"], s["all_sales"]),
        "return_rate": div(sales - revenue, sales),
        "gross_margin": None if r["cogs"] is None else div(float(r["costed"]) - float(r["cogs"]), r["costed"]),
    }


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def oracle_con(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def facts_of_fixture(oracle_con) -> dict:
    """Real filter values and dates of the fixture, so every case selects rows."""
    first, last = oracle_con.execute("SELECT min(order_ts)::DATE, max(order_ts)::DATE FROM orders").fetchall()[0]
    merchants = [r[0] for r in oracle_con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]

    def top(sql: str, n: int) -> list:
        return [r[0] for r in oracle_con.execute(sql).fetchall()][:n]

    m0 = merchants[0]
    return {
        "first": first, "last": last, "merchants": merchants,
        "categories": top("""SELECT p.category FROM order_lines l JOIN products p USING (product_id)
                             WHERE p.category IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1""", 3),
        # Regions holding a store come first: their orders arrive both shipped and over the counter.
        "regions": top("""SELECT coalesce(o.shipping_region, s.region) AS r FROM orders o
                          LEFT JOIN stores s USING (store_id) WHERE r IS NOT NULL GROUP BY 1
                          ORDER BY r IN (SELECT region FROM stores) DESC, count(*) DESC, 1""", 2),
        "channels": top("SELECT channel FROM orders WHERE channel IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1", 2),
        "payments": top("""SELECT payment_method FROM orders WHERE payment_method IS NOT NULL
                           GROUP BY 1 ORDER BY count(*) DESC, 1""", 2),
        "stores_m0": top(f"""SELECT store_id FROM orders WHERE merchant_id = {int(m0)} AND store_id IS NOT NULL
                             GROUP BY 1 ORDER BY count(*) DESC, 1""", 2),
        "busy_day": oracle_con.execute("""SELECT order_ts::DATE FROM orders GROUP BY 1 ORDER BY count(*) DESC, 1
                                          LIMIT 1""").fetchall()[0][0],
    }


def _cases(fx: dict) -> dict[str, tuple[Filters, list[int] | None]]:
    last, first = fx["last"], fx["first"]
    q = max(first, last - dt.timedelta(days=120))
    m = fx["merchants"]
    return {
        "all_time": (Filters(first, last), None),
        "last_120_channel_payment": (Filters(q, last, channels=tuple(fx["channels"][:1]),
                                             payment_methods=tuple(fx["payments"])), None),
        "region_category": (Filters(first, last, regions=tuple(fx["regions"]),
                                    categories=tuple(fx["categories"][:2])), None),
        "one_merchant_stores": (Filters(first, last, store_ids=tuple(fx["stores_m0"])), [m[0]]),
        "one_merchant_category": (Filters(q, last, categories=tuple(fx["categories"][:1])), [m[0]]),
        "two_merchants": (Filters(q, last), m[-2:] if len(m) > 1 else m),
    }


CASE_NAMES = ["all_time", "last_120_channel_payment", "region_category", "one_merchant_stores",
              "one_merchant_category", "two_merchants"]


@pytest.fixture(params=CASE_NAMES)
def case(request, facts_of_fixture, serving_warehouse, oracle_con):
    f, merchants = _cases(facts_of_fixture)[request.param]
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    access = DataAccess(serving_warehouse.backend(), scope)
    return access, f, Oracle(oracle_con, f, merchants)


def approx_equal(got, want, rel=1e-9):
    if want is None:
        assert got is None or (isinstance(got, float) and got != got), f"expected null, got {got}"
    else:
        assert got == pytest.approx(want, rel=rel, abs=1e-9)


def frame_equal(got: pl.DataFrame, want: pl.DataFrame, sort_by: list[str] | None = None) -> None:
    """Same rows, same values (floats to 1e-9), columns in ``want``'s order; ``sort_by`` for unordered oracles."""
    got = got.select(want.columns)
    if sort_by:
        got, want = got.sort(sort_by, nulls_last=True), want.sort(sort_by, nulls_last=True)
    want = want.cast({c: got.schema[c] for c in want.columns}, strict=False)
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


# ---------------------------------------------------------------------------------------------- KPIs


def test_fixture_cases_select_rows(facts_of_fixture, serving_warehouse):
    """Guard: each case selects orders, or the comparisons below would prove little."""
    for name, (f, merchants) in _cases(facts_of_fixture).items():
        scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
        values = dict(kpis.compute_kpis(DataAccess(serving_warehouse.backend(), scope), f).iter_rows())
        assert values["orders"] > 0 and values["revenue"] != 0, name


def test_kpis_equal_oracle(case):
    access, f, oracle = case
    got = kpis.compute_kpis(access, f)
    assert got.columns == ["key", "value"]
    assert got["key"].to_list() == [k.key for k in kpis.KPIS]
    want = oracle_kpis(oracle)
    for key, value in got.iter_rows():
        approx_equal(value, want[key])


def test_kpi_comparison_equals_oracle_of_each_period(case, oracle_con):
    access, f, oracle = case
    got = kpis.compute_kpi_comparison(access, f)
    now = oracle_kpis(oracle)
    prev = oracle_kpis(Oracle(oracle_con, f.previous_period(), oracle.merchants))
    ly = oracle_kpis(Oracle(oracle_con, f.last_year(), oracle.merchants))
    for row in got.iter_rows(named=True):
        k = row["key"]
        approx_equal(row["value"], now[k])
        approx_equal(row["previous"], prev[k])
        approx_equal(row["last_year"], ly[k])
        if now[k] is not None and prev[k] is not None:
            approx_equal(row["delta_previous"], now[k] - prev[k])
            approx_equal(row["change_previous"], (now[k] - prev[k]) / abs(prev[k]) if prev[k] else None)
        if now[k] is not None and ly[k] is not None:
            approx_equal(row["delta_last_year"], now[k] - ly[k])


def test_conversion_is_null_without_interactions(serving_warehouse, oracle_con, facts_of_fixture):
    """Merchants with no interaction rows get a null conversion rate, the others a number."""
    with_events = {r[0] for r in oracle_con.execute("SELECT DISTINCT merchant_id FROM interactions").fetchall()}
    f = Filters(facts_of_fixture["first"], facts_of_fixture["last"])
    for m in facts_of_fixture["merchants"]:
        values = dict(kpis.compute_kpis(DataAccess(serving_warehouse.backend(), Scope.merchants([m])), f).iter_rows())
        if m in with_events:
            assert values["conversion_rate"] is not None and 0 < values["conversion_rate"] <= 1
        else:
            assert values["conversion_rate"] is None
    no_events = Filters(dt.date(1990, 1, 1), dt.date(1990, 1, 31))
    values = dict(kpis.compute_kpis(DataAccess(serving_warehouse.backend(), Scope.unrestricted()), no_events).iter_rows())
    assert values["conversion_rate"] is None and values["orders"] == 0 and values["average_order_value"] is None


def test_every_kpi_is_documented():
    keys = [k.key for k in kpis.KPIS]
    assert len(keys) == len(set(keys))
    for k in kpis.KPIS:
        assert k.label and len(k.doc) > 40 and k.unit in {"money", "count", "ratio"}, k.key
    assert {"revenue", "orders", "average_order_value", "units", "customers", "new_customer_share",
            "conversion_rate", "cancellation_rate", "return_rate", "gross_margin"} <= set(keys)


def test_every_measure_is_documented(access_all):
    f = Filters(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert kpis.measure_table(access_all, f).columns == tuple(kpis.MEASURES)


def test_kpi_compute_on_inline_measures():
    m = {"revenue": 80.0, "sales": 100.0, "units": 7, "costed_revenue": 50.0, "cogs": 20.0, "sale_orders": 5,
         "orders": 4, "cancelled_orders": 1, "customers": 4, "new_customers": 1, "sessions": 10,
         "converted_sessions": 2}
    values = {k.key: k.compute(m) for k in kpis.KPIS}
    assert values["average_order_value"] == 25.0
    assert values["return_rate"] == pytest.approx(0.2)
    assert values["gross_margin"] == pytest.approx(0.6)
    assert values["new_customer_share"] == 0.25 and values["returning_customer_share"] == 0.75
    assert values["cancellation_rate"] == 0.2 and values["conversion_rate"] == 0.2
    empty = {k: None for k in m}
    values = {k.key: k.compute(empty) for k in kpis.KPIS}
    assert values["revenue"] == 0 and values["orders"] == 0
    assert all(values[k] is None for k in ("average_order_value", "gross_margin", "conversion_rate", "return_rate"))


# ---------------------------------------------------------------------------------------------- breakdowns


def test_category_breakdown(case):
    access, f, oracle = case
    want = oracle.sql("""
        SELECT category, coalesce(sum(line_amount) FILTER (WHERE kept), 0)::DOUBLE AS revenue,
               coalesce(sum(quantity) FILTER (WHERE kept), 0) AS units,
               count(DISTINCT order_id) FILTER (WHERE sale) AS orders,
               count(DISTINCT customer_id) FILTER (WHERE sale) AS customers,
               (sum(line_amount) FILTER (WHERE sale) / nullif(count(DISTINCT order_id) FILTER (WHERE sale), 0))::DOUBLE
                 AS average_order_value
        FROM rl GROUP BY category ORDER BY revenue DESC, category""")
    want = want.with_columns((pl.col("revenue") / pl.col("revenue").sum()).alias("revenue_share"))
    got = breakdowns.compute_category_breakdown(access, f)
    frame_equal(got, want)
    assert got["revenue"].is_sorted(descending=True)


def test_product_breakdown_within_category(case, facts_of_fixture):
    access, f, oracle = case
    cat = (f.categories or tuple(facts_of_fixture["categories"]))[0]
    want = oracle.sql("""
        SELECT product_id, sku, category, coalesce(sum(line_amount) FILTER (WHERE kept), 0)::DOUBLE AS revenue,
               coalesce(sum(quantity) FILTER (WHERE kept), 0) AS units,
               count(DISTINCT order_id) FILTER (WHERE sale) AS orders
        FROM rl WHERE category = $c GROUP BY ALL ORDER BY revenue DESC, product_id""", c=cat)
    got = breakdowns.compute_product_breakdown(access, f, category=cat)
    frame_equal(got, want)
    top = breakdowns.compute_product_breakdown(access, f, category=cat, limit=3)
    assert_frame_equal(top, got.head(3))


def test_region_and_store_breakdowns(case):
    access, f, oracle = case
    want = oracle.sql("""
        WITH rev AS (SELECT order_region AS region, sum(line_amount) FILTER (WHERE kept) AS revenue,
                            sum(line_amount) FILTER (WHERE sale) AS sales FROM rl GROUP BY 1),
             ords AS (SELECT order_region AS region, count(*) AS orders, count(DISTINCT customer_id) AS customers
                      FROM placed GROUP BY 1)
        SELECT coalesce(rev.region, ords.region) AS region, coalesce(revenue, 0)::DOUBLE AS revenue,
               coalesce(orders, 0) AS orders, coalesce(customers, 0) AS customers,
               (sales / nullif(orders, 0))::DOUBLE AS average_order_value
        FROM rev FULL JOIN ords ON rev.region IS NOT DISTINCT FROM ords.region""")
    frame_equal(breakdowns.compute_region_breakdown(access, f), want, sort_by=["region"])

    region = next((r for r in breakdowns.compute_region_breakdown(access, f)["region"] if r is not None), None)
    if region is None:
        pytest.skip("no region in this case")  # pragma: no cover - the fixture has regions
    want = oracle.sql("""
        WITH rev AS (SELECT store_id, sum(line_amount) FILTER (WHERE kept) AS revenue FROM rl
                     WHERE order_region = $r GROUP BY 1),
             ords AS (SELECT store_id, count(*) AS orders FROM placed WHERE order_region = $r GROUP BY 1)
        SELECT store_id, coalesce(revenue, 0)::DOUBLE AS revenue, coalesce(orders, 0) AS orders
        FROM rev FULL JOIN ords USING (store_id)""", r=region)
    got = breakdowns.compute_store_breakdown(access, f, region=region)
    frame_equal(got, want, sort_by=["store_id"])
    assert got["revenue"].sum() == pytest.approx(
        breakdowns.compute_region_breakdown(access, f).filter(pl.col("region") == region)["revenue"].sum())


def test_daily_trend_and_comparison(case):
    access, f, oracle = case
    for comparison, other in (("previous", f.previous_period()), ("last_year", f.last_year())):
        got = trends.compute_daily_trend(access, f, comparison)
        assert got.height == f.days
        assert got["day"].to_list() == pl.date_range(f.start, f.end, eager=True).to_list()
        assert (got["day"] - got["comparison_day"]).dt.total_days().unique().to_list() == [
            f.days if comparison == "previous" else LAST_YEAR_DAYS]
        for cols, flt in ((("day", "revenue", "orders"), f),
                          (("comparison_day", "comparison_revenue", "comparison_orders"), other)):
            o = Oracle(oracle.con, flt, oracle.merchants)
            want = o.sql("""
                WITH d AS (SELECT CAST(order_ts AS DATE) AS day, sum(line_amount) FILTER (WHERE kept) AS revenue
                           FROM rl GROUP BY 1),
                     n AS (SELECT CAST(order_ts AS DATE) AS day, count(*) AS orders FROM placed GROUP BY 1)
                SELECT day, coalesce(revenue, 0)::DOUBLE AS revenue, coalesce(orders, 0) AS orders
                FROM d FULL JOIN n USING (day)""")
            part = got.select(cols).rename(dict(zip(cols, ("day", "revenue", "orders"))))
            frame_equal(part.filter((pl.col("revenue") != 0) | (pl.col("orders") != 0)), want, sort_by=["day"])


@pytest.mark.parametrize("grain,trunc", [("month", "month"), ("quarter", "quarter")])
def test_period_trend(case, grain, trunc):
    access, f, oracle = case
    want = oracle.sql(f"""
        WITH d AS (SELECT date_trunc('{trunc}', order_ts)::DATE AS period_start,
                          sum(line_amount) FILTER (WHERE kept) AS revenue, sum(line_amount) FILTER (WHERE sale) AS sales
                   FROM rl GROUP BY 1),
             n AS (SELECT date_trunc('{trunc}', order_ts)::DATE AS period_start, count(*) AS orders,
                          count(DISTINCT customer_id) AS customers FROM placed GROUP BY 1)
        SELECT period_start, coalesce(revenue, 0)::DOUBLE AS revenue, coalesce(orders, 0) AS orders,
               coalesce(customers, 0) AS customers, (sales / nullif(orders, 0))::DOUBLE AS average_order_value
        FROM d FULL JOIN n USING (period_start) ORDER BY period_start""")
    got = trends.compute_period_trend(access, f, grain)
    frame_equal(got, want)
    # Partial flags: calendar days of each month/quarter, and those inside both the period and the scope's
    # data span (first to last day with an order document), restated in SQL.
    flags = oracle.sql(f"""
        WITH sp AS (SELECT min(order_ts)::DATE AS first_day, max(order_ts)::DATE AS last_day FROM orders
                    WHERE $all_m OR list_contains($m, merchant_id)),
             p AS (SELECT ps AS period_start, (ps + INTERVAL 1 {trunc})::DATE - 1 AS period_end
                   FROM (SELECT unnest($starts::DATE[]) AS ps))
        SELECT period_start, (period_end - period_start + 1)::BIGINT AS days,
               greatest(0, least(period_end, $end, last_day) - greatest(period_start, $start, first_day) + 1)::BIGINT
                 AS covered_days
        FROM p, sp ORDER BY period_start""", starts=got["period_start"].to_list())
    flags = flags.with_columns((pl.col("covered_days") < pl.col("days")).alias("partial"))
    frame_equal(got, flags)
    last = oracle.con.execute("SELECT max(order_ts)::DATE FROM orders").fetchone()[0]
    if grain == "quarter" and f.end == last and last.month % 3:
        assert got["partial"][-1]  # the data ends inside its last quarter: that quarter is in progress


def test_weekday_hour(case):
    access, f, oracle = case
    want = oracle.sql("""
        WITH d AS (SELECT isodow(order_ts) - 1 AS weekday, hour(order_ts) AS hour,
                          sum(line_amount) FILTER (WHERE kept) AS revenue FROM rl GROUP BY ALL),
             n AS (SELECT isodow(order_ts) - 1 AS weekday, hour(order_ts) AS hour, count(*) AS orders
                   FROM placed GROUP BY ALL)
        SELECT weekday, hour, coalesce(orders, 0) AS orders, coalesce(revenue, 0)::DOUBLE AS revenue
        FROM d FULL JOIN n USING (weekday, hour)""")
    got = trends.compute_weekday_hour(access, f)
    assert got.height == 7 * 24
    frame_equal(got.filter((pl.col("orders") > 0) | (pl.col("revenue") != 0)), want, sort_by=["weekday", "hour"])


def test_day_orders(case, facts_of_fixture):
    access, f, oracle = case
    day = facts_of_fixture["busy_day"]
    o = Oracle(oracle.con, Filters(day, day, f.regions, f.store_ids, f.categories, f.channels, f.payment_methods),
               oracle.merchants)
    want = o.sql("""
        SELECT w.order_id, w.order_ts, w.order_type, w.status, w.net_amount::DOUBLE AS net_amount,
               coalesce((SELECT sum(line_amount) FROM rl WHERE rl.order_id = w.order_id AND kept), 0)::DOUBLE
                 AS revenue
        FROM with_cat w ORDER BY order_ts, order_id""")
    got = breakdowns.compute_day_orders(access, f, day)
    frame_equal(got, want)
    assert_frame_equal(breakdowns.compute_day_orders(access, f, day, limit=2), got.head(2))


@pytest.mark.parametrize("by", [None, "gender", "age_band"])
def test_payment_mix(case, by):
    access, f, oracle = case
    group = {
        None: "'all'",
        "gender": "coalesce(c.gender, 'unknown')",
        "age_band": """CASE WHEN c.birth_year IS NULL THEN 'unknown'
                            WHEN year(p.order_ts) - c.birth_year < 25 THEN '<25'
                            WHEN year(p.order_ts) - c.birth_year < 35 THEN '25-34'
                            WHEN year(p.order_ts) - c.birth_year < 45 THEN '35-44'
                            WHEN year(p.order_ts) - c.birth_year < 55 THEN '45-54'
                            WHEN year(p.order_ts) - c.birth_year < 65 THEN '55-64' ELSE '65+' END""",
    }[by]
    want = oracle.sql(f"""
        WITH per_order AS (SELECT order_id, sum(line_amount) AS sales FROM rl WHERE sale GROUP BY 1)
        SELECT {group} AS "group", coalesce(p.payment_method, 'unknown') AS payment_method, count(*) AS orders,
               coalesce(sum(s.sales), 0)::DOUBLE AS sales
        FROM placed p LEFT JOIN per_order s ON s.order_id = p.order_id
        LEFT JOIN customers c ON c.customer_id = p.customer_id GROUP BY ALL""")
    want = want.with_columns((pl.col("orders") / pl.col("orders").sum().over("group")).alias("order_share"))
    got = breakdowns.compute_payment_mix(access, f, by)
    frame_equal(got, want, sort_by=["group", "payment_method"])
    assert got["orders"].sum() == oracle.one("SELECT count(*) AS n FROM placed")["n"]


def test_cohort_retention(case):
    access, f, oracle = case
    want = oracle.sql("""
        WITH coh AS (SELECT customer_id, date_trunc('month', first_ts)::DATE AS cohort_month FROM firsts
                     WHERE CAST(first_ts AS DATE) BETWEEN $start AND $end),
             size AS (SELECT cohort_month, count(*) AS cohort_size FROM coh GROUP BY 1),
             act AS (SELECT DISTINCT p.customer_id, date_trunc('month', p.order_ts)::DATE AS month FROM placed p)
        SELECT c.cohort_month, datediff('month', c.cohort_month, a.month) AS months_since,
               any_value(s.cohort_size) AS cohort_size, count(*) AS customers
        FROM act a JOIN coh c USING (customer_id) JOIN size s USING (cohort_month)
        WHERE datediff('month', c.cohort_month, a.month) <= 12 GROUP BY 1, 2""")
    got = customers.compute_cohort_retention(access, f, max_months=12)
    frame_equal(got.filter(pl.col("customers") > 0), want, sort_by=["cohort_month", "months_since"])
    assert_frame_equal(got.select("retention"),
                       got.select((pl.col("customers") / pl.col("cohort_size")).alias("retention")))
    sizes = oracle.sql("""SELECT date_trunc('month', first_ts)::DATE AS cohort_month, count(*) AS cohort_size
                          FROM firsts WHERE CAST(first_ts AS DATE) BETWEEN $start AND $end GROUP BY 1""")
    frame_equal(got.filter(pl.col("months_since") == 0).select("cohort_month", "cohort_size"), sizes,
                sort_by=["cohort_month"])


def test_repeat_customer_share(case):
    access, f, oracle = case
    want = oracle.sql("""
        WITH per AS (SELECT customer_id, count(*) AS orders FROM placed GROUP BY 1),
             sales AS (SELECT customer_id, sum(line_amount) AS sales FROM rl WHERE sale GROUP BY 1),
             seg AS (SELECT CASE WHEN customer_id IS NULL THEN 'guest' WHEN orders >= 2 THEN 'repeat'
                                 ELSE 'one_time' END AS segment, customer_id, orders, sales
                     FROM per FULL JOIN sales USING (customer_id))
        SELECT segment, coalesce(sum(orders), 0) AS orders, coalesce(sum(sales), 0)::DOUBLE AS sales
        FROM seg GROUP BY 1""")
    got = customers.compute_repeat_customer_share(access, f)
    assert got["segment"].to_list() == ["repeat", "one_time", "guest"]
    frame_equal(got.filter((pl.col("orders") > 0) | (pl.col("sales") != 0)), want, sort_by=["segment"])
    assert got["sales_share"].sum() == pytest.approx(1.0)


def test_delivery_performance(case):
    access, f, oracle = case
    want = oracle.sql("""
        SELECT d.partner, d.region, count(*) AS shipments,
               count(*) FILTER (WHERE d.delivered_date IS NOT NULL AND d.delay_days IS NOT NULL) AS delivered,
               count(*) FILTER (WHERE d.delay_days <= 0 AND d.delivered_date IS NOT NULL) AS on_time,
               avg(d.delay_days) FILTER (WHERE d.delivered_date IS NOT NULL) AS avg_delay_days
        FROM deliveries d WHERE d.order_id IN (SELECT order_id FROM placed) GROUP BY ALL ORDER BY 1, 2""")
    want = want.with_columns((pl.col("on_time") / pl.col("delivered")).alias("on_time_rate"))
    frame_equal(operations.compute_delivery_performance(access, f), want)


def test_category_profitability(case):
    access, f, oracle = case
    want = oracle.sql("""
        SELECT category, sum(quantity * unit_price) FILTER (WHERE sale)::DOUBLE AS list_value,
               sum(discount_amount) FILTER (WHERE sale)::DOUBLE AS discount_cost,
               sum(line_amount) FILTER (WHERE sale)::DOUBLE AS sales,
               coalesce(sum(line_amount) FILTER (WHERE kept), 0)::DOUBLE AS revenue,
               sum(quantity * cost) FILTER (WHERE kept)::DOUBLE AS cogs,
               (sum(line_amount) FILTER (WHERE kept AND cost IS NOT NULL)
                 - sum(quantity * cost) FILTER (WHERE kept))::DOUBLE AS gross_margin
        FROM rl GROUP BY 1 ORDER BY revenue DESC, category""")
    want = want.with_columns(
        pl.col("list_value", "discount_cost", "sales").fill_null(0.0),
        (pl.col("sales").fill_null(0.0) - pl.col("revenue")).alias("returns"))
    got = operations.compute_category_profitability(access, f)
    frame_equal(got, want)
    assert got["revenue"].sum() == pytest.approx(dict(kpis.compute_kpis(access, f).iter_rows())["revenue"])


# ---------------------------------------------------------------------------------------------- filters


def test_filters_are_normalised_cache_keys():
    a = Filters(dt.date(2024, 1, 1), dt.date(2024, 1, 31), regions=["b", "a", "a"], store_ids=[3, 1])
    b = Filters(dt.date(2024, 1, 1), dt.date(2024, 1, 31), regions=("a", "b"), store_ids=(1, 3))
    assert a == b and hash(a) == hash(b) and a.regions == ("a", "b")
    with pytest.raises(ValueError):
        Filters(dt.date(2024, 2, 1), dt.date(2024, 1, 1))
    with pytest.raises(TypeError):
        Filters(dt.date(2024, 1, 1), dt.date(2024, 1, 2), regions="North")
    with pytest.raises(TypeError):
        Filters(dt.date(2024, 1, 1), dt.date(2024, 1, 2), store_ids=("1",))
    with pytest.raises(TypeError):
        Filters(dt.datetime(2024, 1, 1, 12), dt.date(2024, 1, 2))


def test_comparison_periods():
    f = Filters(dt.date(2024, 3, 1), dt.date(2024, 3, 31), channels=("web",))
    p = f.previous_period()
    assert (p.start, p.end, p.channels) == (dt.date(2024, 1, 30), dt.date(2024, 2, 29), ("web",))
    ly = f.last_year()
    assert (ly.start, ly.end) == (dt.date(2023, 3, 3), dt.date(2023, 4, 2))  # 2024 is a leap year
    assert ly.start.weekday() == f.start.weekday()
    assert f.comparison("previous") == p and f.comparison("last_year") == ly
    with pytest.raises(ValueError):
        f.comparison("yesterday")


@pytest.mark.parametrize("preset,start", [
    ("last_7", dt.date(2024, 5, 9)), ("last_30", dt.date(2024, 4, 16)), ("last_90", dt.date(2024, 2, 16)),
    ("month_to_date", dt.date(2024, 5, 1)), ("quarter_to_date", dt.date(2024, 4, 1)),
    ("year_to_date", dt.date(2024, 1, 1)),
])
def test_compute_period(preset, start):
    assert compute_period(preset, dt.date(2024, 5, 15)) == (start, dt.date(2024, 5, 15))
    assert preset in PRESETS


def test_compute_period_edges():
    assert compute_period("quarter_to_date", dt.date(2024, 12, 31)) == (dt.date(2024, 10, 1), dt.date(2024, 12, 31))
    assert compute_period("month_to_date", dt.date(2024, 3, 1)) == (dt.date(2024, 3, 1), dt.date(2024, 3, 1))
    with pytest.raises(ValueError):
        compute_period("last_8", dt.date(2024, 1, 1))


def test_ratio_and_sort_helpers():
    df = pl.DataFrame({"a": [1, 2, None, 3], "b": [2, 0, 1, None], "k": ["x", None, "y", "a"]})
    out = df.select(frames.ratio("a", "b").alias("r"))["r"].to_list()
    assert out == [0.5, None, None, None]
    assert frames.sort(df, ["k"])["k"].to_list() == ["a", "x", "y", None]
    assert frames.sort(df, ["k"], descending=True)["k"].to_list() == ["y", "x", "a", None]


def test_credit_notes_count_as_returns(writable_warehouse, facts_of_fixture):
    """Imported credit notes (return documents with negative lines) subtract from revenue on their own day."""
    from data import rollups
    from data.warehouse import Warehouse, open_for_loading

    day = facts_of_fixture["busy_day"]
    con = open_for_loading(writable_warehouse)
    try:
        m, store, product, price = con.execute("""
            SELECT p.merchant_id, s.store_id, p.product_id, p.price FROM products p
            JOIN stores s ON s.merchant_id = p.merchant_id AND s.kind = 'online'
            WHERE p.is_merchandise AND p.price > 0 ORDER BY p.product_id LIMIT 1""").fetchall()[0]
        oid = con.execute("SELECT max(order_id) + 1 FROM orders").fetchall()[0][0]
        ts = dt.datetime.combine(day, dt.time(12, 0))
        con.execute("""INSERT INTO orders (order_id, merchant_id, store_id, order_ts, order_type, status, channel,
                                           payment_method, gross_amount, discount_amount, shipping_amount, net_amount)
                       VALUES (?, ?, ?, ?, 'return', 'completed', 'web', 'card', ?, 0, 0, ?)""",
                    [oid, m, store, ts, -2 * price, -2 * price])
        con.execute("""INSERT INTO order_lines (order_id, line_no, merchant_id, product_id, quantity, unit_price,
                                                discount_amount, line_amount) VALUES (?, 1, ?, ?, -2, ?, 0, ?)""",
                    [oid, m, product, price, -2 * price])
        rollups.refresh(con, [m])  # what every load does after writing rows
    finally:
        con.close()
    f = Filters(day, day)
    wh = Warehouse(writable_warehouse)
    try:
        got = dict(kpis.compute_kpis(DataAccess(wh.backend(), Scope.merchants([m])), f).iter_rows())
    finally:
        wh.close()
    oracle = duckdb.connect(str(writable_warehouse), read_only=True)
    try:
        want = oracle_kpis(Oracle(oracle, f, [m]))
    finally:
        oracle.close()
    for key, value in got.items():
        approx_equal(value, want[key])
    assert got["return_rate"] > 0 and got["units"] == want["units"]
