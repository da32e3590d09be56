"""Basket rules, suggestions and bundles: against efficient-apriori on real data, and on tiny inline frames.

- Online Retail II, Germany (513 invoices): imported through the real importer, read through the data-access
  layer, mined by ``mining.mine``; the transactions handed to efficient-apriori 2.0.6 are built with plain SQL
  on the same warehouse (the same basket definition and cap). Same itemsets, same rules, same support,
  confidence and lift.
- The basket cap: baskets over it are skipped whole and counted.
- Suggestions leave out the latest order's products unless repeat-buying them is typical.
- Bundles: never on a product about to run out; ranked by lift x margin x stock.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import math

import duckdb
import ibis
import polars as pl
import pytest
from efficient_apriori import apriori

from analytics.baskets import load_basket_lines
from data.access import DataAccess, Scope
from data.importers import import_file
from data.warehouse import open_for_loading
from models.baskets import bundles, mining, recommend

COUNTRY = "Germany"
SUPPORT, CONFIDENCE = 0.03, 0.5


@pytest.fixture(scope="module")
def germany(datasets_dir, tmp_path_factory):
    """(access, connection) on a warehouse holding Online Retail II's German invoices."""
    folder = tmp_path_factory.mktemp("or_germany")
    with gzip.open(datasets_dir / "online_retail_II_2009_2010.csv.gz", "rb") as fh:
        raw = pl.read_csv(fh.read(), infer_schema_length=0)
    part = folder / "germany.csv"
    raw.filter(pl.col("Country") == COUNTRY).write_csv(part)
    path = folder / "w.duckdb"
    open_for_loading(path).close()
    import_file(path, part, preset="online_retail_ii", create_merchant=("Online Retail II Germany", "DE", "GBP"))
    con = duckdb.connect(str(path), read_only=True)
    yield DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted()), con
    con.close()


def sql_transactions(con, max_items: int) -> list[tuple[int, ...]]:
    """Baskets by plain SQL: distinct merchandise products of non-cancelled sale orders, at most max_items."""
    rows = con.execute(
        "SELECT list(DISTINCT l.product_id ORDER BY l.product_id) FROM main.orders o "
        "JOIN main.order_lines l USING (order_id) JOIN main.products p USING (product_id) "
        "WHERE o.order_type = 'sale' AND o.status <> 'cancelled' AND p.is_merchandise "
        "GROUP BY o.order_id HAVING count(DISTINCT l.product_id) <= ?", [max_items]).fetchall()
    return [tuple(r[0]) for r in rows]


def test_rules_equal_efficient_apriori_on_online_retail(germany, capsys):
    access, con = germany
    lines = load_basket_lines(access)
    rules, counts, support = mining.mine(lines, min_support=SUPPORT, min_confidence=CONFIDENCE)
    transactions = sql_transactions(con, mining.MAX_BASKET_ITEMS)
    assert counts.baskets == len(transactions) and counts.skipped > 0  # German wholesale orders exceed the cap
    itemsets, theirs = apriori(transactions, min_support=SUPPORT, min_confidence=CONFIDENCE,
                               max_length=mining.MAX_ITEMSET)
    ours_sets, n = mining.compute_itemsets(mining.cap_baskets(lines)[0], SUPPORT)
    expected_sets = {tuple(sorted(s)): c for size in itemsets.values() for s, c in size.items()}
    assert {tuple(s): c for s, c in zip(ours_sets["items"].to_list(), ours_sets["baskets"].to_list())} == expected_sets
    expected = {(tuple(sorted(r.lhs)), tuple(sorted(r.rhs))): r for r in theirs}
    got = {(tuple(a), tuple(c)): row for a, c, row in zip(rules["antecedents"].to_list(),
                                                           rules["consequents"].to_list(), rules.iter_rows(named=True))}
    assert set(got) == set(expected) and len(got) >= 10
    for key, rule in expected.items():
        mine = got[key]
        assert mine["support"] == pytest.approx(rule.support, rel=1e-9)
        assert mine["confidence"] == pytest.approx(rule.confidence, rel=1e-9)
        assert mine["lift"] == pytest.approx(rule.lift, rel=1e-9)
        assert mine["baskets"] == round(rule.support * len(transactions))
    with capsys.disabled():
        print(f"\nOnline Retail II {COUNTRY}: {counts.baskets} baskets ({counts.skipped} over "
              f"{mining.MAX_BASKET_ITEMS} products skipped), {len(expected_sets)} itemsets, {len(got)} rules, "
              f"equal to efficient-apriori's")


def lines_of(baskets: dict[int, list[int]], customer: dict[int, int] | None = None,
             days: dict[int, dt.date] | None = None) -> pl.DataFrame:
    rows = [(o, (customer or {}).get(o), (days or {}).get(o, dt.date(2026, 1, 1)), p)
            for o, items in baskets.items() for p in items]
    return pl.DataFrame(rows, schema={"order_id": pl.Int64, "customer_id": pl.Int64, "day": pl.Date,
                                      "product_id": pl.Int64}, orient="row")


