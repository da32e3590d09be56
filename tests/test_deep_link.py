"""A link to a page opened while signed out leads to that page, with its filters, once the person signs in; a
page their role may not open leads to the Overview, and the link's filters never widen their scope.

Pure: which page a URL names. AppTest through dashboard/app.py: the page remembered before sign-in is opened after
it (AppTest has no browser URL, so the test puts the remembered page where the sign-in form leaves it). Browser:
the real server in Chromium, from the URL typed to the page shown.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state
from dashboard.auth import login as auth
from dashboard.auth.accounts import DEMO_PASSWORD
from tests.test_pages_apptest import COLD, fixture_app, ok, restore_environment, served_copy  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def test_page_from_url():
    assert state.page_from_url("http://127.0.0.1:8501/sales") == "sales"
    assert state.page_from_url("https://pulse.example/sales/") == "sales"
    assert state.page_from_url("https://pulse.example/rp/ranking", "/rp/") == "ranking"
    assert state.page_from_url("https://pulse.example/rp", "rp") is None  # the root: the default page
    for url in ("http://h/", "http://h", "http://h/nope", "http://h/sales/x", "http://h/rp/sales", "", None):
        assert state.page_from_url(url) is None, url
    assert state.page_from_url("http://h/%73ales") == "sales"  # as the browser may encode it


# ---------------------------------------------------------------------------------------------- AppTest


@pytest.fixture
def demo_users(tmp_path, monkeypatch):
    monkeypatch.setenv("RETAIL_PULSE_DEMO", "1")
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(tmp_path / "credentials.yaml"))


def sign_in_after_link(user: str, page: str | None, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"))
    for name, value in query.items():
        at.query_params[name] = value
    at.run(timeout=COLD)
    assert at.text_input(key=auth.USERNAME_KEY) is not None  # signed out: the form
    assert state.LINKED_PAGE in at.session_state  # the form has looked at the URL
    at.session_state[state.LINKED_PAGE] = page  # what it would have read from a browser's /<page>
    at.text_input(key=auth.USERNAME_KEY).input(user)
    at.text_input(key=auth.PASSWORD_KEY).input(DEMO_PASSWORD)
    return ok(at.button(key=auth.SUBMIT_KEY).click().run(timeout=COLD))


def test_the_linked_page_opens_after_sign_in_with_its_filters(fixture_app, demo_users):
    at = sign_in_after_link("demo-analyst", "sales", {"period": "last_7"})
    assert at.title[0].value == "Sales analytics"
    assert at.selectbox(key="flt_period").value == "last_7"
    assert at.query_params["period"] == "last_7"
    ok(at.run(timeout=COLD))  # the next run stays there: the link is followed once
    assert at.title[0].value == "Sales analytics" and state.LINKED_PAGE not in at.session_state


@pytest.mark.parametrize("page", ["ranking", "data", None])
def test_a_page_the_role_may_not_open_or_no_page_leads_to_the_overview(fixture_app, demo_users, page):
    at = sign_in_after_link("demo-merchant", page, {"period": "last_90"})
    assert at.title[0].value == "Overview"
    assert at.selectbox(key="flt_period").value == "last_90"


# ---------------------------------------------------------------------------------------------- browser

TIMEOUT = 60_000


@pytest.fixture(scope="module")
def browser_server(fixture_warehouse_path, tmp_path_factory):
    from tests.servers import CHROMIUM, CHROMIUM_ARGS, dashboard_server

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: ./test.sh installs Debian's chromium when run as root")
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("deeplink")
    wh = tmp / "served.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
           "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml")}
    with dashboard_server(env, timeout=120) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield server, browser
        browser.close()


def open_link_and_sign_in(browser, url: str, user: str):
    page = browser.new_context().new_page()  # a new browser: signed out, no cookie
    page.goto(url, timeout=TIMEOUT)
    page.get_by_text("Sign in to Retail Pulse").wait_for(timeout=TIMEOUT)
    page.get_by_label("Username").fill(user)
    page.get_by_role("textbox", name="Password").fill("retail-pulse-demo")
    page.get_by_role("button", name="Sign in").click()
    page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as").wait_for(timeout=TIMEOUT)
    return page


@pytest.mark.browser
@pytest.mark.slow
def test_a_link_opened_signed_out_leads_to_its_page_in_a_real_browser(browser_server):
    server, browser = browser_server
    page = open_link_and_sign_in(browser, server.url + "/sales?period=last_7&channel=web", "demo-analyst")
    page.get_by_role("heading", name="Sales analytics").first.wait_for(timeout=TIMEOUT)
    page.wait_for_function("() => location.pathname.endsWith('/sales') && location.search.includes('period=last_7')",
                           timeout=TIMEOUT)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Web", exact=True).wait_for(timeout=TIMEOUT)  # the link's channel is chosen (in words)
    shown = sidebar.locator("input").evaluate_all("inputs => inputs.map(i => i.value)")
    assert "Last 7 days" in shown  # and its period
    page.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_link_to_a_page_a_merchant_may_not_open_leads_to_the_overview(browser_server):
    server, browser = browser_server
    page = open_link_and_sign_in(browser, server.url + "/ranking?period=last_7&merchant=2&merchant=3", "demo-merchant")
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(1000)
    assert "/ranking" not in page.url and "merchant=" not in page.url  # no other merchant, no staff page
    assert page.get_by_role("heading", name="Merchant ranking").count() == 0
    page.context.close()
