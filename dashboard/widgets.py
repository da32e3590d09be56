"""Rendering pieces the analytics pages share: freshness, currency scope, KPI cards, rows behind a chart.

Each ``render_*`` draws; the decisions they show (wording, groups, limits) come from the pure
modules ``formatting``, ``downloads`` and ``analytics.coverage``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboard import cache, charts, downloads, state, tables
from dashboard.context import PageContext
from dashboard.formatting import CurrencyGroup, KpiCard, currency_groups, is_flat
from dashboard.pagedata import PageData, Rows
from dashboard.plain_text import markdown_text

KPI_COLUMNS = 4
REFRESH_KEY = "refresh_data"
CURRENCY_KEY = "currency_pick"
# The currency the page shows, set by render_currency_scope each run: the tables label money with it.
PAGE_CURRENCY_KEY = "rp_page_currency"


def render_page_top(ctx: PageContext) -> Any:
    """The freshness line's place, and the staff refresh button (drops every cached result, reruns).

    Call before any read, so a refresh does not first compute the page from the old cache.
    Returns the container ``render_freshness`` writes into.
    """
    line, button = st.columns([5, 1], vertical_alignment="center")
    if ctx.principal.is_staff and button.button("Refresh data", key=REFRESH_KEY, icon=":material/refresh:",
                                                help="Drop cached results and read the warehouse again."):
        cache.clear()
        st.rerun()
    return line


def render_freshness(container: Any, ctx: PageContext, data: PageData) -> None:
    """"Data as of <last order day> · figures computed at <time the oldest cached result was made>"."""
    as_of = f"{ctx.as_of:%d %b %Y}" if ctx.as_of else "n/a (no orders yet)"
    computed = data.computed_at
    when = f" · figures computed {computed:%d %b %Y %H:%M:%S}" if computed else ""
    container.caption(f"Data as of {as_of}{when} · data version {ctx.data_version}")


def render_currency_scope(ctx: PageContext) -> CurrencyGroup:
    """The merchants this page shows: all of ``ctx.scope`` when they share a currency, else one currency's.

    Amounts in different currencies are never added up: with several currencies in scope, the page
    says so and shows one currency at a time (a picker, key ``currency_pick``).
    """
    merchants = cache.filter_options(ctx.scope, ctx.data_version)["merchants"]
    groups = currency_groups(merchants, ctx.scope)
    if not groups:
        st.info("No merchant in scope.")
        st.stop()
    if len(groups) == 1:
        st.session_state[PAGE_CURRENCY_KEY] = groups[0].currency
        return groups[0]
    by_code = {g.currency: g for g in groups}
    state.prepare(CURRENCY_KEY, list(by_code), groups[0].currency)  # sticks across pages, from links too
    code = st.selectbox(
        "Currency", list(by_code), key=CURRENCY_KEY,
        format_func=lambda c: f"{c}: {', '.join(by_code[c].names)}",
        help="Amounts in different currencies are never added together.")
    state.keep(CURRENCY_KEY, code, groups[0].currency)
    # Currency codes come from the merchants table: shown verbatim (markdown_text), never as markdown.
    st.info(f"The selected merchants keep their books in {len(groups)} currencies "
            f"({', '.join(map(markdown_text, by_code))}). Figures are shown per currency: these are for the "
            f"{markdown_text(code)} merchants.")
    st.session_state[PAGE_CURRENCY_KEY] = code
    return by_code[code]


# Figures from this size on are shown compact ("TRY 2.72M"): "TRY 2,722,123" does not fit a card at 1440 px.
COMPACT_FROM = 100_000
_FIGURE = re.compile(r"^(?:(?P<cur>[^\d\s-]\S*) )?(?P<num>-?\d{1,3}(?:,\d{3})*(?:\.\d+)?)$")
_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
# On a phone the KPI cards go two to a row (Streamlit stacks columns one per row below 640 px) with a
# smaller figure, so eight cards are four rows instead of eight screens.
KPI_CSS = """<style>
@media (max-width: 640px) {
  .st-key-kpi_cards [data-testid="stHorizontalBlock"] { flex-flow: row wrap !important; gap: 0.5rem !important; }
  .st-key-kpi_cards [data-testid="stColumn"] { flex: 1 1 calc(50% - 0.5rem) !important;
    min-width: calc(50% - 0.5rem) !important; max-width: calc(50% - 0.25rem) !important; }
  .st-key-kpi_cards [data-testid="stMetricValue"] { font-size: 1.5rem !important; }
}
</style>"""


def compact_figure(text: str) -> tuple[str, str | None]:
    """(what the card shows, the exact figure or None): "TRY 2,722,123" -> ("TRY 2.72M", "TRY 2,722,123").

    ``text`` is a formatted KPI value (``formatting.format_value``); percentages and short figures stay as they are.
    """
    match = _FIGURE.match(text)
    if not match:
        return text, None
    value = float(match["num"].replace(",", ""))
    if abs(value) < COMPACT_FROM:
        return text, None
    for size, unit in _UNITS:
        if abs(value) >= size * 0.9995:  # 999,999 reads "1.00M", not "1000K"
            scaled = value / size
            digits = 2 if abs(scaled) < 10 else 1 if abs(scaled) < 100 else 0
            number = f"{scaled:.{digits}f}{unit}"
            break
    return (f"{match['cur']} {number}" if match["cur"] else number), text


def render_kpi_cards(cards: Sequence[KpiCard], columns: int = KPI_COLUMNS) -> None:
    """Each KPI with its change against the previous period (the arrow) and the same period last year (below).

    Large figures are compact on the card, with the exact figure first in the card's help.
    """
    st.html(KPI_CSS)
    with st.container(key="kpi_cards"):
        for start in range(0, len(cards), columns):
            cols = st.columns(columns)
            for col, card in zip(cols, cards[start:start + columns]):
                with col:
                    flat = is_flat(card.vs_previous)
                    shown, exact = compact_figure(card.value)
                    st.metric(card.label, shown, delta=card.vs_previous,
                              delta_color="off" if flat else "inverse" if card.inverse else "normal",
                              delta_arrow="off" if flat else "auto", border=True,
                              help=f"Exactly {exact}. {card.help}" if exact else card.help)
                    st.caption(card.caption)


def render_limits(limits: Mapping[str, str], *topics: str) -> bool:
    """Say what this data cannot answer for ``topics``; True when any applies."""
    found = [limits[t] for t in topics if t in limits]
    for message in found:
        st.info(message, icon=":material/info:")
    return bool(found)


def render_table(frame: pl.DataFrame, currency: str | None = None) -> None:
    """A result table for people (``dashboard.tables``): labels in words, units, money in the page's currency."""
    tables.render_dataframe(frame, currency or st.session_state.get(PAGE_CURRENCY_KEY))


