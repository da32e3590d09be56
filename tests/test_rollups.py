"""The daily rollups answer exactly what the base tables answer: every filter option of the fixture, after an
import of real data and after a staged import is applied; and the KPI and trend queries really read them."""

from __future__ import annotations

import datetime as dt
import gzip
from itertools import combinations
from pathlib import Path

import duckdb
import ibis
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import frames, kpis, options, rollup_reads, trends
from analytics.filters import Filters
from data import rollups
from data.access import DataAccess, Scope
from data.importers import import_file
from data.warehouse import Warehouse

ONLINE_RETAIL = "online_retail_II_2009_2010.csv.gz"
DIMENSIONS = {"regions": ("regions", "region"), "store_ids": ("stores", "store_id"),
              "categories": ("categories", "category"), "channels": ("channels", "channel"),
              "payment_methods": ("payment_methods", "payment_method")}


def filter_cases(access: DataAccess, start: dt.date, end: dt.date, *, every_filter: bool = True) -> list[Filters]:
    """No filter; each option of each filter alone; two and all options of each; pairs of filters; all at once."""
    opts = options.compute_filter_options(access)
    values = {dim: opts[key][col].to_list() for dim, (key, col) in DIMENSIONS.items()}
    if every_filter:
        assert all(values.values()), f"the fixture must offer every filter: {values}"
    values = {dim: vals for dim, vals in values.items() if vals}
    cases = [Filters(start, end)]
    for dim, vals in values.items():
        cases += [Filters(start, end, **{dim: (v,)}) for v in vals]
        cases += [Filters(start, end, **{dim: tuple(vals[:2])}), Filters(start, end, **{dim: tuple(vals)})]
    for a, b in combinations(values, 2):
        cases.append(Filters(start, end, **{a: (values[a][0],), b: (values[b][-1],)}))
    cases.append(Filters(start, end, **{dim: tuple(vals[:2]) for dim, vals in values.items()}))
    return cases


def _by_day(access: DataAccess, cases: list[Filters], use_rollups: bool) -> pl.DataFrame:
    parts = [(rollup_reads.by_day(access, f) if use_rollups else trends._by_time(access, f, day=lambda ts: ts.date()))
             .mutate(case=ibis.literal(i)) for i, f in enumerate(cases)]
    out = frames.normalise(access.to_polars(ibis.union(*parts, distinct=False)), counts=("orders",))
    out = frames.zero_fill(out, ("revenue",)).select("case", "day", "revenue", "orders")
    # Days with nothing (e.g. only cancelled orders) may have a rollup row; the page fills empty days with 0.
    return out.filter((pl.col("revenue") != 0) | (pl.col("orders") != 0)).sort("case", "day")


def assert_same_answers(access: DataAccess, cases: list[Filters], batch: int = 25) -> int:
    """KPI measures (each period, its previous period and last year) and the daily series agree, batched into
    few queries (one union per batch); returns how many cases had orders."""
    with_orders = 0
    for at in range(0, len(cases), batch):
        chunk = cases[at:at + batch]
        periods = {f"{i}:{kind}": getattr(f, kind)() if kind != "current" else f
                   for i, f in enumerate(chunk) for kind in ("current", "previous_period", "last_year")}
        rolled, base = kpis.load_measures(access, periods), kpis.load_measures(access, periods, rollups=False)
        for key in periods:
            assert rolled[key] == base[key], (key, periods[key])
        assert_frame_equal(_by_day(access, chunk, True), _by_day(access, chunk, False), check_exact=True)
        with_orders += sum(bool(base[f"{i}:current"]["orders"]) for i in range(len(chunk)))
    f = cases[0]  # the page's function itself, with its zero-filled days and comparison columns
    assert_frame_equal(trends.compute_daily_trend(access, f), trends.compute_daily_trend(access, f, rollups=False),
                       check_exact=True)
    return with_orders


