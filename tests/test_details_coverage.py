"""The rows behind the charts (analytics.details) and what the data can answer (analytics.coverage),
against plain SQL on a read-only connection to the fixture warehouse, plus the pure limit rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import duckdb
import polars as pl
import pytest

from analytics import coverage, details
from analytics.filters import Filters
from data.access import DataAccess, Scope

LINES_SQL = """
SELECT l.order_id, l.line_no, o.merchant_id, l.line_amount,
       (o.order_type = 'return' OR o.status <> 'returned') AS in_revenue
FROM order_lines l
JOIN orders o ON o.order_id = l.order_id
JOIN products p ON p.product_id = l.product_id
LEFT JOIN stores s ON s.store_id = o.store_id
WHERE p.is_merchandise AND o.order_type IN ('sale', 'return') AND o.status <> 'cancelled'
  AND CAST(o.order_ts AS DATE) BETWEEN $start AND $end
  AND ($all_m OR list_contains($m, o.merchant_id))
  AND (len($cat) = 0 OR list_contains($cat, p.category))
  AND (len($rg) = 0 OR list_contains($rg, COALESCE(o.shipping_region, s.region)))
"""

ORDERS_SQL = """
SELECT o.order_id, o.merchant_id FROM orders o LEFT JOIN stores s ON s.store_id = o.store_id
WHERE o.order_type = 'sale' AND o.status <> 'cancelled'
  AND CAST(o.order_ts AS DATE) BETWEEN $start AND $end
  AND ($all_m OR list_contains($m, o.merchant_id))
  AND (len($rg) = 0 OR list_contains($rg, COALESCE(o.shipping_region, s.region)))
  AND (len($cat) = 0 OR EXISTS (SELECT 1 FROM order_lines l JOIN products p ON p.product_id = l.product_id
                                WHERE l.order_id = o.order_id AND list_contains($cat, p.category)))
"""


@pytest.fixture(scope="module")
def con(fixture_warehouse_path):
    c = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    yield c
    c.close()


@pytest.fixture(scope="module")
def fx(con) -> dict:
    last = query(con, "SELECT max(order_ts)::DATE FROM orders").item()
    category = query(con, "SELECT min(category) FROM products WHERE merchant_id = 2").item()
    region = query(con, "SELECT min(region) FROM stores WHERE merchant_id = 2 AND kind = 'store'").item()
    return {"f": Filters(last - dt.timedelta(days=59), last), "category": category, "region": region,
            "last": last}


def query(con, body: str, params: dict | None = None) -> pl.DataFrame:
    used = {k: v for k, v in (params or {}).items() if f"${k}" in body}
    cur = con.cursor()
    try:
        return pl.from_arrow(cur.sql(body, params=used or None).to_arrow_table())
    finally:
        cur.close()


def sql(con, body: str, f: Filters, merchants: list[int] | None) -> pl.DataFrame:
    return query(con, body, {"start": f.start, "end": f.end, "all_m": merchants is None, "m": merchants or [],
                             "cat": list(f.categories), "rg": list(f.regions)})


def cases(fx) -> dict[str, tuple[Filters, list[int] | None]]:
    f = fx["f"]
    return {
        "all merchants": (f, None),
        "merchant 2": (f, [2]),
        "merchant 2, one category": (replace(f, categories=(fx["category"],)), [2]),
        "merchant 2, one region": (replace(f, regions=(fx["region"],)), [2]),
        "one day, merchants 1 and 3": (replace(f, start=fx["last"], end=fx["last"]), [1, 3]),
    }


def access_for(serving_warehouse, merchants):
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    return DataAccess(serving_warehouse.backend(), scope)


@pytest.mark.parametrize("case", ["all merchants", "merchant 2", "merchant 2, one category", "merchant 2, one region",
                                  "one day, merchants 1 and 3"])
def test_line_details_are_exactly_the_revenue_lines(case, fx, con, serving_warehouse):
    f, merchants = cases(fx)[case]
    a = access_for(serving_warehouse, merchants)
    got = details.compute_details(a, f, "lines")
    want = sql(con, LINES_SQL, f, merchants)
    assert want.height > 0
    assert details.compute_detail_count(a, f, "lines") == got.height == want.height
    assert sorted(got.select("order_id", "line_no").rows()) == sorted(want.select("order_id", "line_no").rows())
    assert set(got["merchant_id"].to_list()) <= set(merchants or [1, 2, 3])
    revenue = got.filter(pl.col("in_revenue"))["line_amount"].sum()
    assert revenue == pytest.approx(float(want.filter(pl.col("in_revenue"))["line_amount"].sum()), rel=1e-12)
    assert got["order_ts"].is_sorted()


@pytest.mark.parametrize("case", ["all merchants", "merchant 2, one category", "merchant 2, one region"])
def test_order_details_are_the_placed_orders(case, fx, con, serving_warehouse):
    f, merchants = cases(fx)[case]
    a = access_for(serving_warehouse, merchants)
    got = details.compute_details(a, f, "orders")
    want = sql(con, ORDERS_SQL, f, merchants)
    assert want.height > 0 and details.compute_detail_count(a, f, "orders") == got.height
    assert sorted(got["order_id"].to_list()) == sorted(want["order_id"].to_list())


def test_delivery_details_are_the_shipments_of_those_orders(fx, con, serving_warehouse):
    f, merchants = cases(fx)["merchant 2"]
    got = details.compute_details(access_for(serving_warehouse, merchants), f, "deliveries")
    inner = ORDERS_SQL.replace("o.order_id, o.merchant_id", "o.order_id")
    want = sql(con, f"SELECT d.order_id FROM deliveries d WHERE d.order_id IN ({inner})", f, merchants)
    assert want.height > 0
    assert sorted(got["order_id"].to_list()) == sorted(want["order_id"].to_list())
    assert got["merchant_id"].unique().to_list() == [2]


def test_unknown_detail_kind_is_refused(fx, serving_warehouse):
    with pytest.raises(ValueError, match="unknown detail"):
        details.compute_details(access_for(serving_warehouse, None), fx["f"], "payments")


# ------------------------------------------------------------------------------------------------ coverage

COVERAGE_SQL = """
SELECT
  (SELECT count(*) FROM orders WHERE merchant_id = $m AND order_type = 'sale' AND status <> 'cancelled') AS orders,
  (SELECT count(DISTINCT customer_id) FROM orders WHERE merchant_id = $m AND order_type = 'sale'
     AND status <> 'cancelled') AS customers,
  (SELECT count(*) FROM (SELECT customer_id FROM orders WHERE merchant_id = $m AND order_type = 'sale'
     AND status <> 'cancelled' AND customer_id IS NOT NULL GROUP BY 1 HAVING count(*) >= 2)) AS repeat_customers,
  (SELECT count(*) FROM interactions WHERE merchant_id = $m) AS events,
  (SELECT count(*) FROM products WHERE merchant_id = $m AND is_merchandise) AS products,
  (SELECT count(category) FROM products WHERE merchant_id = $m AND is_merchandise) AS categorised_products,
  (SELECT count(*) FROM products WHERE merchant_id = $m AND is_merchandise
     AND (category IS NULL OR sku <> category)) AS coded_products,
  (SELECT count(*) FROM orders o LEFT JOIN stores s USING (store_id) WHERE o.merchant_id = $m
     AND o.order_type = 'sale' AND o.status <> 'cancelled' AND COALESCE(o.shipping_region, s.region) IS NOT NULL)
     AS regional_orders,
  (SELECT count(payment_method) FROM orders WHERE merchant_id = $m AND order_type = 'sale'
     AND status <> 'cancelled') AS paid_orders,
  (SELECT count(unit_cost) FROM products WHERE merchant_id = $m AND is_merchandise) AS costed_products,
  (SELECT least(count(*), 1) FROM order_lines WHERE merchant_id = $m AND unit_cost IS NOT NULL) AS costed_lines,
  (SELECT count(*) FROM deliveries WHERE merchant_id = $m) AS deliveries,
  (SELECT count(gender) FROM customers WHERE merchant_id = $m) AS customers_with_gender,
  (SELECT count(birth_year) FROM customers WHERE merchant_id = $m) AS customers_with_age
