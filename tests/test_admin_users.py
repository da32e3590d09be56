"""The Data page's "Change a user" form changes only what was chosen, and stops at the first refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.auth import accounts
from dashboard.auth.accounts import Role

FAST = 4  # bcrypt rounds for test users


def _change(username: str, role: str, merchant_ids: list[int], password: str) -> None:
    from dashboard import admin

    admin.change_user(username, role, merchant_ids, password)


def change(creds: Path, monkeypatch, *args) -> AppTest:
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(creds))
    at = AppTest.from_function(_change, args=args, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def creds(tmp_path) -> Path:
    path = tmp_path / "credentials.yaml"
    accounts.add_user("root", "root-password-1", "admin", path=path, rounds=FAST)
    accounts.add_user("shop", "shop-password-1", "merchant", [1, 2], path=path, rounds=FAST)
    accounts.add_user("ana", "ana-password-1", Role.ANALYST, path=path, rounds=FAST)
    return path


def user(creds: Path, name: str) -> accounts.UserAccount:
    return accounts.load_credentials(creds).users[name]


def signs_in(creds: Path, name: str, password: str) -> bool:
    return accounts.verify_password(name, password, path=creds) is not None


def test_a_password_reset_keeps_role_and_merchants(creds, monkeypatch):
    at = change(creds, monkeypatch, "ana", "(keep)", [], "ana-new-password")
    assert [s.value for s in at.success] == ["Saved."] and not at.error
    assert user(creds, "ana").role == Role.ANALYST and user(creds, "ana").merchant_ids is None
    at = change(creds, monkeypatch, "shop", "(keep)", [], "shop-new-password")
    assert [s.value for s in at.success] == ["Saved."] and not at.error
    assert user(creds, "shop").role == Role.MERCHANT and user(creds, "shop").merchant_ids == {1, 2}
    assert signs_in(creds, "ana", "ana-new-password") and signs_in(creds, "shop", "shop-new-password")


def test_merchants_alone_rebind_a_merchant_user(creds, monkeypatch):
    change(creds, monkeypatch, "shop", "(keep)", [3], "")
    assert user(creds, "shop").merchant_ids == {3}
    at = change(creds, monkeypatch, "ana", "(keep)", [3], "")  # staff: refused, nothing changes
    assert at.error and not at.success
    assert user(creds, "ana").role == Role.ANALYST and user(creds, "ana").merchant_ids is None


def test_a_refused_change_does_not_go_on_to_the_password(creds, monkeypatch):
    at = change(creds, monkeypatch, "ana", "merchant", [], "ana-new-password")  # a merchant needs merchants
    assert "at least one merchant" in at.error[0].value and not at.success
    assert user(creds, "ana").role == Role.ANALYST
    assert signs_in(creds, "ana", "ana-password-1") and not signs_in(creds, "ana", "ana-new-password")
    at = change(creds, monkeypatch, "ana", "operations", [1], "")  # merchants with a staff role
    assert at.error and user(creds, "ana").role == Role.ANALYST


def test_role_changes_and_nothing_chosen(creds, monkeypatch):
    change(creds, monkeypatch, "shop", "operations", [], "")
    assert user(creds, "shop").role == Role.OPERATIONS and user(creds, "shop").merchant_ids is None
    change(creds, monkeypatch, "ana", "merchant", [2], "")
    assert user(creds, "ana").role == Role.MERCHANT and user(creds, "ana").merchant_ids == {2}
    at = change(creds, monkeypatch, "root", "(keep)", [], "")
    assert at.info and not at.success and not at.error
