"""RFM on real data (Online Retail II through the real importer) against a plain polars computation, the
scores' quintiles and ties, every segment rule, movement counts, the silhouette-chosen k, merchant isolation."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import duckdb
import ibis
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics import rfm, segments
from data.access import DataAccess, Scope
from data.importers import import_file
from data.warehouse import open_for_loading

AS_OF = dt.date(2010, 9, 30)


@pytest.fixture(scope="module")
def retail(datasets_dir, tmp_path_factory):
    """(read-only connection, merchant id) of a warehouse holding Online Retail II, imported for real."""
    path = tmp_path_factory.mktemp("rfm_retail") / "w.duckdb"
    open_for_loading(path).close()
    result = import_file(path, datasets_dir / "online_retail_II_2009_2010.csv.gz", preset="online_retail_ii",
                         create_merchant=("Online Retail II", "GB", "GBP"))
    assert result.status == "loaded", result.message
    con = duckdb.connect(str(path), read_only=True)
    merchant = con.execute("SELECT min(merchant_id) FROM main.merchants").fetchall()[0][0]
    yield con, merchant
    con.close()


def access(con, scope: Scope | None = None) -> DataAccess:
    return DataAccess(ibis.duckdb.from_connection(con.cursor()), scope or Scope.unrestricted())


def plain_rfm(con, merchant: int, as_of: dt.date) -> pl.DataFrame:
    """RFM by hand in polars from the raw tables (no ibis, no analytics code): the module doc's definitions."""
    orders, lines, products = (pl.from_arrow(con.cursor().sql(f"SELECT * FROM main.{t}").to_arrow_table())
                               for t in ("orders", "order_lines", "products"))
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    o = orders.filter(pl.col("merchant_id") == merchant, pl.col("customer_id").is_not_null(), pl.col("order_ts") < end,
                      pl.col("order_type").is_in(["sale", "return"]), pl.col("status") != "cancelled")
    merch = products.filter(pl.col("is_merchandise"), pl.col("merchant_id") == merchant).select("product_id")
    amounts = lines.join(merch, on="product_id").group_by("order_id").agg(pl.col("line_amount").sum().alias("amount"))
    j = o.join(amounts, on="order_id", how="left")
    sale = pl.col("order_type") == "sale"
    per = j.group_by("customer_id").agg(
        pl.col("order_ts").filter(sale).max().alias("last_ts"),
        sale.sum().alias("frequency"),
        pl.col("amount").filter((pl.col("order_type") == "return") | (pl.col("status") != "returned")).sum()
        .alias("monetary"),
    ).filter(pl.col("frequency") > 0)
    out = per.select(
        pl.col("customer_id").cast(pl.Int64),
        (pl.lit(as_of) - pl.col("last_ts").dt.date()).dt.total_days().cast(pl.Int64).alias("recency_days"),
        pl.col("frequency").cast(pl.Int64),
        pl.col("monetary").cast(pl.Float64).fill_null(0.0),
    )
    n = out.height

    def quintile(values: np.ndarray, descending: bool) -> list[int]:
        ordered = np.sort(values)
        if descending:  # lowest rank of a tie among values sorted from the largest
            ranks = n - np.searchsorted(ordered, values, side="right") + 1
        else:
            ranks = np.searchsorted(ordered, values, side="left") + 1
        return [1 + (5 * (r - 1)) // n for r in ranks]

    r = quintile(out["recency_days"].to_numpy(), True)
    f = quintile(out["frequency"].to_numpy(), False)
    m = quintile(out["monetary"].to_numpy(), False)
    out = out.with_columns(pl.Series("r_score", r, pl.Int8), pl.Series("f_score", f, pl.Int8),
                           pl.Series("m_score", m, pl.Int8))
    return out.with_columns(pl.Series("segment", [segment_by_hand(*x) for x in zip(r, f, m)], pl.Utf8)).sort(
        "customer_id")


# The README's segments table, written out again by hand: R scores, FM scores, label.
README_TABLE = (
    ({5}, {4, 5}, "Champions"), ({3, 4}, {4, 5}, "Loyal"), ({4, 5}, {2, 3}, "Potential loyalists"),
    ({5}, {1}, "New"), ({4}, {1}, "Promising"), ({3}, {3}, "Need attention"), ({3}, {1, 2}, "About to sleep"),
    ({1, 2}, {3, 4}, "At risk"), ({1, 2}, {5}, "Cannot lose them"), ({2}, {1, 2}, "Hibernating"),
    ({1}, {1, 2}, "Lost"),
)


def segment_by_hand(r: int, f: int, m: int) -> str:
    fm = int(np.floor((f + m) / 2 + 0.5))
    found = [label for rs, fms, label in README_TABLE if r in rs and fm in fms]
    assert len(found) == 1, (r, f, m, found)
    return found[0]


# ---------------------------------------------------------------------------------------------- real data


def test_rfm_equals_plain_polars_on_online_retail(retail):
    con, merchant = retail
    got = rfm.compute_rfm(access(con), merchant, AS_OF)
    expected = plain_rfm(con, merchant, AS_OF)
    assert got.height > 3_000  # most of the 4,383 customers bought by the end of September 2010
    assert got.columns == list(rfm.COLUMNS)
    assert_frame_equal(got, expected, check_exact=True)
    # Credit notes count: someone's revenue is below the sum of their sales.
    sales = con.execute("SELECT sum(line_amount) FROM main.order_lines JOIN main.orders USING (order_id) WHERE "
                        "order_type = 'sale' AND customer_id IS NOT NULL AND order_ts < '2010-10-01'").fetchall()[0][0]
    assert (got["monetary"] < 0).any() and got["monetary"].sum() < float(sales)


def test_rfm_counts_the_as_of_day_and_not_later(retail):
    con, merchant = retail
    day = con.execute("SELECT CAST(min(order_ts) AS DATE) + 40 FROM main.orders").fetchall()[0][0]
    got = rfm.compute_rfm(access(con), merchant, day)
    assert_frame_equal(got, plain_rfm(con, merchant, day), check_exact=True)
    assert got["recency_days"].min() == 0 or not con.execute(
        "SELECT count(*) FROM main.orders WHERE CAST(order_ts AS DATE) = ? AND customer_id IS NOT NULL "
        "AND order_type = 'sale' AND status <> 'cancelled'", [day]).fetchall()[0][0]


def test_several_dates_in_one_query_equal_one_date_at_a_time(retail):
    con, merchant = retail
    days = [dt.date(2009, 1, 31), dt.date(2010, 3, 31), dt.date(2010, 6, 30), AS_OF]  # the first precedes the data
    many = rfm.compute_rfm_at(access(con), merchant, days)
    assert list(many) == days and many[days[0]].height == 0
    for day in days:
        assert_frame_equal(many[day], rfm.compute_rfm(access(con), merchant, day), check_exact=True)
    assert many[dt.date(2010, 3, 31)].height < many[AS_OF].height


def test_several_dates_equal_plain_polars_with_credit_notes_between_dates(retail, fixture_warehouse_path):
    """The several-dates route (orders and lines summed per period between the dates, then added up to each date)
    equals the plain computation at every date, including customers whose credit note falls in a period where
    they bought nothing (their money must still reach the later dates) and dates on a purchase's own day."""
    con, merchant = retail
    days = [dt.date(2010, 1, 31), dt.date(2010, 4, 30), dt.date(2010, 7, 31), AS_OF]
    credited = con.execute(
        "WITH d AS (SELECT customer_id, order_type, CASE WHEN order_ts < TIMESTAMP '2010-02-01' THEN 0 "
        "WHEN order_ts < TIMESTAMP '2010-05-01' THEN 1 WHEN order_ts < TIMESTAMP '2010-08-01' THEN 2 ELSE 3 END "
        "AS period FROM main.orders WHERE customer_id IS NOT NULL AND status <> 'cancelled' "
        "AND order_ts < TIMESTAMP '2010-10-01') "
        "SELECT count(*) FROM (SELECT customer_id, period FROM d WHERE order_type = 'return' "
        "EXCEPT SELECT customer_id, period FROM d WHERE order_type = 'sale') x "
        "WHERE customer_id IN (SELECT customer_id FROM d WHERE order_type = 'sale' AND period < x.period)"
    ).fetchall()[0][0]
    assert credited > 0  # the case the separate sums of orders and of lines per period are there for
    frames = rfm.compute_rfm_at(access(con), merchant, days)
    for day in days:
        assert_frame_equal(frames[day], plain_rfm(con, merchant, day), check_exact=True)
    # Generated data (cancelled and returned sale orders, several merchants), dates ending on busy days.
    gen = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        last = gen.execute("SELECT CAST(max(order_ts) AS DATE) FROM main.orders").fetchall()[0][0]
        m = gen.execute("SELECT min(merchant_id) FROM main.merchants").fetchall()[0][0]
        days = [last - dt.timedelta(days=120), last - dt.timedelta(days=30), last]
        frames = rfm.compute_rfm_at(access(gen, Scope.merchants([m])), m, days)
        for day in days:
            assert frames[day].height > 0
            assert_frame_equal(frames[day], plain_rfm(gen, m, day), check_exact=True)
    finally:
        gen.close()


def test_movement_adds_up_and_equals_an_independent_count(retail):
    con, merchant = retail
    before, after = dt.date(2010, 6, 30), AS_OF
    moved = rfm.segment_movement(access(con), merchant, before, after)
    a, b = plain_rfm(con, merchant, before), plain_rfm(con, merchant, after)
    was = dict(zip(a["customer_id"].to_list(), a["segment"].to_list()))
    now = dict(zip(b["customer_id"].to_list(), b["segment"].to_list()))
    expected = Counter((was.get(c, segments.NOT_YET), now.get(c, segments.GONE)) for c in set(was) | set(now))
    got = {(r["from_segment"], r["to_segment"]): r["customers"] for r in moved.iter_rows(named=True)}
    assert got == dict(expected)
    assert moved["customers"].sum() == b.height  # everyone of June is still a customer in September
    assert got[segments.NOT_YET, "New"] > 0
    assert not any(to == segments.GONE for _, to in got)
    with pytest.raises(ValueError, match="must be before"):
        rfm.segment_movement(access(con), merchant, after, before)


def test_silhouette_chooses_scikit_learns_best_k(retail):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    con, merchant = retail
    table = rfm.compute_rfm(access(con), merchant, AS_OF)
    clusters = segments.compute_clusters(table)
    # The same seeded sample, features built by hand: log1p of days, orders and money (negatives as 0), z-scored.
    raw = np.column_stack([np.log1p(table["recency_days"].to_numpy().astype(float)),
                           np.log1p(table["frequency"].to_numpy().astype(float)),
                           np.log1p(np.clip(table["monetary"].to_numpy(), 0, None))])
    x = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    rows = np.sort(np.random.default_rng(segments.SEED).choice(len(x), size=segments.SAMPLE, replace=False))
    assert (rows == clusters.sample_rows).all()
    scores = {k: silhouette_score(x[rows], KMeans(n_clusters=k, n_init=segments.N_INIT,
                                                  random_state=segments.SEED).fit_predict(x[rows]))
              for k in segments.CANDIDATES}
    assert clusters.k == max(scores, key=scores.get)
    assert clusters.silhouettes["silhouette"].to_list() == pytest.approx([scores[k] for k in segments.CANDIDATES])
    assert clusters.assignments.height == table.height
    assert sorted(clusters.assignments["cluster"].unique().to_list()) == list(range(1, clusters.k + 1))
    summary = clusters.summary
    assert summary["customers"].sum() == table.height
    assert summary["median_monetary"].to_list() == sorted(summary["median_monetary"].to_list(), reverse=True)
    assert all(d and "_" not in d for d in summary["description"].to_list())


# ---------------------------------------------------------------------------------------------- scores, rules


def scored(frequency: list[int], recency: list[int] | None = None, monetary: list[float] | None = None) -> pl.DataFrame:
    n = len(frequency)
    as_of = dt.date(2025, 1, 31)
    recency = recency or list(range(n))
    per = pl.DataFrame({
        "customer_id": list(range(1, n + 1)),
        "last_ts": [dt.datetime.combine(as_of - dt.timedelta(days=d), dt.time(12)) for d in recency],
        "frequency": frequency, "monetary": monetary or [float(v) for v in frequency]})
    return rfm.score_rfm(per, as_of)


def test_distinct_values_split_into_equal_quintiles():
    out = scored(list(range(1, 11)))
    assert out["f_score"].to_list() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert out["r_score"].to_list() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]  # fewest days since the last order: 5


