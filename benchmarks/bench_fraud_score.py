"""Scoring 1M payments with the fraud model, features included (issue 9 target: <= 10 s on 2 cores).

Two sources of payments with real signals (bench_out/bench.duckdb was upgraded to schema 4, not regenerated:
its card, device, network and email signals are NULL, so its windows would be empty and its timing meaningless):

- ``--warehouse PATH``: a generated 10M-order warehouse with signals (bench_out/bench_fraud.duckdb). The newest
  ``--payments`` (default 1,000,000) payments of all merchants are scored as ``python -m models score`` scores
  new payments: features from ``since`` (windows over the 30 days before it, all-time histories as the totals
  before that), then each merchant's rows with that merchant's saved model (bench_fraud_train.py saves them).
- default: a slice built from the demo warehouse's payments (seed 42, about 203,000 attempts over 4 merchants, 2
  years) copied ``--copies`` times (default 5: about 1.0M rows) as separate merchants (merchant_id + 10 x copy,
  payment ids offset), so every copy keeps the demo's bursts, histories and identities; every row's features
  over its whole history; merchant 1's model trained on the demo (untimed). Written to a temporary DuckDB file.

Measured, in one process, after one untimed warm-up on a small slice:
- ``features``: compute_features (payments read through data.access, windows counted in memory);
- ``score``: XGBoost probability + calibration, the Isolation Forest, the blend, and SHAP reasons for the
  flagged payments (``reasons_from=None``; the pages' default of 5% writes them for about 4.5x as many);
- the total, rows, flagged share, CPU time, peak memory and the load average before and after.

Usage: python benchmarks/bench_fraud_score.py [--demo PATH] [--copies 5] [--threads 2]
       python benchmarks/bench_fraud_score.py --warehouse bench_out/bench_fraud.duckdb [--payments 1000000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import ibis  # noqa: E402

from data.access import DataAccess, Scope  # noqa: E402
from models.fraud import outputs  # noqa: E402
from models.fraud.features import compute_features  # noqa: E402
from models.fraud.scoring import score_features  # noqa: E402


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def build_slice(demo: Path, target: Path, copies: int) -> int:
    con = duckdb.connect(str(target))
    try:
        con.execute("ATTACH ? AS demo (READ_ONLY)", [str(demo)])
        con.execute("CREATE TABLE merchants AS SELECT * FROM demo.main.merchants WHERE false")
        con.execute("CREATE TABLE payments AS SELECT * FROM demo.main.payments WHERE false")
        for c in range(copies):
            con.execute("INSERT INTO merchants SELECT * REPLACE (merchant_id + ? AS merchant_id) "
                        "FROM demo.main.merchants", [10 * c])
            con.execute("INSERT INTO payments SELECT * REPLACE (merchant_id + ? AS merchant_id, "
                        "payment_id + ? AS payment_id, order_id + ? AS order_id, customer_id + ? AS customer_id) "
                        "FROM demo.main.payments ORDER BY paid_ts", [10 * c, c * 10**12, c * 10**12, c * 10**12])
        return con.execute("SELECT count(*) FROM payments").fetchone()[0]
    finally:
        con.close()


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def report(label: str, scored, features_s: float, score_s: float, cpu_s: float, flagged: int,
           loads: tuple[float, float], threads: int) -> None:
    with_reasons = int((scored["reasons"].list.len() > 0).sum())
    print(f"rows scored: {scored.height:,} ({label}); DuckDB threads {threads}")
    print(f"features {features_s:.2f} s; score + reasons {score_s:.2f} s; total {features_s + score_s:.2f} s "
          f"(target <= 10 s); CPU {cpu_s:.1f} s")
    print(f"flagged at the model's threshold: {flagged:,}; reasons written for {with_reasons:,} payments "
          "(the flagged ones)")
    print(f"peak memory {peak_gb():.2f} GB; load average before {loads[0]:.2f}, after {loads[1]:.2f}")


def bench_slice(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo = args.demo
        if demo is None:
            from data.generator import generate

            demo = Path(tmp) / "demo.duckdb"
            generate(demo, size="demo", seed=42, progress=False)
        path = Path(tmp) / "slice.duckdb"
        rows = build_slice(demo, path, args.copies)
        with duckdb.connect(str(demo), read_only=True) as dcon:
            trained = outputs.train_on(DataAccess(ibis.duckdb.from_connection(dcon.cursor()), Scope.merchants([1])))
        con = duckdb.connect(str(path), read_only=True, config={"threads": args.threads})
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
        warm = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([1]))
        score_features(compute_features(warm).head(20_000), trained.payload)  # imports, first-call costs
        load_before, c0 = os.getloadavg()[0], cpu_seconds()
        t0 = time.perf_counter()
        features = compute_features(access)
        t1 = time.perf_counter()
        scored = score_features(features, trained.payload, reasons_from=None)  # reasons for the flagged ones
        t2 = time.perf_counter()
        cpu_s, load_after = cpu_seconds() - c0, os.getloadavg()[0]
        con.close()
    flagged = int((scored["score"] >= outputs.load_threshold(trained.payload)).sum())
    report(f"slice of {rows:,} payments: demo x {args.copies}", scored, t1 - t0, t2 - t1, cpu_s, flagged,
           (load_before, load_after), args.threads)


def bench_warehouse(args) -> None:
    import polars as pl

    from models.artifacts import ModelFileError, ModelStore, models_dir_for

    con = duckdb.connect(str(args.warehouse), read_only=True, config={"threads": args.threads})
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
    total, signals = con.execute("SELECT count(*), count(card_fingerprint) FROM payments").fetchone()
    if not signals:
        sys.exit(f"{args.warehouse}: payments carry no signals (an upgraded warehouse); generate one")
    since = con.execute("SELECT paid_ts FROM payments ORDER BY paid_ts DESC LIMIT 1 OFFSET ?",
                        [min(args.payments, total) - 1]).fetchone()[0]
    store = ModelStore(models_dir_for(args.warehouse))
    merchants = [m for (m,) in con.execute("SELECT DISTINCT merchant_id FROM payments ORDER BY 1").fetchall()]
    try:
        payloads = {m: store.load(outputs.KEY, m).payload for m in merchants}
    except ModelFileError as exc:
        sys.exit(f"{exc}\nTrain first: python benchmarks/bench_fraud_train.py --warehouse {args.warehouse}")
    first = merchants[0]
    warm = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([first]))
    score_features(compute_features(warm, since=since).head(20_000), payloads[first])  # first-call costs
    load_before, c0 = os.getloadavg()[0], cpu_seconds()
    t0 = time.perf_counter()
    features = compute_features(access, since=since)
    t1 = time.perf_counter()
    parts = [score_features(features.filter(pl.col("merchant_id") == m), payloads[m], reasons_from=None)
             for m in merchants]
    scored = pl.concat(parts).sort("paid_ts", "payment_id")
    t2 = time.perf_counter()
    cpu_s, load_after = cpu_seconds() - c0, os.getloadavg()[0]
    con.close()
    flagged = sum(int((p["score"] >= outputs.load_threshold(payloads[m])).sum()) for m, p in zip(merchants, parts))
    report(f"the newest of {total:,} payments in {args.warehouse.name}, paid from {since:%Y-%m-%d %H:%M}; "
           "each merchant's own model", scored, t1 - t0, t2 - t1, cpu_s, flagged,
           (load_before, load_after), args.threads)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, default=None, help="a generated warehouse with signals")
    ap.add_argument("--payments", type=int, default=1_000_000, help="with --warehouse: how many newest payments")
    ap.add_argument("--demo", type=Path, default=None, help="a demo warehouse with signals (default: generate "
                    "one, seed 42, in the temporary folder)")
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.warehouse is not None:
        bench_warehouse(args)
    else:
        bench_slice(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