"""


@pytest.mark.parametrize("merchant", [1, 2, 3])
def test_coverage_counts_equal_sql(merchant, con, serving_warehouse):
    got = coverage.compute_data_coverage(access_for(serving_warehouse, [merchant]))
    want = query(con, COVERAGE_SQL, {"m": merchant})
    assert got.columns == list(coverage.COVERAGE_COLUMNS) == want.columns
    assert got.row(0, named=True) == want.row(0, named=True)
    assert coverage.data_limits(got) == {}  # the generated data can answer everything


def test_empty_scope_has_no_orders(serving_warehouse):
    got = coverage.compute_data_coverage(access_for(serving_warehouse, []))
    assert set(got.row(0)) == {0}
    assert "orders" in coverage.data_limits(got)


FULL = {name: 10 for name in coverage.COVERAGE_COLUMNS}


@pytest.mark.parametrize(("changes", "topic"), [
    ({"orders": 0, "customers": 0, "repeat_customers": 0, "paid_orders": 0, "regional_orders": 0}, "orders"),
    ({"events": 0}, "conversion"),
    ({"customers": 0, "repeat_customers": 0}, "customers"),
    ({"repeat_customers": 0}, "repeat"),
    ({"categorised_products": 0}, "categories"),
    ({"coded_products": 0}, "products"),
    ({"regional_orders": 0}, "regions"),
    ({"paid_orders": 0}, "payments"),
    ({"costed_products": 0, "costed_lines": 0}, "margin"),
    ({"deliveries": 0}, "deliveries"),
    ({"customers_with_gender": 0, "customers_with_age": 0}, "demographics"),
])
def test_each_limit_applies_exactly_when_its_data_is_missing(changes, topic):
    assert coverage.data_limits(pl.DataFrame([FULL])) == {}
    limits = coverage.data_limits(pl.DataFrame([FULL | changes]))
    assert topic in limits and limits[topic] == coverage.LIMITS_BY_TOPIC[topic].message


def test_customer_shopping_shape_gives_its_three_notices():
    # One purchase per customer, one pseudo-product per category, no sessions (as the real dataset).
    shape = FULL | {"customers": 99, "repeat_customers": 0, "products": 8, "categorised_products": 8,
                    "coded_products": 0, "events": 0}
    limits = coverage.data_limits(pl.DataFrame([shape]))
    assert set(limits) == {"conversion", "repeat", "products"}
    assert "no session events" in limits["conversion"].lower()
    assert "every customer bought once" in limits["repeat"].lower()
    assert "no product identifiers below category" in limits["products"].lower()
    # demographics need only one of gender or age; margins only one source of cost
    assert "demographics" not in coverage.data_limits(pl.DataFrame([FULL | {"customers_with_gender": 0}]))
    assert "margin" not in coverage.data_limits(pl.DataFrame([FULL | {"costed_products": 0}]))
    assert "margin" not in coverage.data_limits(pl.DataFrame([FULL | {"costed_lines": 0}]))


def test_limits_are_documented_once():
    assert len(coverage.LIMITS_BY_TOPIC) == len(coverage.LIMITS)
    assert all(lim.message.endswith(".") and len(lim.message) > 20 for lim in coverage.LIMITS)
    with pytest.raises(ValueError):
        coverage.data_limits(pl.DataFrame([FULL, FULL]))
