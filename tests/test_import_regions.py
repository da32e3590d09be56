"""Imports item 7: a file with a country and no region fills the Regions tab.

Checked through the analytics query that feeds the tab (analytics.breakdowns.compute_region_breakdown)
on a warehouse the file was imported into.
"""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.breakdowns import compute_region_breakdown
from analytics.filters import Filters
from data.access import DataAccess, Scope
from data.importers import Mapping, import_file
from data.warehouse import Warehouse

FILE = ("order_ref,order_ts,sku,quantity,unit_price,shipping_country\n"
        "O-1,2024-03-01 10:00,SKU-1,2,5.00,DE\n"
        "O-2,2024-03-02 10:00,SKU-1,1,5.00,FR\n"
        "O-3,2024-03-03 10:00,SKU-1,1,5.00,DE\n"
        "O-4,2024-03-03 11:00,SKU-1,1,5.00,\n")


def regions(tmp_path, text: str, mapping: Mapping | None = None) -> dict:
    f = tmp_path / "f.csv"
    f.write_text(text)
    wh = tmp_path / "w.duckdb"
    result = import_file(wh, f, mapping=mapping, create_merchant=("Shop", "DE", "EUR"))
    assert result.status == "loaded", result.message
    served = Warehouse(wh)
    try:
        access = DataAccess(served.backend(), Scope.unrestricted())
        got = compute_region_breakdown(access, Filters(dt.date(2024, 3, 1), dt.date(2024, 3, 3)))
    finally:
        served.close()
    return {r["region"]: (float(r["revenue"]), r["orders"]) for r in got.iter_rows(named=True)}


def test_countries_fill_the_regions_tab(tmp_path):
    assert regions(tmp_path, FILE) == {"DE": (15.0, 2), "FR": (5.0, 1), None: (5.0, 1)}


def test_countries_map_to_regions_of_your_own(tmp_path):
    m = Mapping(values={"shipping_region": {"DE": "DACH", "FR": "West"}})
    assert regions(tmp_path, FILE, m) == {"DACH": (15.0, 2), "West": (5.0, 1), None: (5.0, 1)}


def test_customer_country_is_used_when_there_is_no_shipping_country(tmp_path):
    text = ("order_ref,order_ts,sku,quantity,unit_price,customer_ref,customer_country\n"
            "O-1,2024-03-01 10:00,SKU-1,2,5.00,C-1,DE\n"
            "O-2,2024-03-02 10:00,SKU-1,1,5.00,C-2,FR\n"
            "O-3,2024-03-03 10:00,SKU-1,1,5.00,C-1,DE\n")
    assert regions(tmp_path, text) == {"DE": (15.0, 2), "FR": (5.0, 1)}


@pytest.mark.parametrize("mapping", [Mapping(country_as_region=False),
                                     Mapping(constants={"shipping_region": "Europe"})])
def test_a_region_given_or_the_rule_off_leaves_countries_alone(tmp_path, mapping):
    got = regions(tmp_path, FILE, mapping)
    assert got == ({None: (25.0, 4)} if not mapping.constants else {"Europe": (25.0, 4)})
