"""SKU-level 80% and 95% intervals against the demo warehouse's holdout (the last 28 days).

The forecasts are the shared ``demo_forecasts`` (tests/conftest.py): trained only on days before the holdout.
Everything they are scored against is read here with plain SQL, and the distribution is recomputed with
scipy from the payload's own mean and dispersion.

Which days count. A SKU's sales equal its demand only on a day it was in stock all day: stock only falls
during a day (deliveries arrive before opening), so a positive closing stock (``inventory_daily.on_hand``) at
every location means it never ran out. On a stock-out day the sales are a floor of demand (censored), so those
days are left out of the main figures. Leaving them out is not neutral: it drops the days whose demand was
high for the stock left, so the upper bound looks a little better than it is. A second check has no such
selection: every holdout day against the units customers asked for (sold + ``truth.demand_daily.lost_units``,
the generator's own record of demand it could not serve).

Whole units. ``lo_80`` / ``hi_80`` are the 10% and 90% quantiles of the day's negative binomial demand, in
whole units, and for small counts such an interval holds more than 80% of days whatever the model: at a mean
of 0.05 a day, [0, 0] holds 95% of them. So the plain share of days inside is printed and must be at least
the nominal level (it cannot honestly be less), but calibration is judged as it is for count forecasts
(the non-randomized PIT of Czado, Gneiting and Held, 2009): a day whose units fall strictly inside counts 1,
a day on a bound counts the share of that bound's probability that lies inside the central 80% (95%), and a
day outside counts 0. Under a calibrated forecast this averages exactly 80% (95%) whatever the counts' size;
a dispersion too small or too large moves it (``test_the_measure_sees_a_wrong_dispersion``).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy.stats import nbinom

from models.forecasting import sku

from tests.conftest import DEMO_HOLDOUT as HOLDOUT
from tests.conftest import DEMO_MERCHANTS as MERCHANTS


def _frame(con, sql, params):
    return pl.from_arrow(con.cursor().sql(sql, params=params).to_arrow_table())


@pytest.fixture(scope="module")
def sku_days(demo_forecasts) -> pl.DataFrame:
    """merchant, product_id, day, mean, lo/hi 80/95, dispersion (forecast); sold, in_stock, lost_units (actual)."""
    con, until, out = demo_forecasts
    end = until + dt.timedelta(days=HOLDOUT)
    parts = []
    for m in MERCHANTS:
        fc = out[m].forecast.filter((pl.col("level") == "sku") & (pl.col("measure") == "units")
                                    & (pl.col("day") > until) & (pl.col("day") <= end))
        fc = fc.with_columns(pl.col("key").cast(pl.Int64).alias("product_id")).join(
            out[m].skus.select("product_id", "dispersion"), on="product_id", how="left")
        sold = _frame(con, """
            SELECT l.product_id, o.order_ts::DATE AS day, sum(l.quantity)::DOUBLE AS sold
            FROM main.order_lines l JOIN main.orders o USING (order_id)
            WHERE o.merchant_id = ? AND o.order_type = 'sale' AND o.status <> 'cancelled'
              AND o.order_ts::DATE BETWEEN ? AND ?
            GROUP BY ALL""", [m, until + dt.timedelta(days=1), end])
        stock = _frame(con, "SELECT product_id, day, min(on_hand) > 0 AS in_stock FROM main.inventory_daily "
                            "WHERE merchant_id = ? AND day BETWEEN ? AND ? GROUP BY ALL",
                       [m, until + dt.timedelta(days=1), end])
        lost = _frame(con, "SELECT product_id, day, lost_units::DOUBLE AS lost_units FROM truth.demand_daily "
                           "WHERE merchant_id = ? AND day BETWEEN ? AND ?", [m, until + dt.timedelta(days=1), end])
        parts.append(fc.join(sold, on=["product_id", "day"], how="left")
                     .join(stock, on=["product_id", "day"], how="left")
                     .join(lost, on=["product_id", "day"], how="left")
                     .with_columns(pl.col("sold").fill_null(0.0), pl.col("lost_units").fill_null(0.0),
                                   pl.lit(m).alias("merchant")))
    days = pl.concat(parts)
    assert days["dispersion"].null_count() == 0 and days["in_stock"].null_count() == 0
    assert days.height == sum(out[m].skus.height for m in MERCHANTS) * HOLDOUT
    return days


def _cdf(frame: pl.DataFrame, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F(y) and F(y - 1) of each row's negative binomial (mean, size k)."""
    k = frame["dispersion"].to_numpy()
    p = k / (k + np.maximum(frame["mean"].to_numpy(), 1e-9))
    return nbinom.cdf(y, k, p), nbinom.cdf(y - 1, k, p)


