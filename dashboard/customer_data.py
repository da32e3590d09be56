"""What the Customers page reads, cached across sessions (``cache.shared_result``).

Every function takes the merchant explicitly and reads through a ``DataAccess`` scoped to that one merchant
(``cache.access((merchant_id,))``), so a result can only hold that merchant's customers, and the merchant id
is part of every cache key. The page offers only merchants of the signed-in person's scope
(``customer_panels.render_merchant``). RFM frames are cached per (merchant, as-of date, data version): the
movement reuses the frame of the as-of date; a customer's quarter-end history is one query for the merchant
(``load_rfm_at``), shared by every customer and session.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from analytics import customer_history, rfm, segments
from dashboard import cache

ENTRIES = 64


def _access(merchant_id: int):
    return cache.access((int(merchant_id),))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def load_rfm(merchant_id: int, as_of: dt.date, data_version: int) -> pl.DataFrame:
    """``analytics.rfm.compute_rfm`` of the merchant as of the date."""
    return rfm.compute_rfm(_access(merchant_id), merchant_id, as_of)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=16)
def load_rfm_at(merchant_id: int, dates: tuple[dt.date, ...], data_version: int) -> dict[dt.date, pl.DataFrame]:
    """``analytics.rfm.compute_rfm_at``: several dates in one query (a customer's quarter-end history)."""
    return rfm.compute_rfm_at(_access(merchant_id), merchant_id, dates)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def load_summary(merchant_id: int, as_of: dt.date, data_version: int) -> pl.DataFrame:
    return rfm.summarise_segments(load_rfm(merchant_id, as_of, data_version))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=ENTRIES)
def load_movement(merchant_id: int, from_date: dt.date, to_date: dt.date, data_version: int) -> pl.DataFrame:
    """``analytics.rfm.compute_movement`` between the two dates' (cached) RFM frames."""
    if from_date >= to_date:
        raise ValueError("the first date must be before the second")
    return rfm.compute_movement(load_rfm(merchant_id, from_date, data_version),
                                load_rfm(merchant_id, to_date, data_version))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=16)
def load_clusters(merchant_id: int, as_of: dt.date, data_version: int) -> segments.Clusters | None:
    return segments.compute_clusters(load_rfm(merchant_id, as_of, data_version))


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=16)
def load_refs(merchant_id: int, data_version: int) -> pl.DataFrame:
    """The merchant's customers with their own references (customer_id, customer_ref, country)."""
    return customer_history.load_customer_refs(_access(merchant_id), merchant_id)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=256)
def load_orders(merchant_id: int, customer_id: int, data_version: int) -> pl.DataFrame:
    return customer_history.load_customer_orders(_access(merchant_id), merchant_id, customer_id)


def segment_history(merchant_id: int, customer_id: int, as_of: dt.date, data_version: int,
                    quarters: int = 4) -> pl.DataFrame:
    """The customer's segment at the last ``quarters`` quarter-ends before ``as_of`` and at ``as_of``."""
    ends = tuple(customer_history.quarter_ends(as_of, quarters))
    frames = {**load_rfm_at(merchant_id, ends, data_version), as_of: load_rfm(merchant_id, as_of, data_version)}
    return customer_history.compute_segment_history(frames, customer_id)


def target_list(merchant_id: int, as_of: dt.date, data_version: int, chosen: tuple[str, ...]) -> pl.DataFrame:
    """The target list of the chosen segments (``customer_history.build_target_list``); built on the cached
    frames, so a download costs no query."""
    return customer_history.build_target_list(load_rfm(merchant_id, as_of, data_version),
                                              load_refs(merchant_id, data_version), chosen)


def customer_choices(merchant_id: int, as_of: dt.date, data_version: int, top: int = 500) -> pl.DataFrame:
    """Customers to offer in the drill-down picker: the ``top`` highest monetary value as of the date, with
    their reference (customer_id, customer_ref, segment, monetary)."""
    table = load_rfm(merchant_id, as_of, data_version).sort(["monetary", "customer_id"], descending=[True, False])
    return table.head(top).join(load_refs(merchant_id, data_version), on="customer_id", how="left",
                                maintain_order="left").select("customer_id", "customer_ref", "segment", "monetary")