def _middle_option(f: Filters, offered: dict[str, list]) -> bool:
    """A filter on one dimension with one option that is neither the first nor the last offered."""
    set_dims = [d for d in DIMENSIONS if getattr(f, d)]
    if len(set_dims) != 1 or len(getattr(f, set_dims[0])) != 1:
        return False
    return getattr(f, set_dims[0])[0] not in (offered[set_dims[0]][0], offered[set_dims[0]][-1])


def _span(access: DataAccess) -> tuple[dt.date, dt.date]:
    o = access.table("orders")
    first, last = access.to_polars(o.aggregate(a=o.order_ts.min().date(), b=o.order_ts.max().date())).row(0)
    return first, last


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["all", "one"])
def test_rollups_equal_base_tables_for_every_filter_option(serving_warehouse, scope):
    access = DataAccess(serving_warehouse.backend(), Scope.unrestricted())
    if scope == "one":
        m = access.to_polars(access.table("merchants").merchant_id.min().name("m")).item()
        access = DataAccess(serving_warehouse.backend(), Scope.merchants([m]))
    first, last = _span(access)
    cases = filter_cases(access, last - dt.timedelta(days=89), last)
    if scope == "one":  # every option is covered on all merchants; here each filter's first and last
        opts = options.compute_filter_options(access)
        offered = {dim: opts[key][col].to_list() for dim, (key, col) in DIMENSIONS.items()}
        cases = [c for c in cases if not _middle_option(c, offered)]
    with_orders = assert_same_answers(access, cases)
    assert with_orders > len(cases) * 0.7, "most cases must select orders or the comparison proves little"
    # Other periods without filters: the whole history (new customers at its start), one week, one day.
    whole = [Filters(first, last), Filters(last - dt.timedelta(days=6), last), Filters(first, first)]
    assert_same_answers(access, whole)


def test_filters_the_rollups_leave_to_the_orders_equal_the_base_tables_in_one_scan(serving_warehouse):
    """Several categories (order counts) and several filter dimensions (customers): the orders are read once for
    a page's periods, lines only within the periods' order-id ranges (rollup_reads.sale_orders_on); the trend and
    the KPI measures equal the base tables for every such filter of the fixture, periods near and far apart."""
    from analytics import facts

    access = DataAccess(serving_warehouse.backend(), Scope.unrestricted())
    first, last = _span(access)
    cases = [f for f in filter_cases(access, last - dt.timedelta(days=89), last)
             if rollup_reads.customers_read_base(f) or len(f.categories) > 1]
    several_dims = [f for f in cases if rollup_reads._customer_dims(access, f) is None]
    assert sum(len(f.categories) > 1 for f in cases) >= 2 and len(several_dims) >= 2
    with_orders = 0
    for f in cases:
        for comparison in ("previous", "last_year"):
            assert_frame_equal(trends.compute_daily_trend(access, f, comparison),
                               trends.compute_daily_trend(access, f, comparison, rollups=False), check_exact=True)
        spans = [(f.start, f.end), (first, first + dt.timedelta(days=6))]  # far apart: two id ranges per merchant
        on = rollup_reads.sale_orders_on(access, f, spans)
        ids = set(access.to_polars(on.select("order_id"))["order_id"].to_list())
        expected = set()
        for a, b in spans:
            base = facts.sale_orders(access, Filters(a, b, f.regions, f.store_ids, f.categories, f.channels,
                                                     f.payment_methods))
            expected |= set(access.to_polars(base.select("order_id"))["order_id"].to_list())
        assert ids == expected, f
        with_orders += bool(ids)
    assert with_orders > len(cases) / 2, "most cases must select orders or the comparison proves little"
    periods = {f"{i}:{k}": (f if k == "current" else getattr(f, k)()) for i, f in enumerate(cases)
               for k in ("current", "previous_period", "last_year")}
    assert kpis.load_measures(access, periods) == kpis.load_measures(access, periods, rollups=False)


