"""Pure builders of the analytics pages: figures, drill state, KPI cards, currency groups, download files."""

from __future__ import annotations

import datetime as dt
import io

import markdown_it
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard import charts, downloads, drill
from dashboard.plain_text import markdown_text, plotly_text
from dashboard.formatting import (
    build_kpi_cards,
    cohort_note,
    currency_groups,
    format_change,
    format_money,
    format_value,
    is_flat,
    percent_columns,
)

D = dt.date


# ------------------------------------------------------------------------------------------------ figures


def daily_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "day": [D(2024, 3, 4), D(2024, 3, 5)], "revenue": [10.0, 20.0], "orders": [1, 3],
        "comparison_day": [D(2024, 3, 2), D(2024, 3, 3)], "comparison_revenue": [5.0, 0.0],
        "comparison_orders": [2, 0],
    })


def test_trend_figure_draws_period_and_comparison_at_the_same_positions():
    fig = charts.build_trend_figure(daily_frame(), "orders", "Previous period", "GBP")
    current, comparison = fig.data
    assert list(current.y) == [1, 3] and list(comparison.y) == [2, 0]
    assert list(current.x) == list(comparison.x) == [D(2024, 3, 4), D(2024, 3, 5)]
    assert list(current.customdata) == ["2024-03-04", "2024-03-05"]  # drill keys
    assert list(comparison.customdata) == ["2024-03-02", "2024-03-03"]  # its own dates, for the hover
    assert comparison.name == "Previous period"
    assert not fig.layout.shapes
    marked = charts.build_trend_figure(daily_frame(), "orders", "Previous period", "GBP", highlight=D(2024, 3, 5))
    assert [(s.x0, s.x1) for s in marked.layout.shapes] == [("2024-03-05", "2024-03-05")]
    revenue = charts.build_trend_figure(daily_frame(), "revenue", "Same period last year", "EUR")
    assert list(revenue.data[0].y) == [10.0, 20.0] and "EUR" in revenue.layout.yaxis.title.text
    with pytest.raises(ValueError):
        charts.build_trend_figure(daily_frame(), "units", "x", None)


def test_bar_figure_keeps_the_top_rows_largest_first_and_null_keys_undrillable():
    frame = pl.DataFrame({"category": ["a", None, "c", "d"], "revenue": [5.0, 7.0, 1.0, 3.0]})
    fig = charts.build_bar_figure(frame, "category", "revenue", title="t", value_label="Revenue", currency="USD",
                                  top=3)
    bar = fig.data[0]
    # plotly draws the first bar at the bottom, so the largest comes last
    assert list(bar.y) == ["d", "a", charts.NONE_LABEL]
    assert list(bar.x) == [3.0, 5.0, 7.0]
    assert list(bar.customdata) == ["d", "a", ""]
    assert "USD" in fig.layout.xaxis.title.text


def test_bar_figure_labels_with_another_column_but_keys_by_the_key():
    frame = pl.DataFrame({"product_id": [11, 12], "sku": ["A-1", "B-2"], "revenue": [1.0, 2.0]})
    bar = charts.build_bar_figure(frame, "product_id", "revenue", title="t", value_label="v", label="sku").data[0]
    assert list(bar.y) == ["A-1", "B-2"] and list(bar.customdata) == ["11", "12"]


def test_equal_labels_stay_separate_bars():
    frame = pl.DataFrame({"product_id": [1, 2, 3], "sku": ["A", "B", "C"], "revenue": [1.0, 2.0, 3.0],
                          "product_name": ["Mug", None, "Mug"]})
    bar = charts.build_bar_figure(frame, "product_id", "revenue", title="t", value_label="v",
                                  label="product_name").data[0]
    assert list(bar.y) == ["Mug [1]", charts.NONE_LABEL, "Mug [3]"]  # smallest first: plotly's bottom bar
    products = charts.build_product_figure(frame, title="t", currency="GBP", top=2).data[0]
    assert list(products.y) == ["B", "C · Mug"] and list(products.customdata) == ["2", "3"]


