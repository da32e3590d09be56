"""The Fraud review page under AppTest, checked against the operational store and the warehouse.

The page runs through tests/apps/page_harness.py on a copy of the fixture warehouse with a store of its own
(a SQLite file in the module's folder). Cases are enqueued through the store (as the scoring job does) from
real payments of merchants 1 and 2, with two review deadlines, so the expected order is computed here
independently (deadline, then amount and score, highest first). Decisions are read back from the store and its
audit log; linked payments and exports are checked against plain SQL on the fixture file.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard import cache
from dashboard import review_data as rd
from dashboard import tables
from dashboard.auth.accounts import Principal
from dashboard.navigation import ROLES, may_open
from tests.test_hostile_names import FORBIDDEN, markdown_texts, outside_code

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(ROOT / "tests" / "apps" / "page_harness.py")
COLD = 120
PER_MERCHANT = 24  # cases enqueued per merchant (half with a 2-hour deadline, half with the default 24 hours)
HOSTILE_NOTE = '<a href="https://evil.example">called</a> **md** [x](https://evil.example) =HYPERLINK("y")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

PRINCIPALS = {
    "merchant": Principal("shop1", "Shop", "merchant", frozenset({1})),
    "operations": Principal("ops", "Ops", "operations", None),
    "analyst": Principal("ana", "Ana", "analyst", None),
    "fraud_reviewer": Principal("fred", "Fred", "fraud_reviewer", None),
    "admin": Principal("adm", "Adm", "admin", None),
}


# ---------------------------------------------------------------------------------------------- plumbing


@pytest.fixture(scope="module")
def environment():
    names = ("RETAIL_PULSE_WAREHOUSE", "RETAIL_PULSE_STATE_URL", "RETAIL_PULSE_CREDENTIALS")
    before = {k: os.environ.get(k) for k in names}
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    st.cache_data.clear()
    st.cache_resource.clear()


def open_store(folder: Path):
    from data.store import open_store as opener

    return opener(f"sqlite:///{folder / 'state.sqlite'}")


def pick_payments(path: Path) -> pl.DataFrame:
    """PER_MERCHANT payments of merchants 1 and 2 (the largest captured ones with a card and device), with a
    made-up score each, and the merchant's currency."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        frame = pl.from_arrow(con.execute(
            """SELECT p.merchant_id, p.payment_id, p.amount, m.currency FROM payments p
               JOIN merchants m USING (merchant_id)
               WHERE p.merchant_id IN (1, 2) AND p.card_fingerprint IS NOT NULL AND p.device_id IS NOT NULL
               QUALIFY row_number() OVER (PARTITION BY p.merchant_id ORDER BY p.amount DESC, p.payment_id) <= ?
               ORDER BY p.merchant_id, p.payment_id""", [PER_MERCHANT]).to_arrow_table())
    finally:
        con.close()
    return frame.with_columns(((pl.int_range(pl.len()) * 37 % 100) / 100 + 0.005).round(3).alias("score"),
                              pl.col("amount").cast(pl.Float64))


@pytest.fixture(scope="module")
def served(environment, fixture_warehouse_path, tmp_path_factory):
    """(folder, enqueued payments with their deadline group)."""
    from data.store import Principal as StorePrincipal

    folder = tmp_path_factory.mktemp("review_page")
    path = folder / "served.duckdb"
    shutil.copy(fixture_warehouse_path, path)
    payments = pick_payments(path).with_columns((pl.int_range(pl.len()) % 2 == 0).alias("urgent"))
    store = open_store(folder)
    job = StorePrincipal.staff("scoring-job")
    try:
        for urgent in (False, True):  # the urgent ones enter later but are due first
            if urgent:
                for m in (1, 2):
                    store.reviews.set_sla(job, merchant_id=m, sla=dt.timedelta(hours=2), request_id=f"sla-{m}")
            batch = payments.filter(pl.col("urgent") == urgent)
            store.reviews.enqueue_many(job, [{**r, "flagged_by": "score" if r["score"] >= 0.3 else "cards_per_device"}
                                             for r in batch.select("merchant_id", "payment_id", "score", "amount",
                                                                   "currency").iter_rows(named=True)])
    finally:
        store.close()
    os.environ.update({"RETAIL_PULSE_WAREHOUSE": str(path),
                       "RETAIL_PULSE_STATE_URL": f"sqlite:///{folder / 'state.sqlite'}"})
    st.cache_data.clear()
    st.cache_resource.clear()
    return folder, payments


def expected_order(payments: pl.DataFrame, merchant: int) -> list[int]:
    """Deadline first (the urgent ones), then amount and score, highest first: computed here, not by the store."""
    return payments.filter(pl.col("merchant_id") == merchant).sort(
        ["urgent", "amount", "score", "payment_id"], descending=[True, True, True, False])["payment_id"].to_list()


@pytest.fixture
def deferred(monkeypatch) -> dict:
    seen: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def record(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        seen[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return seen


def open_page(role: str, merchants=(1,), **state) -> AppTest:
    at = AppTest.from_file(HARNESS)
    at.session_state["harness_principal"] = PRINCIPALS[role]
    at.session_state["harness_page"] = "review"
    if PRINCIPALS[role].merchant_ids is None:
        at.session_state["flt_merchants"] = list(merchants)
    for key, value in state.items():
        at.session_state[key] = value
    return run(at)


def run(at: AppTest) -> AppTest:
    at.run(timeout=COLD)
    assert not at.exception, [e.message for e in at.exception]
    return at


def grid(at: AppTest, key_column: str) -> pl.DataFrame:
    found = [d.value for d in at.dataframe if key_column in d.value.columns]
    assert found, [list(d.value.columns) for d in at.dataframe]
    return pl.from_pandas(found[0])


def queue(at: AppTest) -> pl.DataFrame:
    return grid(at, "time_left")


def texts(at: AppTest) -> str:
    return " ".join(t.value for t in at.text)


# ---------------------------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", list(ROLES))
def test_only_fraud_reviewers_and_admins_open_the_page(served, role):
    allowed = role in ("fraud_reviewer", "admin")
    assert may_open(role, "review") == allowed
    if allowed:
        at = open_page(role)
        assert at.title[0].value == "Fraud review"
        assert queue(at).height > 0
        return
    from dashboard.context import PageContext

    at = AppTest.from_file(str(ROOT / "dashboard" / "views" / "review.py"))
    at.session_state["rp_page_context"] = PageContext(PRINCIPALS[role], (1, 2, 3), None, 1, None)
    at.run(timeout=COLD)
    assert [e.value for e in at.error] == ["You do not have access to Fraud review."]
    assert not at.dataframe and not at.button
