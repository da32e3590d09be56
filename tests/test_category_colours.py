"""Category colours: one look (colour, and hatching past the palette's 8) per name, the same for a merchant and for
staff, on every chart and in every process, and no two names of a kind sharing a look on one chart.

The expected look of a name is computed here from plain SQL on the fixture file: its position among the sorted
names of its kind across all merchants (``colours.LOOKS[i]``).
"""

from __future__ import annotations

import ast
import html
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard import colours
from dashboard.auth.accounts import Principal
from dashboard.colours import LOOKS, ColourBook, Look, Member
from dashboard.formatting import value_words
from tests.test_pages_apptest import (PRINCIPALS, chart_spec, fixture_app, ok, open_page, oracle,  # noqa: F401
                                      restore_environment, served_copy)

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------- pure


def test_each_name_of_a_kind_gets_its_own_look_in_sorted_order():
    names = [f"c{i:02d}" for i in range(64)]
    book = ColourBook({"category": reversed(names)})
    looks = book.looks("category", [*names, None])
    assert looks[:64] == list(LOOKS)  # sorted order, every look once
    assert looks[0] == Look(colours.PALETTE[0], "") and looks[8] == Look(colours.PALETTE[0], "/")
    assert looks[64] == LOOKS[0]  # the 65th (here the null) can only repeat: 64 looks per kind
    small = ColourBook({"category": ["b", "a", None, "a"]})
    assert [small.number("category", n) for n in ("a", "b", None)] == [0, 1, 2]  # the null right after the names


def test_a_name_the_book_does_not_hold_never_takes_a_known_names_look():
    book = ColourBook({"category": ["a", "b", "c"]})
    known = {book.look("category", n) for n in ("a", "b", "c", None)}
    for stranger in ("new", "zz", "Kitchen", "a "):
        assert book.look("category", stranger) not in known
        assert book.look("category", stranger) == ColourBook({"category": ["c", "a", "b"]}).look("category", stranger)


def test_fixed_kinds_are_distinct_without_any_data():
    book = ColourBook()
    assert len({book.look("segment", s) for s in ("repeat", "one_time", "guest")}) == 3
    assert len({book.look("measure", s) for s in ("Revenue", "Discounts granted", "Gross margin")}) == 3


def test_another_process_gives_the_same_looks():
    names = ["toys & games", "kitchen", "Électronique", "<b>x</b>"]
    book = ColourBook({"category": names})
    here = [book.number("category", n) for n in [*names, "unknown", None]]
    code = ("from dashboard.colours import ColourBook; b = ColourBook({'category': %r}); "
            "print([b.number('category', n) for n in %r])" % (list(reversed(names)), [*names, "unknown", None]))
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT),
                           env={"PYTHONHASHSEED": "987", "PATH": ""})
    assert other.stdout.strip() == str(here)


# ---------------------------------------------------------------------------------------------- pages

CATEGORY_MEMBERS = """SELECT DISTINCT p.category AS name, m.currency AS "group", p.merchant_id AS rank
                      FROM products p JOIN merchants m USING (merchant_id)
                      WHERE p.is_merchandise AND p.category IS NOT NULL"""


def book_from_sql(oracle) -> ColourBook:
    """The book the dashboard should install, from plain SQL on the fixture file."""
    stores = oracle("""SELECT s.store_id AS name, m.currency AS "group", s.merchant_id AS rank FROM stores s
                       JOIN merchants m USING (merchant_id) WHERE s.kind <> 'warehouse'""")
    regions = oracle("""SELECT shipping_region AS r FROM orders WHERE shipping_region IS NOT NULL
                        UNION SELECT region FROM stores WHERE kind <> 'warehouse' AND region IS NOT NULL""")
    members = lambda f: [Member(**r) for r in f.iter_rows(named=True)]  # noqa: E731
    return ColourBook({"category": members(oracle(CATEGORY_MEMBERS)), "store_id": members(stores),
                       "region": regions["r"].to_list(),
                       "channel": oracle("SELECT DISTINCT channel FROM orders WHERE channel IS NOT NULL")["channel"],
                       "payment_method": oracle("SELECT DISTINCT payment_method FROM orders "
                                                "WHERE payment_method IS NOT NULL")["payment_method"]})


def bar_looks(trace: dict) -> dict[str, Look]:
    """Bar key (unescaped customdata) -> its look, from a plotly trace spec."""
    marker = trace["marker"]
    n = len(trace["customdata"])
    colours_ = marker["color"] if isinstance(marker["color"], list) else [marker["color"]] * n
    shapes = (marker.get("pattern") or {}).get("shape", [""] * n)
    shapes = shapes if isinstance(shapes, list) else [shapes] * n
    return {html.unescape(k): Look(c, s) for k, c, s in zip(trace["customdata"], colours_, shapes)}


