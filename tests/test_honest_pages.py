"""Honest figures on the pages (issue 7 items 1-6 and 14), under AppTest, on real exports nobody here wrote.

The warehouse is the fixture plus freshly imported slices of the two real datasets: every 25th invoice of
Online Retail II (GBP, GB; 2009-12-01 to 2010-12-09: year to date compares with a period almost wholly
before the data) and every 20th invoice of the customer shopping dataset (TRY, TR; dates without times).
Expected figures come from plain SQL on the same file, read-only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics.periods import COVERAGE_THRESHOLD
from dashboard.auth.accounts import Principal
from dashboard import formatting
from dashboard.formatting import format_change
from dashboard.plain_text import markdown_text
from data.importers import import_file

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
ONLINE_RETAIL, SHOPPING = 4, 5  # merchant ids the imports get after the fixture's 1, 2, 3
FIXTURE_MERCHANT = 2
STAFF = Principal("ana", "Ana", "analyst", None)


def merchant(mid: int) -> Principal:
    return Principal(f"m{mid}", f"M{mid}", "merchant", frozenset({mid}))


def _slice(source: Path, invoice: str, every: int, target: Path) -> Path:
    raw = pl.read_csv(source, infer_schema_length=0)
    keep = raw[invoice].unique().sort().gather_every(every)
    raw.filter(pl.col(invoice).is_in(keep.implode())).write_csv(target)
    return target


@pytest.fixture(scope="module")
def warehouse(fixture_warehouse_path, datasets_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("honest")
    path = folder / "w.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    imports = (
        (_slice(datasets_dir / "online_retail_II_2009_2010.csv.gz", "Invoice", 25, folder / "or.csv"),
         "online_retail_ii", ("Online Retail II", "GB", "GBP")),
        (_slice(datasets_dir / "customer_shopping_data.csv.gz", "invoice_no", 20, folder / "shop.csv"),
         "customer_shopping", ("Istanbul Shopping Malls", "TR", "TRY")),
    )
    for file, preset, new in imports:
        result = import_file(path, file, preset=preset, create_merchant=new)
        assert result.status == "loaded", result.message
    con = duckdb.connect(str(path), read_only=True)
    try:
        ids = dict(con.execute("SELECT name, merchant_id FROM merchants").fetchall())
    finally:
        con.close()
    assert (ids["Online Retail II"], ids["Istanbul Shopping Malls"]) == (ONLINE_RETAIL, SHOPPING)
    return path


@pytest.fixture(scope="module", autouse=True)
def served(warehouse):
    before = os.environ.get("RETAIL_PULSE_WAREHOUSE")
    os.environ["RETAIL_PULSE_WAREHOUSE"] = str(warehouse)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    if before is None:
        os.environ.pop("RETAIL_PULSE_WAREHOUSE", None)
    else:
        os.environ["RETAIL_PULSE_WAREHOUSE"] = before


@pytest.fixture(scope="module")
def sql(warehouse):
    # A copy: the dashboard process holds the served file; the oracle reads the same bytes beside it.
    copy = warehouse.with_name("oracle.duckdb")
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy), read_only=True)

    def run(body: str, **params):
        cur = con.cursor()
        try:
            return cur.execute(body, params or None).fetchall()
        finally:
            cur.close()

    yield run
    con.close()


def open_page(principal: Principal, page: str, *, period: str | None = None,
              custom: tuple[dt.date, dt.date] | None = None, currency: str | None = None,
              payments: list[str] | None = None, **state) -> AppTest:
    """Open ``page`` as ``principal``, then use the sidebar as a person would (period, custom range,
    currency, payment methods); ``state`` sets page keys (tabs) before the first run."""
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = principal
    at.session_state["harness_page"] = page
    for key, value in state.items():
        at.session_state[key] = value
    rerun(at)
    if currency is not None:
        at.selectbox(key="currency_pick").select(currency)
        rerun(at)
    if period is not None or custom is not None:
        at.selectbox(key="flt_period").select("custom" if custom else period)
        rerun(at)
    if custom is not None:
        at.date_input(key="flt_custom").set_value(custom)
        rerun(at)
    for method in payments or ():
        at.multiselect(key="flt_payments").select(method)
        rerun(at)
    return at


def rerun(at: AppTest) -> AppTest:
    at.run(timeout=COLD)
    assert not at.exception, [e.message for e in at.exception]
    return at


def span_of(sql, mid: int) -> tuple[dt.date, dt.date]:
    return sql("SELECT min(order_ts)::DATE, max(order_ts)::DATE FROM orders WHERE merchant_id = $m", m=mid)[0]


def covered_days(sql, mid: int, start: dt.date, end: dt.date) -> int:
    """Days from start to end inside the merchant's first..last order day, counted by SQL."""
    return sql("""SELECT count(*) FROM range($s::TIMESTAMP, $e::TIMESTAMP + INTERVAL 1 DAY, INTERVAL 1 DAY) r(d)
                  WHERE d::DATE BETWEEN (SELECT min(order_ts)::DATE FROM orders WHERE merchant_id = $m)
                                    AND (SELECT max(order_ts)::DATE FROM orders WHERE merchant_id = $m)""",
               s=start, e=end, m=mid)[0][0]


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def revenue(sql, mid: int, start: dt.date, end: dt.date) -> float:
    return float(sql("""SELECT coalesce(sum(l.line_amount), 0) FROM order_lines l JOIN orders o USING (order_id)
                        JOIN products p ON p.product_id = l.product_id
                        WHERE o.merchant_id = $m AND p.is_merchandise AND o.order_type IN ('sale', 'return')
                          AND o.status <> 'cancelled' AND (o.order_type = 'return' OR o.status <> 'returned')
                          AND o.order_ts::DATE BETWEEN $s AND $e""", m=mid, s=start, e=end)[0][0])


