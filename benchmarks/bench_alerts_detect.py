"""Benchmark: alert detection over every merchant and dimension, hourly, for the latest day, at 10M orders.

Usage: python benchmarks/bench_alerts_detect.py [warehouse] [days]
Opens the warehouse read-only (default bench_out/bench.duckdb), runs ``find_incidents`` with the default rules
for each merchant over the last ``days`` (default 1) whole days, and prints the time per merchant and in total.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb  # noqa: E402
import ibis  # noqa: E402

from data.access import DataAccess, Scope  # noqa: E402
from models.alerts.incidents import find_incidents  # noqa: E402


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "bench_out/bench.duckdb"
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    con = duckdb.connect(path, read_only=True)
    last = con.execute("SELECT max(order_ts) FROM orders").fetchone()[0]
    until = dt.datetime.combine(last.date(), dt.time())  # the last whole day ends here
    since = until - dt.timedelta(days=days)
    merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
    print(f"warehouse {path}: {con.execute('SELECT count(*) FROM orders').fetchone()[0]:,} orders, "
          f"{len(merchants)} merchants; scoring {since} .. {until}; load {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    for m in merchants:
        t = time.perf_counter()
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
        found = find_incidents(access, m, since=since, until=until)
        print(f"merchant {m}: {len(found)} incidents, {sum(len(i.anomalies) for i in found)} anomalies, "
              f"{time.perf_counter() - t:.1f} s")
    print(f"total detection: {time.perf_counter() - started:.1f} s for {len(merchants)} merchants "
          f"(load after: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
