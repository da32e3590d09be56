"""Names from imported data reach the screen as plain text: never a link, markup or formula.

A warehouse whose category, product, SKU, store, region, merchant, payment method, channel, carrier
and gender values are hostile (HTML links, markup, bare URLs, markdown links, spreadsheet formulas)
is rendered three ways:

(a) every chart builder of ``dashboard.charts`` (found by introspection, so a new one is covered or
    this file fails) on that data: no string of the figure holds raw ``<``/``>`` or a bare ``&``;
(b) every page for every role under AppTest, drilled into a hostile region, category and day: no
    markdown-rendered text (markdown, captions, titles, alerts, labels, help) holds link markup or a
    bare URL from the data outside a code span, and the names do show;
(c) the real server in headless Chromium: no element on the page links to evil.example.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import breakdowns, customers, operations, trends
from analytics.filters import Filters
from dashboard import charts
from dashboard.auth.accounts import Principal
from dashboard.navigation import ROLES, pages_for
from dashboard.plain_text import markdown_text, plotly_text
from data.access import DataAccess, Scope
from data.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
EVIL = "evil.example"
HOSTILE = ('<a href="https://evil.example">x</a>', "<b>bold</b>", "https://evil.example/login",
           "[click](https://evil.example)", '=HYPERLINK("https://evil.example","y")', "**md**")
# Columns rewritten with hostile values; columns in one group share one mapping (the same region in
# stores, orders and deliveries stays the same region).
HOSTILE_COLUMNS = (
    (("products", "category"),), (("products", "name"),), (("products", "sku"),), (("stores", "name"),),
    (("stores", "region"), ("orders", "shipping_region"), ("deliveries", "region")), (("merchants", "name"),),
    (("orders", "payment_method"), ("payments", "method")), (("orders", "channel"), ("interactions", "channel")),
    (("deliveries", "partner"),), (("customers", "gender"),),
)
# Text a renderer would turn into a link, markup or formula, as it appears in the data above.
FORBIDDEN = (EVIL, "<a", "<b>", "</b>", "HYPERLINK", "**md**", "](")


def hostile_name(i: int) -> str:
    """The i-th hostile value: one of HOSTILE, made unique, and every one carries a bare URL too."""
    return f"{HOSTILE[i % len(HOSTILE)]} {i} https://{EVIL}/{i}"


def make_hostile(path: Path) -> None:
    con = duckdb.connect(str(path))
    try:
        for group in HOSTILE_COLUMNS:
            values = sorted({v for table, column in group for (v,) in con.execute(
                f"SELECT DISTINCT {column} FROM main.{table} WHERE {column} IS NOT NULL").fetchall()})
            mapping = [(old, hostile_name(i)) for i, old in enumerate(values)]
            con.execute("CREATE OR REPLACE TEMP TABLE m (old VARCHAR, new VARCHAR)")
            con.executemany("INSERT INTO m VALUES (?, ?)", mapping)
            for table, column in group:
                con.execute(f"UPDATE main.{table} t SET {column} = m.new FROM m WHERE t.{column} = m.old")
    finally:
        con.close()


@pytest.fixture(scope="module")
def hostile_path(fixture_warehouse_path, tmp_path_factory) -> Path:
    """A copy of the fixture warehouse with every name in HOSTILE_COLUMNS hostile (read-only by convention)."""
    path = tmp_path_factory.mktemp("hostile") / "hostile.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    make_hostile(path)
    return path


def test_the_hostile_warehouse_is_hostile(hostile_path):
    con = duckdb.connect(str(hostile_path), read_only=True)
    try:
        for group in HOSTILE_COLUMNS:
            for table, column in group:
                values = [v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM main.{table}").fetchall()]
                assert values and all(v is None or EVIL in v for v in values), (table, column)
    finally:
        con.close()


# ------------------------------------------------------------------------------------------------ (a) figures


def figure_strings(fig: go.Figure | dict) -> list[str]:
    """Every string in the figure's JSON (data and layout), however deeply nested."""
    out: list[str] = []

    def walk(obj) -> None:
        if isinstance(obj, str):
            out.append(obj)
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif hasattr(obj, "tolist"):
            walk(obj.tolist())
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    walk(fig if isinstance(fig, dict) else fig.to_plotly_json())
    return out


TEMPLATE_TAGS = re.compile(r"</?extra>|<br>")  # the builders' own hover-template markup
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def raw_markup(strings: list[str]) -> list[str]:
    """Strings plotly would read as markup: any < or > but the builders' own tags, or a bare &."""
    return [s for s in strings if re.search(r"[<>]", TEMPLATE_TAGS.sub("", s)) or ENTITY.search(s)]


