"""Stock-out risk (models/stockout) on the tiny fixture warehouse and on a hand-made one-product warehouse.

Figures are checked against plain SQL (on hand, cover, open orders, next delivery, lateness, ABC) and against
scipy.stats (probability and reorder point of a hand-made case). The demand fed in is a made-up constant
forecast, so these tests do not depend on the forecasting models (tests/test_stockout_truth.py does that).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys

import duckdb
import ibis
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from data.access import DataAccess, Scope
from data.schema import table_ddl
from data.tables import OBSERVED_BY_NAME
from models.stockout import leadtime
from models.stockout.risk import COLUMNS, LEVEL_CV, RATE_DAYS, compute_stockout_risk

K = 2.0  # negative binomial size of the made-up forecasts


def _demand(products: pl.DataFrame, start: dt.date, days: int = 90) -> pl.DataFrame:
    """A constant made-up forecast: product p sells 0.2 + (p mod 10) / 10 units a day from ``start``."""
    grid = products.join(pl.DataFrame({"day": pl.date_range(start, start + dt.timedelta(days=days - 1), "1d",
                                                            eager=True)}), how="cross")
    return grid.with_columns((0.2 + (pl.col("product_id") % 10) / 10).alias("mean"), pl.lit(K).alias("dispersion"),
                             pl.lit("made up").alias("model"))


@pytest.fixture(scope="module")
def tiny(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    last = con.execute("SELECT max(day) FROM main.inventory_daily").fetchone()[0]
    as_of = last - dt.timedelta(days=45)  # mid-history: some orders placed before it arrive after it
    stocked = _sql(con, "SELECT DISTINCT product_id::BIGINT AS product_id, store_id::BIGINT AS store_id "
                        "FROM main.inventory_daily", [])
    demand = _demand(stocked, as_of + dt.timedelta(days=1))
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
    risk = compute_stockout_risk(access, demand, as_of=as_of)
    yield con, as_of, demand, risk
    con.close()


def _sql(con, sql: str, params: list) -> pl.DataFrame:
    return pl.from_arrow(con.cursor().sql(sql, params=params).to_arrow_table())


def test_one_row_per_stocked_location_with_the_contract_columns(tiny):
    con, as_of, _, risk = tiny
    assert risk.columns == list(COLUMNS)
    n = con.execute("SELECT count(*) FROM main.inventory_daily WHERE merchant_id = 1 AND day = ?",
                    [as_of]).fetchone()[0]
    assert risk.height == n > 0
    assert risk["revenue_at_risk"].is_sorted(descending=True)
    assert risk.select((pl.col("alert_key") == pl.format("product:{}@store:{}", "product_id", "store_id")).all()).item()
    assert risk["stockout_probability"].is_between(0, 1).all()
    assert set(risk["currency"]) == {"GBP"}
    assert risk["reason"].str.len_chars().min() > 10


def test_cover_open_orders_next_delivery_and_lateness_match_plain_sql(tiny):
    con, as_of, demand, risk = tiny
    want = _sql(con, """
        SELECT i.product_id::BIGINT AS product_id, i.store_id::BIGINT AS store_id, i.on_hand::BIGINT AS on_hand,
               coalesce(o.units, 0)::BIGINT AS open_units, o.first_due, l.late
        FROM main.inventory_daily i
        LEFT JOIN (SELECT product_id, store_id, sum(quantity) AS units, min(expected_date) AS first_due
                   FROM main.purchase_orders
                   WHERE ordered_date <= $d AND (received_date IS NULL OR received_date > $d)
                   GROUP BY ALL) o USING (product_id, store_id)
        LEFT JOIN (SELECT product_id, avg(received_date - expected_date) AS late
                   FROM main.purchase_orders WHERE received_date <= $d GROUP BY ALL) l USING (product_id)
        WHERE i.merchant_id = 1 AND i.day = $d""", {"d": as_of})
    daily = demand.filter(pl.col("day") <= as_of + dt.timedelta(days=28)).group_by("product_id", "store_id") \
        .agg((pl.col("mean").sum() / 28).alias("want_daily"))
    got = risk.join(want, on=["product_id", "store_id"], how="full", coalesce=True).join(
        daily, on=["product_id", "store_id"], how="left")
    assert got.height == risk.height == want.height
    assert (got["on_hand"] == got["on_hand_right"]).all()
    assert (got["open_po_units"] == got["open_units"]).all()
    assert (got["next_delivery"].fill_null(dt.date(1, 1, 1)) == got["first_due"].fill_null(dt.date(1, 1, 1))).all()
    np.testing.assert_allclose(got["daily_demand"], got["want_daily"], rtol=1e-9)
    np.testing.assert_allclose(got["days_of_cover"], got["on_hand"] / got["want_daily"], rtol=1e-9)
    np.testing.assert_allclose(got["supplier_late_days"].fill_null(np.nan), got["late"].fill_null(np.nan),
                               rtol=1e-9)
    # as_of is honoured: some of the orders counted open were received after as_of
    later = con.execute("SELECT count(*) FROM main.purchase_orders WHERE merchant_id = 1 AND ordered_date <= ? "
                        "AND received_date > ?", [as_of, as_of]).fetchone()[0]
    assert later > 0 and risk["open_po_units"].sum() > 0


def test_learned_lead_time_is_the_orders_median_for_products_with_many_orders(tiny):
    con, as_of, _, risk = tiny
    want = _sql(con, """
        SELECT product_id::BIGINT AS product_id, count(*) AS n, median(received_date - ordered_date) AS med,
               stddev_pop(received_date - ordered_date) AS sd
        FROM main.purchase_orders WHERE merchant_id = 1 AND received_date <= ? GROUP BY ALL""", [as_of])
    got = risk.join(want, on="product_id").filter(pl.col("n") >= 8)
    assert got.height > 20
    assert ((got["supplier_lead_days"] - got["med"]).abs() <= 0.1 * got["med"] + 1.0).all()
    # shrinkage toward the merchant's pooled orders moves the spread, but not far, with 8+ orders
    assert ((got["lead_time_sd"] - got["sd"]).abs() <= 0.5 * got["sd"] + 1.0).all()


def test_a_merchant_scope_never_returns_another_merchants_rows(tiny, fixture_warehouse_path):
    con, as_of, demand, _ = tiny
    for m in (2, 3):
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        risk = compute_stockout_risk(access, demand, as_of=as_of)  # the demand frame holds every merchant
        theirs = con.execute("SELECT count(*) FROM main.inventory_daily WHERE merchant_id = ? AND day = ?",
                             [m, as_of]).fetchone()[0]
        assert set(risk["merchant_id"]) == {m} and risk.height == theirs
        owned = _sql(con, "SELECT product_id::BIGINT AS product_id FROM main.products WHERE merchant_id = ?", [m])
        assert risk.join(owned, on="product_id", how="anti").is_empty()


def test_as_of_defaults_to_the_last_stock_day(tiny):
    con, _, demand, _ = tiny
    last = con.execute("SELECT max(day) FROM main.inventory_daily WHERE merchant_id = 1").fetchone()[0]
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
    risk = compute_stockout_risk(access, demand)
    want = _sql(con, "SELECT product_id::BIGINT AS product_id, on_hand::BIGINT AS want FROM main.inventory_daily "
                     "WHERE merchant_id = 1 AND day = ?", [last])
    j = risk.join(want, on="product_id")
    assert j.height == risk.height == want.height and (j["on_hand"] == j["want"]).all()


@pytest.mark.parametrize("bad", [0.5, 1.0, 0.9995, -1, "0.95", float("nan"), True])
def test_a_bad_service_level_is_refused_with_a_clear_message(tiny, bad):
    con, as_of, demand, _ = tiny
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
    with pytest.raises(ValueError, match="service_level"):
        compute_stockout_risk(access, demand, as_of=as_of, service_level=bad)


def test_a_frame_that_is_not_location_demand_or_a_day_that_is_not_a_date_is_refused_by_name(tiny):
    con, as_of, demand, _ = tiny
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
    with pytest.raises(ValueError, match="dispersion"):
        compute_stockout_risk(access, demand.drop("dispersion"), as_of=as_of)
    with pytest.raises(ValueError, match="as_of must be a date"):
        compute_stockout_risk(access, demand, as_of=str(as_of))
    # another merchant's forecast only: no demand known, so no risk, but every row is there
    theirs = _sql(con, "SELECT product_id::BIGINT AS product_id FROM main.products WHERE merchant_id = 2", [])
    none = compute_stockout_risk(access, demand.join(theirs, on="product_id"), as_of=as_of)
    assert none.height > 0 and (none["daily_demand"] == 0).all() and none["days_of_cover"].null_count() == none.height
    assert none.filter(pl.col("on_hand") > 0)["stockout_probability"].max() == 0.0
    # a day without stock records gives no rows, not an error
    assert compute_stockout_risk(access, demand, as_of=dt.date(1990, 1, 1)).columns == list(COLUMNS)


def test_abc_classes_split_revenue_80_15_5(tiny):
    con, as_of, _, risk = tiny
    rev = _sql(con, """
        SELECT p.product_id::BIGINT AS product_id, coalesce(sum(i.units_sold), 0) * coalesce(p.price, 0) AS revenue
        FROM main.products p JOIN main.inventory_daily i USING (product_id)
        WHERE p.merchant_id = 1 AND i.day BETWEEN ? AND ? GROUP BY p.product_id, p.price""",
               [as_of - dt.timedelta(days=90), as_of])
    j = risk.select("product_id", "abc_class").unique().join(rev, on="product_id")
    total = j["revenue"].sum()
    share = {c: j.filter(pl.col("abc_class") == c)["revenue"].sum() / total for c in "ABC"}
    smallest_a = j.filter(pl.col("abc_class") == "A")["revenue"].min()
    assert share["A"] >= 0.80 and share["A"] - smallest_a / total < 0.80
    assert share["A"] + share["B"] >= 0.95 and share["C"] <= 0.05 + 1e-9
    # every A product sells more than every C product
    assert smallest_a >= j.filter(pl.col("abc_class") == "C")["revenue"].max()


def test_xyz_classes_follow_the_weekly_coefficient_of_variation(tiny):
    con, as_of, _, risk = tiny
    weekly = _sql(con, """
        SELECT p.product_id::BIGINT AS product_id, w.week, coalesce(sum(i.units_sold), 0)::DOUBLE AS units
        FROM (SELECT DISTINCT product_id FROM main.inventory_daily WHERE merchant_id = 1 AND day = $d) p
        CROSS JOIN range(13) w(week)
        LEFT JOIN main.inventory_daily i ON i.product_id = p.product_id AND i.day <= $d::DATE - (7 * w.week)::INTEGER
             AND i.day > $d::DATE - (7 * (w.week + 1))::INTEGER
        GROUP BY ALL""", {"d": as_of})
    cv = weekly.group_by("product_id").agg((pl.col("units").std(ddof=0) / pl.col("units").mean()).alias("cv"))
    want = cv.with_columns(pl.when(pl.col("cv").is_nan() | pl.col("cv").is_null()).then(pl.lit("Z"))
                           .when(pl.col("cv") < 0.5).then(pl.lit("X")).when(pl.col("cv") < 1.0).then(pl.lit("Y"))
                           .otherwise(pl.lit("Z")).alias("want"))
    j = risk.join(want, on="product_id")
    assert j.height == risk.height and (j["xyz_class"] == j["want"]).all()
    assert set(j["xyz_class"]) == {"X", "Y", "Z"}  # the fixture has all three: the test tells them apart


# --- a hand-made warehouse: one product, one supplier that always takes 7 days and is always on time ---

AS_OF = dt.date(2026, 6, 30)
MU = 3.0  # units a day
REL_VAR = LEVEL_CV ** 2 + (1 / MU + 1 / K) / RATE_DAYS  # the forecast's level uncertainty (see risk.LEVEL_CV)


def _hand_made(on_hand: int, open_due_in: int | None, n_orders: int = 20) -> DataAccess:
    con = duckdb.connect()
    for name in ("merchants", "stores", "products", "inventory_daily", "purchase_orders"):
        con.execute(table_ddl(OBSERVED_BY_NAME[name]))
    con.execute("INSERT INTO main.merchants VALUES (9, 'Shop', 'GB', 'GBP', 'gifts', NULL)")
    con.execute("INSERT INTO main.stores VALUES (90, 9, 'Warehouse', 'warehouse', NULL, NULL)")
    con.execute("INSERT INTO main.products VALUES (900, 9, 'SKU-1', 'Mug', 'kitchen', NULL, 12.5, 5, NULL, true)")
    con.execute("INSERT INTO main.inventory_daily VALUES (?, 9, 90, 900, ?, 3)", [AS_OF, on_hand])
    for i in range(n_orders):
        ordered = AS_OF - dt.timedelta(days=200 - 9 * i)
        con.execute("INSERT INTO main.purchase_orders VALUES (?, 9, 90, 900, ?, ?, ?, 50, 7)",
                    [i + 1, ordered, ordered + dt.timedelta(days=7), ordered + dt.timedelta(days=7)])
    if open_due_in is not None:
        con.execute("INSERT INTO main.purchase_orders VALUES (999, 9, 90, 900, ?, ?, NULL, 40, NULL)",
                    [AS_OF - dt.timedelta(days=1), AS_OF + dt.timedelta(days=open_due_in)])
    return DataAccess(ibis.duckdb.from_connection(con), Scope.merchants([9]))


def _constant_demand() -> pl.DataFrame:
    return _demand(pl.DataFrame({"product_id": [900], "store_id": [90]}), AS_OF + dt.timedelta(days=1)) \
        .with_columns(pl.lit(MU).alias("mean"))


def _smoothed(n: int) -> dict[int, float]:
    """Offsets (days) around the supplier's one observed value and their weights: n orders spread 1/4, 1/2, 1/4
    over neighbouring days, plus PRIOR_ORDERS of the pooled history (here the same product, all on the value)."""
    p0 = leadtime.PRIOR_ORDERS
    return {-1: 0.25 * n / (n + p0), 0: (0.5 * n + p0) / (n + p0), 1: 0.25 * n / (n + p0)}


def _nb(days: int) -> tuple[float, float]:
    """Size and success probability of demand over ``days`` days: a sum of iid negative binomial days has mean
    days x MU and variance days x (MU + MU²/K); the forecast's level uncertainty adds REL_VAR x mean²."""
    mean = days * MU
    var = days * (MU + MU ** 2 / K) + REL_VAR * mean ** 2
    r = mean ** 2 / (var - mean)
    return r, r / (r + mean)


