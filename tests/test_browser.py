"""A real browser against the real server: headless Chromium (Debian's package) driven by Playwright.

Signs in, opens the Overview, clicks a category bar on Sales analytics to drill into its products,
downloads the rows behind the chart, and saves screenshots to test-artifacts/. Also asks for the
admin page by URL on a freshly started server, signed out and as a merchant.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.servers import CHROMIUM, CHROMIUM_ARGS, dashboard_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "retail-pulse-demo"
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def server(fixture_warehouse_path, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: ./test.sh installs Debian's chromium when run as root")
    tmp = tmp_path_factory.mktemp("browser")
    wh = tmp / "browser.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
           "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml")}
    with dashboard_server(env, timeout=120) as s:
        yield s, wh


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


IDLE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
  && !document.querySelector('[data-testid="stSkeleton"]')
  && !document.querySelector('.stale-element, [data-stale="true"]')"""


def idle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function(IDLE, timeout=TIMEOUT)


def sign_in(page, url: str, user: str) -> None:
    page.goto(url, timeout=TIMEOUT)
    page.get_by_label("Username").fill(user)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=TIMEOUT)
    idle(page)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_admin_page_by_url_is_refused_on_a_fresh_server(server, browser):
    s, _ = server
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(s.url + "/data", timeout=TIMEOUT)  # the first request this server ever gets
    page.get_by_text("Sign in to Retail Pulse").wait_for(timeout=TIMEOUT)
    idle(page)
    assert page.get_by_text("Add a user").count() == 0
    sign_in(page, s.url, "demo-merchant")
    page.goto(s.url + "/data", timeout=TIMEOUT)  # signed back in from the cookie, as a merchant
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=TIMEOUT)
    idle(page)
    assert page.get_by_text("Add a user").count() == 0
    assert page.get_by_text("Import a file").count() == 0
    shot(page, "merchant-asks-for-data-page")
    ctx.close()


def test_sign_in_overview_drill_into_category_and_download(server, browser, tmp_path, fixture_warehouse_path):
    s, wh = server
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    page = ctx.new_page()
    sign_in(page, s.url, "demo-analyst")
    page.locator('[data-testid="stMetric"]').nth(7).wait_for(timeout=TIMEOUT)
    assert page.locator('[data-testid="stMetric"]').count() >= 8  # the KPI cards
    page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT)  # the trend chart
    idle(page)
    shot(page, "overview")

    page.get_by_role("link", name="Sales analytics").click()
    page.get_by_role("heading", name="Sales analytics").first.wait_for(timeout=TIMEOUT)
    idle(page)
    page.get_by_role("tab", name="Categories & margin").click()
    idle(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=TIMEOUT)
    box = chart.locator("g.point path").first.bounding_box()
    # A real mouse click on the middle of the first category bar (plotly's drag layer takes the event).
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    title = page.get_by_text("Top 25 products (SKUs) in").first  # the products chart's title (SVG text)
    title.wait_for(timeout=TIMEOUT)
    idle(page)
    category = title.text_content().split(" in ", 1)[1].strip()
    assert page.get_by_role("button", name="All categories").count() == 1  # the breadcrumb back
    shot(page, "category-drill")

    page.get_by_text("See the rows behind this").first.click()
    # The table inside the expander draws after it opens and pushes the buttons down: wait for it, so
    # the click lands on the button and not where the button was a moment before (seen under load).
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="See the rows behind this").first
    expander.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=TIMEOUT)
    idle(page)
    button = expander.get_by_role("button", name="CSV: all").first
    button.wait_for(timeout=TIMEOUT)
    button.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    with page.expect_download(timeout=TIMEOUT) as dl:
        button.click()
    target = tmp_path / "rows.csv"
    dl.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows, "the download is empty"
    assert {r["category"] for r in rows} == {category}
    # Every line of that category in the shown period (last 30 days) is in the file, not capped:
    # counted independently on the fixture (same content as the served copy, which the server locks).
    # Staff see every merchant, but amounts in different currencies are never mixed: the page shows
    # the currency most merchants keep their books in (ties by code), so the count is for those.
    label = button.inner_text()
    assert f"{len(rows):,}" in label
    con = duckdb.connect(str(fixture_warehouse_path), read_only=True)
    with con:
        expected = con.execute(
            """
            WITH latest AS (SELECT max(order_ts)::DATE AS d FROM orders),
            shown AS (SELECT currency FROM merchants GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 1)
            SELECT count(*) FROM order_lines l JOIN orders o USING (order_id) JOIN products p
              ON p.product_id = l.product_id JOIN merchants m ON m.merchant_id = o.merchant_id
            WHERE p.category = ? AND m.currency = (SELECT currency FROM shown) AND p.is_merchandise AND o.order_type IN ('sale', 'return')
              AND o.status <> 'cancelled'
              AND o.order_ts >= (SELECT d FROM latest) - INTERVAL 29 DAY
              AND o.order_ts < (SELECT d FROM latest) + INTERVAL 1 DAY
            """, [category]).fetchone()[0]
    assert len(rows) == expected
    shot(page, "download-done")
    ctx.close()


