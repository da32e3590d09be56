"""Baskets against the planted truth of the demo warehouse (``truth.bundles``), merchants 1 and 2.

- Every planted bundle appears among the top rules by lift: its whole set of products is the itemset of a
  saved rule; and with the confidence threshold lowered to 1%, so that chance pairs make rules too,
  that rule ranks above every rule not made of a planted bundle's products, within the first N rules, N being
  the number of rules the planted bundles can make (12 for a bundle of three, 2 for a pair).
- Suggestions for customers beat the popularity baseline's hit rate at 10 on the holdout month (the last 30
  days), as the saved model's backtest measures them.

Note on the second point: the demo generator draws each basket's products by popularity alone, the same for
every customer (no planted taste), so the co-purchase and repeat parts of the suggestions have nothing to
find there: the backtest gives them weight 0 on the validation month, and what beats the baseline is rating
products by their recent sales rate since launch. The margin is a few customers in a thousand (the figures
print with -s).
"""

from __future__ import annotations

import duckdb
import ibis
import polars as pl
import pytest

from data.access import DataAccess, Scope
from analytics.baskets import load_basket_lines
from models.baskets import mining, outputs
from tests.conftest import DEMO_MERCHANTS


@pytest.fixture(scope="module")
def trained(demo_warehouse):
    """merchant -> (Fitted, saved rules, loose rules, planted bundles as sorted lists)."""
    con = duckdb.connect(str(demo_warehouse), read_only=True)
    out = {}
    try:
        for m in DEMO_MERCHANTS:
            access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.merchants([m]))
            fitted = outputs.fit(access, lambda f, t: None)
            planted = [sorted(r[0]) for r in con.execute(
                "SELECT list(product_id) FROM truth.bundles WHERE merchant_id = ? GROUP BY bundle_id", [m]).fetchall()]
            lines = load_basket_lines(access)
            loose, counts, _ = mining.mine(lines, min_confidence=0.01)
            out[m] = (fitted, outputs.load_rules(fitted.payload), loose, planted)
    finally:
        con.close()
    return out


def rules_possible(size: int) -> int:
    return 2 ** size - 2 + (size * (size - 1) if size == 3 else 0)  # the set's own splits, plus its pairs' rules


@pytest.mark.parametrize("merchant", DEMO_MERCHANTS)
def test_each_planted_bundle_is_among_the_top_rules_by_lift(trained, merchant, capsys):
    fitted, saved, rules, planted = trained[merchant]
    assert planted, "the demo warehouse plants bundles"
    saved_sets = {tuple(sorted(a + c)) for a, c in zip(saved["antecedents"].to_list(), saved["consequents"].to_list())}
    assert all(tuple(b) in saved_sets for b in planted)
    sets = [sorted(a + c) for a, c in zip(rules["antecedents"].to_list(), rules["consequents"].to_list())]
    assert rules["lift"].to_list() == sorted(rules["lift"].to_list(), reverse=True)
    foreign = next((i for i, s in enumerate(sets) if not any(set(s) <= set(b) for b in planted)), len(sets))
    top = sum(rules_possible(len(b)) for b in planted)
    ranks = [min((i for i, s in enumerate(sets) if s == b), default=None) for b in planted]
    with capsys.disabled():
        print(f"\nmerchant {merchant}: {len(planted)} planted bundles; rank of each by lift (0 = first) "
              f"{sorted(r for r in ranks if r is not None)} of {rules.height} rules; first rule not made of a "
              f"planted bundle at rank {foreign}"
              + (f" (lift {rules['lift'][foreign]:.2f})" if foreign < rules.height else " (none)")
              + f"; top {top} checked")
    assert None not in ranks, [b for b, r in zip(planted, ranks) if r is None]
    assert foreign < rules.height, "the loose thresholds let chance rules in"
    assert all(r < foreign and r < top for r in ranks)
    bundle_lifts = rules.filter(pl.int_range(pl.len()).is_in(ranks))["lift"]
    assert bundle_lifts.min() > 10  # bought together far above chance


@pytest.mark.parametrize("merchant", DEMO_MERCHANTS)
def test_suggestions_beat_the_popularity_baseline_on_the_holdout_month(trained, merchant, capsys):
    fitted = trained[merchant][0]
    m = fitted.metrics
    with capsys.disabled():
        print(f"\nmerchant {merchant}: hit rate at 10 on the last 30 days, {m['customers_scored_in_holdout']:,} "
              f"customers: suggestions {m['hit_rate_at_10']:.4f}, popularity baseline "
              f"{m['popularity_hit_rate_at_10']:.4f}, recent sales rate alone "
              f"{m['recent_sales_rate_hit_rate_at_10']:.4f}; personal weight {fitted.params['personal_weight']:g}")
    assert m["customers_scored_in_holdout"] >= 500
    assert m["hit_rate_at_10"] > m["popularity_hit_rate_at_10"]
