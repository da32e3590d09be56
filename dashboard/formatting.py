"""How figures read on screen: money with its currency, counts, ratios, changes; the KPI cards.

Pure (no streamlit), so the tests pin the wording. Money always carries the currency code,
because a page only ever shows one currency at a time (see ``currency_groups``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from analytics.kpis import KPIS_BY_KEY

NOT_AVAILABLE = "n/a"

# KPIs whose null value an entry of analytics.coverage.LIMITS explains.
KPI_LIMIT_TOPICS: dict[str, tuple[str, ...]] = {
    "conversion_rate": ("conversion",),
    "new_customer_share": ("customers",),
    "returning_customer_share": ("customers",),
    "gross_margin": ("margin",),
}


def format_money(value: float | None, currency: str) -> str:
    if value is None:
        return NOT_AVAILABLE
    digits = 0 if abs(value) >= 1000 else 2
    return f"{currency} {value:,.{digits}f}"


def format_value(value: float | None, unit: str, currency: str) -> str:
    """A KPI value in its unit: ``money`` (with currency), ``count`` or ``ratio`` (as a percentage)."""
    if value is None:
        return NOT_AVAILABLE
    if unit == "money":
        return format_money(value, currency)
    if unit == "ratio":
        return f"{value:.1%}"
    return f"{value:,.0f}"


def format_change(unit: str, delta: float | None, change: float | None) -> str | None:
    """The change against a comparison: percentage points for ratios, relative % otherwise; None if undefined.

    A change that rounds to zero reads "0.0 pp" / "0.0%" (no sign: "-0.0" would show a falling arrow).
    """
    if unit == "ratio":
        return None if delta is None else _signed(delta * 100, " pp")
    return None if change is None else _signed(change * 100, "%")


def _signed(value: float, suffix: str) -> str:
    text = f"{value:+.1f}"
    return (text[1:] if text in ("+0.0", "-0.0") else text) + suffix


def is_flat(change: str | None) -> bool:
    """A formatted change with no direction ("0.0%", "0.0 pp")."""
    return change is not None and not change.startswith(("+", "-"))


@dataclass(frozen=True)
class KpiCard:
    key: str
    label: str
    value: str
    vs_previous: str | None  # "+3.4%" / "-1.2 pp" / None
    vs_last_year: str | None
    inverse: bool  # a rise is bad (cancellations, returns)
    help: str


def build_kpi_cards(comparison: pl.DataFrame, currency: str, limits: Mapping[str, str] | None = None) -> list[KpiCard]:
    """One card per row of ``analytics.kpis.compute_kpi_comparison``, in its order.

    A KPI without a value says why when a data limit (``analytics.coverage.data_limits``) explains it.
    """
    limits = limits or {}
    cards = []
    for row in comparison.iter_rows(named=True):
        kpi = KPIS_BY_KEY[row["key"]]
        why = [limits[t] for t in KPI_LIMIT_TOPICS.get(kpi.key, ()) if t in limits]
        help_text = kpi.doc if row["value"] is not None or not why else f"{why[0]} {kpi.doc}"
        cards.append(KpiCard(
            key=kpi.key, label=kpi.label, value=format_value(row["value"], kpi.unit, currency),
            vs_previous=format_change(kpi.unit, row["delta_previous"], row["change_previous"]),
            vs_last_year=format_change(kpi.unit, row["delta_last_year"], row["change_last_year"]),
            inverse=not kpi.higher_is_better, help=help_text,
        ))
    return cards


@dataclass(frozen=True)
class CurrencyGroup:
    currency: str
    merchant_ids: tuple[int, ...]
    names: tuple[str, ...]


def currency_groups(merchants: pl.DataFrame, scope: Sequence[int]) -> list[CurrencyGroup]:
    """The merchants of ``scope`` grouped by currency (largest group first, then by code).

    ``merchants`` has merchant_id, name, currency; rows outside ``scope`` are ignored, so a group can
    never widen the scope it came from.
    """
    allowed = set(scope)
    rows = [r for r in merchants.iter_rows(named=True) if r["merchant_id"] in allowed]
    by_currency: dict[str, list[dict]] = {}
    for r in rows:
        by_currency.setdefault(r["currency"], []).append(r)
    groups = [CurrencyGroup(cur, tuple(sorted(r["merchant_id"] for r in rs)),
                            tuple(r["name"] for r in sorted(rs, key=lambda r: r["merchant_id"])))
              for cur, rs in by_currency.items()]
    return sorted(groups, key=lambda g: (-len(g.merchant_ids), g.currency))


def cohort_note(cohorts: pl.DataFrame) -> str | None:
    """Why a cohort matrix (``compute_cohort_retention``) shows no retention yet, or None when it does."""
    if cohorts.height == 0:
        return "No customer's first order falls in this period, so there is no cohort to follow."
    if cohorts["months_since"].max() == 0:
        return ("Every cohort is still in its first month: choose a period spanning several months "
                "(e.g. Year to date) to see how many customers come back.")
    return None


def percent_columns(frame: pl.DataFrame) -> list[str]:
    """Columns holding fractions (shares, rates, retention), shown as percentages in tables."""
    return [c for c in frame.columns if c.endswith(("_share", "_rate", "_coverage")) or c == "retention"]