BUILDERS = {name: fn for name, fn in inspect.getmembers(charts, inspect.isfunction)
            if name.startswith("build_") and fn.__module__ == charts.__name__}
H = HOSTILE[0] + " https://evil.example/p"  # for the builders' free-text parameters (titles, labels)


def all_figures(a: DataAccess, f: Filters) -> dict[str, list[go.Figure]]:
    """Each chart builder called the way the pages call it, on the hostile data, text parameters hostile too."""
    regions = breakdowns.compute_region_breakdown(a, f)
    region = next(r for r in regions["region"].to_list() if r)
    cats = breakdowns.compute_category_breakdown(a, f)
    category = next(c for c in cats["category"].to_list() if c)
    return {
        "build_trend_figure": [charts.build_trend_figure(trends.compute_daily_trend(a, f, comparison=c), m, H, H)
                               for c in ("previous", "last_year") for m in charts.METRIC_LABELS],
        "build_bar_figure": [
            charts.build_bar_figure(regions, "region", "revenue", title=H, value_label=H, currency=H),
            charts.build_bar_figure(cats, "category", "revenue", title=H, value_label=H, currency=H),
            charts.build_bar_figure(breakdowns.compute_store_breakdown(a, f, region=region), "store_id", "revenue",
                                    title=f"Revenue by store in {region}", value_label=H, currency=H,
                                    label="store_name")],
        "build_product_figure": [
            charts.build_product_figure(breakdowns.compute_product_breakdown(a, f, category=c), title=H, currency=H,
                                        top=25) for c in (None, category)],
        "build_weekday_hour_figure": [charts.build_weekday_hour_figure(trends.compute_weekday_hour(a, f), v, H)
                                      for v in ("orders", "revenue")],
        "build_weekday_figure": [charts.build_weekday_figure(charts.weekday_totals(trends.compute_weekday_hour(a, f)), v,
                                                             H) for v in ("orders", "revenue")],
        "build_period_figure": [charts.build_period_figure(trends.compute_period_trend(a, f, grain=g), g, H)
                                for g in ("month", "quarter")],
        "build_profitability_figure": [
            charts.build_profitability_figure(operations.compute_category_profitability(a, f), H)],
        "build_payment_mix_figure": [charts.build_payment_mix_figure(breakdowns.compute_payment_mix(a, f, by=by))
                                     for by in (None, "gender", "age_band")],
        "build_cohort_figure": [charts.build_cohort_figure(customers.compute_cohort_retention(a, f))],
        "build_repeat_share_figure": [
            charts.build_repeat_share_figure(customers.compute_repeat_customer_share(a, f), H)],
        "build_delivery_figure": [charts.build_delivery_figure(operations.compute_delivery_performance(a, f))],
    }


# Builders that draw no text from data or from their caller (numbers, dates and fixed words only).
NO_TEXT_IN = {"build_cohort_figure"}


@pytest.fixture(scope="module")
def hostile_figures(hostile_path, tmp_path_factory) -> dict[str, list[go.Figure]]:
    path = tmp_path_factory.mktemp("hostile_figures") / "h.duckdb"
    shutil.copy(hostile_path, path)
    wh = Warehouse(path)
    try:
        a = DataAccess(wh.backend(), Scope.unrestricted())
        start, end = (v.date() for v in wh.cursor().execute("SELECT min(order_ts), max(order_ts) FROM orders")
                      .fetchone())
        return all_figures(a, Filters(start=start, end=end))
    finally:
        wh.close()


def test_every_chart_builder_is_exercised_on_hostile_names(hostile_figures):
    missing = sorted(set(BUILDERS) - set(hostile_figures))
    assert not missing, f"add hostile inputs for {missing} to all_figures()"
    assert len(BUILDERS) >= 10


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_chart_builder_draws_hostile_names_as_text(hostile_figures, name):
    figures = hostile_figures.get(name)
    assert figures, f"{name}: no hostile inputs in all_figures()"
    for fig in figures:
        strings = figure_strings(fig)
        assert not raw_markup(strings), f"{name}: {raw_markup(strings)[:3]}"
        assert not [s for s in strings if "%{" in s and EVIL in s], f"{name}: data pasted into a hover template"
    if name not in NO_TEXT_IN:  # the hostile names did reach the figure, escaped
        assert any("&lt;a href=" in s or f"https://{EVIL}/" in s for fig in figures for s in figure_strings(fig))


