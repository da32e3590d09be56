"""The Alerts page's incident view at the 10M-order size: cold and warm, per incident, with AppTest.

Targets on 2 cores: cold <= 2 s, warm <= 0.3 s. The page opens ``?incident=<key>`` (the link every notification
carries) through tests/apps/page_harness.py, as a staff member and as the incident's merchant.

- The warehouse is opened read-only (a hardened read-only connection stands in for the dashboard's engine), so
  the benchmark file is never modified and other readers may hold it at the same time.
- The operational store is a temporary SQLite file. Incidents are seeded through the store API
  (``AlertIncidents.record``, as ``alerts check`` does): one per watched metric of each merchant, in the last day
  of data, on a real dimension value; ``--detect`` also stores what ``find_incidents`` finds in the last
  ``--hours`` of one merchant (slower: full detection).
- Then the list as operations open it (every merchant's incidents and likely stock-outs, the stock-out risk from
  the saved demand forecasts in ``<warehouse>.models``), cold and warm, for information (no target).
- Cold = the page's run for that incident after every cached result was cleared (the engine stays, as in a
  running server; each session's first run, which imports modules, is not timed). Warm = the same run again.

    python benchmarks/bench_alerts_page.py [--warehouse bench_out/bench.duckdb] [--repeat 3] [--detect]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
# (metric, dimension, SQL giving the busiest value of that dimension for a merchant in a span)
SEEDS = (
    ("orders", "region", "SELECT shipping_region FROM orders WHERE merchant_id = ? AND order_ts >= ? AND order_ts < ? "
                         "AND shipping_region IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"),
    ("revenue", "total", None),
    ("conversion", "channel", "SELECT channel FROM orders WHERE merchant_id = ? AND order_ts >= ? AND order_ts < ? "
                              "AND channel IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"),
    ("payment_declines", "payment_method", "SELECT method FROM payments WHERE merchant_id = ? AND paid_ts >= ? "
                                           "AND paid_ts < ? GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"),
)


class ReadOnlyWarehouse:
    """What the dashboard needs of its engine, on a hardened read-only connection (one cursor per query)."""

    engine = "duckdb"

    def __init__(self, path: Path):
        import duckdb

        from data import warehouse as wh

        self.path = path
        self._root = duckdb.connect(str(path), read_only=True, config={"enable_external_access": False})
        wh.harden(self._root)
        self._wh = wh

    def cursor(self):
        return self._root.cursor()

    def backend(self):
        return self._wh.ibis_backend(self._root.cursor())

    def data_version(self) -> int:
        from data import schema

        cur = self._root.cursor()
        try:
            return int(schema.get_meta(cur, "data_version") or 0)
        finally:
            cur.close()


def seed(store, con, access, merchants: list[int], detect: bool, hours: int) -> dict[str, int]:
    """Store the benchmark's incidents; returns incident key -> merchant id."""
    from data.store.alert_incidents import AlertIncidents
    from models.alerts.incidents import Cause, Incident, find_incidents, incident_key

    keys: dict[str, int] = {}
    for merchant in merchants:
        last = con.execute("SELECT max(order_ts) FROM orders WHERE merchant_id = ?", [merchant]).fetchone()[0]
        end = last.replace(minute=0, second=0, microsecond=0)
        found = []
        for n, (metric, dimension, sql) in enumerate(SEEDS):
            start = end - dt.timedelta(hours=6 + 3 * n)
            value = None if sql is None else con.execute(sql, [merchant, start, start + dt.timedelta(hours=3)]).fetchone()[0]
            key = incident_key(merchant, metric, start + dt.timedelta(hours=1))
            found.append(Incident(merchant, key, metric, dimension, value, "drop", start, start + dt.timedelta(hours=3),
                                  10.0, 40.0, 25.0, 55.0, 6.0, (), (Cause("dimension", f"{dimension} {value}",
                                                                          "most of the shortfall is here", 0.7),)))
        if detect and merchant == merchants[0]:
            t0 = time.perf_counter()
            real = find_incidents(access, merchant, since=end - dt.timedelta(hours=hours), until=end)
            print(f"find_incidents, merchant {merchant}, last {hours} h: {len(real)} incidents in "
                  f"{time.perf_counter() - t0:.1f} s")
            found += real
        AlertIncidents(store).record(merchant, found, channels={}, message_for=lambda i: {"title": "", "lines": []})
        keys.update({i.key: merchant for i in found})
    return keys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--merchants", default="2,3")
    ap.add_argument("--detect", action="store_true", help="also store what find_incidents finds (slow)")
    ap.add_argument("--hours", type=int, default=24)
    args = ap.parse_args()
    path = Path(args.warehouse)
    if not path.exists():
        sys.exit(f"no warehouse at {path}: run benchmarks/bench_generate.py --size benchmark first")
    tmp = Path(tempfile.mkdtemp(prefix="bench_alerts_"))
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_STATE_URL": f"sqlite:///{tmp / 'state.sqlite'}",
                       "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml"), "RETAIL_PULSE_TRAIN_IN_APP": "off"})

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import alert_data, cache, stockout_data
    from dashboard.auth.accounts import Principal
    from data.access import DataAccess, Scope
    from data.store import open_store

    engine = ReadOnlyWarehouse(path)
    cache.engine = lambda: engine  # the page reads through this read-only handle
    merchants = [int(m) for m in args.merchants.split(",")]
    store = open_store(os.environ["RETAIL_PULSE_STATE_URL"])
    con = engine.cursor()
    keys = seed(store, con, DataAccess(engine.backend(), Scope.unrestricted()), merchants, args.detect, args.hours)
    store.close()
    print(f"{len(keys)} incidents stored in {tmp / 'state.sqlite'}; warehouse {path} (read-only)")

    def timed(at) -> float:
        t0 = time.perf_counter()
        at.run()
        took = time.perf_counter() - t0
        if at.exception:
            raise SystemExit(f"page exception: {at.exception[0].message}")
        return took

    def session(principal):
        """One browser session (AppTest scans the installed packages once per instance, as a server does once
        at start: that is left out of the timings by an untimed first run)."""
        at = AppTest.from_file(HARNESS, default_timeout=600)
        at.session_state["harness_principal"] = principal
        at.session_state["harness_page"] = "alerts"
        at.query_params["incident"] = next(iter(keys))
        timed(at)
        return at

    staff = Principal("bench-ops", "Bench ops", "operations", None)
    sessions = {"staff": session(staff)}
    print(f"{'who':<10}{'incident':<40}{'cold s':>8}{'warm s':>8}")
    colds, warms = [], []
    for key, merchant in keys.items():
        sessions["merchant"] = session(Principal("bench-shop", "Bench shop", "merchant", frozenset({merchant})))
        for name, at in sessions.items():
            cold, warm = [], []
            for _ in range(args.repeat):
                st.cache_data.clear()
                cache.clear()
                alert_data._band.clear()
                alert_data._breakdown.clear()
                at.query_params["incident"] = key
                cold.append(timed(at))
                warm.append(timed(at))
            colds.append(statistics.median(cold))
            warms.append(statistics.median(warm))
            what = f"{merchant}: {_label(store_url=os.environ['RETAIL_PULSE_STATE_URL'], key=key)}"
            print(f"{name:<10}{what[:39]:<40}{colds[-1]:>8.2f}{warms[-1]:>8.2f}", flush=True)
    # The list, as operations open the page: every merchant's incidents and likely stock-outs (each merchant's
    # stock-out risk from its saved demand forecast, <warehouse>.models, shared with the Stock-out risk page).
    at = sessions["staff"]
    del at.query_params["incident"]
    at.session_state["al_stockouts"] = False
    timed(at)  # the list's widgets exist from here on (the first one picked is shown below it, as on the page)
    for stockouts in (True, False):
        at.toggle(key="al_stockouts").set_value(stockouts)
        cold, warm = [], []
        for _ in range(args.repeat):
            st.cache_data.clear()
            cache.clear()
            for fn in (alert_data._band, alert_data._breakdown, stockout_data._risk):
                fn.clear()
            cold.append(timed(at))
            warm.append(timed(at))
        shown = sum(len(d.value) for d in at.dataframe if "title" in d.value.columns)
        print(f"list, staff, every merchant, {'with' if stockouts else 'without'} stock-outs ({shown} alerts): "
              f"cold {statistics.median(cold):.2f} s, warm {statistics.median(warm):.2f} s", flush=True)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"incident page, median over incidents: cold {statistics.median(colds):.2f} s (max {max(colds):.2f}), "
          f"warm {statistics.median(warms):.2f} s (max {max(warms):.2f}); targets 2 s and 0.3 s")
    print(f"load: {load}")


def _label(*, store_url: str, key: str) -> str:
    from data.store import Principal, open_store
    from data.store.alert_incidents import AlertIncidents

    store = open_store(store_url)
    try:
        inc = AlertIncidents(store).incidents(Principal.staff("bench"), keys=[key], limit=1)[0]
        return f"{inc.metric}/{inc.dimension} {inc.dimension_value or ''}".strip()
    finally:
        store.close()


if __name__ == "__main__":
    main()
