"""The Overview and Sales analytics pages under AppTest, checked against independent SQL.

Pages run through tests/apps/page_harness.py: the real frame (scope, shared filters, page context,
st.navigation) with the principal put in session_state instead of signing in; one test also signs in
through dashboard/app.py. The oracle is plain SQL on a read-only connection to the fixture file the
served copy was made from. Downloads are fetched by calling the deferred callable Streamlit
registered for the button (what a click does).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard import downloads
from dashboard.auth.accounts import Principal
from dashboard.context import PageContext
from dashboard.formatting import format_money
from dashboard.navigation import PAGES_BY_KEY, ROLES, pages_for
from dashboard.plain_text import markdown_text

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120  # seconds for a run that computes new cache entries (first run, new scope, drill)
SALES_TABS = ("Seasonality", "Trends", "Regions & stores", "Categories & margin", "Payments", "Customers", "Delivery")
MERCHANT = 2  # the merchant user's own merchant (the fixture has merchants 1, 2 and 3)

PRINCIPALS = {
    "merchant": Principal("nordlicht", "Nordlicht", "merchant", frozenset({MERCHANT})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}

# ---------------------------------------------------------------------------------------------- plumbing

_served: dict[str, str | None] = {"path": None}


def serve(path: Path) -> None:
    """Point the dashboard at ``path``; cached engine and results go when the warehouse changes.

    Cache keys hold the data version, not the file, so two warehouses at version 1 would share entries.
    """
    os.environ["RETAIL_PULSE_WAREHOUSE"] = str(path)
    if _served["path"] != str(path):
        st.cache_data.clear()
        st.cache_resource.clear()
        _served["path"] = str(path)


@pytest.fixture(scope="module", autouse=True)
def restore_environment():
    before = os.environ.get("RETAIL_PULSE_WAREHOUSE")
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    _served["path"] = None
    if before is None:
        os.environ.pop("RETAIL_PULSE_WAREHOUSE", None)
    else:
        os.environ["RETAIL_PULSE_WAREHOUSE"] = before


@pytest.fixture(scope="module")
def served_copy(fixture_warehouse_path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    return path


@pytest.fixture
def fixture_app(served_copy) -> Path:
    serve(served_copy)
    return served_copy


@pytest.fixture(scope="module")
def oracle(fixture_warehouse_path):
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)

    def sql(body: str, **params) -> pl.DataFrame:
        cur = con.cursor()
        try:
            return pl.from_arrow(cur.sql(body, params=params or None).to_arrow_table())
        finally:
            cur.close()

    yield sql
    con.close()


@pytest.fixture
def deferred(monkeypatch) -> dict:
    """file id -> the callable a download button registered (Streamlit runs it when the button is clicked)."""
    seen: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        seen[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return seen


def open_page(principal: Principal, page: str, **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = principal
    at.session_state["harness_page"] = page
    for key, value in state.items():
        at.session_state[key] = value
    return at.run(timeout=COLD)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_rows_behind(at: AppTest) -> AppTest:
    """Open every "See the rows behind this" expander on the page, as a person clicking each one (the
    detail rows are counted, and their downloads offered, only once it is open)."""
    charts = [b.key[: -len("_table_csv")] for b in at.download_button if b.key.endswith("_table_csv")]
    closed = [c for c in charts if not (f"{c}_rows" in at.session_state and at.session_state[f"{c}_rows"])]
    for chart in closed:
        at.session_state[f"{chart}_rows"] = True
    return ok(at.run(timeout=COLD)) if closed else at


def download(at: AppTest, deferred: dict, key: str) -> bytes:
    if key not in [b.key for b in at.download_button]:
        open_rows_behind(at)
    button = at.download_button(key=key)
    assert not button.disabled
    return deferred[button.proto.deferred_file_id]()


def table_with(at: AppTest, column: str):
    """The one dataframe on the page that has ``column`` (None when there is none)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) <= 1, f"{len(found)} tables with {column}"
    return found[0] if found else None


