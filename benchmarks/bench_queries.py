"""KPI queries on the benchmark warehouse: the data layer against the same SQL run directly on DuckDB.

For each scenario (a page's analytics call with its filters) the call runs through a recording
``DataAccess`` on the hardened ``Warehouse``; every expression it executes is kept. The same
expressions are then compiled with ``ibis.to_sql`` and run on a plain read-only DuckDB connection
(in-memory filter tables registered there by name, as ibis does). Reported per scenario, medians
over ``--repeat`` rounds after one warm-up round (rounds alternate between the two sides):

- ``direct``: the SQL text on a plain connection, result fetched as Arrow;
- ``layer``: the same expressions through ``DataAccess.to_polars`` (compile, run, Arrow to polars);
- ``call``: the whole analytics call (building expressions, the queries, finishing the frame);
- ratios ``layer/direct`` (target <= 1.5) and ``call/direct``.

Usage: python benchmarks/bench_queries.py --warehouse bench_out/benchmark.duckdb [--repeat 5]
The warehouse must not be open in another process (the hardened handle opens it read-write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import ibis  # noqa: E402
import ibis.expr.operations as ops  # noqa: E402
import polars as pl  # noqa: E402

from analytics import breakdowns, customers, kpis, trends  # noqa: E402
from analytics.filters import Filters, compute_period  # noqa: E402
from data.access import DataAccess, Scope  # noqa: E402
from data.warehouse import Warehouse  # noqa: E402


class RecordingAccess(DataAccess):
    """A DataAccess that keeps every expression it runs and how long ``to_polars`` took."""

    def __init__(self, backend, scope):
        super().__init__(backend, scope)
        self.runs: list[tuple[object, float]] = []

    def to_polars(self, expr):
        t0 = time.perf_counter()
        out = super().to_polars(expr)
        self.runs.append((expr, time.perf_counter() - t0))
        return out


def scenarios(as_of: dt.date, merchant: int, category: str, channel: str) -> dict[str, tuple[Scope, Filters, Callable]]:
    one = Scope.merchants([merchant])
    everyone = Scope.unrestricted()
    last30 = Filters(*compute_period("last_30", as_of))
    last90 = Filters(*compute_period("last_90", as_of))
    year = Filters(as_of - dt.timedelta(days=364), as_of)
    ytd_filtered = Filters(*compute_period("year_to_date", as_of), categories=(category,), channels=(channel,))
    return {
        "kpi tiles, 1 merchant, last 30 d": (one, last30, kpis.compute_kpis),
        "kpi tiles + comparisons, 1 merchant, 90 d": (one, last90, kpis.compute_kpi_comparison),
        "kpi tiles, all merchants, YTD, category+channel": (everyone, ytd_filtered, kpis.compute_kpis),
        "daily trend vs previous, 1 merchant, 90 d": (one, last90, trends.compute_daily_trend),
        "monthly trend, all merchants, 365 d": (everyone, year, trends.compute_period_trend),
        "category breakdown, 1 merchant, 90 d": (one, last90, breakdowns.compute_category_breakdown),
        "region breakdown, all merchants, 365 d": (everyone, year, breakdowns.compute_region_breakdown),
        "payment mix by age band, 1 merchant, 90 d": (one, last90,
                                                      lambda a, f: breakdowns.compute_payment_mix(a, f, "age_band")),
        "cohort retention, 1 merchant, 365 d": (one, year, customers.compute_cohort_retention),
    }


def _memtables(expr) -> list[ops.InMemoryTable]:
    return list(expr.op().find(ops.InMemoryTable))


def run_direct(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    con.sql(sql).to_arrow_table()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", default=str(ROOT / "bench_out" / "benchmark.duckdb"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default=None, help="run the scenarios whose name contains this text")
    args = ap.parse_args(argv)
    path = Path(args.warehouse)
    if not path.exists():
        print(f"No benchmark warehouse at {path}; build it with `python -m data generate --size benchmark`.")
        return 2

    con = duckdb.connect(str(path), read_only=True)
    try:
        n_orders, as_of = con.execute("SELECT count(*), max(order_ts)::DATE FROM orders").fetchall()[0]
        merchant = con.execute("SELECT min(merchant_id) FROM merchants").fetchall()[0][0]
        category = con.execute("""SELECT category FROM products WHERE merchant_id = ? AND is_merchandise
                                  GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""", [merchant]).fetchall()[0][0]
        channel = con.execute("SELECT channel FROM orders WHERE merchant_id = ? GROUP BY 1 ORDER BY count(*) DESC "
                              "LIMIT 1", [merchant]).fetchall()[0][0]
    finally:
        con.close()
    plan = scenarios(as_of, merchant, category, channel)
    if args.only:
        plan = {k: v for k, v in plan.items() if args.only in k}
    print(f"{path}: {n_orders:,} orders, data up to {as_of}; duckdb {duckdb.__version__}, ibis {ibis.__version__}, "
          f"{args.repeat} rounds after a warm-up round, medians in seconds")

    # Rounds alternate between the two sides, so both meet the same machine load and cache state;
    # round 0 is the warm-up. The hardened handle opens the file read-write and a plain read-only
    # connection cannot share the process with it, so each side opens and closes its own (untimed).
    layer: dict[str, list[float]] = {k: [] for k in plan}
    call: dict[str, list[float]] = {k: [] for k in plan}
    direct: dict[str, list[float]] = {k: [] for k in plan}
    exprs: dict[str, list] = {}
    for i in range(args.repeat + 1):
        wh = Warehouse(path)
        try:
            for name, (scope, f, fn) in plan.items():
                access = RecordingAccess(wh.backend(), scope)
                t0 = time.perf_counter()
                fn(access, f)
                elapsed = time.perf_counter() - t0
                exprs.setdefault(name, [e for e, _ in access.runs])
                if i:
                    call[name].append(elapsed)
                    layer[name].append(sum(t for _, t in access.runs))
        finally:
            wh.close()
        con = duckdb.connect(str(path), read_only=True)
        try:
            for name in plan:
                sqls = []
                for expr in exprs[name]:
                    for mt in _memtables(expr):
                        con.register(mt.name, mt.data.to_pyarrow(mt.schema))
                    sqls.append(ibis.to_sql(expr, dialect="duckdb"))
                t0 = time.perf_counter()
                for sql in sqls:
                    run_direct(con, sql)
                if i:
                    direct[name].append(time.perf_counter() - t0)
        finally:
            con.close()

    rows = []
    for name in plan:
        d, lay, c = (statistics.median(x[name]) for x in (direct, layer, call))
        rows.append({"scenario": name, "queries": len(exprs[name]), "direct_s": round(d, 3), "layer_s": round(lay, 3),
                     "call_s": round(c, 3), "layer/direct": round(lay / d, 2), "call/direct": round(c / d, 2)})
    table = pl.DataFrame(rows)
    with pl.Config(tbl_rows=50, tbl_cols=10, tbl_width_chars=200, fmt_str_lengths=60, tbl_hide_dataframe_shape=True):
        print(table)
    total_d, total_l, total_c = (sum(statistics.median(x[n]) for n in plan) for x in (direct, layer, call))
    print(f"all scenarios: direct {total_d:.2f} s, layer {total_l:.2f} s ({total_l / total_d:.2f}x), "
          f"whole calls {total_c:.2f} s ({total_c / total_d:.2f}x); target layer/direct <= 1.5")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