def _sf(h: int, days: int) -> float:
    """P(demand over ``days`` days >= h)."""
    return float(stats.nbinom.sf(h - 1, *_nb(days))) if days > 0 else float(h <= 0)


def test_probability_and_reorder_point_of_a_hand_made_case_match_scipy():
    on_hand, due = 25, 10
    risk = compute_stockout_risk(_hand_made(on_hand, due), _constant_demand(), as_of=AS_OF, service_level=0.9)
    row = risk.row(0, named=True)
    # the open order arrives on day due + lateness (always 0 so far, smoothed): stock-out if demand over
    # days 1..arrival-1 reaches the stock
    want = sum(w * _sf(on_hand, due + off - 1) for off, w in _smoothed(20).items())
    assert row["stockout_probability"] == pytest.approx(want, rel=1e-9)
    assert row["next_delivery"] == AS_OF + dt.timedelta(days=due) and row["open_po_units"] == 40
    assert row["supplier_lead_days"] == 7 and row["supplier_late_days"] == 0
    assert row["days_of_cover"] == pytest.approx(on_hand / MU)
    assert row["horizon_days"] == due
    # reorder point: an order placed now arrives after L days (7 smoothed); demand over L - 1 days, its mean
    # and variance by the textbook formula for a random lead time, as a negative binomial, at 90%
    lead = {7 + off: w for off, w in _smoothed(20).items()}
    e_l = sum((lv - 1) * w for lv, w in lead.items())
    e_l2 = sum((lv - 1) ** 2 * w for lv, w in lead.items())
    day_var = MU + MU ** 2 / K
    # law of total variance: E[L' day_var + REL_VAR (MU L')²] + MU² Var(L'), L' = L - 1
    mean, var = e_l * MU, e_l * day_var + REL_VAR * MU ** 2 * e_l2 + MU ** 2 * (e_l2 - e_l ** 2)
    r = mean ** 2 / (var - mean)
    assert row["reorder_point"] == stats.nbinom.ppf(0.9, r, r / (r + mean)) + 1
    assert row["order_quantity"] == (0 if on_hand + 40 >= row["reorder_point"] else
                                     np.ceil(row["reorder_point"] + 28 * MU - on_hand - 40))
    # units short before the delivery, times the price
    x = np.arange(0, 2000)
    short = sum(w * (np.maximum(x - on_hand, 0) * stats.nbinom.pmf(x, *_nb(due + off - 1))).sum()
                for off, w in _smoothed(20).items())
    assert row["revenue_at_risk"] == pytest.approx(round(short * 12.5, 2), abs=0.011)


