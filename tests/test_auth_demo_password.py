"""Issue 6, item 8: outside demo mode the public demo password never signs anyone in.

A demo file whose ``retail_pulse: {demo: true}`` marker was removed used to pass as a real
credentials file: every demo user then signed in with the published password.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from dashboard.auth import accounts
from dashboard.auth.accounts import DEMO_PASSWORD, DEMO_USERS, LoginThrottle
from dashboard.auth.passwords import hash_password
from tests.test_auth_security import APP, FAST, KEY, config  # noqa: F401 - the production fixture

ROOT_DIR = Path(__file__).resolve().parent


def _strip_demo_marker(path) -> None:
    doc = yaml.safe_load(path.read_text())
    del doc["retail_pulse"]
    path.write_text(yaml.safe_dump(doc))


def _production(monkeypatch, path) -> accounts.AuthConfig:
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.setenv("RETAIL_PULSE_COOKIE_KEY", KEY)
    monkeypatch.setenv("RETAIL_PULSE_DEMO", "0")
    return accounts.load_auth_config()


def test_demo_file_without_its_marker_refuses_to_start_naming_users_and_fix(tmp_path, monkeypatch):
    path = tmp_path / "credentials.yaml"
    accounts.create_demo_users(path, rounds=FAST)
    _strip_demo_marker(path)
    cfg = _production(monkeypatch, path)
    assert not cfg.demo
    problem = next(p for p in cfg.problems if "demo password" in p)
    for user in DEMO_USERS:
        assert user in problem and f"reset-password {user}" in problem
    assert "python -m dashboard.auth.users reset-password" in problem


def test_one_user_with_the_demo_password_among_real_ones(config, monkeypatch):
    doc = yaml.safe_load(config.credentials_path.read_text())
    doc["credentials"]["usernames"]["shop"]["password"] = hash_password(DEMO_PASSWORD, FAST)  # a hand edit
    config.credentials_path.write_text(yaml.safe_dump(doc))
    problems = accounts.load_auth_config().problems
    assert len(problems) == 1 and "shop still has the public demo password" in problems[0]
    named = problems[0].split(".yaml: ", 1)[1]
    assert "root" not in named and "ana" not in named
    accounts.reset_password("shop", "a-new-password-1", path=config.credentials_path)
    assert accounts.load_auth_config().problems == ()


def test_sign_in_with_the_demo_password_is_refused_outside_demo_mode(tmp_path, monkeypatch):
    path = tmp_path / "credentials.yaml"
    accounts.create_demo_users(path, rounds=FAST)
    _strip_demo_marker(path)
    cfg = _production(monkeypatch, path)  # has problems: the app would not start; the login refuses anyway
    for user in DEMO_USERS:
        out = accounts.attempt_login(user, DEMO_PASSWORD, client="c", throttle=LoginThrottle(), config=cfg)
        assert out.principal is None and out.message == accounts.LOGIN_FAILED, user


def test_demo_mode_still_signs_in_with_the_demo_password(tmp_path, monkeypatch):
    path = tmp_path / "credentials.yaml"
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(path))
    monkeypatch.delenv("RETAIL_PULSE_COOKIE_KEY", raising=False)
    monkeypatch.setenv("RETAIL_PULSE_DEMO", "1")
    accounts.create_demo_users(path, rounds=FAST)
    cfg = accounts.load_auth_config()
    assert cfg.demo and not cfg.problems
    out = accounts.attempt_login("demo-admin", DEMO_PASSWORD, client="c", throttle=LoginThrottle(), config=cfg)
    assert out.principal is not None


def test_app_refuses_to_start_and_says_how_to_fix(tmp_path, monkeypatch):
    path = tmp_path / "credentials.yaml"
    accounts.create_demo_users(path, rounds=FAST)
    _strip_demo_marker(path)
    _production(monkeypatch, path)
    at = AppTest.from_file(str(ROOT_DIR / APP)).run()
    assert at.error and "refuses to start" in at.error[0].value
    assert "reset-password demo-admin" in at.error[0].value


@pytest.mark.parametrize("variant", ["Retail-Pulse-Demo", "retail pulse demo", " retail-pulse-demo ", "RETAIL_PULSE_DEMO"])
def test_variants_of_the_demo_password_are_refused_too(tmp_path, monkeypatch, variant):
    path = tmp_path / "credentials.yaml"
    accounts.create_demo_users(path, rounds=FAST)
    _strip_demo_marker(path)
    doc = yaml.safe_load(path.read_text())
    doc["credentials"]["usernames"]["demo-admin"]["password"] = hash_password(variant, FAST)  # a hand edit
    path.write_text(yaml.safe_dump(doc))
    cfg = _production(monkeypatch, path)
    out = accounts.attempt_login("demo-admin", variant, client="c", throttle=LoginThrottle(), config=cfg)
    assert out.principal is None and out.message == accounts.LOGIN_FAILED
    with pytest.raises(accounts.InvalidPassword, match="demo password|blanks"):
        accounts.reset_password("demo-admin", variant, path=path)
