"""Demand forecasts against the planted truth of a demo warehouse (holdout: the last 28 days).

The forecasts are trained only on days before the holdout (``train_forecasts(until=...)``), for two of the
demo merchants (a GB gifts shop and a DE fashion shop: training every merchant would double the runtime and
test nothing more). Truth tables are read with a plain DuckDB connection: data.access refuses them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from models import evaluation
from models.forecasting import censoring
from models.forecasting import demand_data as dd

from tests.conftest import DEMO_HOLDOUT as HOLDOUT
from tests.conftest import DEMO_MERCHANTS as MERCHANTS


@pytest.fixture(scope="module")
def trained(demo_forecasts):
    """The shared demo forecasts (tests/conftest.py), cut to the 28-day holdout these tests score."""
    con, until, out = demo_forecasts
    end = until + dt.timedelta(days=HOLDOUT)
    return con, until, {m: replace(f, forecast=f.forecast.filter(pl.col("day") <= end)) for m, f in out.items()}


def _frame(con, sql, params):
    return pl.from_arrow(con.cursor().sql(sql, params=params).to_arrow_table())


def _sales(con, m, start, end):
    """Units and revenue sold per product and day (sale documents, not cancelled), from plain SQL."""
    return _frame(con, """
        SELECT l.product_id::VARCHAR AS key, o.order_ts::DATE AS day, sum(l.quantity)::DOUBLE AS units,
               sum(l.line_amount)::DOUBLE AS revenue
        FROM main.order_lines l JOIN main.orders o USING (order_id) JOIN main.products p USING (product_id)
        WHERE o.merchant_id = ? AND o.order_type = 'sale' AND o.status <> 'cancelled' AND p.is_merchandise
          AND o.order_ts::DATE BETWEEN ? AND ?
        GROUP BY ALL""", [m, start, end])


def test_sku_wape_against_truth_is_15_percent_better_than_repeating_last_week(trained):
    con, until, out = trained
    for m in MERCHANTS:
        truth = _frame(con, "SELECT product_id::VARCHAR AS key, day, expected_units FROM truth.demand_daily "
                            "WHERE merchant_id = ? AND day > ?", [m, until])
        fc = out[m].forecast.filter((pl.col("level") == "sku") & (pl.col("measure") == "units"))
        last_week = _sales(con, m, until - dt.timedelta(days=6), until)
        naive = last_week.with_columns((pl.col("day") + dt.timedelta(days=7)).alias("day"))
        rows = truth.join(fc.select("key", "day", "mean"), on=["key", "day"], how="left")
        ours = evaluation.wape(rows["expected_units"].to_numpy(), rows["mean"].fill_null(0).to_numpy())
        # seasonal naive over 4 weeks: day d repeats the same weekday of the last observed week
        truth_wd = truth.with_columns(pl.col("day").dt.weekday().alias("wd"))
        naive_wd = naive.select("key", pl.col("day").dt.weekday().alias("wd"), pl.col("units").alias("naive"))
        rn = truth_wd.join(naive_wd, on=["key", "wd"], how="left")
        theirs = evaluation.wape(rn["expected_units"].to_numpy(), rn["naive"].fill_null(0).to_numpy())
        print(f"merchant {m}: SKU WAPE vs truth {ours:.3f}, seasonal naive {theirs:.3f}")
        assert ours <= 0.85 * theirs, (m, ours, theirs)


def test_total_mase_is_below_seasonal_naive(trained):
    con, until, out = trained
    for m in MERCHANTS:
        hist = _sales(con, m, until - dt.timedelta(days=400), until + dt.timedelta(days=HOLDOUT))
        daily = hist.group_by("day").agg(pl.col("units").sum(), pl.col("revenue").sum()).sort("day")
        past, future = daily.filter(pl.col("day") <= until), daily.filter(pl.col("day") > until)
        fc = out[m].forecast.filter(pl.col("level") == "total")
        for measure in ("units", "revenue"):
            f = future.join(fc.filter(pl.col("measure") == measure).select("day", "mean"), on="day")
            naive = np.tile(past[measure].to_numpy()[-7:], 4)[: f.height]
            ours = evaluation.mase(f[measure].to_numpy(), f["mean"].to_numpy(), past[measure].to_numpy())
            theirs = evaluation.mase(f[measure].to_numpy(), naive, past[measure].to_numpy())
            print(f"merchant {m} total {measure}: MASE {ours:.3f}, seasonal naive {theirs:.3f}")
            assert ours < theirs, (m, measure, ours, theirs)


def test_80_percent_intervals_cover_75_to_85_percent_of_actual_days(trained):
    con, until, out = trained
    inside = []
    for m in MERCHANTS:
        sales = _sales(con, m, until + dt.timedelta(days=1), until + dt.timedelta(days=HOLDOUT))
        cats = _frame(con, "SELECT product_id::VARCHAR AS key, coalesce(category, '(none)') AS category "
                           "FROM main.products WHERE merchant_id = ?", [m])
        s = sales.join(cats, on="key")
        actual = pl.concat([
            s.group_by("day").agg(pl.col("units").sum(), pl.col("revenue").sum()).with_columns(
                pl.lit("total").alias("level"), pl.lit("total").alias("key")),
            s.group_by("category", "day").agg(pl.col("units").sum(), pl.col("revenue").sum()).with_columns(
                pl.lit("category").alias("level"), pl.col("category").alias("key")).drop("category"),
        ], how="diagonal").unpivot(index=["level", "key", "day"], on=["units", "revenue"], variable_name="measure",
                                   value_name="y")
        j = out[m].forecast.join(actual, on=["level", "key", "measure", "day"], how="inner")
        inside.append(((j["y"] >= j["lo_80"]) & (j["y"] <= j["hi_80"])).to_numpy())
    share = float(np.concatenate(inside).mean())
    print(f"80% intervals, total and category series: {share:.1%} of {np.concatenate(inside).size} days inside")
    assert 0.75 <= share <= 0.85


def test_lost_units_estimate_is_within_20_percent_of_the_planted_loss(trained):
    con, until, out = trained
    for m in MERCHANTS:
        lost = censoring.compute_lost_sales(out[m].lost)
        truth = con.execute("SELECT sum(lost_units) FROM truth.demand_daily WHERE merchant_id = ? AND day <= ?",
                            [m, until]).fetchone()[0]
        ours = float(lost["lost_units"].sum())
        print(f"merchant {m}: lost units {ours:.0f}, planted {truth}")
        assert abs(ours - truth) <= 0.2 * truth
        assert lost["lost_revenue"].sum() > 0 and lost["lost_revenue"].is_sorted(descending=True)


def test_sku_forecasts_add_up_to_categories_and_total(trained):
    _, _, out = trained
    fc = out[MERCHANTS[0]].forecast
    for measure in ("units", "revenue"):
        part = fc.filter(pl.col("measure") == measure)
        skus = part.filter(pl.col("level") == "sku")
        info = out[MERCHANTS[0]].skus.select(pl.col("product_id").cast(pl.Utf8).alias("key"), "category")
        by_cat = skus.join(info, on="key").group_by("category", "day").agg(pl.col("mean").sum().alias("s"))
        cat_rows = part.filter(pl.col("level") == "category").join(
            by_cat.rename({"category": "key"}), on=["key", "day"], how="full", coalesce=True)
        assert cat_rows["s"].null_count() == 0 and cat_rows["mean"].null_count() == 0
        np.testing.assert_allclose(cat_rows["mean"], cat_rows["s"], rtol=1e-9, atol=1e-6)
        tot = part.filter(pl.col("level") == "total").join(
            part.filter(pl.col("level") == "category").group_by("day").agg(pl.col("mean").sum().alias("s")), on="day")
        np.testing.assert_allclose(tot["mean"], tot["s"], rtol=1e-9, atol=1e-6)
        assert tot.height == HOLDOUT


def test_backtest_says_how_far_to_trust_each_level(trained):
    _, _, out = trained
    metrics = out[MERCHANTS[0]].metrics
    assert metrics["origins"] >= 3
    for row in [*metrics["total"].values(), *metrics["category"].values()]:
        assert {"mase", "wape", "bias", "coverage_80", "naive_mase", "naive_wape"} <= set(row)
        assert "repeating last week" in row["summary"]
    assert "repeating last week" in metrics["sku"]["summary"]


def test_lost_sales_summary_is_a_pure_function_of_the_demand_frame():
    days = [dt.date(2026, 1, d) for d in range(1, 8)]
    frame = pl.DataFrame({"product_id": [1] * 7, "category": ["a"] * 7, "day": days,
                          "units": [2.0, 2.0, 2.0, 1.0, 0.0, 2.0, 2.0], "revenue": [20.0, 20, 20, 10, 0, 20, 20],
                          "censored": [False, False, False, True, True, False, False]})
    d = censoring.compute_demand(frame, window=3)
    # day 4 sold out after 1 unit: demand = 1 + a typical day (2); day 5 had nothing: a typical day
    assert d["demand"].to_list() == pytest.approx([2, 2, 2, 3, 2, 2, 2])
    lost = censoring.compute_lost_sales(d)
    assert lost.row(0, named=True) == {"product_id": 1, "category": "a", "stockout_days": 2,
                                       "lost_units": pytest.approx(4.0), "lost_revenue": pytest.approx(40.0)}
    assert censoring.compute_lost_sales(d, start=dt.date(2026, 1, 5)).row(0, named=True)["lost_units"] == 2.0
    assert dd.NO_CATEGORY == "(none)"