def test_without_an_open_order_the_horizon_is_the_lead_time_and_an_order_is_suggested():
    on_hand = 8
    risk = compute_stockout_risk(_hand_made(on_hand, None), _constant_demand(), as_of=AS_OF)
    row = risk.row(0, named=True)
    want = sum(w * _sf(on_hand, 7 + off - 1) for off, w in _smoothed(20).items())
    assert row["stockout_probability"] == pytest.approx(want, rel=1e-9)
    assert row["next_delivery"] is None and row["open_po_units"] == 0 and row["horizon_days"] == 7
    assert row["order_quantity"] == np.ceil(row["reorder_point"] + 28 * MU - on_hand) > 0
    assert "no open purchase order" in row["reason"] and "7 days" in row["reason"]
    higher = compute_stockout_risk(_hand_made(on_hand, None), _constant_demand(), as_of=AS_OF, service_level=0.99)
    assert higher["reorder_point"][0] > row["reorder_point"]


def test_an_empty_shelf_is_certain_and_an_overdue_order_is_said_so():
    risk = compute_stockout_risk(_hand_made(0, -3), _constant_demand(), as_of=AS_OF)
    row = risk.row(0, named=True)
    assert row["stockout_probability"] == 1.0
    assert row["reason"].startswith("Out of stock now; next delivery was due 3 days ago")
    assert row["revenue_at_risk"] > 0 and row["horizon_days"] >= 1