def test_ties_share_the_lowest_score_of_their_group():
    out = scored([1, 1, 1, 1, 1, 2, 3, 4, 5, 6])
    # Five customers tie on one order: ranks 1..5 -> all take rank 1's score; the next value starts at rank 6.
    assert out["f_score"].to_list() == [1, 1, 1, 1, 1, 3, 4, 4, 5, 5]
    out = scored([1, 2, 2, 2, 2, 3, 4, 5, 6, 7])
    assert out["f_score"].to_list() == [1, 1, 1, 1, 1, 3, 4, 4, 5, 5]  # the tie straddling 1|2 takes 1
    out = scored([3] * 10, recency=[7] * 10)
    assert set(out["f_score"].to_list()) == {1} and set(out["r_score"].to_list()) == {1}


def test_scores_do_not_depend_on_row_order():
    rng = random.Random(3)
    freq = [rng.randint(1, 6) for _ in range(200)]
    rec = [rng.randint(0, 400) for _ in range(200)]
    money = [round(rng.uniform(-50, 900), 2) for _ in range(200)]
    base = scored(freq, rec, money)
    as_of = dt.date(2025, 1, 31)
    per = pl.DataFrame({"customer_id": list(range(1, 201)),
                        "last_ts": [dt.datetime.combine(as_of - dt.timedelta(days=d), dt.time()) for d in rec],
                        "frequency": freq, "monetary": money}).sample(fraction=1.0, shuffle=True, seed=5)
    assert_frame_equal(rfm.score_rfm(per, as_of), base)
    # Roughly a fifth of the customers in each monetary quintile (few ties in money).
    assert all(35 <= c <= 45 for c in base["m_score"].value_counts()["count"].to_list())


