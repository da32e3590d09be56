"""Scenarios and the target list on the Campaign simulator page: save a scenario to the operational store,
compare saved ones side by side, download them, and download the target list with its holdout flag.

Scenarios are filed under the merchant (``data.store.campaign_scenarios``), so the store's own scope check keeps
a merchant's people from every other merchant's scenarios. Names and notes are shown as plain text (tables and
code spans) and written inert into CSV and Excel (``dashboard.downloads``).
"""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import streamlit as st

from analytics.campaigns import simulation, uplift
from dashboard import downloads, tables
from dashboard.auth.accounts import Principal
from dashboard.campaign_columns import CAMPAIGN_COLUMNS
from dashboard.plain_text import markdown_text
from data import safe_csv
from data.store.campaign_scenarios import Scenario, Scenarios
from data.store.errors import StoreError
from data.store.principal import Principal as StorePrincipal

LABEL = "Figure"  # heading of the comparison's first column, the figures' names
# Rows of the comparison: (label in words, section, field, format).
ROWS = (
    ("Audience", "audience", "label", "text"), ("Customers contacted", "audience", "contacted", "count"),
    ("Offer", "offer", "kind", "text"), ("Discount (%)", "offer", "discount_pct", "number"),
    ("Categories", "offer", "categories", "list"), ("Products", "offer", "product_count", "count"),
    ("Channel", "offer", "channel", "text"), ("Cost per contact", "offer", "cost_per_contact", "money"),
    ("Fixed costs", "offer", "fixed_costs", "money"), ("Days", "offer", "days", "count"),
    ("Uplift source", "response", "source", "text"), ("Uplift, median (x)", "response", "uplift", "number"),
    ("Uplift, 90% low (x)", "response", "uplift_low", "number"),
    ("Uplift, 90% high (x)", "response", "uplift_high", "number"),
    ("Past promotions pooled", "response", "based_on", "list"),
    ("Incremental revenue", "result", "revenue", "money"), ("Incremental margin", "result", "margin", "money"),
    ("Profit after costs", "result", "profit", "money"), ("ROI, median", "result", "roi_median", "rate"),
    ("Chance of losing money", "result", "loss_probability", "rate"),
    ("Break-even response rate", "result", "break_even_rate", "rate"),
    ("Holdout share", "design", "holdout_share", "rate"), ("Seed", "design", "seed", "count"),
    ("Simulations", "design", "draws", "count"),
)


def store_principal(principal: Principal) -> StorePrincipal:
    return StorePrincipal(principal.username, principal.merchant_ids)


def build_body(label: str, contacted: int, offer: simulation.Offer, prior: uplift.Prior,
               sim: simulation.Simulation, holdout: float, seed: int, currency: str) -> dict:
    low, high = prior.interval(0.9)
    roi = sim.roi[np.isfinite(sim.roi)]
    return {
        "audience": {"label": label, "contacted": int(contacted)},
        "offer": {"kind": offer.kind, "discount_pct": offer.discount_pct, "categories": list(offer.categories),
                  "product_ids": list(offer.product_ids), "product_count": len(offer.product_ids),
                  "channel": offer.channel, "cost_per_contact": offer.cost_per_contact,
                  "fixed_costs": offer.fixed_costs, "days": offer.days, "currency": currency},
        "response": {"source": prior.source, "uplift": prior.median, "uplift_low": low, "uplift_high": high,
                     "based_on": list(prior.based_on), "rule": prior.rule},
        "result": {"revenue": float(sim.revenue.mean()), "margin": float(sim.margin.mean()),
                   "profit": float(sim.profit.mean()),
                   "roi_median": float(np.median(roi)) if len(roi) else None,
                   "loss_probability": sim.loss_probability, "break_even_rate": sim.break_even_rate},
        "design": {"holdout_share": holdout, "seed": seed, "draws": sim.draws},
    }