def frame_csv(data: bytes) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(data), infer_schema_length=None)


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def chart_spec(at: AppTest, index: int) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def currency_of(oracle, merchant: int) -> str:
    return oracle("SELECT currency FROM merchants WHERE merchant_id = $m", m=merchant).item()


def period(oracle, merchants: list[int], days: int = 30) -> tuple[dt.date, dt.date]:
    """The default period (last 30 days to the last day with an order in scope), as the sidebar picks it."""
    last = oracle("SELECT max(order_ts)::DATE AS d FROM orders WHERE list_contains($m, merchant_id)",
                  m=merchants).item()
    return last - dt.timedelta(days=days - 1), last


REVENUE_LINES = """
SELECT l.order_id, l.line_no, l.product_id, l.line_amount, p.category, o.merchant_id,
       (o.order_type = 'return' OR o.status <> 'returned') AS in_revenue
FROM order_lines l JOIN orders o USING (order_id) JOIN products p ON p.product_id = l.product_id
WHERE p.is_merchandise AND o.order_type IN ('sale', 'return') AND o.status <> 'cancelled'
  AND list_contains($m, o.merchant_id) AND CAST(o.order_ts AS DATE) BETWEEN $start AND $end
"""


# ---------------------------------------------------------------------------------------------- every role

ALLOWED = [(role, page.key) for role in ROLES for page in pages_for(role) if page.key in ("overview", "sales")]


@pytest.mark.parametrize(("role", "page"), ALLOWED)
def test_page_renders_for_every_allowed_role(fixture_app, role, page):
    at = ok(open_page(PRINCIPALS[role], page))
    assert at.title[0].value == PAGES_BY_KEY[page].title
    assert any(c.value.startswith("Data as of ") for c in at.caption)
    if page == "overview":
        assert len(at.metric) == 11
    else:
        for tab in SALES_TABS:
            at.session_state["sa_tab"] = tab
            ok(at.run(timeout=COLD))
            assert at.get("plotly_chart"), f"no chart on tab {tab}"


def test_roles_without_sales_do_not_get_it(fixture_app):
    assert "sales" not in [p.key for p in pages_for("fraud_reviewer")]
    # The page checks the role itself too, whatever navigation offered.
    for ctx in (None, PageContext(PRINCIPALS["fraud_reviewer"], (1, 2, 3), None, 1, None)):
        at = AppTest.from_file(str(PAGES_BY_KEY["sales"].path))
        if ctx is not None:
            at.session_state["rp_page_context"] = ctx
        at.run(timeout=COLD)
        assert [e.value for e in at.error] == ["You do not have access to Sales analytics."]
        assert not at.get("plotly_chart") and not at.download_button and not at.dataframe


# ---------------------------------------------------------------------------------------------- drill-down


def test_category_drills_to_its_products_and_back(fixture_app, oracle, deferred):
    start, end = period(oracle, [MERCHANT])
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Categories & margin"))
    picker = at.selectbox(key="sa_category")
    want_categories = oracle(f"SELECT DISTINCT category FROM ({REVENUE_LINES}) WHERE category IS NOT NULL",
                             m=[MERCHANT], start=start, end=end)["category"].to_list()
    assert sorted(picker.options[1:]) == sorted(want_categories)
    category = sorted(want_categories)[0]

    ok(picker.select(category).run(timeout=COLD))
    lines = oracle(f"SELECT * FROM ({REVENUE_LINES}) WHERE category = $c", m=[MERCHANT], start=start, end=end,
                   c=category)
    products = table_with(at, "sku")
    assert sorted(products["product_id"]) == sorted(lines["product_id"].unique().to_list())
    assert set(products["sku"]) and set(products["category"]) == {category}
    assert chart_spec(at, 0)["layout"]["title"]["text"].endswith(f"in {category}")
    assert frame_csv(download(at, deferred, "sa_products_lines_csv")).height == lines.height

    ok(at.button(key="sa_category_back").click().run())
    assert at.selectbox(key="sa_category").value is None
    assert sorted(chart_spec(at, 0)["data"][0]["y"]) == sorted(want_categories)