# ------------------------------------------------------------------------------------------------ (b) pages

CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
# Proto fields that Streamlit renders as markdown (bodies of markdown, captions, headings, alerts and
# metrics; labels and help of widgets and blocks). Options of selectboxes and multiselects are plain text.
MARKDOWN_FIELDS = {"body", "label", "help", "caption"}
NOT_MARKDOWN = {"plotly_chart", "arrow_data_frame", "dataframe"}


def outside_code(text: str) -> str:
    """The markdown source outside code spans, with backslash escapes resolved (what markdown reads)."""
    return re.sub(r"\\(.)", r"\1", CODE_SPAN.sub("", text))


def proto_texts(proto, names=MARKDOWN_FIELDS) -> list[str]:
    out = []
    for field, value in proto.ListFields():
        if field.type == field.TYPE_MESSAGE:
            for v in (value if hasattr(value, "__len__") and not hasattr(value, "ListFields") else [value]):
                out += proto_texts(v, names)
        elif field.type == field.TYPE_STRING and field.name in names:
            out += [value] if isinstance(value, str) else list(value)
    return out


def markdown_texts(at: AppTest) -> list[str]:
    texts = []
    for node in at._tree:
        proto = getattr(node, "proto", None)
        if proto is not None and node.type not in NOT_MARKDOWN:
            texts += proto_texts(proto)
    return texts


def assert_plain(at: AppTest, where: str) -> list[str]:
    assert not at.exception, [e.message for e in at.exception]
    texts = markdown_texts(at)
    bad = [t for t in texts if any(f in outside_code(t) for f in FORBIDDEN)]
    assert not bad, f"{where}: data read as markdown: {bad[:3]}"
    for chart in at.get("plotly_chart"):
        assert not raw_markup(figure_strings(json.loads(chart.proto.spec))), where
    return texts


def run(at: AppTest) -> AppTest:
    return at.run(timeout=COLD)


def hostile_option(options: list) -> object:
    """The picker option that is an HTML link if there is one, else the first real one."""
    real = [o for o in options if o is not None]
    return next((o for o in real if str(o).startswith("<a href")), real[0])


@pytest.fixture(scope="module")
def served_hostile(hostile_path, tmp_path_factory):
    from dashboard.auth import accounts

    tmp = tmp_path_factory.mktemp("hostile_pages")
    path = tmp / "served.duckdb"
    shutil.copy(hostile_path, path)
    creds = tmp / "credentials.yaml"  # the Data page lists the users
    accounts.add_user("shop", "shop-password-1", "merchant", [1], path=creds, rounds=4, name=HOSTILE[0])
    env = {"RETAIL_PULSE_WAREHOUSE": str(path), "RETAIL_PULSE_CREDENTIALS": str(creds)}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield path
    st.cache_data.clear()
    st.cache_resource.clear()
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


PRINCIPALS = {
    "merchant": Principal("m", "M", "merchant", frozenset({2})),
    "operations": Principal("o", "O", "operations", None),
    "analyst": Principal("a", "A", "analyst", None),
    "fraud_reviewer": Principal("f", "F", "fraud_reviewer", None),
    "admin": Principal("d", "D", "admin", None),
}
SALES_TABS = ("Seasonality", "Trends", "Regions & stores", "Categories & margin", "Payments", "Customers",
              "Delivery")


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_every_page_shows_hostile_names_as_text(served_hostile, role):
    seen_drills = []
    for page in pages_for(role):
        at = AppTest.from_file(HARNESS)
        at.session_state["harness_principal"] = PRINCIPALS[role]
        at.session_state["harness_page"] = page.key
        run(at)
        texts = assert_plain(at, f"{role}/{page.key}")
        if page.key == "overview":
            picker = at.selectbox(key="ov_day")
            run(picker.select(picker.options[-1]))
            assert_plain(at, f"{role}/overview/day")
        elif page.key == "sales":
            for tab in SALES_TABS:
                at.session_state["sa_tab"] = tab
                run(at)
                assert_plain(at, f"{role}/sales/{tab}")
                if tab == "Payments" and "sa_pay_by" in [r.key for r in at.radio]:
                    run(at.radio(key="sa_pay_by").set_value("gender"))
                    assert_plain(at, f"{role}/sales/payments by gender")
                for key in ("sa_region", "sa_category"):
                    if key in [s.key for s in at.selectbox]:
                        picker = at.selectbox(key=key)
                        name = hostile_option(picker.options)
                        assert EVIL in name  # the picker offers the name as it is (plain text)
                        run(picker.select(name))
                        texts = assert_plain(at, f"{role}/sales/{tab}/{name}")
                        assert f"**{markdown_text(name)}**" in "".join(texts)  # the breadcrumb shows it
                        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
                        assert plotly_text(name) in spec["layout"]["title"]["text"]
                        seen_drills.append(key)
                        run(at.button(key=f"{key}_back").click())
        else:
            assert texts
    if role != "fraud_reviewer":
        assert sorted(seen_drills) == ["sa_category", "sa_region"]


