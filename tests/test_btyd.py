"""BG/NBD and Gamma-Gamma by maximum likelihood against the reference implementation (lifetimes 0.11.3) on real
data, Online Retail II with the standard cleaning (customer id, non-C invoice, Quantity > 0, Price > 0), and
against the published CDNOW parameters (Fader, Hardie and Lee 2005)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.datasets import load_cdnow_summary
from lifetimes.utils import summary_data_from_transaction_data

from models.customers import features
from models.customers.btyd import BetaGeo, GammaGamma


@pytest.fixture(scope="module")
def retail(datasets_dir):
    """(purchases frame as features.load_purchases gives it, lifetimes' daily summary at the cutoff, cutoff)."""
    raw = pl.read_csv(datasets_dir / "online_retail_II_2009_2010.csv.gz", infer_schema_length=0)
    lines = raw.filter(pl.col("Customer ID").is_not_null() & ~pl.col("Invoice").str.starts_with("C")).with_columns(
        pl.col("Quantity").cast(pl.Int64), pl.col("Price").cast(pl.Float64),
        pl.col("InvoiceDate").str.to_datetime("%Y-%m-%d %H:%M:%S"))
    lines = lines.filter((pl.col("Quantity") > 0) & (pl.col("Price") > 0))
    assert lines.height == 407_664 and lines["Customer ID"].n_unique() == 4_312  # the README's cleaning figures
    orders = lines.group_by("Invoice").agg(customer_id=pl.col("Customer ID").first().cast(pl.Float64).cast(pl.Int64),
                                           day=pl.col("InvoiceDate").first().dt.date(),
                                           spend=(pl.col("Quantity") * pl.col("Price")).sum())
    cutoff = orders["day"].max() + dt.timedelta(days=1)
    tx = orders.select("customer_id", pl.col("day").cast(pl.Datetime), "spend").to_pandas()
    ref = summary_data_from_transaction_data(tx, "customer_id", "day", monetary_value_col="spend", freq="D",
                                             observation_period_end=cutoff - dt.timedelta(days=1))
    return orders, ref, cutoff


def test_summary_equals_lifetimes(retail):
    orders, ref, cutoff = retail
    ours = features.compute_summary(orders, cutoff)
    theirs = pl.from_pandas(ref.reset_index()).sort("customer_id")
    assert ours["customer_id"].to_list() == theirs["customer_id"].to_list()
    np.testing.assert_array_equal(ours["frequency"].to_numpy(), theirs["frequency"].to_numpy())
    np.testing.assert_allclose(ours["recency"].to_numpy() * 7, theirs["recency"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(ours["T"].to_numpy() * 7, theirs["T"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(ours["monetary"].to_numpy(), theirs["monetary_value"].to_numpy(), rtol=1e-9)


def test_bgnbd_matches_lifetimes_on_online_retail(retail):
    _, s, _ = retail
    x, t_x, T = s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy()
    ref = BetaGeoFitter().fit(x, t_x, T)
    ours = BetaGeo.fit(x, t_x, T)
    theirs = ref.params_.to_dict()
    print(f"\nOnline Retail II BG/NBD (days): ours {ours}, lifetimes {theirs}")
    for name in ("r", "alpha", "a", "b"):
        assert getattr(ours, name) == pytest.approx(theirs[name], rel=0.01), name
    # Predictions with lifetimes' own parameters are the same formulas: equal to rounding.
    same = BetaGeo(**theirs)
    np.testing.assert_allclose(same.expected_purchases(90, x, t_x, T),
                               ref.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, T), rtol=1e-9)
    np.testing.assert_allclose(same.probability_alive(x, t_x, T), ref.conditional_probability_alive(x, t_x, T),
                               rtol=1e-9)
    # With our own fitted parameters, predictions agree to well under 1%.
    np.testing.assert_allclose(ours.expected_purchases(90, x, t_x, T),
                               ref.conditional_expected_number_of_purchases_up_to_time(90, x, t_x, T), rtol=5e-3)


def test_gamma_gamma_matches_lifetimes_on_online_retail(retail):
    _, s, _ = retail
    repeat = s[s["frequency"] > 0]
    ref = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    ours = GammaGamma.fit(s["frequency"].to_numpy(), s["monetary_value"].to_numpy())
    theirs = ref.params_.to_dict()
    print(f"\nOnline Retail II Gamma-Gamma: ours {ours}, lifetimes {theirs}")
    assert ours.p == pytest.approx(theirs["p"], rel=0.01)
    assert ours.q == pytest.approx(theirs["q"], rel=0.01)
    assert ours.gamma == pytest.approx(theirs["v"], rel=0.01)
    same = GammaGamma(theirs["p"], theirs["q"], theirs["v"])
    np.testing.assert_allclose(same.expected_spend(repeat["frequency"], repeat["monetary_value"]),
                               ref.conditional_expected_average_profit(repeat["frequency"], repeat["monetary_value"]),
                               rtol=1e-9)


def test_cdnow_published_parameters():
    d = load_cdnow_summary(index_col=[0])
    fitted = BetaGeo.fit(d["frequency"], d["recency"], d["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # Fader, Hardie and Lee 2005, section 5
    for name, value in published.items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.01), name


def test_no_purchase_probability_against_simulation():
    """P(no purchase in t | history) from the closed form against a Monte Carlo of the BG/NBD story."""
    model = BetaGeo(r=0.8, alpha=5.0, a=0.6, b=2.5)
    rng = np.random.default_rng(3)
    n, T, t = 400_000, 20.0, 8.0
    lam = rng.gamma(model.r, 1 / model.alpha, n)
    p = rng.beta(model.a, model.b, n)
    # Simulate purchase times from 0 (first purchase) to T + t; drop out after each purchase with probability p.
    first_after, x, last, alive = np.zeros(n, bool), np.zeros(n, int), np.zeros(n), np.ones(n, bool)
    clock = np.zeros(n)
    while alive.any():
        clock = np.where(alive, clock + rng.exponential(1 / lam), clock)
        alive &= clock < T + t
        in_cal = alive & (clock <= T)
        x += in_cal
        last = np.where(in_cal, clock, last)
        first_after |= alive & (clock > T)
        alive &= rng.random(n) >= p
    # Customers with history (x=2, recency in [10, 12)): compare the simulated share with the formula.
    sel = (x == 2) & (last >= 10) & (last < 12)
    expected = model.probability_no_purchase(t, 2, 11.0, T)
    assert sel.sum() > 2_000
    assert (~first_after[sel]).mean() == pytest.approx(float(expected), abs=0.02)
