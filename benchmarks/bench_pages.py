"""Page render times with AppTest: cold cache, warm re-render, and two filter changes, per page and user.

Targets on 2 cores at 10M orders: cold <= 1.5 s; a filter change <= 0.5 s for staff, <= 0.3 s for a merchant.
Cold = the first run of the page after every cached result was cleared (the open warehouse
stays, as in a running server). Warm = the same run again. Period = switching the period preset
from 30 to 90 days; channel = then picking one sales channel; 2 dims = then also one payment method (two
filter dimensions at once: customer counts); 2 cats = instead of those, two product categories (order
counts, from rollup_order_categories since schema 5). Each is a new cache key. Each user signs in once (staff: demo-admin, all merchants; merchant:
demo-merchant, one merchant).

    python benchmarks/bench_pages.py [--warehouse bench_out/bench.duckdb] [--users demo-admin,demo-merchant]
                                     [--repeat 3] [--pages overview,sales]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warehouse", default=str(ROOT / "bench_out" / "bench.duckdb"))
    ap.add_argument("--users", default="demo-admin,demo-merchant")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pages", default="", help="page keys to time (default: every page of the user's role)")
    args = ap.parse_args()
    if not Path(args.warehouse).exists():
        sys.exit(f"no warehouse at {args.warehouse}: run benchmarks/bench_generate.py --size benchmark first")
    tmp = tempfile.mkdtemp()
    # Background model training stays off: the timings are the pages' (the 10M warehouse's models exist in
    # bench_out/bench.duckdb.models).
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": args.warehouse, "RETAIL_PULSE_DEMO": "1",
                       "RETAIL_PULSE_CREDENTIALS": str(Path(tmp) / "credentials.yaml"),
                       "RETAIL_PULSE_TRAIN_IN_APP": "off", "RETAIL_PULSE_ALERTS_EVERY_MINUTES": "off"})

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    for user in args.users.split(","):
        bench_user(AppTest, st, user.strip(), args)


def bench_user(AppTest, st, user: str, args) -> None:
    from dashboard import cache
    from dashboard.auth import accounts
    from dashboard.auth import login as auth
    from dashboard.auth.accounts import DEMO_PASSWORD
    from dashboard.navigation import pages_for

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    t_open = timed(at.run)
    at.text_input(key=auth.USERNAME_KEY).input(user)
    at.text_input(key=auth.PASSWORD_KEY).input(DEMO_PASSWORD)
    t_login = timed(at.button(key=auth.SUBMIT_KEY).click().run)
    assert not at.exception, at.exception
    print(f"\n{user} on {args.warehouse}: open {t_open:.2f} s, sign-in + first page {t_login:.2f} s")
    role = accounts.load_credentials().users[user].role
    wanted = {p.strip() for p in args.pages.split(",") if p.strip()}
    print(f"{'page':<20}{'cold s':>9}{'warm s':>9}{'period s':>10}{'channel s':>11}{'2 dims s':>10}{'2 cats s':>10}")
    for spec in pages_for(role):
        if wanted and spec.key not in wanted:
            continue
        times: dict[str, list[float]] = {k: [] for k in ("cold", "warm", "period", "channel", "dims", "cats")}
        for _ in range(args.repeat):
            # Results are shared with st.cache_resource (dashboard/cache.py): clearing st.cache_data alone left
            # every repeat after the first timing cache hits. cache.clear() drops them and keeps the engine.
            st.cache_data.clear()
            cache.clear()
            at.switch_page(f"views/{spec.script}")
            times["cold"].append(timed(at.run))
            times["warm"].append(timed(at.run))
            at.selectbox(key="flt_period").select("last_90")
            times["period"].append(timed(at.run))
            channels = at.multiselect(key="flt_channels")
            channels.select(channels.options[0])
            times["channel"].append(timed(at.run))
            payments = at.multiselect(key="flt_payments")
            payments.select(payments.options[0])
            times["dims"].append(timed(at.run))
            at.multiselect(key="flt_channels").set_value([])
            at.multiselect(key="flt_payments").set_value([])
            categories = at.multiselect(key="flt_categories")
            categories.set_value(categories.options[:2])
            times["cats"].append(timed(at.run))
            at.multiselect(key="flt_categories").set_value([])
            at.selectbox(key="flt_period").select("last_30")
            at.run()
            if at.exception:
                print(f"  {spec.title}: exception {at.exception[0].message}")
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{spec.title:<20}{med['cold']:>9.2f}{med['warm']:>9.2f}{med['period']:>10.2f}{med['channel']:>11.2f}"
              f"{med['dims']:>10.2f}{med['cats']:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