def test_region_drills_to_its_stores_and_back(fixture_app, oracle):
    start, end = period(oracle, [MERCHANT])
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Regions & stores"))
    region = oracle("""SELECT s.region FROM orders o JOIN stores s USING (store_id) WHERE o.merchant_id = $m
                       AND s.kind = 'store' AND s.region IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""",
                    m=MERCHANT).item()
    assert region in at.selectbox(key="sa_region").options
    ok(at.selectbox(key="sa_region").select(region).run(timeout=COLD))
    want = oracle("""
        SELECT DISTINCT o.store_id FROM orders o LEFT JOIN stores s USING (store_id)
        WHERE o.merchant_id = $m AND o.order_type = 'sale' AND o.status <> 'cancelled'
          AND CAST(o.order_ts AS DATE) BETWEEN $start AND $end AND COALESCE(o.shipping_region, s.region) = $r""",
                  m=MERCHANT, start=start, end=end, r=region)
    stores = table_with(at, "store_name")
    assert sorted(stores["store_id"]) == sorted(want["store_id"].to_list())
    assert any(markdown_text(region) in m.value for m in at.markdown)  # breadcrumb (data shown verbatim)
    ok(at.button(key="sa_region_back").click().run())
    assert at.selectbox(key="sa_region").value is None
    assert region in chart_spec(at, 0)["data"][0]["y"]


def test_day_drills_to_its_orders_and_back(fixture_app, oracle, deferred):
    start, end = period(oracle, [MERCHANT])
    at = ok(open_page(PRINCIPALS["merchant"], "overview"))
    picker = at.selectbox(key="ov_day")
    assert len(picker.options) == 31  # whole period + 30 days
    ok(picker.select(end).run(timeout=COLD))
    want = oracle("SELECT order_id FROM orders WHERE merchant_id = $m AND CAST(order_ts AS DATE) = $d",
                  m=MERCHANT, d=end)
    orders = table_with(at, "order_type")
    assert want.height > 0 and sorted(orders["order_id"]) == sorted(want["order_id"].to_list())
    lines = oracle(REVENUE_LINES, m=[MERCHANT], start=end, end=end)
    assert frame_csv(download(at, deferred, "ov_day_orders_lines_csv")).height == lines.height
    ok(at.button(key="ov_day_back").click().run())
    assert at.selectbox(key="ov_day").value is None and table_with(at, "order_type") is None


# ---------------------------------------------------------------------------------------------- downloads


def test_downloads_hold_every_row(fixture_app, oracle, deferred):
    # Staff see several currencies; pick merchant 3's and a long period.
    currency = currency_of(oracle, 3)
    assert oracle("SELECT count(*) AS n FROM merchants WHERE currency = $c", c=currency).item() == 1
    at = ok(open_page(PRINCIPALS["analyst"], "overview"))
    ok(at.selectbox(key="currency_pick").select(currency).run(timeout=COLD))
    ok(at.selectbox(key="flt_period").select("last_90").run(timeout=COLD))
    start, end = period(oracle, [1, 2, 3], days=90)
    want = oracle(REVENUE_LINES, m=[3], start=start, end=end)
    assert want.height > 2000  # more than any display cap would show
    csv = frame_csv(download(at, deferred, "ov_trend_lines_csv"))
    xlsx = pl.read_excel(io.BytesIO(download(at, deferred, "ov_trend_lines_xlsx")))
    for got in (csv, xlsx):
        assert got.height == want.height
        assert set(got["merchant_id"].to_list()) == {3}
        assert sorted(zip(got["order_id"], got["line_no"])) == sorted(zip(want["order_id"], want["line_no"]))
    daily = frame_csv(download(at, deferred, "ov_trend_table_csv"))
    assert daily.height == 90
    assert daily["revenue"].sum() == pytest.approx(float(want.filter(pl.col("in_revenue"))["line_amount"].sum()))


