"""The Campaign simulator's audience: who the campaign targets, chosen on the page.

Four ways (``KINDS``, a registry the page loops over): RFM segments, a churn-risk band or a value (CLV) band of
the customer value model (when it is saved), or an uploaded list of the merchant's own customer references.
Every audience is a frame of customer_id and stratum, the customer's RFM segment (the holdout is stratified by
it); ``describe`` says in words who it is, for the scenario and the target list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import streamlit as st

from analytics.campaigns import audience as aud
from dashboard import campaign_data as data
from dashboard import customer_data, tables
from dashboard.campaign_columns import CAMPAIGN_COLUMNS

NO_SEGMENT = "No purchase yet"
CHURN_BANDS = (("High risk (50% and over)", 0.5, 1.01), ("Medium risk (25 to 50%)", 0.25, 0.5),
               ("Low risk (under 25%)", 0.0, 0.25))
VALUE_BANDS = ("Top third by value", "Middle third by value", "Bottom third by value")
NO_MODEL = ("The customer value model of this merchant is not trained yet, so churn-risk and value bands are not "
            "available. Choose RFM segments or upload a list.")


@dataclass(frozen=True)
class Audience:
    frame: pl.DataFrame  # customer_id, stratum
    kind: str
    label: str  # in words: "Segments: Champions, Loyal"


def _with_segments(ids: pl.DataFrame, rfm: pl.DataFrame) -> pl.DataFrame:
    return ids.select("customer_id").unique().join(rfm.select("customer_id", "segment"), on="customer_id",
                                                   how="left").select(
        "customer_id", pl.col("segment").fill_null(NO_SEGMENT).alias("stratum")).sort("customer_id")


def _segments(merchant_id: int, as_of: dt.date, version: int, rfm: pl.DataFrame) -> Audience | None:
    counts = rfm.group_by("segment").len().sort(["len", "segment"], descending=[True, False])
    options = counts["segment"].to_list()
    sizes = dict(counts.iter_rows())
    chosen = st.multiselect("Segments", options, default=options[:1], key="cp_segments",
                            format_func=lambda s: f"{s} ({sizes[s]:,} customers)",
                            help="RFM segments as of the last day of data (see the Customers page).")
    if not chosen:
        return None
    frame = rfm.filter(pl.col("segment").is_in(chosen)).select("customer_id", pl.col("segment").alias("stratum"))
    return Audience(frame.sort("customer_id"), "segment", "Segments: " + ", ".join(chosen))


def _scores(merchant_id: int, version: int) -> pl.DataFrame | None:
    scores = data.value_scores(merchant_id, version)
    if scores is None:
        st.info(NO_MODEL, icon=":material/hourglass_top:")
    return scores


def _churn(merchant_id: int, as_of: dt.date, version: int, rfm: pl.DataFrame) -> Audience | None:
    scores = _scores(merchant_id, version)
    if scores is None:
        return None
    names = [b[0] for b in CHURN_BANDS]
    chosen = st.multiselect("Churn-risk bands", names, default=names[:1], key="cp_churn",
                            help="The chance of leaving within 90 days, from the customer value model.")
    picked = [b for b in CHURN_BANDS if b[0] in chosen]
    if not picked:
        return None
    cond = pl.lit(False)
    for _, low, high in picked:
        cond = cond | pl.col("churn_90").is_between(low, high, closed="left")
    return Audience(_with_segments(scores.filter(cond), rfm), "churn band", "Churn risk: " + ", ".join(chosen))


def _value(merchant_id: int, as_of: dt.date, version: int, rfm: pl.DataFrame) -> Audience | None:
    scores = _scores(merchant_id, version)
    if scores is None:
        return None
    chosen = st.multiselect("Value bands", list(VALUE_BANDS), default=list(VALUE_BANDS[:1]), key="cp_value",
                            help="Thirds of the predicted value over the next 180 days (customer value model).")
    if not chosen:
        return None
    ranked = scores.with_columns(
        (pl.col("clv_180").rank("ordinal", descending=True) * 3 / (pl.len() + 1)).floor().cast(pl.Int64)
        .alias("_third"))
    keep = [VALUE_BANDS.index(c) for c in chosen]
    return Audience(_with_segments(ranked.filter(pl.col("_third").is_in(keep)), rfm), "value band",
                    "Value: " + ", ".join(chosen))


def _upload(merchant_id: int, as_of: dt.date, version: int, rfm: pl.DataFrame) -> Audience | None:
    file = st.file_uploader("List of customer references (CSV or text, one per line)", type=["csv", "txt"],
                            key="cp_upload", help="The merchant's own customer ids, in the first column.")
    if file is None:
        return None
    try:
        refs = aud.parse_references(file.getvalue())
    except ValueError as exc:
        st.error(f"The list cannot be read: {exc}", icon=":material/error:")
        return None
    known = data.known_references(merchant_id, refs.values, version) if refs.values else pl.DataFrame(
        schema={"customer_id": pl.Int64, "external_id": pl.Utf8})
    matched, unknown = aud.match_references(refs, known)
    if unknown.height:
        st.warning(f"{unknown.height:,} lines of the list are not used: the table says which and why.",
                   icon=":material/warning:")
        tables.render_dataframe(unknown, registry=CAMPAIGN_COLUMNS)
    if matched.height == 0:
        return None
    return Audience(_with_segments(matched, rfm), "uploaded list",
                    f"Uploaded list: {matched.height:,} customers")


KINDS = {"RFM segments": _segments, "Churn-risk band": _churn, "Value band (CLV)": _value,
         "Uploaded list": _upload}


def render(merchant_id: int, as_of: dt.date, version: int) -> Audience | None:
    """The audience picked on the page, or None while none is chosen."""
    rfm = customer_data.load_rfm(merchant_id, as_of, version)
    kind = st.radio("Target", list(KINDS), horizontal=True, key="cp_audience_kind")
    return KINDS[kind](merchant_id, as_of, version, rfm)
