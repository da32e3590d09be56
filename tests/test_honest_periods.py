"""Honest figures, pure parts: data span and coverage, partial periods, events, card wording.

The warehouse-backed checks compare with plain SQL on the fixture; the rest are tiny inline cases whose
expected values are worked out by hand in the test (calendar arithmetic, not the code under test).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import holidays
import polars as pl
import pytest

from analytics import comparisons, events, kpis, periods
from analytics.filters import LAST_YEAR_DAYS, Filters
from analytics.periods import COVERAGE_THRESHOLD, DataSpan
from dashboard import formatting
from data.access import DataAccess, Scope

D = dt.date


# ---------------------------------------------------------------------------------------------- span, coverage


@pytest.mark.parametrize("merchants", [None, [1], [2, 3]])
def test_data_span_equals_sql(serving_warehouse, fixture_warehouse_path, merchants):
    scope = Scope.unrestricted() if merchants is None else Scope.merchants(merchants)
    got = periods.compute_data_span(DataAccess(serving_warehouse.backend(), scope))
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    try:
        first, last, timed = con.execute(
            "SELECT min(order_ts)::DATE, max(order_ts)::DATE, count(*) FILTER (WHERE order_ts::TIME <> '00:00:00') "
            "FROM orders WHERE $all OR list_contains($m, merchant_id)",
            {"all": merchants is None, "m": merchants or []}).fetchone()
    finally:
        con.close()
    assert got == DataSpan(first, last, timed > 0)
    assert got.timed  # generated orders carry times of day


def test_data_span_of_an_empty_scope(serving_warehouse):
    assert periods.compute_data_span(DataAccess(serving_warehouse.backend(), Scope.merchants([999]))) is None


def test_coverage_counts_days_inside_the_span_not_days_with_orders():
    # The Online Retail II case of the issue: data 2009-12-01..2010-12-09, year to date on 2010-12-09.
    span = DataSpan(D(2009, 12, 1), D(2010, 12, 9))
    f = Filters(D(2010, 1, 1), D(2010, 12, 9))
    cov = periods.comparison_coverage(f, span)
    prev, ly = cov["previous"], cov["last_year"]
    assert (prev.start, prev.end) == (D(2009, 1, 23), D(2009, 12, 31))  # 343 days before 1 Jan 2010
    assert (prev.days, prev.covered) == (343, 31)  # December 2009 only
    assert prev.describe() == "data on 31 of 343 days" and not prev.comparable
    assert (ly.start, ly.end) == (D(2009, 1, 2), D(2009, 12, 10))  # 364 days back
    assert (ly.days, ly.covered) == (343, 10) and not ly.comparable
    # Fully inside: complete; none inside: "no data".
    inside = periods.period_coverage(D(2010, 3, 1), D(2010, 3, 31), span)
    assert inside.complete and inside.comparable and inside.covered == 31
    assert periods.period_coverage(D(2008, 1, 1), D(2008, 1, 10), span).describe() == \
        "no data on any of its 10 days"
    assert periods.period_coverage(D(2010, 1, 1), D(2010, 1, 10), None).covered == 0


def test_coverage_threshold_is_the_boundary():
    span = DataSpan(D(2024, 1, 1), D(2024, 12, 31))
    at = round(100 * COVERAGE_THRESHOLD)  # of a 100-day period ending inside the span, this many covered
    for covered, comparable in ((at, True), (at - 1, False)):
        end = span.first + dt.timedelta(days=covered - 1)
        cov = periods.period_coverage(end - dt.timedelta(days=99), end, span)
        assert (cov.days, cov.covered, cov.comparable) == (100, covered, comparable)


def test_history_start_within_the_first_year():
    span = DataSpan(D(2009, 12, 1), D(2010, 12, 9))
    assert periods.history_start(Filters(D(2010, 1, 1), D(2010, 12, 9)), span) == D(2009, 12, 1)
    assert periods.history_start(Filters(D(2010, 11, 30), D(2010, 12, 9)), span) == D(2009, 12, 1)
    assert periods.history_start(Filters(D(2010, 12, 1), D(2010, 12, 9)), span) is None  # a year in
    assert periods.history_start(Filters(D(2010, 12, 1), D(2010, 12, 9)), None) is None


def test_uncovered_comparison_days_are_empty_not_zero():
    daily = pl.DataFrame({
        "day": [D(2010, 1, 1), D(2010, 1, 2), D(2010, 1, 3)],
        "revenue": [5.0, 6.0, 7.0], "orders": [1, 2, 3],
        "comparison_day": [D(2009, 11, 30), D(2009, 12, 1), D(2009, 12, 2)],
        "comparison_revenue": [0.0, 4.0, 0.0], "comparison_orders": [0, 1, 0],
    })
    got = periods.mask_uncovered_comparison(daily, DataSpan(D(2009, 12, 1), D(2010, 1, 3)))
    assert got["comparison_revenue"].to_list() == [None, 4.0, 0.0]  # a real empty day inside stays 0
    assert got["comparison_orders"].to_list() == [None, 1, 0]
    assert got["comparison_covered"].to_list() == [False, True, True]
    assert got["revenue"].to_list() == [5.0, 6.0, 7.0]


def test_partial_months_and_quarters():
    trend = pl.DataFrame({"period_start": [D(2009, 12, 1), D(2010, 1, 1), D(2010, 12, 1)], "revenue": [1.0] * 3})
    span = DataSpan(D(2009, 12, 1), D(2010, 12, 9))
    got = periods.mark_partial_periods(trend, "month", Filters(D(2009, 12, 1), D(2010, 12, 9)), span)
    assert got["days"].to_list() == [31, 31, 31]
    assert got["covered_days"].to_list() == [31, 31, 9]  # December 2010 is cut by the data's end
    assert got["partial"].to_list() == [False, False, True]
    assert periods.partial_period_notes(got, "month") == ["Partial month Dec 2010: data on 9 of 31 days"]
    # Cut by the selected period (starts on the 20th) and by the data's start (2 Dec).
    cut = periods.mark_partial_periods(trend.head(1), "month", Filters(D(2009, 12, 20), D(2009, 12, 31)), span)
    assert cut["covered_days"].to_list() == [12] and cut["partial"].to_list() == [True]
    late = periods.mark_partial_periods(trend.head(1), "month", Filters(D(2009, 12, 1), D(2009, 12, 31)),
                                        DataSpan(D(2009, 12, 2), D(2010, 1, 5)))
    assert late["covered_days"].to_list() == [30]
    q = pl.DataFrame({"period_start": [D(2010, 10, 1)], "revenue": [1.0]})
    gq = periods.mark_partial_periods(q, "quarter", Filters(D(2010, 1, 1), D(2010, 12, 9)), span)
    assert (gq["days"].item(), gq["covered_days"].item()) == (92, 70)  # Oct 31 + Nov 30 + 9 Dec
    assert periods.partial_period_notes(gq, "quarter") == ["Partial quarter Q4 2010: data on 70 of 92 days"]
    with pytest.raises(ValueError):
        periods.mark_partial_periods(q, "week", Filters(D(2010, 1, 1), D(2010, 1, 2)), span)


# ---------------------------------------------------------------------------------------------- events


def test_moving_event_dates():
    assert events.easter_sunday(2025) == D(2025, 4, 20)
    assert events.easter_sunday(2026) == D(2026, 4, 5)
    assert events.black_friday(2025) == D(2025, 11, 28)
    assert events.black_friday(2026) == D(2026, 11, 27)
    assert events.black_friday(2024) == D(2024, 11, 29)


def test_event_alignment_lines_up_the_event_day():
    found = events.events_in_period(D(2026, 3, 30), D(2026, 4, 12))
    assert [e.key for e in found] == ["easter"]
    easter = found[0]
    assert (easter.day, easter.last_year_day) == (D(2026, 4, 5), D(2025, 4, 20))
    assert easter.shift_days == -350
    f = Filters(D(2026, 3, 30), D(2026, 4, 12))
    other = f.comparison(easter.shift_days)
    assert other.days == f.days
    # The event's day sits at the same offset in both periods.
    assert (easter.day - f.start) == (easter.last_year_day - other.start)
    bf = events.events_in_period(D(2026, 11, 1), D(2026, 11, 30))
    assert [(e.key, e.day, e.last_year_day, e.shift_days) for e in bf] == [
        ("black_friday", D(2026, 11, 27), D(2025, 11, 28), -364)]
    assert bf[0].label == "Black Friday week 2026 (27 Nov) vs 2025 (28 Nov)"
    xmas = events.events_in_period(D(2024, 12, 20), D(2024, 12, 31))
    assert [(e.key, e.shift_days) for e in xmas] == [("christmas", -366)]  # 29 Feb 2024 lies between
    assert events.events_in_period(D(2026, 6, 1), D(2026, 6, 30)) == []


@pytest.mark.parametrize("country", ["GB", "TR"])
def test_public_holidays_come_from_the_holidays_library(country):
    start, end = D(2025, 1, 1), D(2025, 12, 31)
    found = [e for e in events.events_in_period(start, end, [country]) if e.key.startswith("holiday:")]
    lib = holidays.country_holidays(country, years=[2024, 2025])
    first_day: dict[tuple[int, str], D] = {}
    for day, name in sorted(lib.items()):
        first_day.setdefault((day.year, name), day)
    retail_windows = [(e.first, e.last) for e in events.events_in_period(start, end)]
    want = sorted((day, name) for (year, name), day in first_day.items()
                  if year == 2025 and (2024, name) in first_day
                  and not any(a <= day <= b for a, b in retail_windows))
    assert sorted((e.day, e.name.removesuffix(f" ({country})")) for e in found) == want
    for e in found:
        name = e.name.removesuffix(f" ({country})")
        assert e.last_year_day == first_day[(2024, name)]
        assert lib.get(e.day) and lib.get(e.last_year_day)
    assert found  # both countries have holidays to offer
    if country == "TR":  # a moving holiday: Eid al-Fitr moves about 11 days a year
        eid = next(e for e in found if e.name.startswith("Eid al-Fitr"))
        assert eid.day == D(2025, 3, 30) and eid.shift_days not in (-364, -365, -366)


def test_unknown_country_has_no_holidays():
    assert events.country_holidays("XX", 2025) == ()


def test_shifted_comparison_equals_the_measures_of_the_shifted_period(access_all):
    f = Filters(D(2026, 3, 30), D(2026, 4, 12))
    shift = events.events_in_period(f.start, f.end)[0].shift_days
    got = comparisons.compute_kpi_shift_comparison(access_all, f, shift)
    m = kpis.load_measures(access_all, {"a": f, "b": f.shifted(shift)})
    for row in got.iter_rows(named=True):
        k = kpis.KPIS_BY_KEY[row["key"]]
        assert row["value"] == pytest.approx(k.compute(m["a"]))
        assert row["comparison"] == pytest.approx(k.compute(m["b"]))
    assert f.comparison("last_year") == f.shifted(-LAST_YEAR_DAYS)
    with pytest.raises(ValueError):
        f.comparison(True)


# ---------------------------------------------------------------------------------------------- card wording


def _comparison(value, prev, ly) -> pl.DataFrame:
    rows = [{"key": k.key, "value": value, "previous": prev, "last_year": ly, "delta_previous": value - prev,
             "delta_last_year": value - ly, "change_previous": (value - prev) / prev,
             "change_last_year": (value - ly) / ly} for k in kpis.KPIS]
    return pl.DataFrame(rows)


def test_cards_hide_changes_against_mostly_empty_periods():
    span = DataSpan(D(2009, 12, 1), D(2010, 12, 9))
    f = Filters(D(2010, 1, 1), D(2010, 12, 9))
    cards = formatting.build_kpi_cards(_comparison(120.0, 10.0, 40.0), "GBP", coverage=periods.comparison_coverage(
        f, span), history_start=periods.history_start(f, span))
    revenue = next(c for c in cards if c.key == "revenue")
    assert revenue.vs_previous is None and revenue.vs_last_year is None  # no "+1100.0%"
    assert "Previous period: no comparison, data on 31 of 343 days" in revenue.notes
    assert "Last year: no comparison, data on 10 of 343 days" in revenue.notes
    assert "%" not in revenue.caption
    new = next(c for c in cards if c.key == "new_customer_share")
    assert "Every customer looks new: the order history starts on 01 Dec 2009" in new.notes
    assert not any("looks new" in n for n in revenue.notes)
    # Fully covered comparisons read as before.
    full = formatting.build_kpi_cards(_comparison(120.0, 100.0, 60.0), "GBP", coverage=periods.comparison_coverage(
        Filters(D(2010, 11, 1), D(2010, 11, 30)), span))
    rev = next(c for c in full if c.key == "revenue")
    assert (rev.vs_previous, rev.vs_last_year, rev.notes) == ("+20.0%", None, (
        "Last year: no comparison, data on 1 of 30 days",))  # 2 Nov to 1 Dec 2009: the span starts 1 Dec
    # Partly covered above the threshold: the change shows, with the coverage.
    part = formatting.build_kpi_cards(_comparison(120.0, 100.0, 60.0), "GBP", coverage=periods.comparison_coverage(
        Filters(D(2010, 11, 1), D(2010, 11, 30)), DataSpan(D(2010, 10, 5), D(2010, 11, 30))))
    rev = next(c for c in part if c.key == "revenue")
    assert rev.vs_previous == "+20.0%"
    assert "Previous period: +20.0%, data on 27 of 30 days" in rev.notes  # 2 to 31 Oct, data from 5 Oct


def test_payment_and_margin_rules():
    one = pl.DataFrame({"group": ["all", "all"], "payment_method": ["card", "cash"], "orders": [5, 0]})
    assert formatting.single_payment_method(one) == "card"
    assert formatting.single_payment_text("card") == "All orders in this period were paid by card."
    assert formatting.single_payment_text("unknown").startswith("No payment method is recorded")
    assert formatting.single_payment_text("bank_transfer") == "All orders in this period were paid by bank transfer."
    two = one.with_columns(pl.Series("orders", [5, 1]))
    assert formatting.single_payment_method(two) is None
    profit = pl.DataFrame({"category": ["a", "b"], "gross_margin": [None, None]}, schema={
        "category": pl.Utf8, "gross_margin": pl.Float64})
    assert not formatting.margin_drawable(profit)
    assert formatting.margin_drawable(profit.with_columns(pl.Series("gross_margin", [None, 1.0])))


def test_stored_codes_show_in_words_and_names_as_typed():
    codes = {"bank_transfer": "Bank transfer", "debit_card": "Debit card", "web": "Web", "paypal": "PayPal"}
    assert {c: formatting.value_words(c) for c in codes} == codes
    assert formatting.value_words("Visa Debit") == "Visa Debit"  # a name as the merchant typed it
    assert formatting.value_words("=cmd|x") == "=cmd|x"  # not a code: left for the plain-text layer