def test_detail_rows_are_counted_only_once_their_expander_is_opened(fixture_app, oracle, deferred):
    at = ok(open_page(PRINCIPALS["merchant"], "overview"))
    assert "ov_trend_lines_csv" not in [b.key for b in at.download_button]
    assert not any("behind these figures" in c.value for c in at.caption)
    assert "ov_trend_table_csv" in [b.key for b in at.download_button]  # the chart's own table is there
    open_rows_behind(at)
    start, end = period(oracle, [MERCHANT])
    rows = oracle(REVENUE_LINES, m=[MERCHANT], start=start, end=end).height
    assert any(c.value.startswith(f"{rows:,} order lines behind these figures") for c in at.caption)
    assert at.download_button(key="ov_trend_lines_csv").label == f"CSV: all {rows:,} order lines"


def test_excel_limit_offers_csv_only(fixture_app, oracle, deferred, monkeypatch):
    monkeypatch.setattr(downloads, "EXCEL_MAX_ROWS", 50)
    at = open_rows_behind(ok(open_page(PRINCIPALS["merchant"], "overview")))
    start, end = period(oracle, [MERCHANT])
    rows = oracle(REVENUE_LINES, m=[MERCHANT], start=start, end=end).height
    assert rows > 50
    assert at.download_button(key="ov_trend_lines_xlsx").disabled
    assert any("offered as CSV only" in c.value and f"{rows:,}" in c.value for c in at.caption)
    assert frame_csv(download(at, deferred, "ov_trend_lines_csv")).height == rows
    assert not at.download_button(key="ov_trend_table_xlsx").disabled  # 30 rows still fit


# ---------------------------------------------------------------------------------------------- merchant scope


def test_merchant_sees_only_its_own_rows(fixture_app, oracle, deferred):
    start, end = period(oracle, [MERCHANT])
    at = open_page(PRINCIPALS["merchant"], "overview")
    at.query_params["merchant_id"] = "1"  # ignored: the scope comes from the principal only
    ok(at.run())
    assert "flt_merchants" not in [w.key for w in at.multiselect]  # no merchant choice for a merchant
    assert "currency_pick" not in [w.key for w in at.selectbox]
    metrics = {m.label: m.value for m in at.metric}
    placed = oracle("""SELECT count(*) AS n FROM orders WHERE merchant_id = $m AND order_type = 'sale'
                       AND status <> 'cancelled' AND CAST(order_ts AS DATE) BETWEEN $start AND $end""",
                    m=MERCHANT, start=start, end=end).item()
    lines = oracle(REVENUE_LINES, m=[MERCHANT], start=start, end=end)
    revenue = float(lines.filter(pl.col("in_revenue"))["line_amount"].sum())
    assert metrics["Orders"] == f"{placed:,}"
    assert metrics["Revenue"] == format_money(revenue, currency_of(oracle, MERCHANT))
    for key in ("ov_trend_lines_csv", "ov_trend_lines_xlsx"):
        data = download(at, deferred, key)
        got = frame_csv(data) if key.endswith("csv") else pl.read_excel(io.BytesIO(data))
        assert got.height == lines.height and set(got["merchant_id"].to_list()) == {MERCHANT}

    # Sales, every tab: every detail download is the merchant's alone.
    sales = open_page(PRINCIPALS["merchant"], "sales")
    for tab in SALES_TABS:
        sales.session_state["sa_tab"] = tab
        ok(sales.run(timeout=COLD))
        open_rows_behind(sales)
        for button in sales.download_button:
            if button.key.endswith(("_lines_csv", "_orders_csv", "_deliveries_csv")):
                got = frame_csv(download(sales, deferred, button.key))
                assert got.height > 0 and set(got["merchant_id"].to_list()) == {MERCHANT}, (tab, button.key)


def test_forged_drill_state_cannot_reach_another_merchant(fixture_app, oracle):
    other = oracle("SELECT min(category) AS c FROM products WHERE merchant_id = 1 AND category NOT IN "
                   "(SELECT category FROM products WHERE merchant_id = $m)", m=MERCHANT).item()
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Categories & margin", sa_category=other,
                      currency_pick=currency_of(oracle, 1)))
    assert at.selectbox(key="sa_category").value is None  # not one of this merchant's categories: reset
    ours = oracle("SELECT DISTINCT category FROM products WHERE merchant_id = $m", m=MERCHANT)["category"]
    spec = chart_spec(at, 0)
    assert set(spec["data"][0]["y"]) <= set(ours.to_list())
    assert currency_of(oracle, MERCHANT) in spec["layout"]["xaxis"]["title"]["text"]  # forged choice ignored