def test_segment_rules_cover_the_grid_once():
    cells = Counter((r, fm) for s in segments.SEGMENTS for r in s.r_scores for fm in s.fm_scores)
    assert set(cells) == {(r, fm) for r in range(1, 6) for fm in range(1, 6)}
    assert set(cells.values()) == {1}
    assert [s.label for s in segments.SEGMENTS] == [t[2] for t in README_TABLE]
    for s, (rs, fms, _) in zip(segments.SEGMENTS, README_TABLE):
        assert (set(s.r_scores), set(s.fm_scores)) == (rs, fms)


@pytest.mark.parametrize("r, f, m, label", [
    (5, 5, 5, "Champions"), (5, 4, 3, "Champions"), (4, 5, 4, "Loyal"), (3, 4, 5, "Loyal"),
    (5, 2, 3, "Potential loyalists"), (4, 1, 3, "Potential loyalists"), (5, 1, 1, "New"), (4, 1, 1, "Promising"),
    (3, 3, 3, "Need attention"), (3, 2, 4, "Need attention"), (3, 1, 2, "About to sleep"), (3, 2, 1, "About to sleep"),
    (2, 3, 4, "At risk"), (1, 4, 3, "At risk"), (1, 5, 5, "Cannot lose them"), (2, 5, 4, "Cannot lose them"),
    (2, 1, 2, "Hibernating"), (2, 2, 2, "Hibernating"), (1, 1, 1, "Lost"), (1, 2, 1, "Lost"),
])
def test_each_segment_rule(r, f, m, label):
    frame = pl.DataFrame({"r_score": [r], "f_score": [f], "m_score": [m]}, schema={c: pl.Int8 for c in (
        "r_score", "f_score", "m_score")})
    assert segments.assign_segments(frame)["segment"].to_list() == [label] == [segment_by_hand(r, f, m)]


