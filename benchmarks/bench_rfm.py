"""RFM with segments for every customer at the 10M-order size (about 1M customers over 4 merchants), on 2 cores.
Target: <= 3 s for all customers.

Times ``analytics.rfm.compute_rfm`` (aggregation in DuckDB through ibis, scores and segments in polars) for each
merchant as of its last day of data, cold (first query of the process for that merchant) and warm (again),
and their sum over the merchants; then, beside it, the k-means clusters (``segments.compute_clusters``) and a
quarter's movement (``rfm.segment_movement``: two RFM computations) of the largest merchant. Prints the
machine's load average beside the figures: the machine is shared, so read them with it.

Usage: python benchmarks/bench_rfm.py [--warehouse bench_out/bench.duckdb] [--threads 2]
The warehouse is opened read-only (a plain DuckDB connection): it is never modified.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import ibis  # noqa: E402

from analytics import rfm, segments  # noqa: E402
from data.access import DataAccess, Scope  # noqa: E402


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True, config={"threads": args.threads})
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
    last = {m: d for m, d in con.execute(
        "SELECT merchant_id, CAST(max(order_ts) AS DATE) FROM main.orders GROUP BY 1 ORDER BY 1").fetchall()}
    orders = con.execute("SELECT count(*) FROM main.orders").fetchone()[0]
    print(f"warehouse {args.warehouse}: {orders:,} order documents, {len(last)} merchants, DuckDB threads "
          f"{args.threads}; load average before: {load()}")
    rfm.compute_rfm(access, min(last), dt.date(2000, 1, 1))  # table lookups and ibis compilation warmed once

    totals = {"cold": 0.0, "warm": 0.0}
    cpu = {"cold": 0.0, "warm": 0.0}
    customers, frames = 0, {}
    for merchant, as_of in last.items():
        for run in ("cold", "warm"):
            t, c = time.perf_counter(), time.process_time()
            frame = rfm.compute_rfm(access, merchant, as_of)
            took, used = time.perf_counter() - t, time.process_time() - c
            totals[run] += took
            cpu[run] += used
            print(f"  merchant {merchant} as of {as_of}: {frame.height:,} customers, {run} {took:.2f} s "
                  f"(CPU {used:.2f} s over all threads)")
        customers += frame.height
        frames[merchant] = frame
    print(f"RFM with segments, all {customers:,} customers: cold {totals['cold']:.2f} s, warm {totals['warm']:.2f} s "
          f"(target <= 3 s); CPU cold {cpu['cold']:.2f} s, warm {cpu['warm']:.2f} s; load average: {load()}")

    biggest = max(frames, key=lambda m: frames[m].height)
    import sklearn.cluster  # noqa: F401 - its import (about a second, once per process) is not the clustering's

    t, c = time.perf_counter(), time.process_time()
    clusters = segments.compute_clusters(frames[biggest])
    print(f"k-means clusters of merchant {biggest} ({frames[biggest].height:,} customers): k = {clusters.k}, "
          f"{time.perf_counter() - t:.2f} s (CPU {time.process_time() - c:.2f} s)")
    t = time.perf_counter()
    moved = rfm.segment_movement(access, biggest, last[biggest] - dt.timedelta(days=91), last[biggest])
    print(f"movement over a quarter, merchant {biggest}: {moved['customers'].sum():,} customers in "
          f"{moved.height} flows, {time.perf_counter() - t:.2f} s; load average after: {load()}")
    con.close()


if __name__ == "__main__":
    main()