# ---------------------------------------------------------------------------------------------- item 1


def test_year_to_date_against_a_period_mostly_before_the_data(sql):
    first, last = span_of(sql, ONLINE_RETAIL)
    at = open_page(merchant(ONLINE_RETAIL), "overview", period="year_to_date")
    start = dt.date(last.year, 1, 1)
    days = (last - start).days + 1
    prev_start, prev_end = start - dt.timedelta(days=days), start - dt.timedelta(days=1)
    ly_start, ly_end = start - dt.timedelta(days=364), last - dt.timedelta(days=364)
    prev_cov = covered_days(sql, ONLINE_RETAIL, prev_start, prev_end)
    ly_cov = covered_days(sql, ONLINE_RETAIL, ly_start, ly_end)
    assert (days, prev_cov, ly_cov) == (343, 31, 10)  # the figures, restated by SQL
    assert prev_cov / days < COVERAGE_THRESHOLD
    metrics = {m.label: m for m in at.metric}
    assert metrics["Revenue"].value.startswith("GBP")
    for m in at.metric:  # no "+1087.9%" against 31 days of data
        assert not m.proto.delta, (m.label, m.proto.delta)
    caps = captions(at)
    card_notes = [c for c in caps if c.startswith("Previous period:")]
    assert len(card_notes) == len(at.metric)
    for note in card_notes:
        assert note.startswith(f"Previous period: no comparison, data on {prev_cov} of {days} days")
        assert f"Last year: no comparison, data on {ly_cov} of {days} days" in note
        assert "%" not in note
    # The trend's comparison line: drawn only on days inside the data, and the page says so.
    assert any(c.startswith(f"Comparison line (Previous period): data on {prev_cov} of {days} days") for c in caps)
    comparison = specs(at)[0]["data"][1]
    drawn = [y for y in comparison["y"] if y is not None]
    assert len(comparison["y"]) == days and len(drawn) == prev_cov
    # Last 30 days: the previous 30 days are covered, so the arrows are back with no note for them; the same
    # days 52 weeks earlier (11 Nov to 10 Dec 2009) still reach only 10 days into the data.
    at = open_page(merchant(ONLINE_RETAIL), "overview")
    assert any(m.proto.delta for m in at.metric)
    assert not any("Previous period" in c for c in captions(at))
    ly = covered_days(sql, ONLINE_RETAIL, last - dt.timedelta(days=29 + 364), last - dt.timedelta(days=364))
    assert ly == 10 and any(c == f"Last year: no comparison, data on {ly} of 30 days" for c in captions(at))


# ---------------------------------------------------------------------------------------------- item 2