def test_weekday_hour_matrix_places_each_cell():
    frame = pl.DataFrame({"weekday": [0, 6], "hour": [9, 23], "orders": [4, 2], "revenue": [1.5, None]})
    grid = charts.weekday_hour_matrix(frame, "orders")
    assert len(grid) == 7 and all(len(r) == 24 for r in grid)
    assert grid[0][9] == 4 and grid[6][23] == 2 and sum(map(sum, grid)) == 6
    assert charts.weekday_hour_matrix(frame, "revenue")[6][23] == 0.0
    fig = charts.build_weekday_hour_figure(frame, "orders")
    assert list(fig.data[0].y) == list(charts.WEEKDAYS)


def test_cohort_matrix_leaves_unreached_months_empty():
    frame = pl.DataFrame({
        "cohort_month": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 2, 1)], "months_since": [0, 1, 0],
        "cohort_size": [10, 10, 4], "customers": [10, 3, 4], "retention": [1.0, 0.3, 1.0],
    })
    months, offsets, z = charts.cohort_matrix(frame)
    assert months == [D(2024, 1, 1), D(2024, 2, 1)] and offsets == [0, 1]
    assert z == [[1.0, 0.3], [1.0, None]]
    assert cohort_note(frame) is None
    assert "first month" in cohort_note(frame.filter(pl.col("months_since") == 0))
    assert "no cohort" in cohort_note(frame.head(0))


def test_payment_mix_figure_stacks_each_method_share_per_group():
    mix = pl.DataFrame({"group": ["<25", "<25", "65+"], "payment_method": ["card", "cash", "card"],
                        "orders": [3, 1, 2], "sales": [1.0, 1.0, 1.0], "order_share": [0.75, 0.25, 1.0]})
    fig = charts.build_payment_mix_figure(mix)
    by_name = {t.name: list(t.y) for t in fig.data}
    assert by_name == {"Card": [0.75, 1.0], "Cash": [0.25, 0.0]}  # stored codes in words
    assert list(fig.data[0].x) == ["&lt;25", "65+"]  # escaped: plotly draws "<25", never reads it as a tag


def test_delivery_rollup_weights_delay_by_delivered_shipments():
    frame = pl.DataFrame({
        "partner": ["DHL", "DHL", "UPS"], "region": ["N", "S", "N"], "shipments": [10, 5, 3],
        "delivered": [8, 2, 0], "in_transit": [2, 3, 3], "on_time": [6, 1, 0], "late": [2, 1, 0],
        "on_time_rate": [0.75, 0.5, None], "avg_delay_days": [1.0, -2.0, None], "max_delay_days": [3, 1, None],
    })
    out = charts.delivery_by_partner(frame)
    expected = pl.DataFrame({"partner": ["DHL", "UPS"], "shipments": [15, 3], "delivered": [10, 0],
                             "on_time": [7, 0], "on_time_rate": [0.7, None], "avg_delay_days": [0.4, None]})
    assert_frame_equal(out, expected, check_dtypes=False)
    fig = charts.build_delivery_figure(frame)
    assert list(fig.data[0].y) == ["DHL", "UPS"] and fig.data[0].z[1][1] is None


# ------------------------------------------------------------------------------------------------ drill


def event(*points):
    return {"selection": {"points": list(points), "point_indices": [], "box": [], "lasso": []}}


def test_clicked_value_maps_customdata_back_to_the_option():
    options = [D(2024, 3, 4), D(2024, 3, 5)]
    assert drill.clicked_value(event({"curve_number": 0, "customdata": "2024-03-05", "x": "x"}), options) == D(2024, 3, 5)
    assert drill.clicked_value(event({"curve_number": 0, "customdata": ["Toys"]}), ["Toys", "Books"]) == "Toys"
    # falls back to x when a trace carries no customdata
    assert drill.clicked_value(event({"curve_number": 0, "x": "Books"}), ["Toys", "Books"]) == "Books"