def test_every_segment_has_an_example_and_words():
    examples = {label for *_, label in test_each_segment_rule.pytestmark[0].args[1]}
    assert examples == set(segments.SEGMENT_ORDER)
    assert all(s.meaning.endswith(".") and s.rule.startswith("R ") for s in segments.SEGMENTS)


def test_summary_covers_every_segment():
    out = scored(list(range(1, 41)), recency=list(range(40, 0, -1)))
    summary = rfm.summarise_segments(out)
    assert summary["segment"].to_list() == list(segments.SEGMENT_ORDER)
    assert summary["customers"].sum() == 40
    assert summary["revenue"].sum() == pytest.approx(out["monetary"].sum())
    assert summary["customer_share"].sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- isolation


def test_a_merchant_scope_never_returns_another_merchants_customers(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        merchants = [r[0] for r in con.execute("SELECT merchant_id FROM main.merchants ORDER BY 1").fetchall()]
        assert len(merchants) >= 2
        last = con.execute("SELECT CAST(max(order_ts) AS DATE) FROM main.orders").fetchall()[0][0]
        own = {m: {r[0] for r in con.execute("SELECT customer_id FROM main.customers WHERE merchant_id = ?",
                                             [m]).fetchall()} for m in merchants}
        for m in merchants:
            scoped = rfm.compute_rfm(access(con, Scope.merchants([m])), m, last)
            assert scoped.height > 0 and set(scoped["customer_id"].to_list()) <= own[m]
            assert_frame_equal(scoped, rfm.compute_rfm(access(con), m, last))
            # Generated data has cancelled and returned sale orders too: the same plain computation agrees.
            assert_frame_equal(scoped, plain_rfm(con, m, last), check_exact=True)
            for other in merchants:
                if other != m:
                    assert rfm.compute_rfm(access(con, Scope.merchants([m])), other, last).height == 0
                    assert rfm.segment_movement(access(con, Scope.merchants([m])), other,
                                                last - dt.timedelta(days=90), last).height == 0
    finally:
        con.close()


def test_one_purchase_each_still_scores_and_clusters():
    """The customer shopping dataset's shape: every customer bought once (frequency cannot separate them)."""
    rng = random.Random(11)
    n = 300
    out = scored([1] * n, [rng.randint(0, 700) for _ in range(n)], [round(rng.uniform(5, 3_000), 2) for _ in range(n)])
    assert set(out["f_score"].to_list()) == {1}
    assert set(out["segment"].to_list()) <= set(segments.SEGMENT_ORDER) and out["segment"].null_count() == 0
    clusters = segments.compute_clusters(out)
    assert clusters is not None and clusters.assignments.height == n
    assert segments.compute_clusters(out.head(2)) is None  # too few to choose a number of groups


def test_clusters_beside_segments_count_every_customer_once():
    rng = random.Random(5)
    out = scored([rng.randint(1, 9) for _ in range(400)], [rng.randint(0, 500) for _ in range(400)],
                 [round(rng.uniform(1, 2_000), 2) for _ in range(400)])
    clusters = segments.compute_clusters(out)
    pairs = segments.compute_cluster_segments(out, clusters.assignments)
    assert pairs.height == clusters.k * len(segments.SEGMENT_ORDER) and pairs["customers"].sum() == 400
    both = out.join(clusters.assignments, on="customer_id")
    for row in pairs.filter(pl.col("customers") > 0).iter_rows(named=True):
        assert both.filter(pl.col("cluster") == row["cluster"], pl.col("segment") == row["segment"]).height == \
            row["customers"]


# ---------------------------------------------------------------------------------------------- drill-down helpers


@pytest.mark.parametrize("as_of, ends", [
    (dt.date(2026, 9, 30), ["2025-09-30", "2025-12-31", "2026-03-31", "2026-06-30"]),
    (dt.date(2026, 10, 1), ["2025-12-31", "2026-03-31", "2026-06-30", "2026-09-30"]),
    (dt.date(2026, 1, 15), ["2025-03-31", "2025-06-30", "2025-09-30", "2025-12-31"]),
])
def test_quarter_ends_are_the_last_four_before_the_date(as_of, ends):
    from analytics.customer_history import quarter_ends

    assert quarter_ends(as_of) == [dt.date.fromisoformat(e) for e in ends]


def test_segment_history_and_target_list(retail):
    from analytics.customer_history import build_target_list, compute_segment_history, load_customer_refs

    con, merchant = retail
    days = [dt.date(2010, 3, 31), dt.date(2010, 6, 30), AS_OF]
    frames = rfm.compute_rfm_at(access(con), merchant, days)
    late = sorted(set(frames[AS_OF]["customer_id"].to_list()) - set(frames[days[0]]["customer_id"].to_list()))[0]
    history = compute_segment_history(frames, late)
    assert history["as_of"].to_list() == days and history["segment"][0] == segments.NOT_YET
    assert history["frequency"][0] is None
    last = frames[AS_OF].filter(pl.col("customer_id") == late).row(0, named=True)
    assert history.row(2, named=True)["segment"] == last["segment"]
    assert history.row(2, named=True)["monetary"] == last["monetary"]
    refs = load_customer_refs(access(con), merchant)
    targets = build_target_list(frames[AS_OF], refs, ["At risk", "Cannot lose them"])
    expected = frames[AS_OF].filter(pl.col("segment").is_in(["At risk", "Cannot lose them"]))
    assert set(targets["customer_id"].to_list()) == set(expected["customer_id"].to_list())
    assert targets["monetary"].to_list() == sorted(targets["monetary"].to_list(), reverse=True)
    assert targets["customer_ref"].null_count() == 0  # Online Retail's customer numbers are their references
