"""What the Alerts page reads: the stored incidents and stock-out alerts as one list, one incident, and the
incident's band and drill-down, computed on demand and shared across sessions.

The page never runs detection over history: ``python -m models alerts check`` stores incidents
(``data.store.alert_incidents``); this module lists them with their workflow state (``data.store.alert_actions``,
kind ``incident``) beside the likely stock-outs of issue 8 (kind ``stockout``, from each merchant's saved demand
forecast, ``dashboard.stockout_data``). Only one incident's series is computed, when it is opened
(``band``/``breakdown``, keyed by merchant, series, span and data version).

Times are the shop's clock, as the warehouse holds them: the store keeps them with a UTC marker, the page shows
them without one ("shop time").
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from dashboard import cache
from dashboard.formatting import value_words
from dashboard.auth.accounts import Principal
from data.store.alert_incidents import AlertIncidents, StoredIncident, status_words
from data.store.principal import Principal as StorePrincipal
from models.alerts.watch import CODED_DIMENSIONS, METRICS, change_words

STOCKOUT = "stockout"
INCIDENT = "incident"
KIND_WORDS = {INCIDENT: "Incident", STOCKOUT: "Stock-out risk"}
# Stock-out alerts listed here: at least this likely, and a merchant's STOCKOUT_TOP largest revenues at risk among
# them (a large catalogue has hundreds; the Stock-out risk page lists every one).
STOCKOUT_MIN = 0.5
STOCKOUT_TOP = 20
DIMENSION_WORDS = {"total": "All sales", "region": "Region", "category": "Category", "channel": "Channel",
                   "payment_method": "Payment method"}
DIRECTION_WORDS = {"drop": "Drop", "spike": "Spike", "both": "Drop or spike"}
UNIT_WORDS = {"orders": "orders", "money": "", "share": "", "payment_share": "", "payments": "payments",
              "days": "days"}
# State filter: key -> words (the list's "status" values are open / acknowledged / snoozed / resolved).
STATES = {"active": "New or acknowledged", "new": "New", "acknowledged": "Acknowledged", "mine": "Assigned to me",
          "snoozed": "Snoozed", "resolved": "Resolved", "all": "All"}
CONTEXT = {"hour": dt.timedelta(hours=48), "day": dt.timedelta(days=28)}  # shown before an incident
AFTER = {"hour": dt.timedelta(hours=12), "day": dt.timedelta(days=7)}  # and after it
LIST_COLUMNS = ("kind", "merchant_id", "alert_key", "kind_text", "title", "metric", "metric_text",
                "dimension_text", "severity", "started_at", "status", "status_text", "assignee")


def store_principal(principal: Principal) -> StorePrincipal:
    """The store's principal of the signed-in person: their user name and merchants (None for staff)."""
    return StorePrincipal(principal.username, principal.merchant_ids)


def metric_title(metric: str) -> str:
    return METRICS[metric].title if metric in METRICS else metric.replace("_", " ").capitalize()


def dimension_value_text(dimension: str, value: object) -> str:
    """A dimension value as a person reads it: codes in words ("Debit card"), names as the data has them."""
    return value_words(value) if dimension in CODED_DIMENSIONS else ("" if value is None else str(value))


def series_words(metric: str, dimension: str, value: str | None) -> str:
    """"Orders, region North" / "Revenue, all sales" (``value`` is data: show the result as plain text)."""
    if dimension == "total":
        return f"{metric_title(metric)}, all sales"
    words = DIMENSION_WORDS.get(dimension, dimension).lower()
    return f"{metric_title(metric)}, {words} {dimension_value_text(dimension, value)}"


def incident_title(inc: StoredIncident) -> str:
    verb = "dropped" if inc.direction == "drop" else "rose"
    change = change_words(inc.metric, inc.observed, inc.expected)
    where = "" if inc.dimension == "total" else (f" ({DIMENSION_WORDS.get(inc.dimension, inc.dimension).lower()}: "
                                                 f"{dimension_value_text(inc.dimension, inc.dimension_value)})")
    return f"{metric_title(inc.metric)} {verb}{change}{where}"


def heading(alert: Mapping) -> str:
    """The markdown heading of a list row: words, with the part that comes from data in a code span."""
    from dashboard.plain_text import markdown_text

    title = str(alert["title"])
    if alert["kind"] == STOCKOUT:
        return f"{KIND_WORDS[STOCKOUT]}: {markdown_text(title.split(': ', 1)[-1])}"
    # The split's words are ours, its value is data (it may hold brackets; so may a metric's title).
    for word in DIMENSION_WORDS.values():
        words, marker, rest = title.partition(f" ({word.lower()}: ")
        if marker and rest.endswith(")"):
            return f"{words}{marker}{markdown_text(rest[:-1])})"
    return title


def severity(score: float) -> float:
    """An incident's robust score squashed to 0-1 (3 = half), comparable to a stock-out's chance."""
    return float(score) / (float(score) + 3.0)


