"""Customer value at the 10M-order size (1M customers over 4 merchants). Targets on 2 cores: training at most
2 minutes, scoring every customer at most 10 s.

Training: the ``customer_value`` kind's fit for the largest merchant (reading its purchases through the data
access, backtest against BG/NBD + Gamma-Gamma, scoring its customers into the payload), as ``python -m models
train`` runs it. Scoring: the saved models (no refit) applied to every customer of every merchant as of the
end of the data (``scores.compute_scores``: features, BG/NBD, the XGBoost models, intervals), reading the
purchases apart (timed apart). The warehouse is opened read-only: it is never modified.

Usage: python benchmarks/bench_customer_value.py [--warehouse bench_out/bench.duckdb] [--merchant ID]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import ibis  # noqa: E402

from data.access import DataAccess, Scope  # noqa: E402
from models.customers import features, outputs, scores, train  # noqa: E402


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    parser.add_argument("--merchant", type=int, default=None, help="default: the merchant with the most orders")
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    merchant = args.merchant or con.execute(
        "SELECT merchant_id FROM main.orders GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    print(f"load before: {os.getloadavg()[0]:.1f} (2 cores)")

    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([int(merchant)]))
    started = time.perf_counter()
    fitted = outputs.fit(access, lambda f, text: print(f"  {time.perf_counter() - started:6.1f} s {f:4.0%} {text}"))
    train_s = time.perf_counter() - started
    mine = outputs.load_scores(fitted.payload)
    print(f"training, merchant {merchant}: {train_s:.1f} s for {mine.height:,} customers scored "
          f"(target <= 120 s), peak {peak_gb():.2f} GB, load {os.getloadavg()[0]:.1f}")
    for note in fitted.notes[:6]:
        print(f"  {note}")

    p = outputs.load_params(fitted.payload)
    boosters = {n: outputs._read(fitted.payload, f"models/{n}.json").decode() for n, c in p["choices"].items()
                if c == "xgboost"}
    everyone = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
    t0 = time.perf_counter()
    purchases = features.load_purchases(everyone)
    read_s = time.perf_counter() - t0
    as_of = purchases["day"].max() + dt.timedelta(days=1)
    t1 = time.perf_counter()
    scored = scores.compute_scores(purchases, as_of, boosters, p["choices"], p["intervals"], outputs._baseline(p))
    score_s = time.perf_counter() - t1
    print(f"scoring every customer of every merchant: {scored.height:,} customers in {score_s:.1f} s "
          f"(target <= 10 s) after reading {purchases.height:,} purchases in {read_s:.1f} s; "
          f"peak {peak_gb():.2f} GB, load {os.getloadavg()[0]:.1f}")
    t2 = time.perf_counter()
    train.compute_inputs(purchases, as_of)
    print(f"  of which features (timed again alone): {time.perf_counter() - t2:.1f} s; the rest is "
          f"{sum(c == 'xgboost' for c in p['choices'].values())} XGBoost predictions and intervals")
    con.close()


if __name__ == "__main__":
    main()
