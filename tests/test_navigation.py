"""The real entrypoint under AppTest: every page for every role, and refused pages never run.

The role x page matrix (README) comes from dashboard.navigation.PAGES; here each demo user
signs in through the real login form and asks for every page, allowed or not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import login
from dashboard.auth.accounts import DEMO_PASSWORD, DEMO_USERS
from dashboard.navigation import PAGES, pages_for

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dashboard" / "app.py")
# Text only each page's own content shows (the frame never does).
MARKERS = {"overview": "Trend", "sales": "Seasonality", "ranking": "Totals per currency", "data": "Add a user",
           "forecast": "Demand forecast", "stockout": "Stock-out risk",
           "review": "Fraud review", "fraud_rules": "Fraud thresholds",
           "customers": "Customers", "baskets": "Baskets", "campaigns": "Campaign simulator", "alerts": "Alerts"}


@pytest.fixture(scope="module")
def app_env(fixture_warehouse_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nav")
    wh = tmp / "nav.duckdb"
    shutil.copy(fixture_warehouse_path, wh)
    return {"RETAIL_PULSE_WAREHOUSE": str(wh), "RETAIL_PULSE_DEMO": "1",
            "RETAIL_PULSE_CREDENTIALS": str(tmp / "credentials.yaml")}


@pytest.fixture
def env(app_env, monkeypatch):
    for k, v in app_env.items():
        monkeypatch.setenv(k, v)
    return app_env


def signed_in(username: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.text_input(key=login.USERNAME_KEY).input(username)
    at.text_input(key=login.PASSWORD_KEY).input(DEMO_PASSWORD)
    at.button(key=login.SUBMIT_KEY).click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.title, *at.header, *at.subheader, *at.markdown, *at.caption, *at.text,
                               *at.info, *at.warning, *at.success)]
    parts += [t.label for t in at.tabs]
    return "\n".join(str(p) for p in parts)


def test_signed_out_session_sees_only_the_login_form(env):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.text_input(key=login.USERNAME_KEY) is not None
    body = texts(at)
    assert not any(marker in body for marker in MARKERS.values())
    assert "demo" in body.lower()  # demo mode says so on the login page


@pytest.mark.slow
@pytest.mark.parametrize("username", list(DEMO_USERS))
def test_role_page_matrix(env, username):
    role = DEMO_USERS[username][1]
    at = signed_in(username)
    allowed = {p.key for p in pages_for(role)}
    assert allowed, f"{role} gets no page"
    for page in PAGES:
        if page.key not in allowed:
            # Not registered with st.navigation for this role: there is no way to reach it.
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(f"views/{page.script}")
            continue
        at.switch_page(f"views/{page.script}").run()
        assert not at.exception, f"{role} on {page.key}: {at.exception}"
        assert MARKERS[page.key] in texts(at), f"{role} could not open {page.key}"


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_page_script_alone_refuses_without_a_signed_in_context(env, page):
    # A page script run directly (as a pages/-folder hole would) must stop at its own guard.
    at = AppTest.from_file(str(page.path), default_timeout=30)
    at.run()
    assert not at.exception
    assert any("do not have access" in e.value for e in at.error)
    assert MARKERS[page.key] not in texts(at)


def test_readme_role_matrix_matches_the_registry():
    readme = (ROOT / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| page | merchant"))
    roles = [c.strip() for c in header.strip("|").split("|")][1:]
    for page in PAGES:
        row = next((line for line in readme.splitlines() if line.startswith(f"| {page.title}")), None)
        assert row, f"page {page.title} missing from the README role matrix"
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        documented = {role for role, cell in zip(roles, cells) if cell == "yes"}
        assert documented == set(page.roles), f"README matrix for {page.title} differs from navigation.PAGES"


def test_an_old_warehouse_gets_a_clear_message_not_a_traceback(app_env, fixture_warehouse_path, tmp_path, monkeypatch):
    import duckdb

    from data import schema

    old = tmp_path / "old.duckdb"
    shutil.copy(fixture_warehouse_path, old)
    con = duckdb.connect(str(old))
    schema.set_meta(con, "schema_version", str(schema.SCHEMA_VERSION - 1))
    con.close()
    for k, v in {**app_env, "RETAIL_PULSE_WAREHOUSE": str(old)}.items():
        monkeypatch.setenv(k, v)
    from dashboard import cache

    cache.engine.clear()  # the process keeps one engine (st.cache_resource): earlier tests opened the good file
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input(key=login.USERNAME_KEY).input("demo-admin")
    at.text_input(key=login.PASSWORD_KEY).input(DEMO_PASSWORD)
    at.button(key=login.SUBMIT_KEY).click().run()
    assert not at.exception, at.exception
    assert at.error and "python -m data upgrade --warehouse" in at.error[0].value
    assert not any(marker in texts(at) for marker in MARKERS.values())
    cache.engine.clear()