def test_kpis_and_trend_read_the_rollups(writable_warehouse):
    """Change only the rollups: the answers change, so the pages read them (the base path does not)."""
    wh = Warehouse(writable_warehouse)
    try:
        access = DataAccess(wh.backend(), Scope.unrestricted())
        last = _span(access)[1]
        f = Filters(last, last)
        before = kpis.load_measures(access, {"c": f})["c"]
        trend_before = trends.compute_daily_trend(access, f)
        cur = wh.cursor()
        cur.execute("UPDATE rollup_sales_daily SET revenue = revenue + 1 WHERE day = ?", [f.end])
        cur.execute("UPDATE rollup_customer_days SET customers = customers + 1 WHERE day = ?", [f.end])
        after = kpis.load_measures(access, {"c": f})["c"]
        base = kpis.load_measures(access, {"c": f}, rollups=False)["c"]
        assert after["revenue"] > before["revenue"] and after["customers"] > before["customers"]
        assert base == before
        # One dimension filtered, one value or several: distinct and new customers come from rollup_customer_dims.
        channel = cur.execute("SELECT channel FROM orders WHERE customer_id IS NOT NULL AND status <> 'cancelled' "
                              "AND order_type = 'sale' AND CAST(order_ts AS DATE) = ? LIMIT 1", [f.end]).fetchone()[0]
        all_channels = tuple(r[0] for r in cur.execute("SELECT DISTINCT channel FROM orders WHERE channel IS NOT NULL "
                                                       "ORDER BY 1").fetchall())
        dim_cases = {"one": Filters(f.start, f.end, channels=(channel,)),
                     "all": Filters(f.start, f.end, channels=all_channels)}
        dim_before = kpis.load_measures(access, dim_cases)
        cur.execute("INSERT INTO rollup_customer_dims SELECT merchant_id, dimension, value, day, -customer_id, "
                    "NULL, day FROM rollup_customer_dims WHERE dimension = 'channel' AND day = ?", [f.end])
        dim_after = kpis.load_measures(access, dim_cases)
        for key in dim_cases:
            assert dim_after[key]["customers"] > dim_before[key]["customers"], key
            assert dim_after[key]["new_customers"] > dim_before[key]["new_customers"], key
            assert dim_after[key]["orders"] == dim_before[key]["orders"], key
        assert trends.compute_daily_trend(access, f)["revenue"][0] > trend_before["revenue"][0]
        cur.close()
    finally:
        wh.close()


