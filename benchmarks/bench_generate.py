"""Wall time, peak memory and rows of building a generated warehouse.

    python benchmarks/bench_generate.py --size benchmark [--out bench_out/benchmark.duckdb] [--seed 42]

The build runs in a child process, so the peak RSS printed is the generator's
own (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), not this script's. Its CPU time
(user + system, all threads) is printed too: on a shared machine the wall time
depends on what else runs, the CPU time much less; the load average before and
after says how busy the machine was. An existing file at --out is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys
from data.generator import generate
r = generate(sys.argv[1], size=sys.argv[2], seed=int(sys.argv[3]), progress=True, overwrite=True)
print(json.dumps({"seconds": r.seconds, "rows": r.rows}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="demo", choices=("tiny", "demo", "benchmark"))
    parser.add_argument("--out", type=Path, default=None, help="warehouse file (default bench_out/<size>.duckdb)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    out = (args.out or ROOT / "bench_out" / f"{args.size}.duckdb").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), args.size, str(args.seed)], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"generation failed (exit {proc.returncode})")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mib = usage.ru_maxrss / 1024  # Linux reports KiB
    cpu = usage.ru_utime + usage.ru_stime

    print(f"size {args.size}, seed {args.seed} -> {out}")
    print(f"wall time        {wall:8.1f} s (generate() reported {report['seconds']:.1f} s)")
    print(f"CPU time         {cpu:8.1f} s (user + system; {os.cpu_count()} cores)")
    print(f"load average     {load_before:8.1f} before, {os.getloadavg()[0]:.1f} after (1 min)")
    print(f"peak RSS         {peak_mib:8.0f} MiB")
    print(f"file size        {out.stat().st_size / 2**20:8.0f} MiB")
    print(f"{'table':<28} {'rows':>14}")
    for table, rows in report["rows"].items():
        print(f"{table:<28} {rows:>14,}")


if __name__ == "__main__":
    main()