def _cell(value: object, kind: str, currency: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if kind == "list":
        return ", ".join(str(v) for v in value) if value else "all"
    if kind == "money":
        return f"{currency} {value:,.2f}"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "count":
        return f"{int(value):,}"
    if kind == "number":
        return f"{value:,.2f}"
    return str(value)


def _headings(scenarios: list[Scenario]) -> list[str]:
    """A column heading per scenario: its name, with its save time when another column has that name (two
    scenarios, or one named like the label column), and a number if even that is taken. Names are the
    person's text: a repeated heading would fail the table and hide every scenario."""
    names = [s.name for s in scenarios]
    taken, heads = {LABEL}, []
    for s in scenarios:
        head = s.name if names.count(s.name) == 1 and s.name not in taken else f"{s.name} ({s.saved_at:%d %b %H:%M})"
        base, n = head, 2
        while head in taken:
            head, n = f"{base} #{n}", n + 1
        taken.add(head)
        heads.append(head)
    return heads


def compare_frame(scenarios: list[Scenario]) -> pl.DataFrame:
    """One row per figure, one column per scenario (its name), as text: what the comparison shows and exports.
    Every column keeps its own heading (``_headings``)."""
    data = {LABEL: [r[0] for r in ROWS] + ["Saved by", "Note"]}
    for head, s in zip(_headings(scenarios), scenarios):
        currency = s.body["offer"].get("currency") or ""
        data[head] = [_cell(s.body.get(sec, {}).get(field), kind, currency) for _, sec, field, kind in ROWS] + [
            s.author, s.note or ""]
    return pl.DataFrame(data, schema={k: pl.Utf8 for k in data})


def inert_headings(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with headings a spreadsheet would run as a formula prefixed with ``'`` (the scenario names are
    headings here, and ``data.safe_csv`` makes only the cells inert)."""
    heads: list[str] = []
    for column in frame.columns:
        head = column if re.match(safe_csv.PLAIN_NUMBER, column) else re.sub(safe_csv.FORMULA_START, "'\\1", column)
        base, n = head, 2
        while head in heads or (head != column and head in frame.columns):  # "=x" beside a scenario named "'=x"
            head, n = f"{base} #{n}", n + 1
        heads.append(head)
    return frame.rename(dict(zip(frame.columns, heads)))


def render_scenarios(store, principal: Principal, merchant_id: int, body: dict | None) -> None:
    who = store_principal(principal)
    scenarios = Scenarios(store)
    left, right = st.columns([2, 3])
    name = left.text_input("Scenario name", key="cp_name", max_chars=120, placeholder="e.g. Spring candles 15%")
    note = left.text_area("Note", key="cp_note", max_chars=2000, height=80)
    if left.button("Save scenario", key="cp_save", disabled=body is None, icon=":material/save:"):
        from data.store import new_request_id

        try:
            rid = new_request_id()
            saved = scenarios.save(who, merchant_id, name, body, request_id=rid, note=note or None)
            left.success(f"Saved as revision {saved.revision}." if saved.request_id == rid else
                         f"Already saved as revision {saved.revision}: nothing changed.")
        except StoreError as exc:
            left.error(markdown_text(str(exc)))
    try:
        listed = scenarios.list(who, merchant_id)
    except StoreError as exc:
        right.error(f"Saved scenarios are unavailable: {exc}")
        return
    if not listed:
        right.caption("No scenario saved for this merchant yet.")
        return
    by_id = {s.document_id: s for s in listed}
    chosen = right.multiselect("Compare saved scenarios", list(by_id), default=list(by_id)[:3], key="cp_compare",
                               format_func=lambda d: by_id[d].name)
    if not chosen:
        return
    frame = compare_frame([by_id[d] for d in chosen])
    with right:
        st.dataframe(frame, hide_index=True, width="stretch")
        a, b = st.columns(2)
        a.download_button("Scenarios (CSV)", downloads.csv_builder(inert_headings(frame)), "campaign-scenarios.csv",
                          downloads.CSV_MIME, key="cp_scen_csv", icon=":material/download:")
        b.download_button("Scenarios (Excel)", downloads.excel_builder(frame), "campaign-scenarios.xlsx",
                          downloads.EXCEL_MIME, key="cp_scen_xlsx", icon=":material/download:")


def target_list(flagged: pl.DataFrame, refs: pl.DataFrame) -> pl.DataFrame:
    """customer_id, external_id (the merchant's reference), segment, holdout."""
    return flagged.join(refs, on="customer_id", how="left").select(
        "customer_id", "external_id", pl.col("stratum").alias("segment"), "holdout").sort("customer_id")


def render_target_list(frame: pl.DataFrame, stem: str) -> None:
    held = int(frame["holdout"].sum())
    st.caption(f"{frame.height:,} customers, {held:,} of them held out (not to be contacted; the same share in "
               "every segment).")
    a, b = st.columns(2)
    a.download_button("Target list (CSV)", downloads.csv_builder(frame), f"{stem}.csv", downloads.CSV_MIME,
                      key="cp_target_csv", icon=":material/download:")
    b.download_button("Target list (Excel)", downloads.excel_builder(frame), f"{stem}.xlsx", downloads.EXCEL_MIME,
                      key="cp_target_xlsx", icon=":material/download:", disabled=not downloads.excel_fits(frame.height))
    tables.render_dataframe(frame.head(200), registry=CAMPAIGN_COLUMNS)