def test_clicked_value_ignores_other_traces_unknown_values_and_empty_events():
    options = ["Toys"]
    assert drill.clicked_value(event({"curve_number": 1, "customdata": "Toys"}), options) is None
    assert drill.clicked_value(event({"curve_number": 0, "customdata": "Guns"}), options) is None
    assert drill.clicked_value(event({"curve_number": 0, "customdata": ""}), [None, "Toys"]) is None
    assert drill.clicked_value(event(), options) is None
    assert drill.clicked_value(None, options) is None
    assert drill.clicked_value(event({"curve_number": 1, "customdata": "Toys"}), options, curve=None) == "Toys"


def test_sanitize_and_breadcrumb():
    d = drill.Drill("k", "All categories", "Category")
    assert drill.sanitize("Toys", ["Toys"]) == "Toys"
    assert drill.sanitize("Toys", ["Books"]) is None
    assert drill.sanitize(None, ["Books"]) is None
    assert drill.breadcrumb(d, None) == ["All categories"]
    assert drill.breadcrumb(d, D(2024, 3, 4), drill.format_day) == ["All categories", "Mon 04 Mar 2024"]


# ------------------------------------------------------------------------------------------------ plain text

HOSTILE = ('<a href="https://evil.example">x</a>', "<b>bold</b>", "https://evil.example/login",
           "[click](https://evil.example)", '=HYPERLINK("https://evil.example","y")', "**md**")


def test_plotly_text_escapes_what_plotly_reads_as_markup():
    assert plotly_text('<a href="https://e">x</a> & co') == '&lt;a href="https://e"&gt;x&lt;/a&gt; &amp; co'
    assert plotly_text("&lt;b&gt;") == "&amp;lt;b&amp;gt;"  # an entity in the data shows as typed
    assert plotly_text(None) == "(none)" and plotly_text(12) == "12"


def html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@pytest.mark.parametrize("value", [*HOSTILE, "a`b", "`x`", "``", " x ", "x\ny", "<script>", "&amp;", "`", "  "])
def test_markdown_text_is_one_code_span_showing_the_value(value):
    html = markdown_it.MarkdownIt("commonmark").renderInline(markdown_text(value))
    assert html == f"<code>{html_escape(' '.join(value.splitlines()))}</code>"


def test_markdown_text_of_nothing():
    assert markdown_text(None) == "(none)" and markdown_text("") == "(empty)"


def test_breadcrumb_shows_the_drilled_name_verbatim():
    d = drill.Drill("k", "All categories", "Category")
    for name in HOSTILE:
        html = markdown_it.MarkdownIt("commonmark").renderInline(drill.breadcrumb_markdown(d, name))
        # the root is the back button beside it, so the markdown does not repeat it
        assert html == f"› <strong><code>{html_escape(name)}</code></strong>"


def test_a_click_on_a_hostile_bar_drills_into_that_name():
    names = [*HOSTILE, "&lt;b&gt;"]  # escaped keys map back to the very value, entities in data included
    fig = charts.build_bar_figure(pl.DataFrame({"category": names, "revenue": [1.0] * len(names)}), "category",
                                  "revenue", title="t", value_label="v")
    clicked = [drill.clicked_value({"selection": {"points": [{"curve_number": 0, "customdata": c}]}}, names)
               for c in fig.data[0].customdata]
    assert sorted(clicked) == sorted(names)


# ------------------------------------------------------------------------------------------------ formatting


def test_percent_columns():
    frame = pl.DataFrame({"revenue_share": [0.1], "on_time_rate": [0.5], "retention": [1.0], "revenue": [3.0],
                          "cost_coverage": [1.0], "rate_card": [2.0]})
    assert percent_columns(frame) == ["revenue_share", "on_time_rate", "retention", "cost_coverage"]