def _coverage(frame: pl.DataFrame, y: np.ndarray, level: int) -> tuple[float, float]:
    """(share of days with y in [lo, hi], the same with a day on a bound counted by its share; see module doc)."""
    lo, hi = frame[f"lo_{level}"].to_numpy(), frame[f"hi_{level}"].to_numpy()
    tail = (1 - level / 100) / 2
    f_y, f_below = _cdf(frame, y)
    on_bound = np.clip(np.minimum(f_y, 1 - tail) - np.maximum(f_below, tail), 0, None) / np.maximum(f_y - f_below,
                                                                                                    1e-300)
    credit = np.where((y > lo) & (y < hi), 1.0, np.where((y == lo) | (y == hi), on_bound, 0.0))
    return float(((y >= lo) & (y <= hi)).mean()), float(credit.mean())


def test_bounds_are_the_negative_binomial_quantiles(sku_days):
    """What is scored is the payload's own bounds: the quantiles of NB(mean, dispersion) (a grid may round one
    in a few hundred up by a unit, never down)."""
    k = sku_days["dispersion"].to_numpy()
    p = k / (k + np.maximum(sku_days["mean"].to_numpy(), 1e-9))
    for name, q in (("lo_80", 0.1), ("hi_80", 0.9), ("lo_95", 0.025), ("hi_95", 0.975)):
        exact, ours = nbinom.ppf(q, k, p), sku_days[name].to_numpy()
        assert (ours >= exact).all() and (ours <= exact + 1).all(), name
        assert (ours == exact).mean() >= 0.99, name


def test_sku_80_and_95_percent_intervals_are_calibrated_on_in_stock_days(sku_days):
    days = sku_days.filter(pl.col("in_stock"))
    assert days.height >= 0.8 * sku_days.height
    y = days["sold"].to_numpy()
    inside_80, cov_80 = _coverage(days, y, 80)
    inside_95, cov_95 = _coverage(days, y, 95)
    print(f"SKU days in stock all day: {days.height:,} of {sku_days.height:,}, mean forecast "
          f"{days['mean'].mean():.2f} units; 80%: {cov_80:.1%} calibrated ({inside_80:.1%} of days inside the "
          f"whole-unit bounds); 95%: {cov_95:.1%} calibrated ({inside_95:.1%} inside)")
    assert 0.75 <= cov_80 <= 0.85
    assert 0.925 <= cov_95 <= 0.975
    assert inside_80 >= 0.78 and inside_95 >= 0.93
    for m in MERCHANTS:  # no merchant hides behind the other
        part = days.filter(pl.col("merchant") == m)
        per = _coverage(part, part["sold"].to_numpy(), 80)[1]
        print(f"merchant {m}: 80% calibrated coverage {per:.1%} over {part.height:,} days")
        assert 0.75 <= per <= 0.85


def test_sku_intervals_are_calibrated_against_demand_on_every_day(sku_days):
    """Every holdout day, stock-outs included, against the units asked for (sold + planted lost units)."""
    y = (sku_days["sold"] + sku_days["lost_units"]).to_numpy()
    inside_80, cov_80 = _coverage(sku_days, y, 80)
    inside_95, cov_95 = _coverage(sku_days, y, 95)
    print(f"every SKU day against demand: 80%: {cov_80:.1%} calibrated ({inside_80:.1%} inside); "
          f"95%: {cov_95:.1%} calibrated ({inside_95:.1%} inside)")
    assert 0.75 <= cov_80 <= 0.85
    assert 0.925 <= cov_95 <= 0.975