def _retail_slice(datasets_dir: Path, out: Path, lines: int = 4000) -> Path:
    """The first ``lines`` lines of Online Retail II (invoices of Dec 2009, credit notes included)."""
    with gzip.open(datasets_dir / ONLINE_RETAIL, "rt", encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > lines:
                break
            dst.write(line)
    return out


def _merchant(path: Path, name: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT merchant_id FROM merchants WHERE name = ?", [name]).fetchall()[0][0]
    finally:
        con.close()


def _first_merchant(path: Path) -> tuple[int, str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return tuple(con.execute("SELECT merchant_id, name FROM merchants ORDER BY 1 LIMIT 1").fetchall()[0])
    finally:
        con.close()


@pytest.mark.slow
def test_rollups_stay_equal_after_an_import(writable_warehouse, datasets_dir, tmp_path):
    """A real export into an existing merchant and as a new one: both merchants' rollups follow."""
    part = _retail_slice(datasets_dir, tmp_path / "retail.csv")
    mid, name = _first_merchant(writable_warehouse)
    into_existing = import_file(writable_warehouse, part, preset="online_retail_ii", merchant=mid)
    assert into_existing.status == "loaded", into_existing.message
    as_new = import_file(writable_warehouse, part, preset="online_retail_ii",
                         create_merchant=("Online Retail II", "GB", "GBP"))
    assert as_new.status == "loaded", as_new.message
    new_id = _merchant(writable_warehouse, "Online Retail II")
    wh = Warehouse(writable_warehouse)
    try:
        for scope in ([new_id], [mid, new_id]):
            access = DataAccess(wh.backend(), Scope.merchants(scope))
            # December 2009 holds the imported invoices; the first merchant's own data is years later.
            f = Filters(dt.date(2009, 12, 1), dt.date(2009, 12, 31))
            assert assert_same_answers(access, filter_cases(access, f.start, f.end, every_filter=False)) > 0
            first, last = _span(access)
            assert_same_answers(access, [Filters(first, last)])
            assert_category_counts(access, first, last)
    finally:
        wh.close()


@pytest.mark.slow
def test_rollups_stay_equal_after_a_staged_import_is_applied(writable_warehouse, datasets_dir, tmp_path):
    part = _retail_slice(datasets_dir, tmp_path / "retail.csv", lines=1500)
    mid, _ = _first_merchant(writable_warehouse)
    wh = Warehouse(writable_warehouse)  # held as the dashboard holds it: the import is staged
    try:
        staged = import_file(writable_warehouse, part, preset="online_retail_ii", merchant=mid)
        assert staged.status == "staged", staged.message
        assert wh.apply_pending_imports()
        access = DataAccess(wh.backend(), Scope.merchants([mid]))
        first, last = _span(access)
        assert first.year == 2009, "the staged rows were applied"
        assert_same_answers(access, [Filters(first, last), Filters(first, dt.date(2009, 12, 31)),
                                     Filters(first, first, channels=("web",))])
        assert_category_counts(access, first, last)
    finally:
        wh.close()


def test_refresh_rebuilds_only_the_merchants_named(writable_warehouse):
    con = duckdb.connect(str(writable_warehouse))
    try:
        counts = lambda: dict(con.execute(  # noqa: E731
            "SELECT merchant_id, count(*) FROM rollup_sales_daily GROUP BY 1").fetchall())
        before = counts()
        m1, m2 = sorted(before)[:2]
        con.execute("DELETE FROM rollup_sales_daily")
        con.execute("BEGIN TRANSACTION")
        rollups.refresh(con, [m1])
        con.execute("ROLLBACK")  # inside the caller's transaction: a rollback takes the refresh back
        assert counts() == {}
        rollups.refresh(con, [m1])
        assert counts() == {m1: before[m1]}
        rollups.refresh(con)
        assert counts() == before and m2 in counts()
    finally:
        con.close()


def test_upgrade_from_schema_1_builds_the_rollups(writable_warehouse):
    """A warehouse made before the rollups gets them from `python -m data upgrade` (schema step 2)."""
    from data import schema

    con = duckdb.connect(str(writable_warehouse))
    try:
        want = {t: con.execute(f"SELECT count(*), sum(hash(x)::HUGEINT) FROM {t} x").fetchall()[0]
                for t in rollups.TABLES}
        for t in rollups.TABLES:
            con.execute(f"DROP TABLE {t}")
        schema.set_meta(con, "schema_version", "1")
        assert schema.upgrade(con) == (1, schema.SCHEMA_VERSION)
        got = {t: con.execute(f"SELECT count(*), sum(hash(x)::HUGEINT) FROM {t} x").fetchall()[0]
               for t in rollups.TABLES}
        assert got == want and all(n for n, _ in got.values())
    finally:
        con.close()


def test_upgrade_from_schema_2_builds_the_customer_dimension_rollup(writable_warehouse):
    """A warehouse with the version 2 rollups gets rollup_customer_dims from `python -m data upgrade` (step 3)."""
    from data import schema

    con = duckdb.connect(str(writable_warehouse))
    try:
        digest = "SELECT count(*), sum(hash(x)::HUGEINT) FROM rollup_customer_dims x"
        want = con.execute(digest).fetchall()[0]
        others = con.execute("SELECT count(*) FROM rollup_sales_daily").fetchall()
        con.execute("DROP TABLE rollup_customer_dims")
        schema.set_meta(con, "schema_version", "2")
        assert schema.upgrade(con) == (2, schema.SCHEMA_VERSION)
        assert con.execute(digest).fetchall()[0] == want and want[0]
        assert con.execute("SELECT count(*) FROM rollup_sales_daily").fetchall() == others
    finally:
        con.close()


def category_cases(access: DataAccess, start: dt.date, end: dt.date) -> list[Filters]:
    """Every pair and triple of each merchant's categories and all of them (the first 8 of a merchant with more),
    alone and with other filters in turn: a channel, two payment methods, a store, a region (the order attributes
    the category rollup keeps), those the data has."""
    orders = access.table("orders")
    p = access.table("products")
    cats = access.to_polars(p.filter(p.category.notnull()).select("merchant_id", "category").distinct())
    attrs = access.to_polars(orders.filter(orders.order_type == "sale").select(
        "channel", "payment_method", "store_id", "shipping_region").distinct())
    first = {c: sorted(v for v in attrs[c].unique().to_list() if v is not None)[:2] for c in attrs.columns}
    others = [{field: tuple(first[col][:n])} for field, col, n in (
        ("channels", "channel", 1), ("payment_methods", "payment_method", 2), ("store_ids", "store_id", 1),
        ("regions", "shipping_region", 1)) if first[col]]
    if first["channel"] and first["payment_method"]:
        others.append({"channels": tuple(first["channel"][:1]), "payment_methods": tuple(first["payment_method"])})
    combos: set[tuple[str, ...]] = set()
    for _, group in cats.group_by("merchant_id"):
        names = sorted(group["category"].to_list())
        combos |= {c for n in (2, 3) for c in combinations(names[:8], n)} | {tuple(names)}
    cases = []
    for i, combo in enumerate(sorted(combos)):
        cases.append(Filters(start, end, categories=combo))
        if others:  # each combination with one of the other filters in turn (all of them would make it slow)
            cases.append(Filters(start, end, categories=combo, **others[i % len(others)]))
    return cases


def _orders_by_categories(access: DataAccess, cases: list[Filters]) -> list[tuple[int, int, int]]:
    """Independent count of each case's sale orders (any status, placed, cancelled): each sale order with its
    attributes and the categories of its lines, read from the base tables; polars keeps those sharing one with
    the case."""
    o, lines, p, st = (access.table(n) for n in ("orders", "order_lines", "products", "stores"))
    j = lines.join(p, lines.product_id == p.product_id).select(lines.order_id, p.category)
    j = j.filter(j.category.notnull())
    per_order = access.to_polars(j.group_by("order_id").aggregate(cats=j.category.collect()))
    oo = o.filter(o.order_type == "sale").left_join(st, o.store_id == st.store_id)
    orders = access.to_polars(oo.select("order_id", "status", "channel", "payment_method", "store_id",
                                        region=oo.shipping_region.coalesce(oo.region), day=oo.order_ts.date()))
    orders = orders.join(per_order, on="order_id", how="left")
    out = []
    for f in cases:
        x = orders.filter(pl.col("day").is_between(f.start, f.end),
                          pl.col("cats").list.set_intersection(list(f.categories)).list.len() > 0)
        for col, values in (("channel", f.channels), ("payment_method", f.payment_methods),
                            ("store_id", f.store_ids), ("region", f.regions)):
            if values:
                x = x.filter(pl.col(col).is_in(list(values)))
        cancelled = x.filter(pl.col("status") == "cancelled").height
        out.append((x.height, x.height - cancelled, cancelled))
    return out


def assert_category_counts(access: DataAccess, start: dt.date, end: dt.date) -> None:
    """The order counts of every category combination (``category_cases``) equal the independent count."""
    assert_category_counts_of(access, category_cases(access, start, end))


@pytest.mark.parametrize("scope", ["all", "one"])
def test_several_categories_count_each_order_once_from_the_category_rollup(serving_warehouse, scope):
    """Every pair, triple and all of each merchant's categories, alone and with other filters: the order counts
    (from rollup_order_categories, no base-table read) equal an independent count; the KPI measures of the page's
    three periods and the daily trend equal the base tables (a spread of the cases)."""
    access = DataAccess(serving_warehouse.backend(), Scope.unrestricted())
    if scope == "one":
        m = access.to_polars(access.table("merchants").merchant_id.min().name("m")).item()
        access = DataAccess(serving_warehouse.backend(), Scope.merchants([m]))
    last = _span(access)[1]
    cases = category_cases(access, last - dt.timedelta(days=89), last)
    assert len(cases) >= 2 * (21 + 35 + 1)  # a merchant of 7 categories: 21 pairs, 35 triples, all
    got = []
    for f in cases:
        assert not rollup_reads.reads_base(access, f) or rollup_reads.customers_read_base(f), f
        row = access.to_polars(rollup_reads.order_measures(access, f)).row(0)
        got.append(tuple(int(v) for v in row))
    want = _orders_by_categories(access, cases)
    assert got == want
    assert sum(w[0] > 0 for w in want) > len(cases) * 0.7, "most cases must select orders"
    # Every measure of the page (three periods) and the daily trend, for a spread of the cases: the base side costs
    # about 1.7 s a case; the counts above, the only measures the category rollup answers, cover every case.
    assert_same_answers(access, cases[::len(cases) // 6])


def test_categories_past_the_63rd_of_a_merchant_read_the_base_tables(writable_warehouse):
    """A merchant with 70 more categories: its first 63 are in the masks, the later ones get no flag, and a
    selection naming one of those falls back to the base tables (exact); selections of numbered ones still
    answer from the rollup. Either way, the answers equal the base tables."""
    con = duckdb.connect(str(writable_warehouse))
    try:
        m, last = con.execute("SELECT merchant_id, max(order_ts)::DATE FROM orders GROUP BY 1 ORDER BY 1 LIMIT 1"
                              ).fetchone()
        con.execute("""INSERT INTO products SELECT 900000 + i, ?, 'EXTRA-' || i, 'extra',
                       'zz ' || lpad(i::VARCHAR, 2, '0'), NULL, 10, 4, NULL, TRUE FROM range(70) t(i)""", [m])
        # one line of extra category i on each of 20 recent sale orders (orders share categories, not all)
        con.execute("""INSERT INTO order_lines
                       SELECT o.order_id, 1000 + k, o.merchant_id, 900000 + (o.rn + k) % 70, 1, 10, 0, 10, 4
                       FROM (SELECT order_id, merchant_id, row_number() OVER (ORDER BY order_id) AS rn FROM orders
                             WHERE merchant_id = ? AND order_type = 'sale' AND order_ts >= ? - INTERVAL 60 DAY
                             ORDER BY order_id LIMIT 400) o, range(3) r(k)""", [m, last])
        con.execute("BEGIN TRANSACTION")
        rollups.refresh(con, [m])
        con.execute("COMMIT")
        bits = dict(con.execute("SELECT category, flag FROM rollup_category_bits WHERE merchant_id = ?",
                                [m]).fetchall())
        named = sorted(bits)
        assert len(named) > 63 and all(bits[c] == 2 ** i for i, c in enumerate(named[:63]))
        assert all(bits[c] is None for c in named[63:])
    finally:
        con.close()
    wh = Warehouse(writable_warehouse)
    try:
        access = DataAccess(wh.backend(), Scope.merchants([m]))
        start = last - dt.timedelta(days=89)
        late, early = named[63:], named[:63]
        past = [Filters(start, last, categories=(late[0], late[-1])),
                Filters(start, last, categories=(early[0], late[0])), Filters(start, last, categories=tuple(named))]
        within = [Filters(start, last, categories=(early[-1], early[-2])),
                  Filters(start, last, categories=tuple(early))]
        for f in past:
            assert rollup_reads.category_selection(access, f.categories) is None and rollup_reads.reads_base(access, f)
        for f in within:
            assert rollup_reads.category_selection(access, f.categories) is not None
            assert not rollup_reads.reads_base(access, f)
        cases = past + within + [Filters(start, last, categories=f.categories, channels=("web",)) for f in past[:1]]
        assert all(n for n, _, _ in _orders_by_categories(access, cases))
        assert_category_counts_of(access, cases)
        assert_same_answers(access, cases)
    finally:
        wh.close()


def assert_category_counts_of(access: DataAccess, cases: list[Filters]) -> None:
    got = [tuple(int(v) for v in access.to_polars(rollup_reads.order_measures(access, f)).row(0)) for f in cases]
    assert got == _orders_by_categories(access, cases)