def shop_time(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time (UTC-marked, or naive from SQLite) as the naive shop time the warehouse uses."""
    return None if value is None else value.replace(tzinfo=None)


def _row(kind, merchant_id, key, title, metric, metric_text, dimension_text, sev, started, state, now) -> dict:
    status, text = status_words(state, now)
    if status == "open" and state is not None and state.assignee:
        text = f"Assigned to {state.assignee}"
    if status == "open" and text == "Open":
        text = "New"
    return {"kind": kind, "merchant_id": merchant_id, "alert_key": key, "kind_text": KIND_WORDS[kind],
            "title": title, "metric": metric, "metric_text": metric_text, "dimension_text": dimension_text,
            "severity": sev, "started_at": started, "status": status, "status_text": text,
            "assignee": None if state is None else state.assignee}


def build_alert_list(store, who: StorePrincipal, merchant_ids: Iterable[int],
                     stockout_risk: pl.DataFrame | None = None, limit: int = 1000) -> pl.DataFrame:
    """Every incident stored for ``merchant_ids`` and the likely stock-outs of ``stockout_risk`` (at least
    STOCKOUT_MIN likely, a merchant's STOCKOUT_TOP largest revenues at risk), with their state.

    Columns ``LIST_COLUMNS``: ``status`` is open / acknowledged / snoozed / resolved, ``status_text`` in words
    ("New", "Acknowledged by ana", "Assigned to bo", "Snoozed until ...", "Resolved: reason"); ``metric`` is the
    watched metric's key (``stockout`` for stock-outs). Newest first; stock-outs (no start) after, most likely
    first. The store refuses merchants outside ``who``'s scope."""
    ids = sorted(set(merchant_ids))
    now = store.now()
    rows = []
    if ids:
        states = store.alerts.states(who, alert_kind=INCIDENT, merchant_ids=ids)
        for inc in AlertIncidents(store).incidents(who, merchant_ids=ids, limit=limit):
            rows.append(_row(INCIDENT, inc.merchant_id, inc.incident_key, incident_title(inc), inc.metric,
                             metric_title(inc.metric), DIMENSION_WORDS.get(inc.dimension, inc.dimension),
                             severity(inc.score), shop_time(inc.started_at),
                             states.get((inc.merchant_id, inc.incident_key)), now))
    if stockout_risk is not None and stockout_risk.height and ids:
        states = store.alerts.states(who, alert_kind=STOCKOUT, merchant_ids=ids)
        risky = (stockout_risk.filter(pl.col("merchant_id").is_in(ids)
                                      & (pl.col("stockout_probability") >= STOCKOUT_MIN))
                 .sort("revenue_at_risk", descending=True, nulls_last=True)
                 .group_by("merchant_id", maintain_order=True).head(STOCKOUT_TOP)
                 .sort("stockout_probability", descending=True, maintain_order=True))
        for r in risky.iter_rows(named=True):
            rows.append(_row(STOCKOUT, r["merchant_id"], r["alert_key"],
                             f"Stock-out risk: {r['product']} at {r['location']}", STOCKOUT, KIND_WORDS[STOCKOUT],
                             "Product at a location", float(r["stockout_probability"]), None,
                             states.get((r["merchant_id"], r["alert_key"])), now))
    schema = {"kind": pl.Utf8, "merchant_id": pl.Int64, "alert_key": pl.Utf8, "kind_text": pl.Utf8,
              "title": pl.Utf8, "metric": pl.Utf8, "metric_text": pl.Utf8, "dimension_text": pl.Utf8,
              "severity": pl.Float64, "started_at": pl.Datetime("us"), "status": pl.Utf8, "status_text": pl.Utf8,
              "assignee": pl.Utf8}
    frame = pl.DataFrame(rows, schema=schema)
    return frame.sort(["started_at", "severity"], descending=[True, True], nulls_last=True, maintain_order=True)


@dataclass(frozen=True)
class ListFilters:
    """What the person narrowed the list to (hashable); empty tuples mean "any"."""

    state: str = "active"
    metrics: tuple[str, ...] = ()  # metric keys, ``stockout`` for stock-out alerts
    merchants: tuple[int, ...] = ()
    me: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state filter must be one of {', '.join(STATES)}, not {self.state!r}")


def filter_alerts(alerts: pl.DataFrame, f: ListFilters) -> pl.DataFrame:
    """The rows of ``build_alert_list`` that pass ``f``, order kept."""
    cond = pl.lit(True)
    if f.state == "active":
        cond &= pl.col("status").is_in(["open", "acknowledged"])
    elif f.state == "new":
        cond &= (pl.col("status") == "open") & pl.col("assignee").is_null()
    elif f.state == "mine":
        cond &= (pl.col("assignee") == f.me) & (pl.col("status") != "resolved")
    elif f.state != "all":
        cond &= pl.col("status") == f.state
    if f.metrics:
        cond &= pl.col("metric").is_in(list(f.metrics))
    if f.merchants:
        cond &= pl.col("merchant_id").is_in(list(f.merchants))
    return alerts.filter(cond)


def find_incident(store, who: StorePrincipal, key: str, merchant_ids: Iterable[int]) -> StoredIncident | None:
    """The stored incident ``key`` among ``merchant_ids`` (None when there is none: unknown, or another
    merchant's, which the store does not return to ``who``)."""
    ids = sorted(set(merchant_ids))
    if not ids or not isinstance(key, str) or not key.strip() or len(key) > 64:
        return None
    found = AlertIncidents(store).incidents(who, merchant_ids=ids, keys=[key.strip()], limit=1)
    return found[0] if found else None


def span(inc: StoredIncident, as_of: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The chart's window: some context before the incident and a little after it (not past ``as_of``)."""
    start, end = shop_time(inc.started_at), shop_time(inc.ended_at)
    grain = inc.grain if inc.grain in CONTEXT else "hour"
    until = end + AFTER[grain]
    if as_of is not None and as_of > end:
        until = min(until, as_of)
    return start - CONTEXT[grain], max(until, end)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=64)
def _band(merchant_id: int, metric: str, dimension: str, value: str | None, since: dt.datetime,
          until: dt.datetime, grain: str, data_version: int) -> pl.DataFrame:
    from models.alerts.incidents import metric_band

    return metric_band(cache.access((merchant_id,)), merchant_id, metric, dimension, value, since, until, grain)


def band(inc: StoredIncident, data_version: int, as_of: dt.datetime | None = None) -> pl.DataFrame:
    """The incident's series against its expected band (``metric_band`` columns: ts, observed, expected, low,
    high), over ``span``; computed once per incident and data version for every session."""
    since, until = span(inc, as_of)
    return _band(inc.merchant_id, inc.metric, inc.dimension, inc.dimension_value, since, until, inc.grain,
                 data_version)


@cache.shared_result(ttl=cache.TTL_SECONDS, max_entries=128)
def _breakdown(merchant_id: int, metric: str, dimension: str, since: dt.datetime, until: dt.datetime, grain: str,
               data_version: int) -> pl.DataFrame:
    from models.alerts.incidents import dimension_breakdown

    return dimension_breakdown(cache.access((merchant_id,)), merchant_id, metric, dimension, since, until, grain)


def breakdown(inc: StoredIncident, dimension: str, data_version: int) -> pl.DataFrame:
    """Observed against expected per value of ``dimension`` over the incident's span (``dimension_breakdown``
    columns: value, observed, expected, difference, share)."""
    return _breakdown(inc.merchant_id, inc.metric, dimension, shop_time(inc.started_at), shop_time(inc.ended_at),
                      inc.grain, data_version)


def band_and_breakdown(inc: StoredIncident, dimension: str | None, data_version: int,
                       as_of: dt.datetime | None = None) -> tuple[Future, Future | None]:
    """``band`` and ``breakdown`` (None without a ``dimension``) computed at the same time, as futures: DuckDB
    releases the GIL, so a cold incident view waits for the slower of the two rather than for both."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="alert-incident") as pool:
        series = pool.submit(band, inc, data_version, as_of)
        split = None if dimension is None else pool.submit(breakdown, inc, dimension, data_version)
    return series, split


def drill_dimensions(inc: StoredIncident) -> list[str]:
    """The dimensions the incident's metric can be split by (the incident's own first when it has one)."""
    dims = [d for d in (METRICS[inc.metric].dimensions if inc.metric in METRICS else ()) if d != "total"]
    return sorted(dims, key=lambda d: d != inc.dimension)


def merchant_names(scope: tuple[int, ...], data_version: int) -> dict[int, str]:
    merchants = cache.filter_options(scope, data_version)["merchants"]
    return dict(zip(merchants["merchant_id"].to_list(), merchants["name"].to_list()))


def currencies(scope: tuple[int, ...], data_version: int) -> Mapping[int, str]:
    merchants = cache.filter_options(scope, data_version)["merchants"]
    return dict(zip(merchants["merchant_id"].to_list(), merchants["currency"].to_list()))


def stockout_risk(store, who: StorePrincipal, merchant_ids: Iterable[int], data_version: int) -> pl.DataFrame | None:
    """The stock-out risk of the merchants that have a saved demand forecast (the Stock-out risk page's frames,
    shared with it through its cache), or None when none has one."""
    from dashboard import models_ui, stockout_data

    ids = sorted(set(merchant_ids))
    levels = stockout_data.ServiceLevels(store).get(who, ids)
    saved = [(model, levels[m]) for m in ids
             if (model := models_ui.current_model(stockout_data.KIND, m, data_version)[0]) is not None]
    frames = stockout_data.risks(saved, data_version)
    return pl.concat(frames, how="vertical_relaxed") if frames else None


def incident_row(store, who: StorePrincipal, inc: StoredIncident) -> dict:
    """One incident as a row of ``build_alert_list`` (its current state read from the store)."""
    states = store.alerts.states(who, alert_kind=INCIDENT, merchant_ids=[inc.merchant_id],
                                 alert_keys=[inc.incident_key])
    return _row(INCIDENT, inc.merchant_id, inc.incident_key, incident_title(inc), inc.metric,
                metric_title(inc.metric), DIMENSION_WORDS.get(inc.dimension, inc.dimension), severity(inc.score),
                shop_time(inc.started_at), states.get((inc.merchant_id, inc.incident_key)), store.now())
