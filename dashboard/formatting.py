"""How figures read on screen: money with its currency, counts, ratios, changes; the KPI cards.

Pure (no streamlit), so the tests pin the wording. Money always carries the currency code,
because a page only ever shows one currency at a time (see ``currency_groups``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from analytics.kpis import KPIS_BY_KEY
from analytics.periods import Coverage

NOT_AVAILABLE = "n/a"
# Cards whose figure counts customers as new when their first order in the warehouse is in the period.
HISTORY_KPIS = ("new_customer_share", "returning_customer_share")
HISTORY_NOTE = "Every customer looks new: the order history starts on {first:%d %b %Y}"
HISTORY_HELP = ("The order history starts on {first:%d %b %Y}: customers who bought before then have no earlier "
                "order here, so in the history's first year nearly every customer counts as new.")

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
    vs_previous: str | None  # "+3.4%" / "-1.2 pp" / None (also when the previous period has too little data)
    vs_last_year: str | None
    inverse: bool  # a rise is bad (cancellations, returns)
    help: str
    notes: tuple[str, ...] = ()  # lines under the card: comparison coverage, the history's start

    @property
    def caption(self) -> str:
        """The lines shown under the card (markdown line breaks; no text from data)."""
        return "  \n".join(self.notes)


def coverage_note(label: str, change: str | None, coverage: Coverage | None) -> tuple[str | None, str | None]:
    """(change to show, note) for one comparison: no change below ``COVERAGE_THRESHOLD`` of covered days.

    ``label`` starts the note ("Previous period", "Last year"); the note is None for a fully covered
    comparison whose change is shown elsewhere (``None`` label)."""
    if coverage is None or coverage.complete:
        return change, None
    if not coverage.comparable:
        return None, f"{label}: no comparison, {coverage.describe()}"
    return change, f"{label}: {change or NOT_AVAILABLE}, {coverage.describe()}"


def build_kpi_cards(comparison: pl.DataFrame, currency: str, limits: Mapping[str, str] | None = None,
                    coverage: Mapping[str, Coverage] | None = None,
                    history_start: dt.date | None = None) -> list[KpiCard]:
    """One card per row of ``analytics.kpis.compute_kpi_comparison``, in its order.

    A KPI without a value says why when a data limit (``analytics.coverage.data_limits``) explains it.
    ``coverage`` ({"previous": ..., "last_year": ...}, ``analytics.periods.comparison_coverage``): a
    comparison period the data covers only in part says so under the card, and one covered below
    ``COVERAGE_THRESHOLD`` shows no change. ``history_start`` (``analytics.periods.history_start``): the
    new and returning customer cards say every customer looks new since the history starts then.
    """
    limits, coverage = limits or {}, coverage or {}
    cards = []
    for row in comparison.iter_rows(named=True):
        kpi = KPIS_BY_KEY[row["key"]]
        why = [limits[t] for t in KPI_LIMIT_TOPICS.get(kpi.key, ()) if t in limits]
        help_text = kpi.doc if row["value"] is not None or not why else f"{why[0]} {kpi.doc}"
        prev, prev_note = coverage_note("Previous period", format_change(
            kpi.unit, row["delta_previous"], row["change_previous"]), coverage.get("previous"))
        ly, ly_note = coverage_note("Last year", format_change(
            kpi.unit, row["delta_last_year"], row["change_last_year"]), coverage.get("last_year"))
        notes = [n for n in (prev_note, ly_note or f"Last year: {ly or NOT_AVAILABLE}") if n]
        if history_start is not None and kpi.key in HISTORY_KPIS and row["value"] is not None:
            notes.append(HISTORY_NOTE.format(first=history_start))
            help_text = f"{HISTORY_HELP.format(first=history_start)} {help_text}"
        cards.append(KpiCard(
            key=kpi.key, label=kpi.label, value=format_value(row["value"], kpi.unit, currency),
            vs_previous=prev, vs_last_year=ly, inverse=not kpi.higher_is_better, help=help_text,
            notes=tuple(notes),
        ))
    return cards


@dataclass(frozen=True)
class CurrencyGroup:
    currency: str
    merchant_ids: tuple[int, ...]
    names: tuple[str, ...]
    countries: tuple[str, ...] = ()  # the merchants' home countries (sorted, distinct): whose holidays apply


def currency_groups(merchants: pl.DataFrame, scope: Sequence[int]) -> list[CurrencyGroup]:
    """The merchants of ``scope`` grouped by currency (largest group first, then by code).

    ``merchants`` has merchant_id, name, currency (and country, optional); rows outside ``scope`` are ignored, so a group can
    never widen the scope it came from.
    """
    allowed = set(scope)
    rows = [r for r in merchants.iter_rows(named=True) if r["merchant_id"] in allowed]
    by_currency: dict[str, list[dict]] = {}
    for r in rows:
        by_currency.setdefault(r["currency"], []).append(r)
    groups = [CurrencyGroup(cur, tuple(sorted(r["merchant_id"] for r in rs)),
                            tuple(r["name"] for r in sorted(rs, key=lambda r: r["merchant_id"])),
                            tuple(sorted({r["country"] for r in rs if r.get("country")})))
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


_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_BRANDS = {"paypal": "PayPal", "klarna": "Klarna", "apple_pay": "Apple Pay", "google_pay": "Google Pay"}


def value_words(value: object) -> str:
    """A stored code such as ``bank_transfer`` or ``debit_card`` in words ("Bank transfer", "Debit card");
    other text (names as a merchant typed them) is left as it is."""
    text = "" if value is None else str(value)
    if text in _BRANDS:
        return _BRANDS[text]
    return text.replace("_", " ").capitalize() if _CODE.match(text) else text


def single_payment_method(mix: pl.DataFrame) -> str | None:
    """The one payment method of a ``compute_payment_mix`` frame when every order used it, else None.

    One method is a fact to state ("all orders paid by card"), not a mix: a single 100% bar says nothing more.
    """
    methods = set(mix.filter(pl.col("orders") > 0)["payment_method"].to_list())
    return methods.pop() if len(methods) == 1 else None


def single_payment_text(method: str, quote: Callable[[str], str] = str) -> str:
    """The sentence shown instead of a one-method payment mix; ``quote`` renders the method (it is data:
    pass ``plain_text.markdown_text`` for markdown)."""
    if method == "unknown":
        return "No payment method is recorded for this period's orders."
    words = value_words(method)
    return f"All orders in this period were paid by {quote(words if method in _BRANDS else words.lower())}."


def margin_drawable(profit: pl.DataFrame) -> bool:
    """Some category of ``compute_category_profitability`` has a gross margin (some line has a known cost)."""
    return profit.height > 0 and profit["gross_margin"].is_not_null().any()


# KPIs summarised on one line against an event-aligned period (the cards keep the two headline comparisons).
EVENT_KPIS = ("revenue", "orders", "average_order_value", "customers")


def shifted_comparison_line(frame: pl.DataFrame, coverage: Coverage | None) -> str:
    """"Revenue +12.0% · Orders +4.1% · ..." from ``analytics.comparisons.compute_kpi_shift_comparison``;
    no changes when ``coverage`` of the shifted period is below ``COVERAGE_THRESHOLD``."""
    if coverage is not None and not coverage.comparable:
        return f"No comparison: that period has {coverage.describe()}."
    rows = {r["key"]: r for r in frame.iter_rows(named=True)}
    parts = []
    for key in EVENT_KPIS:
        kpi, row = KPIS_BY_KEY[key], rows.get(key)
        change = None if row is None else format_change(kpi.unit, row["delta"], row["change"])
        parts.append(f"{kpi.label} {change or NOT_AVAILABLE}")
    text = " · ".join(parts)
    if coverage is not None and not coverage.complete:
        text += f" (that period has {coverage.describe()})"
    return text