# ---------------------------------------------------------------------------------------------- freshness


def computed_at(at: AppTest) -> str:
    line = next(c.value for c in at.caption if c.value.startswith("Data as of "))
    return line.split("figures computed ")[1].split(" · ")[0]


def test_freshness_line_and_staff_refresh(fixture_app, oracle):
    staff = ok(open_page(PRINCIPALS["admin"], "overview"))
    _, last = period(oracle, [1, 2, 3])
    assert any(c.value.startswith(f"Data as of {last:%d %b %Y}") for c in staff.caption)
    first = computed_at(staff)
    time.sleep(1.1)
    assert computed_at(ok(staff.run())) == first  # cached: same results, same time
    ok(staff.button(key="refresh_data").click().run(timeout=COLD))
    assert computed_at(staff) > first  # recomputed after the refresh
    merchant = ok(open_page(PRINCIPALS["merchant"], "overview"))
    assert "refresh_data" not in [b.key for b in merchant.button]


# ---------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def shopping_warehouse(datasets_dir, tmp_path_factory) -> Path:
    from data.importers import import_file
    from data.warehouse import open_for_loading

    path = tmp_path_factory.mktemp("shopping") / "w.duckdb"
    open_for_loading(path).close()
    result = import_file(path, datasets_dir / "customer_shopping_data.csv.gz", preset="customer_shopping",
                         create_merchant=("Istanbul Shopping Malls", "TR", "TRY"))
    assert result.status == "loaded", result.message
    return path


@pytest.mark.slow
def test_customer_shopping_pages_say_what_cannot_be_computed(shopping_warehouse):
    serve(shopping_warehouse)
    merchant = Principal("malls", "Malls", "merchant", frozenset({1}))
    at = ok(open_page(merchant, "overview"))
    assert any("no session events in this data" in i.lower() for i in infos(at))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conversion rate"] == "n/a" and metrics["Revenue"].startswith("TRY ")
    sales = open_page(merchant, "sales")
    seen = []
    for tab in SALES_TABS:
        sales.session_state["sa_tab"] = tab
        seen += infos(ok(sales.run(timeout=COLD)))
    assert any("every customer bought once" in i.lower() for i in seen)
    assert any("no product identifiers below category" in i.lower() for i in seen)
    assert any("no shipment records" in i.lower() for i in seen)
    assert any("no times of day" in i for i in seen)  # dates only: a weekday view, not an hour-0 heatmap
    # the customers tab shows the notice instead of a degenerate cohort matrix
    sales.session_state["sa_tab"] = "Customers"
    assert not ok(sales.run()).get("plotly_chart")


@pytest.fixture(scope="module")
def online_retail_warehouse(datasets_dir, tmp_path_factory) -> Path:
    from data.importers import import_file
    from data.warehouse import open_for_loading

    path = tmp_path_factory.mktemp("oretail") / "w.duckdb"
    open_for_loading(path).close()
    result = import_file(path, datasets_dir / "online_retail_II_2009_2010.csv.gz", preset="online_retail_ii",
                         create_merchant=("Online Retail II", "GB", "GBP"))
    assert result.status == "loaded", result.message
    return path


@pytest.mark.slow
def test_online_retail_pages_show_figures(online_retail_warehouse):
    serve(online_retail_warehouse)
    staff = Principal("ana", "Ana", "analyst", None)
    at = ok(open_page(staff, "overview"))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Revenue"].startswith("GBP ") and metrics["Orders"] != "0"
    assert metrics["Returning customers"] not in ("n/a", "0.0%")
    sales = open_page(staff, "sales")
    for tab in SALES_TABS:
        sales.session_state["sa_tab"] = tab
        ok(sales.run(timeout=COLD))
    sales.session_state["sa_tab"] = "Categories & margin"
    ok(sales.run())
    assert any("no product categories" in i.lower() for i in infos(sales))
    assert len(chart_spec(sales, 0)["data"][0]["y"]) == 25  # goes straight to the top products
    sales.session_state["sa_tab"] = "Customers"
    assert len(ok(sales.run()).get("plotly_chart")) == 2  # cohorts and repeat share have real figures


