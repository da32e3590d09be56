"""Stock-out probabilities against the planted stock-outs of the demo warehouse (holdout: the last 28 days).

The demand forecasts are the shared ``demo_forecasts`` (tests/conftest.py: merchants 1 and 2, trained only on
days up to the cutoff, the last planted day minus 28). ``compute_stockout_risk`` runs at ``as_of`` = cutoff,
through a scoped ``data.access``; truth tables are read with the plain DuckDB connection (data.access refuses
them).

The observed event matches what the probability means, "a day that closes with nothing on hand before the
next replenishment arrives":

- only rows with stock on hand at the cutoff are scored (an empty shelf has probability 1 by definition);
- with an open purchase order at the cutoff, the event is a planted stock-out (truth.stockouts) starting after
  the cutoff and before the first receipt after it (purchase_orders.received_date, known from the full data);
- without one, the probability is for an order placed at the cutoff, arriving after the supplier's lead time.
  Its arrival is the cutoff plus the realised lead time of the product's next real order (the same supplier,
  a draw independent of the demand), or the first receipt if that comes earlier.

A stock-out not begun by the end of the data counts as none. Run with -s to see the figures.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import polars as pl
import pytest

from data.access import DataAccess, Scope
from models.forecasting import outputs
from models.stockout.risk import compute_stockout_risk

from tests.conftest import DEMO_MERCHANTS as MERCHANTS

MIN_CASES = 50  # a probability decile is scored when it holds at least this many SKU-locations
TOLERANCE = 0.1

EVENTS_SQL = """
WITH first_out AS (SELECT product_id, store_id, min(start_day) AS stockout_day FROM truth.stockouts
                   WHERE start_day > $cutoff GROUP BY ALL),
     first_in AS (SELECT product_id, store_id, min(received_date) AS receipt_day FROM main.purchase_orders
                  WHERE received_date > $cutoff GROUP BY ALL),
     next_order AS (SELECT product_id, store_id, arg_min(lead_time_days, ordered_date) AS next_lead
                    FROM main.purchase_orders WHERE ordered_date > $cutoff GROUP BY ALL)
SELECT i.product_id::BIGINT AS product_id, i.store_id::BIGINT AS store_id, stockout_day, receipt_day, next_lead
FROM main.inventory_daily i LEFT JOIN first_out USING (product_id, store_id)
LEFT JOIN first_in USING (product_id, store_id) LEFT JOIN next_order USING (product_id, store_id)
WHERE i.day = $cutoff AND i.merchant_id IN (SELECT unnest($merchants))
"""


@pytest.fixture(scope="module")
def scored(demo_forecasts):
    con, cutoff, forecasts = demo_forecasts
    demand = pl.concat([outputs.compute_location_demand(outputs.to_payload(forecasts[m]), days=90) for m in MERCHANTS])
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants(MERCHANTS))
    risk = compute_stockout_risk(access, demand, as_of=cutoff)
    events = pl.from_arrow(con.cursor().sql(EVENTS_SQL, params={"cutoff": cutoff, "merchants": list(MERCHANTS)})
                           .to_arrow_table())
    never = dt.date(9999, 12, 31)
    arrival = pl.when(pl.col("next_delivery").is_null() & pl.col("next_lead").is_not_null()).then(
        pl.min_horizontal(pl.col("receipt_day").fill_null(never),
                          pl.lit(cutoff) + pl.duration(days=pl.col("next_lead")))
    ).otherwise(pl.col("receipt_day").fill_null(never))
    rows = risk.filter(pl.col("on_hand") > 0).join(events, on=["product_id", "store_id"], how="left").with_columns(
        (pl.col("stockout_day").is_not_null() & (pl.col("stockout_day") < arrival)).alias("event"))
    return risk, rows


def test_stockout_probabilities_are_calibrated_against_the_planted_stockouts(scored):
    risk, rows = scored
    p = rows["stockout_probability"].to_numpy()
    y = rows["event"].to_numpy().astype(float)
    assert rows.height > 1000 and 0.02 < y.mean() < 0.5
    brier = float(np.mean((p - y) ** 2))
    base_brier = float(np.mean((y.mean() - y) ** 2))
    print(f"\nstock-out risk vs planted stock-outs, merchants {MERCHANTS}: {rows.height} SKU-locations with stock, "
          f"{int(y.sum())} stock-outs began before the next replenishment (base rate {y.mean():.3f}); "
          f"Brier {brier:.4f}, base rate's Brier {base_brier:.4f}")
    decile = np.minimum((p * 10).astype(int), 9)
    bad = []
    for d in range(10):
        sel = decile == d
        if not sel.any():
            continue
        mean_p, freq = float(p[sel].mean()), float(y[sel].mean())
        scored_here = sel.sum() >= MIN_CASES
        print(f"  probability {d / 10:.1f}-{(d + 1) / 10:.1f}: {sel.sum():5d} cases, mean probability {mean_p:.3f}, "
              f"observed {freq:.3f}{'' if scored_here else ' (fewer than 50 cases: not scored)'}")
        if scored_here and abs(mean_p - freq) > TOLERANCE:
            bad.append((d, int(sel.sum()), round(mean_p, 3), round(freq, 3)))
    assert brier < base_brier
    assert not bad, f"deciles off by more than {TOLERANCE}: {bad}"


def test_risk_rows_cover_every_stocked_location_and_rank_by_revenue_at_risk(scored, demo_forecasts):
    con, cutoff, _ = demo_forecasts
    risk, _ = scored
    n = con.execute("SELECT count(*) FROM main.inventory_daily WHERE day = ? AND merchant_id IN (1, 2)",
                    [cutoff]).fetchone()[0]
    assert risk.height == n and set(risk["merchant_id"]) == set(MERCHANTS)
    assert risk["revenue_at_risk"].is_sorted(descending=True)
    top = risk.head(50)
    # the top of the alert list is where the risk is: far likelier to run out than the average row
    assert top["stockout_probability"].mean() > 2 * risk["stockout_probability"].mean()
