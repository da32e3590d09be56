"""A full `python -m models alerts check` at the 10M-order size: detection over every merchant, every watched
metric and dimension (the default rules), hourly, then storing incidents and delivering their notifications
to a local webhook receiver. Target: <= 60 s on 2 cores.

The command runs as cron would run it, in a child process (`python -m models alerts check`), against the
warehouse opened read-only (never modified) and a fresh SQLite store in a temporary folder, with one json://
channel per merchant pointing at a local HTTP server in this process. Reported: the command's wall time, its
own detection and delivery seconds, incidents, notifications received, peak memory of the child, and the
machine's load average before and after (2 cores are shared).

Usage: python benchmarks/bench_alerts_check.py [--warehouse bench_out/bench.duckdb] [--hours 24] [--until ISO]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from data.store import Principal, open_store  # noqa: E402
from data.store.alert_channels import AlertChannels  # noqa: E402
from data.store.alert_incidents import AlertIncidents  # noqa: E402
from tests.test_alerts_delivery import HttpReceiver  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    parser.add_argument("--hours", default="24")
    parser.add_argument("--until", default=None, help="ISO time (shop time); default: each merchant's last order")
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    merchants = [r[0] for r in con.execute("SELECT merchant_id FROM merchants ORDER BY 1").fetchall()]
    orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    con.close()
    receiver = HttpReceiver()
    # The receiver listens on 127.0.0.1, which the SSRF guard refuses unless an admin allows it (as here).
    os.environ["RETAIL_PULSE_ALERT_PRIVATE_HOSTS"] = "127.0.0.1"
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as folder:
        url = f"sqlite:///{Path(folder) / 'state.sqlite'}"
        store = open_store(url)
        for m in merchants:
            AlertChannels(store).save(Principal.staff("bench"), merchant_id=m, label="hook",
                                      url=receiver.url(f"m{m}"), request_id=f"h{m}", digest=False)
        store.close()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RETAIL_PULSE_STATE_URL": url,
               "RETAIL_PULSE_PUBLIC_URL": "https://pulse.example.com", "RETAIL_PULSE_BACKEND": "duckdb"}
        command = [sys.executable, "-m", "models", "alerts", "check", "-w", args.warehouse, "--hours", args.hours]
        if args.until:
            command += ["--until", args.until]
        load_before = os.getloadavg()
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
        store = open_store(url)
        stored = AlertIncidents(store).incidents(Principal.staff("bench"), limit=1_000_000)
        store.close()
    receiver.close()
    print(done.stdout.strip()[-3000:])
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"alerts check exited {done.returncode}")
    print(f"warehouse: {orders:,} orders, {len(merchants)} merchants; window {args.hours} h"
          f"{' before ' + args.until if args.until else ' before each merchant last order'}")
    print(f"alerts check: {seconds:.1f} s wall (target <= 60 s), peak {peak:.2f} GB; "
          f"{len(stored)} incidents stored, {len(receiver.posts)} notifications received")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min)")


if __name__ == "__main__":
    main()