# ---------------------------------------------------------------------------------------------- real entrypoint


def test_signed_in_merchant_through_the_entrypoint(fixture_app, oracle, deferred, tmp_path, monkeypatch):
    """dashboard/app.py end to end: the demo merchant (bound to merchant 1) signs in and downloads."""
    from dashboard.auth import login as auth
    from dashboard.auth.accounts import DEMO_PASSWORD

    monkeypatch.setenv("RETAIL_PULSE_DEMO", "1")
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(tmp_path / "credentials.yaml"))
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"))
    at.run(timeout=COLD)
    at.text_input(key=auth.USERNAME_KEY).input("demo-merchant")
    at.text_input(key=auth.PASSWORD_KEY).input(DEMO_PASSWORD)
    ok(at.button(key=auth.SUBMIT_KEY).click().run(timeout=COLD))
    assert at.title[0].value == "Overview"
    start, end = period(oracle, [1])
    lines = oracle(REVENUE_LINES, m=[1], start=start, end=end)
    got = frame_csv(download(at, deferred, "ov_trend_lines_csv"))
    assert got.height == lines.height and set(got["merchant_id"].to_list()) == {1}
    at.switch_page("views/sales.py")
    at.session_state["sa_tab"] = "Categories & margin"
    ok(at.run(timeout=COLD))
    assert at.title[0].value == "Sales analytics"
    got = frame_csv(download(at, deferred, "sa_categories_lines_csv"))
    assert got.height == lines.height and set(got["merchant_id"].to_list()) == {1}


# ---------------------------------------------------------------------------------------------- readable charts


def test_monthly_chart_of_a_30_day_period_names_its_days(fixture_app, oracle):
    start, end = period(oracle, [MERCHANT])
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Trends"))
    xaxis = chart_spec(at, 0)["layout"]["xaxis"]
    ticks = xaxis["ticktext"]  # one label per bar, no sub-second date ticks
    assert ticks and not any(":" in t for t in ticks), ticks
    if start.month != end.month or start.day != 1:
        assert f"{start:%-d %b}" in ticks[0]  # the first month is cut by the period: its days are named
    assert chart_spec(at, 0)["layout"]["yaxis2"]["tickmode"] == "auto"  # orders get their own round ticks
    bars = [t for t in chart_spec(at, 0)["data"] if t["type"] == "bar"]
    assert all(t["width"] > 86_400_000 for t in bars)  # a lone bar is days wide, not 1 ms


def test_category_colours_are_fixed_per_name_across_merchants_and_pages(fixture_app, oracle):
    from dashboard.charts import PALETTE, color_for
    from dashboard.formatting import value_words

    shared = oracle("SELECT category FROM products GROUP BY 1 HAVING count(DISTINCT merchant_id) > 1 LIMIT 1").item()
    seen = {}
    for merchant in oracle("SELECT DISTINCT merchant_id FROM products WHERE category = $c", c=shared)["merchant_id"]:
        who = Principal(f"m{merchant}", "M", "merchant", frozenset({merchant}))
        at = ok(open_page(who, "sales", sa_tab="Categories & margin"))
        bars = chart_spec(at, 0)["data"][0]
        colours = dict(zip(bars["y"], bars["marker"]["color"]))
        assert all(colours[name] == color_for(name) for name in colours)
        seen[merchant] = colours[shared]
        at.session_state["sa_tab"] = "Payments"
        mix = chart_spec(ok(at.run(timeout=COLD)), 0)["data"]
        methods = {value_words(m): m for m in oracle("SELECT DISTINCT payment_method FROM orders")["payment_method"]}
        assert all(t["marker"]["color"] == color_for(methods[t["name"]], "payment_method") for t in mix)
    assert len(set(seen.values())) == 1 and seen.popitem()[1] in PALETTE