def test_formats():
    assert format_money(1234.4, "GBP") == "GBP 1,234"
    assert format_money(-2500.0, "USD") == "USD -2,500"
    assert format_money(12.5, "EUR") == "EUR 12.50"
    assert format_value(None, "money", "EUR") == "n/a"
    assert format_value(0.1234, "ratio", "EUR") == "12.3%"
    assert format_value(1234.0, "count", "EUR") == "1,234"
    assert format_change("ratio", 0.012, 0.5) == "+1.2 pp"
    assert format_change("money", 10.0, -0.25) == "-25.0%"
    assert format_change("count", None, None) is None
    assert format_change("ratio", -0.0001, None) == "0.0 pp" and format_change("count", 1, 0.0004) == "0.0%"
    assert is_flat("0.0 pp") and not is_flat("+0.1%") and not is_flat("-2.0 pp") and not is_flat(None)


def kpi_frame(rows: dict[str, tuple]) -> pl.DataFrame:
    cols = ("value", "previous", "last_year", "delta_previous", "delta_last_year", "change_previous",
            "change_last_year")
    return pl.DataFrame([{"key": k, **dict(zip(cols, v))} for k, v in rows.items()],
                        schema={"key": pl.Utf8} | {c: pl.Float64 for c in cols})


def test_kpi_cards_show_both_comparisons_and_say_why_a_value_is_missing():
    frame = kpi_frame({
        "revenue": (110.0, 100.0, 55.0, 10.0, 55.0, 0.1, 1.0),
        "cancellation_rate": (0.05, 0.04, None, 0.01, None, 0.25, None),
        "conversion_rate": (None,) * 7,
    })
    limits = {"conversion": "No session events in this data: conversion cannot be computed."}
    revenue, cancel, conversion = build_kpi_cards(frame, "GBP", limits)
    assert (revenue.value, revenue.vs_previous, revenue.vs_last_year, revenue.inverse) == (
        "GBP 110.00", "+10.0%", "+100.0%", False)
    assert (cancel.value, cancel.vs_previous, cancel.vs_last_year, cancel.inverse) == ("5.0%", "+1.0 pp", None, True)
    assert conversion.value == "n/a" and conversion.help.startswith("No session events in this data")
    # without a limit the help is the KPI's definition only
    assert not build_kpi_cards(frame, "GBP")[2].help.startswith("No session")


def test_currency_groups_never_widen_the_scope():
    merchants = pl.DataFrame({"merchant_id": [1, 2, 3, 4], "name": ["A", "B", "C", "D"],
                              "currency": ["GBP", "EUR", "GBP", "USD"]})
    groups = currency_groups(merchants, (1, 2, 3))
    assert [(g.currency, g.merchant_ids, g.names) for g in groups] == [("GBP", (1, 3), ("A", "C")),
                                                                       ("EUR", (2,), ("B",))]
    assert currency_groups(merchants, (4,))[0].merchant_ids == (4,)
    assert currency_groups(merchants, ()) == []


# ------------------------------------------------------------------------------------------------ downloads


def test_excel_limit_counts_the_header_row():
    assert downloads.excel_fits(1_048_575) and not downloads.excel_fits(1_048_576)
    assert downloads.excel_fits(9, limit=10) and not downloads.excel_fits(10, limit=10)


def sample() -> pl.DataFrame:
    return pl.DataFrame({
        "order_id": [1, 2], "order_ts": [dt.datetime(2024, 3, 4, 9, 30), None], "day": [D(2024, 3, 4), None],
        "name": ["=1+1", None], "in_revenue": [True, False], "amount": [12.5, None],
    })


def test_csv_and_excel_hold_every_row_and_value():
    frame = sample()
    loads = []
    source = lambda: loads.append(1) or frame  # noqa: E731
    csv_file, xlsx_file = downloads.csv_builder(source), downloads.excel_builder(source)
    assert loads == []  # nothing is built until the button asks
    back = pl.read_csv(io.BytesIO(csv_file()), try_parse_dates=True)
    assert back.height == 2 and back["amount"].to_list() == [12.5, None]
    xlsx = pl.read_excel(io.BytesIO(xlsx_file()))
    assert xlsx.columns == frame.columns and xlsx.height == 2
    assert xlsx["order_ts"][0] == dt.datetime(2024, 3, 4, 9, 30)
    assert xlsx["name"][0] == "=1+1"  # text stays text, never a formula
    assert loads == [1, 1]


