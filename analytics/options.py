"""What the shared filters can offer, and how fresh the data is, for one scope."""

from __future__ import annotations

import datetime as dt

import polars as pl

from data.access import DataAccess


def compute_filter_options(access: DataAccess) -> dict[str, pl.DataFrame]:
    """Choices for the shared filters, each sorted.

    Keys: ``merchants`` (merchant_id, name, currency, country), ``stores`` (store_id, name, region, kind),
    ``regions`` (region: every region an order can fall in, i.e. shipping regions and the regions of
    selling stores, as the region filter reads them), ``categories`` (category), ``channels`` (channel),
    ``payment_methods`` (payment_method). Null values are left out.
    """
    m = access.table("merchants")
    s = access.table("stores")
    p = access.table("products")
    o = access.table("orders")
    return {
        "merchants": access.to_polars(m.select("merchant_id", "name", "currency", "country").order_by("merchant_id")),
        "stores": access.to_polars(
            s.filter(s.kind != "warehouse").select("store_id", "name", "region", "kind").order_by("store_id")),
        "regions": _regions(access, o, s),
        "categories": _distinct(access, p.filter(p.is_merchandise), "category"),
        "channels": _distinct(access, o, "channel"),
        "payment_methods": _distinct(access, o, "payment_method"),
    }


def _distinct(access: DataAccess, table, column: str) -> pl.DataFrame:
    col = table[column]
    return access.to_polars(table.filter(col.notnull()).select(col).distinct().order_by(column))


def _regions(access: DataAccess, o, s) -> pl.DataFrame:
    shipped = o.filter(o.shipping_region.notnull()).select(region=o.shipping_region).distinct()
    stores = s.filter((s.kind != "warehouse") & s.region.notnull()).select(region=s.region).distinct()
    return access.to_polars(shipped.union(stores, distinct=True).order_by("region"))


def compute_data_as_of(access: DataAccess) -> dt.date | None:
    """The last day with an order in scope (None when there are no orders): date presets end here."""
    o = access.table("orders")
    value = access.scalar(o.order_ts.max())
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value