def test_baskets_over_the_cap_are_skipped_whole_and_counted():
    lines = lines_of({1: [1, 2], 2: [1, 2, 3], 3: list(range(10, 16)), 4: [1, 3]})
    kept, counts = mining.cap_baskets(lines, max_items=5)
    assert sorted(kept["order_id"].unique().to_list()) == [1, 2, 4]
    assert counts == mining.BasketCounts(3, 1, 6 / 13, 5)
    # The skipped basket is out of the denominator too: {1, 2} is in 2 of the 3 kept baskets.
    rules, _, _ = mining.mine(lines, max_items=5, min_support=0.5, min_confidence=0.1)
    pair = rules.filter((pl.col("antecedents") == [1]) & (pl.col("consequents") == [2])).row(0, named=True)
    assert pair["support"] == pytest.approx(2 / 3) and pair["confidence"] == pytest.approx(2 / 3)
    assert pair["lift"] == pytest.approx((2 / 3) / (2 / 3))
    uncapped, counts, _ = mining.mine(lines, max_items=None, min_support=0.5, min_confidence=0.1)
    assert counts.skipped == 0 and counts.baskets == 4
    # A duplicate (order, product) row counts once.
    again, counts = mining.cap_baskets(pl.concat([lines, lines.head(1)]), max_items=5)
    assert counts.baskets == 3


def test_min_support_keeps_rules_on_enough_baskets():
    assert mining.choose_min_support(1_000) == pytest.approx(mining.MIN_BASKETS / 1_000)
    assert mining.choose_min_support(10_000_000) == mining.MIN_SUPPORT_FLOOR
    assert math.isclose(mining.choose_min_support(0), 1.0)


def test_suggestions_leave_out_the_latest_order_unless_repeat_buying_is_typical():
    day = dt.date(2026, 1, 1)
    baskets, customer, days = {}, {}, {}
    # Product 1 is bought again by most of its buyers (repeat typical); 2 and 3 never twice.
    for c in range(20):
        for k in range(2):
            o = 100 * c + k
            baskets[o], customer[o], days[o] = [1, 2 if k % 2 else 3], c, day + dt.timedelta(days=k)
    model = recommend.fit_recommender(lines_of(baskets, customer, days), personal_weight=1.0)
    assert model.popularity.filter(pl.col("product_id") == 1)["repeat_typical"].item()
    history = lines_of({900: [1, 2]}, {900: 99}, {900: day})
    got = recommend.recommend(model, history)
    assert 1 in got["product_id"].to_list()  # bought in the latest order, but typically bought again
    assert 2 not in got["product_id"].to_list()  # bought in the latest order, rarely bought again
    assert got["rank"].to_list() == list(range(1, got.height + 1))


def test_hit_rate_counts_customers_with_at_least_one_hit():
    suggested = pl.DataFrame({"customer_id": [1, 1, 2], "product_id": [10, 11, 12]})
    bought = pl.DataFrame({"customer_id": [1, 1, 2, 3], "product_id": [11, 10, 99, 10]})
    assert recommend.hit_rate(suggested, bought) == pytest.approx(1 / 3)


def rules_frame(pairs: list[tuple[list[int], list[int], float]]) -> pl.DataFrame:
    return pl.DataFrame({"antecedents": [a for a, _, _ in pairs], "consequents": [c for _, c, _ in pairs],
                         "antecedent_support": 0.1, "consequent_support": 0.1, "support": 0.05,
                         "confidence": 0.5, "lift": [lift for _, _, lift in pairs], "baskets": 50},
                        schema_overrides={"antecedents": pl.List(pl.Int64), "consequents": pl.List(pl.Int64)})


def test_bundles_rank_by_lift_margin_stock_and_skip_products_about_to_run_out():
    rules = rules_frame([([1], [2], 10.0), ([2], [1], 10.0), ([3], [4], 4.0), ([5], [6], 50.0), ([7], [8], 3.0),
                         ([9], [10], 2.0)])
    products = pl.DataFrame({"product_id": list(range(1, 11)), "sku": [f"S{i}" for i in range(1, 11)],
                             "price": [10.0] * 10, "unit_cost": [6.0] * 8 + [None, 6.0]})
    stock = pl.DataFrame({"product_id": list(range(1, 11)),
                          "on_hand": [20, 30, 100, 100, 0, 50, 100, 100, 100, 100],
                          "days_of_cover": [40.0, 40.0, 60.0, 60.0, None, 30.0, 10.0, 60.0, 60.0, 60.0]})
    risk = pl.DataFrame({"product_id": [3, 3, 4], "stockout_probability": [0.1, 0.2, 0.3]})
    out = bundles.compute_bundles(rules, products, stock, risk)
    suggested = out.filter("suggested")
    # Margin of a pair: 2 x (10 - 6) = 8. {1,2}: lift 10 x 8 x 20 in stock = 1600; {3,4}: 4 x 8 x 100 = 3200.
    assert suggested["bundle"].to_list() == [[3, 4], [1, 2]]
    assert suggested["score"].to_list() == pytest.approx([3200.0, 1600.0])
    reasons = dict(zip(map(tuple, out["bundle"].to_list()), out["reason"].to_list()))
    assert "S5" in reasons[(5, 6)] and "nothing on hand" in reasons[(5, 6)]
    assert "S7" in reasons[(7, 8)] and "days of cover" in reasons[(7, 8)]
    assert "unit cost" in reasons[(9, 10)]
    # The stock-out risk of the forecast counts too: at 50% or more, the bundle is left out.
    risky = bundles.compute_bundles(rules, products, stock, risk.with_columns(stockout_probability=0.6))
    assert [3, 4] not in risky.filter("suggested")["bundle"].to_list()