def test_data_page_import_messages_show_names_as_text(served_hostile):
    """An import on the Data page quotes the file's name and its values: verbatim."""
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS["admin"]
    at.session_state["harness_page"] = "data"
    run(at)
    merchant = hostile_option(at.selectbox(key="imp_merchant").options)
    mapping = b'[columns]\norder_ref = "Order"\norder_ts = "Date"\nsku = "SKU"\nquantity = "Qty"\n' \
              b'unit_price = "Price"\n'
    shown = []
    for name, rows in ((f"{HOSTILE[3]}.csv", f"H-1,2024-03-01 10:00,{HOSTILE[2]},1,2.50\n"),
                       (f"{HOSTILE[1]}.csv", f"H-2,2024-03-01 10:00,S-1,{HOSTILE[2]},2.50\n")):
        at.file_uploader(key="imp_file").set_value((name, f"Order,Date,SKU,Qty,Price\n{rows}".encode(), "text/csv"))
        run(at)
        at.file_uploader(key="imp_mapping").set_value(("m.toml", mapping, "application/toml"))
        at.selectbox(key="imp_merchant").set_value(merchant)
        run(at.button(key="imp_go").click())
        texts = assert_plain(at, f"data page import {name}")
        shown += [t for t in texts if EVIL in t]
    assert any("staged" in t and EVIL in t for t in shown), shown  # loaded, naming the file
    assert any(f"'{HOSTILE[2]}'" in t for t in shown), shown  # refused, quoting the bad value


# ------------------------------------------------------------------------------------------------ (c) browser

LINKS_TO_EVIL = """() => [...document.querySelectorAll('*')].flatMap(el => [...el.attributes]
  .filter(a => a.name.toLowerCase().endsWith('href') && a.value.includes('evil.example'))
  .map(a => el.tagName + ' ' + a.name + '=' + a.value))"""


@pytest.mark.browser
@pytest.mark.slow
def test_browser_page_has_no_link_from_the_data(hostile_path, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    from tests.servers import CHROMIUM, CHROMIUM_ARGS, dashboard_server
    from tests.test_browser import TIMEOUT, idle, sign_in

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: ./test.sh installs Debian's chromium when run as root")
    tmp = tmp_path_factory.mktemp("hostile_browser")
    wh = tmp / "browser.duckdb"
    shutil.copy(hostile_path, wh)
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
           "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml")}
    with dashboard_server(env, timeout=120) as s, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})

        def no_evil_links(where: str) -> None:
            links = page.evaluate(LINKS_TO_EVIL)
            assert not links, f"{where}: {links[:3]}"

        sign_in(page, s.url, "demo-analyst")
        page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT)
        idle(page)
        no_evil_links("overview")
        page.get_by_role("link", name="Sales analytics").click()
        page.get_by_role("heading", name="Sales analytics").first.wait_for(timeout=TIMEOUT)
        idle(page)
        for tab in ("Regions & stores", "Categories & margin", "Payments", "Delivery"):
            page.get_by_role("tab", name=tab).click()
            idle(page)
            page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT)
            no_evil_links(tab)
            if tab in ("Regions & stores", "Categories & margin"):
                bar = page.locator(".js-plotly-plot").first.locator("g.point path").last
                box = bar.bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.locator(".hoverlayer .hovertext").first.wait_for(timeout=TIMEOUT)
                no_evil_links(f"{tab}: hover")
                page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                back = page.get_by_role("button", name="All regions" if tab.startswith("Regions") else "All categories")
                back.wait_for(timeout=TIMEOUT)
                idle(page)
                no_evil_links(f"{tab}: drilled")
                # the drilled name is on the page as text, in the breadcrumb's code span
                crumb = page.locator('[data-testid="stMarkdownContainer"] code').filter(has_text=EVIL).first
                assert EVIL in crumb.inner_text()
                back.click()
                idle(page)
        browser.close()

