"""The Fraud review page in a real browser against the real server: a fraud reviewer signs in, claims a case,
declines it, and sees the next case load by itself. The decision is then read back from the store.

Cases are enqueued through the store before the server starts (as ``python -m models score`` does), from real
payments of every merchant of the fixture warehouse, so whichever currency the page shows first has cases.
"""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest

from tests.servers import CHROMIUM, CHROMIUM_ARGS, dashboard_server
from tests.test_browser import ARTIFACTS, PASSWORD, TIMEOUT, idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PER_MERCHANT = 5


def enqueue_cases(warehouse) -> None:
    from data.store import Principal, open_store

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT p.merchant_id, p.payment_id, p.amount, m.currency FROM payments p JOIN merchants m
               USING (merchant_id) WHERE p.status <> 'declined'
               QUALIFY row_number() OVER (PARTITION BY p.merchant_id ORDER BY p.amount DESC, p.payment_id) <= ?""",
            [PER_MERCHANT]).fetchall()
    finally:
        con.close()
    store = open_store(warehouse=warehouse)
    try:
        store.reviews.enqueue_many(Principal.staff("scoring-job"), [
            {"merchant_id": m, "payment_id": p, "amount": float(a), "currency": c, "score": 0.9, "flagged_by": "score"}
            for m, p, a, c in rows])
    finally:
        store.close()


@pytest.fixture(scope="module")
def server(fixture_warehouse_path, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: ./test.sh installs Debian's chromium when run as root")
    tmp = tmp_path_factory.mktemp("review_browser")
    wh = tmp / "browser.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    enqueue_cases(wh)
    env = {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
           "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml"),
           "RETAIL_PULSE_TRAIN_IN_APP": "off"}
    with dashboard_server(env, timeout=120) as s:
        yield s, wh


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def case_heading(page):
    heading = page.get_by_role("heading", name=re.compile(r"^Case \d+: payment \d+")).first
    heading.wait_for(timeout=TIMEOUT)
    number, payment = re.match(r"Case (\d+): payment (\d+)", heading.inner_text()).groups()
    return int(number), int(payment)


def test_claim_decide_and_the_next_case_loads(server, browser):
    from data.store import Principal, open_store

    s, wh = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.goto(s.url, timeout=TIMEOUT)
    page.get_by_label("Username").fill("demo-fraud")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview").first.wait_for(timeout=TIMEOUT)
    idle(page)
    page.get_by_role("link", name="Fraud review").click()
    page.get_by_role("heading", name="Fraud review").first.wait_for(timeout=TIMEOUT)
    idle(page)
    page.get_by_role("button", name="Claim the next case").click()
    first, first_payment = case_heading(page)
    idle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-case.png"), full_page=True)

    page.get_by_role("radiogroup", name="Decision").first.get_by_text("Decline", exact=True).click()
    idle(page)
    page.get_by_label("Note (plain text)").first.fill("<b>card testing</b> seen on the device")
    page.get_by_role("button", name="Decline and open the next case").click()
    page.get_by_text(re.compile(rf"Case {first} declined\. Next: case \d+\.")).wait_for(timeout=TIMEOUT)
    idle(page)
    second, second_payment = case_heading(page)
    assert second != first and second_payment != first_payment
    page.screenshot(path=str(ARTIFACTS / "review-next-case.png"), full_page=True)
    ctx.close()

    store = open_store(warehouse=wh)
    try:
        reader = Principal.staff("test")
        decided = store.reviews.history(reader, first)
        assert [(d.outcome, d.reviewer, d.note) for d in decided] == [
            ("decline", "demo-fraud", "<b>card testing</b> seen on the device")]
        held = store.reviews.case(reader, second)
        assert held.state == "claimed" and held.holder == "demo-fraud"
    finally:
        store.close()