def test_delivery_heatmap_shows_values_on_a_colour_blind_safe_scale(fixture_app):
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Delivery"))
    heat = chart_spec(at, 0)["data"][0]
    assert heat["texttemplate"] == "%{text}" and any(t.endswith("%") for row in heat["text"] for t in row)
    names = {name for _, name in heat["colorscale"]} if isinstance(heat["colorscale"][0], list) else set()
    assert heat["colorscale"] != "RdYlGn" and "#a50026" not in names  # red-to-green reads the same to many


def test_cohort_heatmap_prints_no_null(fixture_app):
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Customers"))
    ok(at.selectbox(key="flt_period").set_value("year_to_date").run(timeout=COLD))
    heat = next(t for t in chart_spec(at, 0)["data"] if t["type"] == "heatmap")
    assert None in [v for row in heat["z"] for v in row]  # there are cells not reached yet...
    assert None not in [v for row in heat["text"] for v in row]  # ...and they print nothing


def test_large_kpi_figures_are_compact_with_the_exact_value_in_the_help(fixture_app, oracle):
    at = ok(open_page(PRINCIPALS["merchant"], "overview"))
    ok(at.selectbox(key="flt_period").set_value("year_to_date").run(timeout=COLD))
    revenue = next(m for m in at.metric if m.label == "Revenue")
    currency = currency_of(oracle, MERCHANT)
    assert re.fullmatch(rf"{currency} \d+(\.\d+)?[KM]", revenue.value), revenue.value
    assert re.search(rf"Exactly {currency} \d{{1,3}}(,\d{{3}})+", revenue.proto.help)


def test_charts_follow_the_browsers_theme(fixture_app):
    for theme, font in (("dark", "#f2f5fa"), ("light", "#2a3f5f")):
        at = AppTest.from_file(HARNESS)
        at.session_state["harness_principal"] = PRINCIPALS["merchant"]
        at.session_state["harness_page"] = "overview"
        at.context["theme"] = theme
        ok(at.run(timeout=COLD))
        for chart in at.get("plotly_chart"):
            spec = json.loads(chart.proto.spec)
            assert spec["layout"]["template"]["layout"]["font"]["color"] == font, theme
            assert chart.proto.theme == "streamlit"  # restyles at once on a theme switch (no rerun comes)


# ---------------------------------------------------------------------------------------------- drill-down places


def test_drilled_detail_sits_beside_its_chart_and_the_breadcrumb_says_its_root_once(fixture_app):
    at = ok(open_page(PRINCIPALS["merchant"], "sales", sa_tab="Categories & margin"))
    ok(at.selectbox(key="sa_category").select_index(1).run(timeout=COLD))
    beside = [c for c in at.columns if c.get("plotly_chart")]
    assert len(beside) == 2, "the products and the categories are side by side"
    titles = [json.loads(c.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"] for c in beside]
    assert titles[0].startswith("Top 25 products") and titles[1] == "Revenue by category"
    texts = [b.label for b in at.button] + [m.value for m in at.markdown]
    assert sum("All categories" in t for t in texts) == 1, texts

    day = ok(open_page(PRINCIPALS["merchant"], "overview"))
    ok(day.selectbox(key="ov_day").select_index(1).run(timeout=COLD))
    orders = [c for c in day.columns if c.dataframe]
    charts = [c for c in day.columns if c.get("plotly_chart")]
    assert orders and charts, "the day's orders sit beside the trend"
    texts = [b.label for b in day.button] + [m.value for m in day.markdown] + [s.value for s in day.subheader]
    assert sum("Whole period" in t for t in texts) == 1 and sum(drill_day_text(day) in t for t in texts) == 1


def drill_day_text(at: AppTest) -> str:
    from dashboard.drill import format_day

    return format_day(at.selectbox(key="ov_day").value)


def test_pickers_say_what_they_do(fixture_app):
    for page in ("overview", "sales"):
        at = ok(open_page(PRINCIPALS["analyst"], page))
        for widget in [*at.multiselect, *at.selectbox]:
            placeholder = widget.proto.placeholder
            assert placeholder not in ("Choose an option", "Choose options"), (page, widget.label)
            if widget.type == "multiselect":
                assert placeholder.startswith("All "), (page, widget.label, placeholder)