def category_chart(who: Principal, **state) -> dict[str, Look]:
    at = ok(open_page(who, "sales", sa_tab="Categories & margin", **state))
    spec = chart_spec(at, 0)
    assert spec["layout"]["title"]["text"] == "Revenue by category"
    return bar_looks(spec["data"][0])


def merchant(merchant_id: int) -> Principal:
    return Principal(f"m{merchant_id}", "M", "merchant", frozenset({merchant_id}))


def test_the_book_holds_every_merchants_names_as_the_warehouse_has_them(fixture_app, oracle):
    category_chart(merchant(1))
    assert colours.current_book() == book_from_sql(oracle)


def test_no_two_categories_on_a_chart_share_a_colour_and_a_merchant_sees_the_staffs_colours(fixture_app, oracle):
    book = book_from_sql(oracle)
    shared = oracle("SELECT category FROM products GROUP BY 1 HAVING count(DISTINCT merchant_id) > 1 "
                    "ORDER BY 1 LIMIT 1").item()
    owners = oracle("SELECT DISTINCT p.merchant_id, m.currency FROM products p JOIN merchants m USING (merchant_id) "
                    "WHERE p.category = $c ORDER BY 1", c=shared)
    assert owners.height > 1 and owners["currency"].n_unique() > 1  # shown in two currencies: two groups
    seen = []
    for merchant_id, currency in owners.iter_rows():
        own = category_chart(merchant(merchant_id))
        staff = category_chart(PRINCIPALS["operations"], currency_pick=currency)  # staff see one currency
        for shown in (own, staff):
            assert len(shown) <= len(colours.PALETTE)  # the fixture's groups fit the palette: colours all differ
            assert len({look.colour for look in shown.values()}) == len(shown), shown
            assert all(look == book.look("category", name) for name, look in shown.items())
        assert own[shared] == staff[shared]
        seen.append(own[shared])
    assert len(set(seen)) == 1  # one look for the shared category, whichever merchant shows it


def test_the_products_of_a_category_wear_its_look_on_the_drill_chart(fixture_app):
    who = PRINCIPALS["merchant"]
    categories = category_chart(who)
    category = sorted(categories)[-1]
    at = ok(open_page(who, "sales", sa_tab="Categories & margin", sa_category=category))
    products = next(chart_spec(at, i) for i in range(len(at.get("plotly_chart")))
                    if "products" in chart_spec(at, i)["layout"]["title"]["text"])
    assert set(bar_looks(products["data"][0]).values()) == {categories[category]}


def test_payment_methods_stores_and_regions_each_have_their_own_look(fixture_app, oracle):
    book = book_from_sql(oracle)
    at = ok(open_page(PRINCIPALS["analyst"], "sales", sa_tab="Payments"))
    shown = {html.unescape(t["name"]): Look(t["marker"]["color"], (t["marker"].get("pattern") or {}).get("shape", ""))
             for t in chart_spec(at, 0)["data"]}
    assert len(shown) > 1 and len({look.colour for look in shown.values()}) == len(shown)
    stored = {value_words(m): m for m in oracle("SELECT DISTINCT payment_method FROM orders")["payment_method"]}
    assert all(look == book.look("payment_method", stored[name]) for name, look in shown.items())  # legend in words
    at = ok(open_page(PRINCIPALS["analyst"], "sales", sa_tab="Regions & stores"))
    regions = bar_looks(chart_spec(at, 0)["data"][0])
    assert len(regions) > len(colours.PALETTE) and len(set(regions.values())) == len(regions)  # hatched past 8


def test_another_server_draws_the_same_looks(fixture_app, fixture_warehouse_path):
    shown = category_chart(merchant(2))
    code = f"""
import duckdb, polars as pl
from dashboard.colours import ColourBook, Member
con = duckdb.connect({str(fixture_warehouse_path)!r}, read_only=True)
rows = pl.from_arrow(con.sql({CATEGORY_MEMBERS!r}).to_arrow_table())
book = ColourBook({{"category": [Member(**r) for r in rows.iter_rows(named=True)]}})
print({{n: book.number("category", n) for n in {sorted(shown)!r}}})"""
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=str(ROOT),
                           env={"PYTHONHASHSEED": "5", "PATH": ""})
    assert {n: LOOKS[i] for n, i in ast.literal_eval(other.stdout).items()} == shown


@pytest.fixture(autouse=True)
def _no_book_left_behind():
    """The pages install the fixture's book process-wide; put back the empty one for the next test file."""
    yield
    colours.use_book(ColourBook())
