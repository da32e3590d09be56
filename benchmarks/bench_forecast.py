"""Demand forecasts at the 10M-order size (20,000 SKUs over 4 merchants): training and refresh.

For every merchant of the warehouse, in one process:
- ``train``: ``demand.train_forecasts`` (reading, demand estimation, 3-origin backtests of every level,
  forecasting 90 days, reconciliation), as ``python -m models train --kind demand_forecast`` runs it;
- ``refresh``: ``outputs.refresh`` with the saved payload (the chosen models, no backtest; the global SKU
  model as saved, the per-series models refit on the data).
Reported: seconds per merchant and in total, SKUs, the process's peak resident memory, and the machine's load
average before and after (the CPU may be shared: a figure taken at a load of 5 is not one taken at 0).
Targets: training plus backtest for all merchants <= 180 s and <= 6 GB; refresh for all <= 60 s.

Usage: python benchmarks/bench_forecast.py [--warehouse bench_out/bench.duckdb] [--merchant N ...]
The warehouse is opened read-only (a plain DuckDB connection): it is never modified or regenerated.
"""

from __future__ import annotations

import argparse
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
from models.forecasting import demand, outputs  # noqa: E402


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    parser.add_argument("--merchant", type=int, action="append")
    args = parser.parse_args()
    path = Path(args.warehouse)
    if not path.is_file():
        print(f"no warehouse at {path}: generate one with `python -m data generate --size benchmark -w {path}`")
        return 2
    con = duckdb.connect(str(path), read_only=True)
    merchants = args.merchant or [m for (m,) in con.execute("SELECT merchant_id FROM main.merchants ORDER BY 1")
                                  .fetchall()]
    skus = dict(con.execute("SELECT merchant_id, count(*) FROM main.products WHERE is_merchandise GROUP BY 1")
                .fetchall())
    payloads, train_s, refresh_s, cpu = {}, {}, {}, {}
    load_before = os.getloadavg()
    cpu_start = time.process_time()
    for m in merchants:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        started = time.perf_counter()
        marks = []
        result = demand.train_forecasts(access, progress=lambda f, t: marks.append((time.perf_counter(), t)))
        train_s[m] = time.perf_counter() - started
        payloads[m] = outputs.to_payload(result)
        steps = ", ".join(f"{t.split(' ')[0].lower()} {b[0] - a[0]:.1f}s" for a, b, t in
                          zip(marks, marks[1:] + [(time.perf_counter(), "")], [t for _, t in marks], strict=True))
        print(f"merchant {m}: {skus.get(m, 0):,} SKUs, train + backtest {train_s[m]:.1f} s ({steps}); "
              f"peak {peak_gb():.2f} GB", flush=True)
    cpu["train"], cpu_start = time.process_time() - cpu_start, time.process_time()
    for m in merchants:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        started = time.perf_counter()
        outputs.refresh(access, payloads[m])
        refresh_s[m] = time.perf_counter() - started
        print(f"merchant {m}: refresh with the saved choices {refresh_s[m]:.1f} s", flush=True)
    cpu["refresh"] = time.process_time() - cpu_start
    con.close()
    total_skus = sum(skus.get(m, 0) for m in merchants)
    print(f"ALL: {total_skus:,} SKUs; train + 3-origin backtest {sum(train_s.values()):.1f} s (target <= 180); "
          f"refresh {sum(refresh_s.values()):.1f} s (target <= 60); peak memory {peak_gb():.2f} GB (target <= 6)")
    # CPU seconds (all threads) hardly depend on what else runs; wall seconds on a busy machine do.
    print(f"CPU time: train {cpu['train']:.1f} s, refresh {cpu['refresh']:.1f} s")
    print("load average (1, 5, 15 min) before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
        *load_before, *os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
