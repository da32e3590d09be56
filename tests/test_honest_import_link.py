"""After an import, the Data page offers to open the imported merchant: the Overview with it chosen, the
period ending on its own last day with data (issue 7 item 4)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard import admin
from dashboard.plain_text import markdown_text
from tests.import_support import data_page, submit  # noqa: F401 (fixture)


def test_data_page_opens_the_imported_merchant(data_page, datasets_dir, tmp_path):
    at, _ = data_page
    raw = pl.read_csv(datasets_dir / "online_retail_II_2009_2010.csv.gz", infer_schema_length=0)
    keep = raw["Invoice"].unique().sort().gather_every(100)
    part = raw.filter(pl.col("Invoice").is_in(keep.implode()))
    last = max(dt.datetime.strptime(d, "%Y-%m-%d %H:%M:%S").date() for d in part["InvoiceDate"].to_list())
    name = "Gifts *from* <the> UK"  # a name from a form: shown verbatim on the button
    at.selectbox(key="imp_merchant").set_value(admin.NEW_MERCHANT)
    at.run(timeout=60)  # the new merchant's fields appear
    shown = submit(at, part.write_csv().encode(), None, preset="online_retail_ii", imp_merchant=admin.NEW_MERCHANT,
                   imp_new_name=name, imp_new_country="GB", imp_new_currency="GBP")
    assert any("loaded" in m for m in shown), shown
    button = at.button(key="imp_open_merchant")
    assert button.label == f"Open {markdown_text(name)} on the Overview"
    button.click().run(timeout=120)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Overview"
    chosen = at.multiselect(key="flt_merchants").value
    assert len(chosen) == 1
    start = last - dt.timedelta(days=29)
    assert any(c.value.startswith(f"{start:%d %b %Y} to {last:%d %b %Y}") for c in at.caption), \
        [c.value for c in at.caption]
    assert {m.label: m.value for m in at.metric}["Revenue"].startswith("GBP ")