def test_probabilities_are_spread_evenly_over_deciles(sku_days):
    """The PIT histogram: each tenth of the forecast distribution holds about a tenth of the in-stock days."""
    days = sku_days.filter(pl.col("in_stock"))
    f_y, f_below = _cdf(days, days["sold"].to_numpy())
    edges = np.linspace(0, 1, 11)
    width = np.maximum(f_y - f_below, 1e-300)
    shares = [float((np.clip(np.minimum(f_y, b) - np.maximum(f_below, a), 0, None) / width).mean())
              for a, b in zip(edges[:-1], edges[1:], strict=True)]
    print("share of in-stock SKU days per tenth of the forecast distribution:", [f"{s:.3f}" for s in shares])
    assert all(0.08 <= s <= 0.12 for s in shares)


def test_the_measure_sees_a_wrong_dispersion():
    """On draws of a known negative binomial the calibrated coverage is 80% with the true dispersion and leaves
    75-85% when the dispersion is wrong, while the share of days inside the whole-unit bounds is well above 80%
    even when the dispersion is right.

    Means of a few units a day: at the demo's typical 0.4 a day most of the mass sits on 0 and any coverage
    of a central interval hardly depends on the dispersion (Poisson instead of the true one still gives 77%),
    which is why the deciles are checked as well.
    """
    rng = np.random.default_rng(3)
    mean = rng.gamma(2.0, 1.5, size=200_000)
    k_true = 2.0
    y = rng.negative_binomial(k_true, k_true / (k_true + mean)).astype(float)
    figures = {}
    for label, k in (("true", k_true), ("poisson", 1e6), ("too wide", k_true / 5)):
        q = sku.quantiles(mean, k)
        frame = pl.DataFrame({"mean": mean, "dispersion": np.full(mean.size, k),
                              **{c: q[c] for c in ("lo_80", "hi_80", "lo_95", "hi_95")}})
        figures[label] = _coverage(frame, y, 80)
    print({label: f"{c:.1%} calibrated, {i:.1%} inside" for label, (i, c) in figures.items()})
    assert abs(figures["true"][1] - 0.80) < 0.01
    assert figures["poisson"][1] < 0.75 and figures["too wide"][1] > 0.85
    assert figures["true"][0] > 0.82  # whole-unit bounds hold more than 80% even when the forecast is right


def test_a_refresh_forecasts_with_the_saved_global_model(demo_forecasts, monkeypatch):
    """A refresh predicts with the global SKU model the training learnt (kept in the payload as XGBoost JSON)
    instead of learning it again, and keeps it for the next refresh."""
    import ibis

    from data.access import DataAccess, Scope
    from models.forecasting import outputs

    con, until, out = demo_forecasts
    m = next(m for m in MERCHANTS if out[m].global_model)  # a merchant whose SKU classes chose the global model
    payload = outputs.to_payload(out[m])
    assert outputs.read_payload(payload)["global_model"] == out[m].global_model

    def no_fit(*args, **kwargs):
        raise AssertionError("a refresh must not learn the global model again")

    monkeypatch.setattr(sku, "fit_global", no_fit)
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
    fresh = outputs.read_payload(outputs.refresh(access, payload))
    assert fresh["global_model"] == out[m].global_model
    last = con.execute("SELECT max(order_ts)::DATE FROM main.orders WHERE merchant_id = ?", [m]).fetchone()[0]
    assert fresh["forecast"]["day"].min() == last + dt.timedelta(days=1) > until + dt.timedelta(days=1)
    by_model = fresh["forecast"].filter(pl.col("level") == "sku")["model"].value_counts()
    assert sku.GLOBAL in by_model["model"].to_list()