def test_excel_refuses_rows_it_would_truncate():
    with pytest.raises(ValueError, match="CSV"):
        downloads.excel_bytes(sample(), limit=2)


def test_file_stem_is_safe():
    assert downloads.file_stem("products", "Food & Beverage", D(2024, 3, 4)) == "products_Food-Beverage_2024-03-04"
    assert downloads.file_stem("../../etc") == "etc"
    assert downloads.file_stem(None, "") == "rows"


def test_csv_makes_formula_text_inert_and_leaves_the_rest_alone():
    frame = pl.DataFrame({
        "name": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tx", "plain", "a=b", None],
        "amount": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, None],
    })
    back = pl.read_csv(io.BytesIO(downloads.csv_bytes(frame)))
    assert back["name"].to_list() == ["'=HYPERLINK(\"http://x\")", "'+1", "-2", "'@SUM(A1)", "'\tx", "plain",
                                      "a=b", None]  # a negative number stays a number (issue 6, imports 6)
    assert back["amount"].to_list() == [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0, None]  # numbers untouched


# ---------------------------------------------------------------------------------------------- readable charts


def test_category_colours_are_stable_and_from_the_colour_blind_safe_palette():
    import subprocess
    import sys

    names = ["Toys", "Electronics", "card", "paypal", "Nordrhein-Westfalen", "(none)"]
    here = [charts.color_for(n) for n in names]
    assert set(here) <= set(charts.PALETTE) and len(set(here)) > 1
    # Another process (another server, another day) gives the same colours: no per-process hash seed.
    code = f"from dashboard import charts; print([charts.color_for(n) for n in {names!r}])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert other.stdout.strip() == str(here)


def test_period_labels_name_the_days_of_a_cut_period():
    starts = [dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
    assert charts.period_labels(starts, "month") == ["Sep 2026", "Oct 2026"]
    assert charts.period_labels(starts, "month", (dt.date(2026, 9, 2), dt.date(2026, 10, 31))) == \
        ["2 Sep – 30 Sep 2026", "Oct 2026"]
    assert charts.period_labels([dt.date(2026, 10, 1)], "quarter", (dt.date(2026, 10, 1), dt.date(2026, 11, 15))) == \
        ["1 Oct – 15 Nov 2026"]
    assert charts.period_labels([dt.date(2026, 10, 1)], "quarter") == ["Q4 2026"]


def test_theme_template_follows_light_and_dark():
    fig = charts.build_payment_mix_figure(pl.DataFrame({"group": ["Overall"] * 2, "payment_method": ["card", "cash"],
                                                        "orders": [3, 1], "order_share": [0.75, 0.25]}))
    dark = charts.apply_theme(fig, "dark").to_dict()["layout"]
    assert dark["template"]["layout"]["paper_bgcolor"] == "rgb(17,17,17)" and dark["paper_bgcolor"] == "rgba(0,0,0,0)"
    light = charts.apply_theme(fig, None).to_dict()["layout"]
    assert light["template"]["layout"]["font"]["color"] == "#2a3f5f"


def test_payment_methods_are_named_in_words_in_the_legend():
    fig = charts.build_payment_mix_figure(pl.DataFrame({"group": ["Overall"] * 2,
                                                        "payment_method": ["bank_transfer", "<b>Visa</b>"],
                                                        "orders": [3, 1], "order_share": [0.75, 0.25]}))
    names = [t.name for t in fig.data]
    assert "Bank transfer" in names and not any("_" in n for n in names)
    assert all("<b>" not in n for n in names)  # data names stay plain text