# ---------------------------------------------------------------------------------------------- every page, three ways

MODES = {  # name: (viewport, the browser's colour preference)
    "light": ({"width": 1440, "height": 1000}, "light"),
    "dark": ({"width": 1440, "height": 1000}, "dark"),
    "phone": ({"width": 390, "height": 844}, "light"),
}
SALES_TABS = ("Seasonality", "Trends", "Regions & stores", "Categories & margin", "Payments", "Customers", "Delivery")


def shot_whole(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so the viewport grows to its height first."""
    size = page.viewport_size
    height = page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                                      return m ? m.scrollHeight : document.body.scrollHeight; }""")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 12000))})
    page.wait_for_timeout(700)  # plotly redraws at the new size
    shot(page, name)
    page.set_viewport_size(size)
    page.wait_for_timeout(300)


def luminance(css_rgb: str) -> float:
    r, g, b = [int(float(v)) for v in css_rgb[css_rgb.index("(") + 1: css_rgb.index(")")].split(",")[:3]]
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def boxes_overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def check_kpis(page, mode: str) -> None:
    values = page.locator('[data-testid="stMetricValue"]')
    values.nth(7).wait_for(timeout=TIMEOUT)
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
        .filter(e => { const t = e.querySelector('div') || e; return t.scrollWidth > t.clientWidth + 1; })
        .map(e => e.innerText)""")
    assert not cut, f"{mode}: KPI figures cut off: {cut}"
    if mode == "phone":  # two cards per row
        first, second = (page.locator('[data-testid="stMetric"]').nth(i).bounding_box() for i in (0, 1))
        assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"] + first["width"] - 1, (first, second)


def check_theme(page, mode: str) -> None:
    background = page.evaluate("() => getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    title = page.locator(".js-plotly-plot .gtitle").first
    title.wait_for(timeout=TIMEOUT)
    fill = title.evaluate("e => getComputedStyle(e).fill")
    if mode == "dark":
        assert luminance(background) < 0.3 and luminance(fill) > 0.7, (background, fill)  # light text on dark
    else:
        assert luminance(background) > 0.7 and luminance(fill) < 0.5, (background, fill)


def check_toolbar_clear_of_title(page, mode: str) -> None:
    chart = page.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    chart.hover()
    page.wait_for_timeout(400)
    title = chart.locator(".gtitle").first.bounding_box()
    for bar in chart.locator(".modebar-group").all():
        box = bar.bounding_box()
        if box and box["width"] > 0:
            assert not boxes_overlap(box, title), f"{mode}: the chart toolbar covers the title"


@pytest.mark.parametrize("mode", list(MODES))
def test_every_page_in_light_dark_and_on_a_phone(server, browser, mode):
    s, _ = server
    viewport, scheme = MODES[mode]
    ctx = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = ctx.new_page()
    sign_in(page, s.url, "demo-admin")
    check_kpis(page, mode)
    check_theme(page, mode)
    check_toolbar_clear_of_title(page, mode)
    shot_whole(page, f"{mode}-overview")
    page.goto(s.url + "/sales", timeout=TIMEOUT)
    page.get_by_role("heading", name="Sales analytics").first.wait_for(timeout=TIMEOUT)
    for tab in SALES_TABS:
        page.get_by_role("tab", name=tab).click()
        idle(page)
        page.locator(".js-plotly-plot").first.wait_for(timeout=TIMEOUT)
        idle(page)
        if tab == "Trends":
            ticks = page.locator(".js-plotly-plot").first.locator(".xtick text").all_text_contents()
            assert ticks and not any(":" in t for t in ticks), ticks
        shot_whole(page, f"{mode}-sales-{tab.split()[0].lower()}")
    page.goto(s.url + "/data", timeout=TIMEOUT)
    page.get_by_role("heading", name="Data").first.wait_for(timeout=TIMEOUT)
    idle(page)
    shot_whole(page, f"{mode}-data")
    page.get_by_role("tab", name="Users").click()
    idle(page)
    page.get_by_text("Change or remove a user").wait_for(timeout=TIMEOUT)
    shot_whole(page, f"{mode}-data-users")
    page.get_by_role("tab", name="Warehouse").click()
    idle(page)
    shot_whole(page, f"{mode}-data-warehouse")
    ctx.close()


def test_a_shared_link_restores_the_filters(server, browser):
    s, _ = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    sign_in(page, s.url + "/?period=last_90&currency=GBP", "demo-analyst")  # a colleague's link, signing in
    assert page.get_by_role("combobox", name="Period").input_value() == "Last 90 days"
    assert page.get_by_role("combobox", name="Currency").input_value().startswith("GBP:")
    page.goto(s.url + "/sales?period=last_90&currency=GBP", timeout=TIMEOUT)  # signed in: straight to it
    page.get_by_role("heading", name="Sales analytics").first.wait_for(timeout=TIMEOUT)
    idle(page)
    assert page.get_by_role("combobox", name="Period").input_value() == "Last 90 days"
    assert page.get_by_role("combobox", name="Currency").input_value().startswith("GBP:")
    assert "period=last_90" in page.url and "currency=GBP" in page.url  # still shareable from here
    page.locator('[data-testid="stSidebar"]').get_by_text("Saved views").click()
    page.get_by_label("Name for the current filters").fill("Last quarter, GBP")
    page.get_by_role("button", name="Save as a view").click()
    # the picker shows the view just saved (what lasts; the "Saved." line shows for one page run only, and a
    # busy machine's next run may come before the check)
    from playwright.sync_api import expect

    expect(page.get_by_role("combobox", name="Open a saved view")).to_have_value("Last quarter, GBP",
                                                                               timeout=TIMEOUT)
    idle(page)
    shot(page, "saved-view")
    page.reload(timeout=TIMEOUT)  # a reload keeps them
    page.get_by_role("heading", name="Sales analytics").first.wait_for(timeout=TIMEOUT)
    idle(page)
    assert page.get_by_role("combobox", name="Period").input_value() == "Last 90 days"
    ctx.close()


def test_charts_follow_a_theme_switch_in_the_menu(server, browser):
    from dashboard.charts import PALETTE

    s, _ = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, color_scheme="light")
    page = ctx.new_page()
    sign_in(page, s.url, "demo-analyst")
    check_theme(page, "light")
    page.locator('[data-testid="stMainMenu"]').click()
    page.locator('[data-testid="stMainMenuPopover"]').get_by_text("Dark").click()  # the toggle
    page.wait_for_timeout(1500)
    page.keyboard.press("Escape")
    check_theme(page, "dark")  # page and charts, without waiting for a rerun
    line = page.locator(".js-plotly-plot .scatterlayer .trace path.js-line").first
    assert line.evaluate("e => getComputedStyle(e).stroke") == "rgb(0, 114, 178)" == _rgb(PALETTE[0])  # kept
    shot(page, "dark-toggle-overview")
    ctx.close()


def _rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))