def test_a_product_without_orders_learns_the_merchants_lead_time():
    """Product 1's supplier takes 4 days, product 2's 16: product 3 (no orders) gets the merchant's typical
    median (geometric middle, 8 days) with the merchant's relative spread (none here)."""
    orders = pl.DataFrame({
        "product_id": [1] * 10 + [2] * 10, "store_id": [5] * 20,
        "ordered_date": [dt.date(2026, 1, 1)] * 20,
        "expected_date": [dt.date(2026, 1, 5)] * 10 + [dt.date(2026, 1, 15)] * 10,
        "received_date": [dt.date(2026, 1, 5)] * 10 + [dt.date(2026, 1, 17)] * 10, "quantity": [5] * 20})
    products = pl.DataFrame({"product_id": [1, 2, 3], "merchant_id": [7, 7, 7]})
    sup = leadtime.learn_suppliers(orders, products)
    prior = np.zeros(leadtime.MAX_LEAD + 1)
    prior[8] = 1.0
    np.testing.assert_allclose(sup.lead_pmf[2], prior)
    assert sup.orders.tolist() == [10, 10, 0] and np.isnan(sup.late_mean[2])
    assert sup.late_mean[:2].tolist() == [0.0, 2.0]
    assert sup.lead_median.tolist() == [4, 16, 8]
    np.testing.assert_allclose(sup.lead_pmf.sum(axis=1), 1.0)
    np.testing.assert_allclose(sup.late_pmf.sum(axis=1), 1.0)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed: Spark local mode needs a JVM")
def test_spark_gives_the_same_risk_as_duckdb(tiny, fixture_warehouse_path, tmp_path_factory):
    """Every read goes through data.access, so the Spark engine (tiny warehouse exported to Parquet) agrees."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from data.spark import SparkWarehouse, export_parquet

    _, as_of, demand, risk = tiny
    out = tmp_path_factory.mktemp("stockout_parquet")
    export_parquet(fixture_warehouse_path, out)
    wh = SparkWarehouse(out, master="local[2]")
    try:
        spark = compute_stockout_risk(DataAccess(wh.backend(), Scope.merchants([1])), demand, as_of=as_of)
    finally:
        wh.close()
    key = ["product_id", "store_id"]
    assert_frame_equal(spark.sort(key), risk.sort(key), check_dtypes=False, abs_tol=1e-9)
