"""The Data page's Users tab (dashboard/user_admin.py): the list follows every change in the same click,
removing asks first, users are picked from a list, merchants show by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import user_admin
from dashboard.auth import accounts

FAST = 4  # bcrypt rounds for test users
MERCHANTS = {1: "Wren & Co Gifts", 2: "Nordlicht Mode"}


def _tab() -> None:
    import polars as pl

    from dashboard import user_admin as ua

    ua.render(pl.DataFrame({"merchant_id": [1, 2], "name": ["Wren & Co Gifts", "Nordlicht Mode"]}))


@pytest.fixture
def tab(tmp_path, monkeypatch) -> AppTest:
    creds = tmp_path / "credentials.yaml"
    accounts.add_user("root", "root-password-1", "admin", path=creds, rounds=FAST)
    accounts.add_user("shop", "shop-password-1", "merchant", [1, 2], path=creds, rounds=FAST)
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(creds))
    monkeypatch.setattr(accounts, "BCRYPT_ROUNDS", FAST, raising=False)
    at = AppTest.from_function(_tab, default_timeout=60)
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def listed(at: AppTest) -> dict[str, dict]:
    frame = at.dataframe[0].value
    return {row["username"]: row for row in frame.to_dict("records")}


def test_merchants_show_by_name_in_the_list_and_the_pickers(tab):
    assert listed(tab)["shop"]["merchants"] == "Nordlicht Mode, Wren & Co Gifts"
    assert listed(tab)["root"]["merchants"] == "all"
    config = json.loads(tab.dataframe[0].proto.columns)
    assert [config[c]["label"] for c in tab.dataframe[0].value.columns] == ["Username", "Name", "Role", "Merchants"]
    assert tab.multiselect(key="usr_add_merchants").options == ["Wren & Co Gifts", "Nordlicht Mode"]


def test_a_new_user_is_listed_right_after_adding(tab, tmp_path):
    tab.text_input(key="usr_add_name").input("ana")
    tab.selectbox(key="usr_add_role").select("analyst")
    tab.text_input(key="usr_add_password").input("ana-password-1")
    ok(tab.button(key="FormSubmitter:user_add-Add user").click().run())
    assert "ana" in listed(tab)  # in this very run, not the next one
    assert [s.value for s in tab.success] == ["Added the user."]
    assert "ana (ana, analyst)" in tab.selectbox(key=user_admin.PICK_KEY).options


def test_users_are_picked_from_a_list_not_typed(tab):
    assert "usr_chg_name" not in [t.key for t in tab.text_input]
    picker = tab.selectbox(key=user_admin.PICK_KEY)
    assert picker.value is None and picker.proto.placeholder == "Pick the user to change or remove"
    assert [o.split(" ")[0] for o in picker.options] == ["root", "shop"]


def test_removing_asks_first_and_the_list_follows(tab):
    ok(tab.selectbox(key=user_admin.PICK_KEY).select_index(1).run())
    ok(tab.button(key="usr_remove").click().run())
    assert "shop" in listed(tab)  # nothing removed yet: the question first
    assert any("Remove `shop`?" in w.value for w in tab.warning)
    ok(tab.button(key="usr_remove_no").click().run())
    assert "shop" in listed(tab) and not tab.warning

    ok(tab.button(key="usr_remove").click().run())
    ok(tab.button(key="usr_remove_yes").click().run())
    assert "shop" not in listed(tab)  # gone from the list in the same click
    assert tab.selectbox(key=user_admin.PICK_KEY).value is None
    assert "shop" not in [u.username for u in accounts.list_users()]


def test_changing_a_user_shows_the_new_role_at_once(tab):
    ok(tab.selectbox(key=user_admin.PICK_KEY).select_index(1).run())
    tab.selectbox(key="usr_chg_role").select("analyst")
    ok(tab.button(key="usr_save").click().run())
    assert listed(tab)["shop"]["role"] == "analyst" and listed(tab)["shop"]["merchants"] == "all"
    ok(tab.button(key="usr_save").click().run())  # nothing chosen any more: says so, changes nothing
    assert [i.value for i in tab.info] == ["Nothing to change: pick a new role, merchants or a password."]


def test_a_refusal_is_shown_verbatim(tab):
    tab.text_input(key="usr_add_name").input("[x](https://evil.example)")
    tab.text_input(key="usr_add_password").input("long-enough-password")
    ok(tab.button(key="FormSubmitter:user_add-Add user").click().run())
    (error,) = [e.value for e in tab.error]
    assert error.startswith("Not saved: `") and "invalid username" in error  # a code span, not a link


def test_plan_change_needs_a_user_and_something_to_change():
    assert user_admin.plan_change("", "analyst", [], "") == "Pick a user first."
    assert "Nothing to change" in user_admin.plan_change("ana", user_admin.KEEP, [], "")
    assert "only to the merchant role" in user_admin.plan_change("ana", "analyst", [1], "")
    assert len(user_admin.plan_change("ana", "merchant", [1], "new-password-1")) == 2


def test_the_data_page_uses_this_tab():
    page = (Path(__file__).resolve().parents[1] / "dashboard" / "views" / "data_admin.py").read_text()
    assert "user_admin.render(" in page