def _download_pair(key: str, source: downloads.Source, rows: int, stem: str, what: str) -> None:
    csv_col, xlsx_col = st.columns(2)
    csv_col.download_button(f"CSV: {what}", data=downloads.csv_builder(source), file_name=f"{stem}.csv",
                            mime=downloads.CSV_MIME, key=f"{key}_csv", on_click="ignore",
                            icon=":material/download:")
    fits = downloads.excel_fits(rows)
    xlsx_col.download_button(f"Excel: {what}", data=downloads.excel_builder(source), file_name=f"{stem}.xlsx",
                             mime=downloads.EXCEL_MIME, key=f"{key}_xlsx", on_click="ignore", disabled=not fits,
                             icon=":material/download:")
    if not fits:
        st.caption(f"Excel holds at most {downloads.EXCEL_MAX_ROWS:,} rows per worksheet: these {rows:,} rows "
                   "are offered as CSV only.")


def render_rows_behind(key: str, table: pl.DataFrame, rows: Rows | None, stem: str, show_table: bool = True) -> None:
    """"See the rows behind this": the figure's table and downloads of it and of every detail row behind it.

    ``show_table=False`` when the table is already on the page (a drill-down list): downloads only.
    The detail rows are counted only once the expander is opened (key ``<key>_rows``; opening reruns),
    so a page run does not pay a count query per chart that nobody looks behind.
    """
    expander = st.expander("See the rows behind this", icon=":material/table_rows:", key=f"{key}_rows",
                           on_change="rerun")
    with expander:
        if show_table:
            render_table(table)
        _download_pair(f"{key}_table", table, table.height, stem, f"this table ({table.height:,} rows)")
        if rows is not None and expander.open:
            count = rows.count()
            st.caption(f"{count:,} {rows.noun} behind these figures, with the filters and drill-down above.")
            _download_pair(f"{key}_{rows.kind}", rows.load, count, f"{stem}_{rows.kind}", f"all {count:,} {rows.noun}")


def render_chart(fig: go.Figure, key: str, table: pl.DataFrame, rows: Rows | None, stem: str,
                 on_select: Callable[[], None] | None = None) -> None:
    """A figure (clickable when ``on_select`` is given) followed by the rows behind it.

    The figure carries the plotly template of the theme ``st.context.theme`` reports (``charts.apply_theme``).
    Streamlit's own plotly theme stays on: Streamlit does not rerun when someone switches theme in the menu, so
    the template alone would leave every chart one rerun behind; the frontend theme restyles the chart at once
    and keeps the explicit category colours (``charts.color_for``) and colour scales.
    """
    render_figure(fig, key, on_select)
    render_rows_behind(key, table, rows, stem)


def theme_type() -> str | None:
    """"light" or "dark" as the browser shows the app (None before the browser has said)."""
    try:
        return st.context.theme.type
    except (AttributeError, KeyError):
        return None


def render_figure(fig: go.Figure, key: str, on_select: Callable[[], None] | None = None) -> None:
    charts.apply_theme(fig, theme_type())
    if on_select is None:
        st.plotly_chart(fig, key=key, theme="streamlit")
    else:
        st.plotly_chart(fig, key=key, theme="streamlit", on_select=on_select, selection_mode="points")


@dataclass(frozen=True)
class Merchant:
    merchant_id: int
    name: str
    currency: str


def render_merchant_picker(ctx: PageContext, key: str, help: str) -> Merchant:
    """The one merchant a per-merchant page shows: a picker among the scope's merchants (staff, or a merchant user
    with several shops); none for a merchant user with one shop. A remembered choice outside the scope is dropped."""
    frame = cache.filter_options(ctx.scope, ctx.data_version)["merchants"]
    rows = {r["merchant_id"]: r for r in frame.iter_rows(named=True) if r["merchant_id"] in ctx.scope}
    if not rows:
        st.info("No merchant in scope.")
        st.stop()
    options = sorted(rows)
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)  # before the widget exists in this run, so allowed
    chosen = options[0]
    if len(options) > 1:
        chosen = st.selectbox("Merchant", options, key=key, width=420,
                              format_func=lambda m: str(rows[m]["name"] or f"Merchant {m}"), help=help)
    row = rows[chosen]
    return Merchant(int(chosen), str(row["name"] or f"Merchant {chosen}"), str(row["currency"] or ""))
