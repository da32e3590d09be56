"""Campaign simulation speed: 10,000 draws over 100,000 targeted customers (target: at most 2 s).

The audience is synthetic (11 strata, as the RFM segments give) so the figure measures the Monte Carlo alone;
``--warehouse`` adds the reads and the stats of one merchant's real customers (the largest merchant of the
10M-order bench warehouse, read-only).

    python benchmarks/bench_campaign.py [--warehouse bench_out/bench.duckdb]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.campaigns import audience, history, simulation, uplift  # noqa: E402


def synthetic(customers: int, strata: int = 11, seed: int = 1) -> simulation.AudienceStats:
    rng = np.random.default_rng(seed)
    split = rng.multinomial(customers, np.full(strata, 1 / strata))
    return simulation.AudienceStats(tuple(f"segment {i}" for i in range(strata)), split,
                                    rng.uniform(0.02, 0.3, strata), rng.uniform(40, 120, strata),
                                    rng.uniform(0.5, 1.2, strata), 0.6, 0.45, 4.5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--warehouse", default=None)
    args = parser.parse_args()
    offer = simulation.Offer(discount_pct=20, cost_per_contact=0.05, fixed_costs=500, days=14)
    prior = uplift.manual_prior(1.1, 1.6)
    stats = synthetic(args.customers)
    times = []
    for seed in range(3):
        t = time.perf_counter()
        result = simulation.simulate(stats, offer, prior, draws=args.draws, seed=seed)
        times.append(time.perf_counter() - t)
    print(f"simulation: {args.draws:,} draws x {stats.total:,} customers in {len(stats.labels)} strata: "
          f"median {sorted(times)[1]:.3f} s (runs {', '.join(f'{x:.3f}' for x in times)}); "
          f"P(loss) {result.loss_probability:.3f}")
    if args.warehouse:
        import ibis

        from data.access import DataAccess, Scope

        access = DataAccess(ibis.duckdb.connect(args.warehouse, read_only=True), Scope.unrestricted())
        counts = access.to_polars(access.table("customers").group_by("merchant_id").aggregate(
            n=access.table("customers").count()))
        merchant = int(counts.sort("n", descending=True)["merchant_id"][0])
        t = time.perf_counter()
        as_of = access.scalar(access.table("orders").filter(access.table("orders").merchant_id == merchant)
                              .order_ts.max())
        as_of = as_of.date() if isinstance(as_of, dt.datetime) else as_of
        activity = history.load_activity(access, merchant, as_of, 365)
        t_read = time.perf_counter() - t
        target = activity.select("customer_id").head(args.customers).with_columns(pl.lit("All").alias("stratum"))
        t = time.perf_counter()
        stats = audience.build_stats(target, activity, days=14, lookback_days=365)
        result = simulation.simulate(stats, offer, prior, draws=args.draws, seed=0)
        print(f"merchant {merchant}: activity of {activity.height:,} customers read in {t_read:.2f} s; stats and "
              f"simulation over {stats.total:,} customers {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
