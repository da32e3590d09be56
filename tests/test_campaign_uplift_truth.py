"""Each past promotion's estimated uplift against the uplift the demo generator planted
(``truth.promotion_effects``), on every merchant of the demo warehouse (seed 42): the planted uplift must lie
inside the estimate's 95% interval for at least 80% of the promotions (``-s`` prints the figures), and the
pooled prior must rest on promotions comparable to the new campaign.
"""

from __future__ import annotations

import duckdb
import ibis
import polars as pl
import pytest

from analytics.campaigns import history, uplift
from data.access import DataAccess, Scope

MIN_COVERAGE = 0.8


@pytest.fixture(scope="module")
def estimates(demo_warehouse) -> pl.DataFrame:
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        truth = pl.from_arrow(con.sql("SELECT promotion_id, uplift AS planted FROM truth.promotion_effects")
                              .to_arrow_table()).with_columns(pl.col("promotion_id").cast(pl.Int64))
        merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
        frames = []
        for m in merchants:
            access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
            est = uplift.estimate_uplifts(history.load_daily_lines(access, m), history.load_promotions(access, m),
                                          history.load_country(access, m), seed=m)
            frames.append(est.with_columns(pl.lit(m).alias("merchant_id")))
        planted = truth.height
    finally:
        con.close()
    return pl.concat(frames).join(truth, on="promotion_id", how="right").with_columns(
        pl.lit(planted).alias("planted_count"))


def test_planted_uplift_inside_the_interval_for_most_promotions(estimates):
    inside = (estimates["planted"] >= estimates["uplift_low"]) & (estimates["planted"] <= estimates["uplift_high"])
    estimated = estimates.filter(pl.col("uplift").is_not_null())
    covered = int(inside.fill_null(False).sum())
    share = covered / estimates.height  # promotions without an estimate count as misses
    err = (estimated["uplift"] - estimated["planted"]).abs()
    print(f"\ncampaign uplift truth (demo, seed 42): planted uplift inside the 95% interval for {covered} of "
          f"{estimates.height} promotions ({share:.1%}); {estimated.height} estimated; median |estimate - "
          f"planted| {err.median():.3f}; median interval width "
          f"{(estimated['uplift_high'] - estimated['uplift_low']).median():.3f}")
    by_kind = estimated.with_columns(inside.filter(estimates["uplift"].is_not_null()).alias("inside")).group_by(
        pl.col("category").is_null().alias("whole_catalogue"), "audience").agg(pl.col("inside").mean(), pl.len())
    print(by_kind.sort("whole_catalogue", "audience"))
    assert estimated.height >= 0.9 * estimates.height
    assert share >= MIN_COVERAGE
    # The intervals must mean something: not so wide that they cover anything.
    assert (estimated["uplift_high"] / estimated["uplift_low"]).median() < 2.0


def test_estimates_are_reproducible_and_ordered(estimates):
    one = estimates.filter(pl.col("merchant_id") == 1).drop("planted", "planted_count")
    assert one["start_date"].is_sorted()
    assert (one["uplift_low"] <= one["uplift"]).all() and (one["uplift"] <= one["uplift_high"]).all()


def test_pooled_prior_rests_on_comparable_promotions(estimates):
    est = estimates.filter(pl.col("merchant_id") == 1, pl.col("uplift").is_not_null()).drop("planted",
                                                                                            "planted_count")
    prior = uplift.pool_prior(est, discount_pct=25, whole_catalogue=True, channel=None)
    used = est.filter(pl.col("promotion_id").is_in(list(prior.based_on)))
    assert used.height >= uplift.MIN_POOL
    if prior.rule.startswith("discount 21 to 30%, whole-catalogue promotions, channel all"):
        assert used["discount_pct"].is_between(20.01, 30).all() and used["category"].is_null().all()
        assert used["channel"].is_null().all()
    low, high = prior.interval(0.9)
    assert low < prior.median < high
    # Pooling sits between the smallest and largest pooled estimate.
    assert used["uplift"].min() <= prior.median <= used["uplift"].max()