def test_partial_month_and_quarter_are_marked(sql):
    first, last = span_of(sql, ONLINE_RETAIL)
    at = open_page(merchant(ONLINE_RETAIL), "sales", period="year_to_date", sa_tab="Trends")
    month_days = ((last.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - last.replace(day=1)).days
    assert (last.day, month_days) == (9, 31)
    note = f"Partial month {last:%b %Y}: data on {last.day} of {month_days} days"
    assert any(note in c for c in captions(at)), captions(at)
    traces = specs(at)[0]["data"]
    hatched = [t for t in traces if t.get("marker", {}).get("pattern", {}).get("shape") == "/"]
    assert len(hatched) == 1 and "partial month" in hatched[0]["name"]
    assert [x[:10] for x in hatched[0]["x"]] == [last.replace(day=1).isoformat()]
    full = traces[0]
    assert len(full["x"]) == last.month - 1  # January to November are whole months
    at.session_state["sa_grain"] = "quarter"
    rerun(at)
    q_start = dt.date(last.year, 3 * ((last.month - 1) // 3) + 1, 1)
    q_days = (dt.date(last.year + 1, 1, 1) - q_start).days if q_start.month == 10 else None
    q_cov = (last - q_start).days + 1
    assert any(f"Partial quarter Q4 {last.year}: data on {q_cov} of {q_days} days" in c for c in captions(at))


# ---------------------------------------------------------------------------------------------- item 3


def test_new_customer_cards_say_the_history_starts(sql):
    first, _ = span_of(sql, ONLINE_RETAIL)
    at = open_page(merchant(ONLINE_RETAIL), "overview", period="year_to_date")
    note = f"Every customer looks new: the order history starts on {first:%d %b %Y}"
    assert sum(note in c for c in captions(at)) == 2  # the new and the returning customer cards
    helps = {m.label: m.proto.help for m in at.metric}
    assert "New customers" in helps and f"starts on {first:%d %b %Y}" in helps["New customers"]
    assert f"starts on {first:%d %b %Y}" not in helps["Revenue"]
    # A merchant whose history is over a year old at the period's start: no note.
    f_first, f_last = span_of(sql, FIXTURE_MERCHANT)
    assert f_last - dt.timedelta(days=29) >= f_first + dt.timedelta(days=365)
    at = open_page(merchant(FIXTURE_MERCHANT), "overview")
    assert not any("looks new" in c for c in captions(at))


# ---------------------------------------------------------------------------------------------- item 4


def test_presets_end_on_the_last_day_of_the_merchants_viewed(sql):
    _, shop_last = span_of(sql, SHOPPING)
    _, all_last = sql("SELECT min(order_ts)::DATE, max(order_ts)::DATE FROM orders")[0]
    assert shop_last < all_last
    # Staff with every merchant, narrowed to one currency by the page's picker.
    at = open_page(STAFF, "overview", currency="TRY")
    start = shop_last - dt.timedelta(days=29)
    assert any(c.startswith(f"{start:%d %b %Y} to {shop_last:%d %b %Y} (30 days)") for c in captions(at))
    assert any(c.startswith(f"Data as of {shop_last:%d %b %Y}") for c in captions(at))
    orders = sql("""SELECT count(*) FROM orders WHERE merchant_id = $m AND order_type = 'sale'
                    AND status <> 'cancelled' AND order_ts::DATE BETWEEN $s AND $e""", m=SHOPPING, s=start,
                 e=shop_last)[0][0]
    assert orders > 0 and {m.label: m.value for m in at.metric}["Orders"] == f"{orders:,}"
    # Picking another currency moves the presets with it.
    at.selectbox(key="currency_pick").select("EUR")
    rerun(at)
    _, eur_last = span_of(sql, FIXTURE_MERCHANT)
    assert any(c.startswith(f"Data as of {eur_last:%d %b %Y}") for c in captions(at))


# ---------------------------------------------------------------------------------------------- item 5


def test_dates_without_times_get_a_weekday_view(sql):
    assert sql("SELECT count(*) FROM orders WHERE merchant_id = $m AND order_ts::TIME <> '00:00:00'",
               m=SHOPPING)[0][0] == 0
    _, last = span_of(sql, SHOPPING)
    at = open_page(merchant(SHOPPING), "sales", sa_tab="Seasonality")
    assert any("no times of day" in i.value for i in at.info)
    spec = specs(at)
    assert len(spec) == 1 and spec[0]["data"][0]["type"] == "bar"
    want = dict(sql("""SELECT isodow(order_ts) - 1, count(*) FROM orders WHERE merchant_id = $m
                       AND order_type = 'sale' AND status <> 'cancelled' AND order_ts::DATE BETWEEN $s AND $e
                       GROUP BY 1""", m=SHOPPING, s=last - dt.timedelta(days=29), e=last))
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    got = dict(zip(spec[0]["data"][0]["x"], spec[0]["data"][0]["y"]))
    assert got == {days[d]: want.get(d, 0) for d in range(7)}
    # Data with times keeps the weekday x hour heatmap.
    at = open_page(merchant(FIXTURE_MERCHANT), "sales", sa_tab="Seasonality")
    assert specs(at)[0]["data"][0]["type"] == "heatmap"
    assert not any("no times of day" in i.value for i in at.info)


# ---------------------------------------------------------------------------------------------- item 6


def test_margin_is_not_drawn_when_it_cannot_be_computed(sql):
    assert sql("""SELECT count(*) FROM order_lines l JOIN products p USING (product_id) WHERE l.merchant_id = $m
                  AND (l.unit_cost IS NOT NULL OR p.unit_cost IS NOT NULL)""", m=ONLINE_RETAIL)[0][0] == 0
    at = open_page(merchant(ONLINE_RETAIL), "sales", sa_tab="Categories & margin")
    assert any("gross margin cannot be computed" in i.value for i in at.info)
    titles = [s["layout"]["title"]["text"] for s in specs(at)]
    assert not any("Margin" in t or "margin" in t for t in titles), titles
    at = open_page(merchant(FIXTURE_MERCHANT), "sales", sa_tab="Categories & margin")
    assert "Margin after discounts per category" in [s["layout"]["title"]["text"] for s in specs(at)]


def test_one_payment_method_is_said_not_drawn(sql):
    method = sql("""SELECT payment_method FROM orders WHERE merchant_id = $m AND payment_method IS NOT NULL
                    GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""", m=FIXTURE_MERCHANT)[0][0]
    at = open_page(merchant(FIXTURE_MERCHANT), "sales", sa_tab="Payments", payments=[method])
    assert not at.get("plotly_chart")
    said = formatting.single_payment_text(method, quote=markdown_text)  # the method in words ("bank transfer")
    assert said in [i.value for i in at.info] and "_" not in said
    at = open_page(merchant(FIXTURE_MERCHANT), "sales", sa_tab="Payments")
    assert specs(at)[0]["layout"]["title"]["text"] == "Payment method mix"
    assert len(specs(at)[0]["data"]) > 1


# ---------------------------------------------------------------------------------------------- item 14


def test_same_event_last_year_lines_up_easter(sql):
    start, end = dt.date(2022, 4, 11), dt.date(2022, 4, 24)  # Easter Sunday 17 Apr 2022; 4 Apr 2021
    at = open_page(merchant(SHOPPING), "overview", custom=(start, end))
    radio = at.radio(key="ov_comparison")
    assert "Same event last year" in radio.options
    radio.set_value("event")
    rerun(at)
    picker = at.selectbox(key="ov_event")
    assert "Easter 2022 (17 Apr) vs 2021 (04 Apr)" in picker.options
    assert "National Sovereignty and Children's Day (TR) 2022 (23 Apr) vs 2021 (23 Apr)" in picker.options  # holidays lib
    picker.select("easter@2022-04-17")
    rerun(at)
    shift = (dt.date(2021, 4, 4) - dt.date(2022, 4, 17)).days
    assert shift == -378
    o_start, o_end = start + dt.timedelta(days=shift), end + dt.timedelta(days=shift)
    comparison = specs(at)[0]["data"][1]
    assert comparison["customdata"][0] == o_start.isoformat() and comparison["customdata"][-1] == o_end.isoformat()
    assert comparison["customdata"][6] == "2021-04-04"  # Easter Sunday sits where 17 Apr 2022 does
    now, before = revenue(sql, SHOPPING, start, end), revenue(sql, SHOPPING, o_start, o_end)
    assert before > 0
    line = next(c for c in captions(at) if c.startswith("Against "))
    assert f"{o_start:%d %b %Y} to {o_end:%d %b %Y}" in line
    assert f"Revenue {format_change('money', now - before, (now - before) / before)}" in line
    # A period holding no event does not offer the comparison.
    at = open_page(merchant(SHOPPING), "overview", custom=(dt.date(2022, 6, 13), dt.date(2022, 6, 26)))
    assert at.radio(key="ov_comparison").options == ["Previous period", "Same period last year"]


def test_event_choice_gives_way_when_the_period_holds_no_event(sql):
    at = open_page(merchant(SHOPPING), "overview", custom=(dt.date(2022, 4, 11), dt.date(2022, 4, 24)))
    at.radio(key="ov_comparison").set_value("event")
    rerun(at)
    assert at.selectbox(key="ov_event").value
    at.date_input(key="flt_custom").set_value((dt.date(2022, 6, 13), dt.date(2022, 6, 26)))
    rerun(at)  # no exception: the comparison falls back to one the period offers
    assert at.radio(key="ov_comparison").value in ("previous", "last_year")
    assert not any(c.startswith("Against ") for c in captions(at))
