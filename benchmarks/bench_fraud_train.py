"""Training the fraud model on each merchant's full history (issue 9 target: <= 3 minutes on 2 cores, 10M orders).

Runs what ``python -m models train --kind fraud_score`` runs (``models.registry.train``: features of every
payment of the merchant, matured labels, time split, XGBoost, Isolation Forest, calibration, threshold,
validation) and saves each model signed in the warehouse's model folder (``<warehouse>.models``), so
bench_fraud_score.py --warehouse and bench_review_page.py use them afterwards. Per merchant: payments, wall
time split by stage (features; fit; validation and save), CPU time, held-out PR-AUC, and the load average.

The warehouse must carry payment signals (schema 4 generated, not upgraded): bench_out/bench.duckdb was
upgraded and its signals are NULL; generate one with
``nice -n 10 python -m data generate --size benchmark --warehouse bench_out/bench_fraud.duckdb``.

    python benchmarks/bench_fraud_train.py [--warehouse bench_out/bench_fraud.duckdb] [--merchant 1 ...]
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


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, default=ROOT / "bench_out" / "bench_fraud.duckdb")
    ap.add_argument("--merchant", type=int, action="append", help="merchant id (repeatable; default: all)")
    args = ap.parse_args()
    if not args.warehouse.exists():
        sys.exit(f"no warehouse at {args.warehouse}: generate one (see this script's doc)")
    import duckdb
    import ibis

    from models import registry
    from models.artifacts import ModelStore, models_dir_for

    registry.load_families()
    con = duckdb.connect(str(args.warehouse), read_only=True)
    try:
        signals, version = con.execute(
            "SELECT count(card_fingerprint), (SELECT value FROM main.meta WHERE key = 'data_version') "
            "FROM payments").fetchone()
        if not signals:
            sys.exit(f"{args.warehouse}: payments carry no card signals (an upgraded warehouse); generate one")
        counts = dict(con.execute("SELECT merchant_id, count(*) FROM payments GROUP BY 1 ORDER BY 1").fetchall())
        store = ModelStore(models_dir_for(args.warehouse))
        print(f"{args.warehouse}: {sum(counts.values()):,} payments, data version {version}; models in {store.root}")
        for m in args.merchant or sorted(counts):
            stages: dict[str, float] = {}
            started = time.perf_counter()

            def progress(fraction: float, text: str) -> None:
                stages[text.split(" ")[0]] = time.perf_counter() - started

            load_before = os.getloadavg()[0]
            c0 = cpu_seconds()
            saved = registry.train("fraud_score", lambda: ibis.duckdb.from_connection(con.cursor()), m,
                                   int(version), store, progress=progress)
            wall, cpu = time.perf_counter() - started, cpu_seconds() - c0
            features = stages.get("Training", 0.0)
            fitted = stages.get("Validating", wall)
            metrics = saved.meta["metrics"]
            print(f"merchant {m}: {counts[m]:,} payments, {saved.meta['training_rows']:,} matured rows trained and "
                  f"calibrated on; {wall:.1f} s wall (features {features:.1f} s, fit {fitted - features:.1f} s, "
                  f"validation and save {wall - fitted:.1f} s), {cpu:.1f} s CPU (target <= 180 s); held-out "
                  f"PR-AUC {metrics.get('pr_auc', float('nan')):.3f}; load average {load_before:.1f} -> "
                  f"{os.getloadavg()[0]:.1f}; peak memory "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.2f} GB", flush=True)
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
