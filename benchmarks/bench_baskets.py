"""Basket rules at scale: FP-growth for the largest merchant of a warehouse (read-only).

    python benchmarks/bench_baskets.py [--warehouse bench_out/bench.duckdb] [--merchant N]

Prints the time to read the merchant's basket lines, to mine the rules (cap, itemsets, rules) and the whole
``basket_rules`` training (rules, recommendations with their hit-rate backtest, "bought together"), with the
machine load beside them. The target is FP-growth for the largest merchant of the 10M-order warehouse in at
most 30 s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import duckdb
import ibis

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from analytics.baskets import load_basket_lines
    from data.access import DataAccess, Scope
    from models.baskets import mining

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    parser.add_argument("--merchant", type=int, default=None, help="default: the merchant with the most orders")
    parser.add_argument("--skip-training", action="store_true", help="time the rules only")
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    merchant = args.merchant or con.execute(
        "SELECT merchant_id FROM main.orders GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([int(merchant)]))
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared)")
    started = time.perf_counter()
    lines = load_basket_lines(access)
    read = time.perf_counter() - started
    started = time.perf_counter()
    rules, counts, support = mining.mine(lines)
    mined = time.perf_counter() - started
    print(f"merchant {merchant}: {lines.height:,} basket lines, {counts.baskets:,} baskets kept, {counts.skipped:,} "
          f"over {counts.max_items} products skipped; min support {support:.4%}; {rules.height:,} rules")
    print(f"read lines {read:.1f} s; FP-growth and rules {mined:.1f} s; read + mine {read + mined:.1f} s "
          f"(target 30 s); load average {os.getloadavg()[0]:.2f}")
    if not args.skip_training:
        started = time.perf_counter()
        from models.baskets import outputs

        fitted = outputs.fit(access, lambda f, t: None)
        print(f"whole basket_rules training {time.perf_counter() - started:.1f} s "
              f"(payload {len(fitted.payload) / 1e6:.1f} MB); metrics {dict(fitted.metrics)}; "
              f"load average {os.getloadavg()[0]:.2f}")
    con.close()


if __name__ == "__main__":
    main()
