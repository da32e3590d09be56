"""Stock-out risk at the 10M-order size (20,000 SKU-locations over 4 merchants): ``compute_stockout_risk`` for
every SKU and location of every merchant, in one call. Target: <= 30 s on 2 cores.

It needs a demand forecast of every merchant. The benchmark warehouse has no saved models, so each merchant
is trained here with ``demand.train_forecasts`` (timed and reported apart) and the payloads are kept in
``--cache`` so a second run skips training. The risk itself then runs in a fresh
child process, so its seconds and peak memory are its own (not training's): reading the forecasts'
location demand, reading stock and purchase orders, and the model.

Usage: python benchmarks/bench_stockout.py [--warehouse bench_out/bench.duckdb] [--cache /tmp/bench_stockout]
The warehouse is opened read-only (a plain DuckDB connection): it is never modified.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import ibis  # noqa: E402

from data.access import DataAccess, Scope  # noqa: E402


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def _payloads(con, merchants: list[int], cache: Path) -> dict[int, Path]:
    from models.forecasting import demand, outputs

    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for m in merchants:
        path = cache / f"demand_forecast_m{m}.zip"
        if not path.is_file():
            access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
            started = time.perf_counter()
            result = demand.train_forecasts(access)
            path.write_bytes(outputs.to_payload(result))
            print(f"merchant {m}: no saved model, trained the demand forecast in {time.perf_counter() - started:.1f} s",
                  flush=True)
        else:
            print(f"merchant {m}: demand forecast from {path}", flush=True)
        out[m] = path
    return out


def _risk_only(warehouse: str, cache: Path, merchants: list[int]) -> int:
    import polars as pl

    from models.forecasting import outputs
    from models.stockout.risk import compute_stockout_risk

    con = duckdb.connect(warehouse, read_only=True)
    started = time.perf_counter()
    demand = pl.concat([outputs.compute_location_demand((cache / f"demand_forecast_m{m}.zip").read_bytes(), days=90)
                        for m in merchants])
    read_s = time.perf_counter() - started
    access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants(merchants))
    started = time.perf_counter()
    risk = compute_stockout_risk(access, demand)
    risk_s = time.perf_counter() - started
    total = read_s + risk_s
    print(f"stock-out risk: {risk.height:,} SKU-locations of {len(merchants)} merchants; location demand from the "
          f"forecasts {read_s:.1f} s, compute_stockout_risk {risk_s:.1f} s, total {total:.1f} s (target <= 30); "
          f"peak memory {peak_gb():.2f} GB; {int((risk['stockout_probability'] >= 0.5).sum()):,} at 50% or more, "
          f"revenue at risk {risk['revenue_at_risk'].sum():,.0f} (merchants' currencies)", flush=True)
    return 0 if total <= 30 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    parser.add_argument("--cache", default="/tmp/bench_stockout", help="folder for trained forecast payloads")
    parser.add_argument("--risk-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = Path(args.warehouse)
    if not path.is_file():
        print(f"no warehouse at {path}: generate one with `python -m data generate --size benchmark -w {path}`")
        return 2
    cache = Path(args.cache)
    con = duckdb.connect(str(path), read_only=True)
    merchants = [m for (m,) in con.execute("SELECT merchant_id FROM main.merchants ORDER BY 1").fetchall()]
    if args.risk_only:
        con.close()
        return _risk_only(str(path), cache, merchants)
    _payloads(con, merchants, cache)
    con.close()
    return subprocess.call([sys.executable, __file__, "--warehouse", str(path), "--cache", str(cache), "--risk-only"])


if __name__ == "__main__":
    sys.exit(main())
