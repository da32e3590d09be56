"""Tables for people: one registry of known columns, one st.column_config helper, used by every table
(and no figure on the way prints "null").

Pure checks of ``dashboard.tables``, then every table on every page (each Sales tab, drilled and not, every
"See the rows behind this" opened) under AppTest: only known columns, labels in words with units, no
empty cell shown as "None"/"null".
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from dashboard import tables
from tests.test_pages_apptest import (COLD, PRINCIPALS, SALES_TABS, fixture_app, ok, open_page,  # noqa: F401
                                      open_rows_behind, restore_environment, served_copy)


def config_of(frame: pl.DataFrame, currency: str | None = "EUR") -> dict:
    return {name: dict(col) for name, col in tables.column_config(tables.display_frame(frame), currency).items()}


def test_labels_are_words_with_units():
    frame = pl.DataFrame({"revenue": [1234567.891], "on_time_rate": [0.4567], "avg_delay_days": [1.26],
                          "orders": [12345], "order_ts": [dt.datetime(2026, 3, 4, 5, 6)], "day": [dt.date(2026, 3, 4)],
                          "cohort_month": [dt.date(2026, 3, 1)], "product_id": [123456]})
    cfg = config_of(frame, "TRY")
    assert cfg["revenue"]["label"] == "Revenue (TRY)" and cfg["revenue"]["type_config"]["format"] == "%,.2f"
    assert cfg["on_time_rate"]["type_config"]["format"] == "percent"
    assert cfg["avg_delay_days"]["label"] == "Average delay (days)"
    assert cfg["avg_delay_days"]["type_config"]["format"] == "%,.1f"  # days rounded to a tenth
    assert config_of(pl.DataFrame({"max_delay_days": [3]}))["max_delay_days"]["type_config"]["format"] == "%,d"
    assert cfg["orders"]["type_config"]["format"] == "%,d"
    assert cfg["product_id"]["type_config"]["format"] == "%d"  # an id has no thousands separator
    assert (cfg["day"]["type_config"]["type"], cfg["day"]["type_config"]["format"]) == ("date", "D MMM YYYY")  # no 00:00:00
    assert cfg["cohort_month"]["type_config"]["format"] == "MMM YYYY"
    assert "HH:mm" in cfg["order_ts"]["type_config"]["format"] and "ss" not in cfg["order_ts"]["type_config"]["format"]
    assert not tables.snake_case_labels(c["label"] for c in cfg.values())


def test_empty_cells_are_empty_and_formatted_like_the_rest():
    frame = pl.DataFrame({"revenue": [1234.5, None], "retention": [0.25, None], "category": ["Toys", None],
                          "weekday": [0, 6], "day": [dt.date(2026, 1, 2), None]})
    shown = tables.display_frame(frame)
    assert shown["revenue"].to_list() == ["1,234.50", ""]
    assert shown["retention"].to_list() == ["25.0%", ""]
    assert shown["category"].to_list() == ["Toys", ""]
    assert shown["weekday"].to_list() == ["Monday", "Sunday"]
    assert shown["day"].to_list() == ["02 Jan 2026", ""]
    cfg = config_of(frame)
    assert cfg["revenue"]["label"] == "Revenue (EUR)" and cfg["revenue"]["alignment"] == "right"


def test_an_unknown_column_is_reported_and_still_shown_in_words():
    with pytest.raises(tables.UnknownColumn):
        tables.label_for("brand_new_figure")
    assert tables.unknown_columns(["revenue", "brand_new_figure"]) == ["brand_new_figure"]
    assert config_of(pl.DataFrame({"brand_new_figure": [1]}))["brand_new_figure"]["label"] == "Brand new figure"


def test_every_registry_entry_reads_as_words():
    assert not tables.snake_case_labels(c.label for c in tables.COLUMNS.values())
    assert all(c.kind in tables.KINDS for c in tables.COLUMNS.values())


# ---------------------------------------------------------------------------------------------- pages


def check_tables(at, where: str, seen: set) -> None:
    for d in at.dataframe:
        columns = list(d.value.columns)
        assert not tables.unknown_columns(columns), f"{where}: columns not in dashboard.tables.COLUMNS"
        config = json.loads(d.proto.columns or "{}")
        labels = [config.get(c, {}).get("label") for c in columns]
        assert all(labels), f"{where}: a column without a label: {dict(zip(columns, labels))}"
        assert not tables.snake_case_labels(labels), f"{where}: {labels}"
        assert not d.value.isna().any().any(), f"{where}: an empty cell would show as None"
        assert not d.value.astype(str).isin(["None", "null", "nan", "NaN"]).any().any(), where
        seen.update(columns)
    for chart in at.get("plotly_chart"):  # and no figure prints "null" for a missing value
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("texttemplate") or trace.get("text") is not None:
                text = trace.get("text")
                cells = [v for row in text for v in (row if isinstance(row, list) else [row])] if text else []
                assert None not in cells, f"{where}: a {trace['type']} would print null"


@pytest.mark.parametrize("role", ["merchant", "analyst"])
def test_every_table_on_every_page_is_for_people(fixture_app, role):
    seen: set = set()
    at = open_rows_behind(ok(open_page(PRINCIPALS[role], "overview")))
    check_tables(at, "overview", seen)
    picker = at.selectbox(key="ov_day")
    ok(picker.select(picker.options[-1]).run(timeout=COLD))
    check_tables(open_rows_behind(at), "overview, drilled into a day", seen)
    sales = ok(open_page(PRINCIPALS[role], "sales"))
    for tab in SALES_TABS:
        sales.session_state["sa_tab"] = tab
        ok(sales.run(timeout=COLD))
        check_tables(open_rows_behind(sales), f"sales/{tab}", seen)
        for key in ("sa_region", "sa_category"):
            if key in [s.key for s in sales.selectbox] and len(sales.selectbox(key=key).options) > 1:
                ok(sales.selectbox(key=key).select_index(1).run(timeout=COLD))
                check_tables(open_rows_behind(sales), f"sales/{tab}/drilled", seen)
                ok(sales.button(key=f"{key}_back").click().run(timeout=COLD))
    # the walk really met the tables it is about
    assert {"order_id", "order_ts", "revenue", "on_time_rate", "cohort_month", "retention", "sku"} <= seen


def test_the_data_pages_tables_are_for_people_too(fixture_app, tmp_path, monkeypatch):
    from dashboard.auth import accounts

    creds = tmp_path / "credentials.yaml"
    accounts.add_user("adm", "adm-password-1", "admin", path=creds, rounds=4)
    accounts.add_user("shop", "shop-password-1", "merchant", [1, 2], path=creds, rounds=4)
    monkeypatch.setenv("RETAIL_PULSE_CREDENTIALS", str(creds))
    at = ok(open_page(PRINCIPALS["admin"], "data"))
    seen: set = set()
    check_tables(at, "data", seen)
    assert {"table", "rows", "username", "merchants"} <= seen
    users = next(d.value for d in at.dataframe if "username" in d.value.columns)
    assert not users["merchants"].str.contains(r"^\d|, \d").any()  # merchants by name, not id


def test_import_rejects_read_as_words():
    rejects = pl.DataFrame({"line": [3, None], "column": ["price", None], "value": ["12,5", None],
                            "reason": ["not a number", "file-level problem"]})
    shown = tables.display_frame(rejects, tables.REJECT_COLUMNS)
    assert shown["line"].to_list() == ["3", ""] and shown["value"].to_list() == ["12,5", ""]
    cfg = {n: dict(c) for n, c in tables.column_config(shown, None, tables.REJECT_COLUMNS).items()}
    assert [cfg[c]["label"] for c in rejects.columns] == ["Line in the file", "Column", "Value in the file", "Reason"]
