"""The campaign simulator's pure parts: the Monte Carlo (reproducible, its ROI interval narrowing with draws, its
mean against the closed form), break-even, power and minimum detectable effect against statsmodels'
solve_power computed here, the stratified holdout, uploaded references, audience stats against polars, and
the stock check."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from analytics.campaigns import audience, design, simulation, stock, uplift

STATS = simulation.AudienceStats(("At risk", "Champions", "Lost"), np.array([30_000, 20_000, 50_000]),
                                 np.array([0.05, 0.30, 0.01]), np.array([60.0, 90.0, 40.0]),
                                 np.array([0.8, 0.6, 1.0]), covered_share=0.5, margin_rate=0.45, shipping=4.0)
OFFER = simulation.Offer(discount_pct=20, categories=("candles",), cost_per_contact=0.02, fixed_costs=300, days=14)
PRIOR = uplift.manual_prior(1.1, 1.5)


def test_reproducible_with_a_seed_and_different_without():
    a = simulation.simulate(STATS, OFFER, PRIOR, draws=2000, seed=11)
    b = simulation.simulate(STATS, OFFER, PRIOR, draws=2000, seed=11)
    c = simulation.simulate(STATS, OFFER, PRIOR, draws=2000, seed=12)
    assert np.array_equal(a.profit, b.profit) and np.array_equal(a.roi, b.roi, equal_nan=True)
    assert not np.array_equal(a.profit, c.profit)


def test_roi_interval_narrows_as_simulations_grow():
    widths = []
    for draws in (500, 5_000, 50_000):
        low, high = simulation.simulate(STATS, OFFER, PRIOR, draws=draws, seed=3).mean_roi_interval()
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] / widths[0] == pytest.approx(math.sqrt(500 / 50_000), rel=0.25)  # 1/sqrt(draws)
    # The distribution's own 90% interval settles: two seeds' intervals agree more closely with more draws.
    def disagreement(draws: int) -> float:
        one, two = (simulation.simulate(STATS, OFFER, PRIOR, draws=draws, seed=s) for s in (1, 2))
        return float(np.abs(np.subtract(one.interval(one.roi), two.interval(two.roi))).sum())

    assert disagreement(30_000) < disagreement(300)


def test_means_match_the_closed_form():
    offer = simulation.Offer(discount_pct=5, categories=("candles",), cost_per_contact=0.02, fixed_costs=300)
    sim = simulation.simulate(STATS, offer, PRIOR, draws=40_000, seed=5)
    u_mean = math.exp(PRIOR.mean_log + PRIOR.sd_log ** 2 / 2)
    n, p0, aov = STATS.customers, STATS.p0, STATS.aov
    base = (n * p0 * aov).sum()
    extra = base * (u_mean - 1)
    given = offer.rate * STATS.covered_share * (base + extra)
    assert sim.extra_orders.mean() == pytest.approx((n * p0).sum() * (u_mean - 1), rel=0.02)
    assert sim.revenue.mean() == pytest.approx(extra - given, rel=0.02)
    assert sim.margin.mean() == pytest.approx(extra * STATS.margin_rate - given, rel=0.02)
    assert (sim.profit - sim.margin).mean() == pytest.approx(-(n.sum() * 0.02 + 300))


def test_break_even_is_where_expected_profit_is_zero():
    u_star, rate, base = simulation.break_even(STATS, OFFER)
    certain = uplift.Prior(math.log(u_star), 1e-9, "by hand")
    sim = simulation.simulate(STATS, OFFER, certain, draws=40_000, seed=8)
    assert abs(sim.profit.mean()) < 0.02 * sim.spend.mean()
    assert rate == pytest.approx(u_star * base)
    assert base == pytest.approx((STATS.customers * STATS.p0).sum() / STATS.total)
    # An offer that gives away more than the goods earn never breaks even.
    assert simulation.break_even(STATS, simulation.Offer(discount_pct=95))[0] is None


def test_a_sure_loss_and_a_sure_gain():
    costly = simulation.Offer(discount_pct=10, cost_per_contact=5.0)
    assert simulation.simulate(STATS, costly, PRIOR, draws=2000).loss_probability == 1.0
    cheap = simulation.Offer(kind="free shipping", discount_pct=0)
    big = uplift.manual_prior(2.0, 2.2)
    assert simulation.simulate(STATS, cheap, big, draws=2000).loss_probability == 0.0


@pytest.mark.parametrize("customers,share,p0,p1", [(10_000, 0.1, 0.05, 0.06), (2_000, 0.25, 0.2, 0.25),
                                                   (50_000, 0.05, 0.01, 0.012)])
def test_power_and_mde_equal_statsmodels(customers, share, p0, p1):
    held = round(customers * share)
    treated = customers - held
    es = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))
    assert es == pytest.approx(proportion_effectsize(p1, p0))
    expected = NormalIndPower().solve_power(effect_size=es, nobs1=treated, alpha=0.05, ratio=held / treated,
                                            alternative="larger")
    assert design.compute_power(customers, share, p0, p1) == pytest.approx(expected, rel=1e-9)
    mde = design.compute_mde(customers, share, p0)
    es_solved = NormalIndPower().solve_power(effect_size=None, nobs1=treated, alpha=0.05, power=0.8,
                                             ratio=held / treated, alternative="larger")
    assert mde == pytest.approx(math.sin(math.asin(math.sqrt(p0)) + es_solved / 2) ** 2, rel=1e-9)
    # At the MDE the power is 80%, computed independently (to solve_power's root-finding tolerance).
    es_mde = 2 * math.asin(math.sqrt(mde)) - 2 * math.asin(math.sqrt(p0))
    assert NormalIndPower().power(es_mde, treated, 0.05, ratio=held / treated,
                                  alternative="larger") == pytest.approx(0.8, abs=1e-4)
    smallest = design.smallest_holdout(customers, p0, p1)
    if smallest is not None:
        assert design.compute_power(customers, smallest, p0, p1) >= 0.8
        before = round(smallest - 0.01, 2)
        assert before < 0.01 or design.compute_power(customers, before, p0, p1) < 0.8


def test_stratified_holdout_keeps_the_share_in_every_stratum():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"customer_id": np.arange(10_000, dtype=np.int64),
                          "stratum": rng.choice(["A", "B", "C", "D"], size=10_000, p=[0.6, 0.3, 0.07, 0.03])})
    flagged = design.assign_holdout(frame, 0.1, seed=42)
    per = flagged.group_by("stratum").agg(pl.col("holdout").sum(), pl.len())
    for row in per.iter_rows(named=True):
        assert row["holdout"] == round(0.1 * row["len"])
    assert flagged.equals(design.assign_holdout(frame.sample(fraction=1.0, shuffle=True, seed=3), 0.1, seed=42))
    assert not flagged["holdout"].equals(design.assign_holdout(frame, 0.1, seed=43)["holdout"])


def test_unknown_references_are_reported_by_line_and_value():
    content = ("external_id\nC-1\n\nC-2\nnobody\n=cmd|' /C calc'!A0\nC-1\n" + "x" * 250 + "\n").encode()
    refs = audience.parse_references(content)
    assert refs.values == ("C-1", "C-2", "nobody", "=cmd|' /C calc'!A0")
    assert refs.lines == (2, 4, 5, 6)
    known = pl.DataFrame({"customer_id": [11, 12], "external_id": ["C-1", "C-2"]})
    matched, unknown = audience.match_references(refs, known)
    assert sorted(matched["customer_id"].to_list()) == [11, 12]
    assert unknown.select("line", "reference").rows() == [(5, "nobody"), (6, "=cmd|' /C calc'!A0"),
                                                          (7, "C-1"), (8, "x" * 40 + "...")]
    with pytest.raises(ValueError, match="UTF-8"):
        audience.parse_references(b"\xff\xfe\x00bad")


def test_audience_stats_equal_a_plain_polars_computation():
    activity = pl.DataFrame({"customer_id": [1, 2, 3], "orders": [4, 1, 2], "scope_orders": [2, 0, 1],
                             "value": [200.0, 50.0, 90.0], "value_sq": [12_000.0, 2_500.0, 4_100.0],
                             "shipping": [8.0, 4.0, 0.0], "covered_value": [80.0, 0.0, 45.0],
                             "lines_value": [200.0, 50.0, 90.0], "costed_value": [200.0, 50.0, 0.0],
                             "cost": [100.0, 30.0, 0.0]})
    target = pl.DataFrame({"customer_id": [1, 2, 3, 4], "stratum": ["A", "A", "B", "B"]})
    stats = audience.build_stats(target, activity, days=10, lookback_days=100)
    assert stats.labels == ("A", "B") and stats.customers.tolist() == [2, 2]
    assert stats.p0.tolist() == pytest.approx([(1 - math.exp(-0.2) + 0) / 2, (1 - math.exp(-0.1)) / 2])
    assert stats.aov.tolist() == pytest.approx([250 / 5, 90 / 2])
    assert stats.covered_share == pytest.approx(125 / 340)
    assert stats.margin_rate == pytest.approx(1 - 130 / 250)
    assert stats.shipping == pytest.approx(12 / 7)


def test_stock_flags_only_promoted_products_short_of_stock():
    risk = pl.DataFrame({"product_id": [1, 2, 3], "sku": ["a", "b", "c"], "product": ["A", "B", "C"],
                         "category": ["candles", "candles", "toys"], "location": ["W"] * 3,
                         "on_hand": [100, 100, 1], "daily_demand": [5.0, 5.0, 5.0], "horizon_days": [18, 10, 30]})
    flags = stock.compute_stock_flags(risk, categories=("candles",), product_ids=(), uplift=1.5, reach=1.0, days=14)
    # Product 1: 5 x 18 + 5 x 0.5 x 14 = 125 > 100; product 2: 50 + 25 = 75 <= 100; product 3 is not promoted.
    assert flags["sku"].to_list() == ["a"] and flags["shortfall"].to_list() == [25.0]


def test_profit_chart_splits_at_zero_and_escapes_text():
    from dashboard.campaign_charts import build_profit_figure

    sim = simulation.simulate(STATS, OFFER, PRIOR, draws=5000, seed=4)
    fig = build_profit_figure(sim.profit, "<b>GBP</b>")
    loss = next(t for t in fig.data if t.name == "Loss")
    assert sum(loss.y) == pytest.approx(sim.loss_probability)  # every loss bar lies left of zero, whole
    assert "<b>" not in fig.layout.xaxis.title.text and "&lt;b&gt;" in fig.layout.xaxis.title.text
