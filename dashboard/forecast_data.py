"""What the Forecast page reads: a saved demand forecast, indexed once per model version, and the sales behind it.

``read_index`` turns a ``demand_forecast`` payload into a ``ForecastIndex`` (the forecast frame split by level and
measure); ``models_ui.read_payload`` keeps one per model version, shared by every session, so a
page view only filters that index. The selections (``series``, ``breakdown``, ``sku_rows``) and the
export table (``export_frame``) are pure functions of it; the page and the tests share them.

The page's warehouse reads (past sales of a series, product and store names) are analytics calls of
``analytics.demand_history``, registered here in ``dashboard.cache.QUERIES`` so they are cached like every other
query: by merchant scope, filters and data version.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from analytics import demand_history
from analytics.filters import Filters
from dashboard import cache, models_ui
from dashboard.tables import COLUMNS, Column
from models.artifacts import SavedModel
from models.forecasting import demand

KIND = "demand_forecast"
READER = "forecast_index"
MEASURES = ("units", "revenue")
HISTORY_DAYS = 120  # days of past sales drawn before the forecast
BOUNDS = ("lo_80", "hi_80", "lo_95", "hi_95")

cache.QUERIES.setdefault("demand_history", demand_history.compute_demand_history)
cache.QUERIES.setdefault("demand_history_by", demand_history.compute_demand_history_by)
cache.QUERIES.setdefault("forecast_labels", demand_history.compute_forecast_labels)


@dataclass(frozen=True)
class ForecastIndex:
    """One saved forecast, ready to slice: never changed after it is built (shared by sessions)."""

    series: Mapping[tuple[str, str], pl.DataFrame]  # (level, measure) -> key, day, mean, bounds, model
    skus: pl.DataFrame  # product_id, category, pattern, model, dispersion, unit_price
    metrics: Mapping[str, Any]
    first_day: dt.date  # the first forecast day (the day after the training data ends)
    days: int  # forecast days saved (up to demand.MAX_HORIZON)


def read_index(payload: bytes) -> ForecastIndex:
    """The payload's forecast split by level and measure (rows stay in the payload's key, day order), its SKUs
    and metrics. Only the frames the page uses are decoded (``outputs.to_payload`` writes one Parquet file per
    frame): at 20,000 SKUs the lost-sales and location frames would add a third to a cold view."""
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        fc = pl.read_parquet(io.BytesIO(z.read("forecast.parquet")))
        skus = pl.read_parquet(io.BytesIO(z.read("skus.parquet")))
        metrics = json.loads(z.read("params.json")).get("metrics", {})
    # One filter per (level, measure): several times faster than partition_by on a string key of ~1M rows.
    series = {(level, measure): fc.filter((pl.col("level") == level) & (pl.col("measure") == measure))
              .drop("level", "measure")
              for level, measure in fc.select("level", "measure").unique().iter_rows()}
    first, last = fc["day"].min(), fc["day"].max()
    return ForecastIndex(series, skus, metrics, first, (last - first).days + 1)


models_ui.register_reader(READER, read_index)


def load_index(saved) -> ForecastIndex:
    """The saved model's index, built once per model version (``models_ui.read_payload``)."""
    return models_ui.read_payload(saved, READER)


def data_start(saved: SavedModel) -> dt.date | None:
    """The first day of the data the model was trained on (None when the metadata does not say)."""
    window = saved.meta.get("training_window")
    try:
        return dt.date.fromisoformat(str(window[0])) if window else None
    except ValueError:
        return None


def series(index: ForecastIndex, level: str, key: str, measure: str, days: int) -> pl.DataFrame:
    """day, mean, lo_80, hi_80, lo_95, hi_95, model of one series for its first ``days`` days (empty if unknown)."""
    if not 1 <= days <= demand.MAX_HORIZON:
        raise ValueError(f"forecast days must be 1 to {demand.MAX_HORIZON}, got {days}")
    frame = index.series.get((level, measure))
    if frame is None:
        return pl.DataFrame(schema={"day": pl.Date, "mean": pl.Float64, **{b: pl.Float64 for b in BOUNDS},
                                    "model": pl.Utf8})
    end = index.first_day + dt.timedelta(days=days)
    return frame.filter((pl.col("key") == key) & (pl.col("day") < end)).drop("key").sort("day")


def keys(index: ForecastIndex, level: str) -> list[str]:
    """The series of a level (category names, store ids as text), sorted."""
    frame = index.series.get((level, "units"))
    return [] if frame is None else sorted(frame["key"].unique().to_list())


def category_skus(index: ForecastIndex, category: str | None) -> list[int]:
    """Product ids forecast in ``category`` (all when None), sorted."""
    skus = index.skus if category is None else index.skus.filter(pl.col("category") == category)
    return sorted(skus["product_id"].to_list())


def breakdown(index: ForecastIndex, level: str, measure: str, days: int, only: list[str] | None = None) -> pl.DataFrame:
    """key, total: each series' forecast demand summed over its first ``days`` days (``only``: these keys)."""
    frame = index.series.get((level, measure))
    if frame is None:
        return pl.DataFrame(schema={"key": pl.Utf8, "total": pl.Float64})
    end = index.first_day + dt.timedelta(days=days)
    frame = frame.filter(pl.col("day") < end)
    if only is not None:
        frame = frame.filter(pl.col("key").is_in(only))
    return frame.group_by("key").agg(pl.col("mean").sum().alias("total")).sort(["total", "key"],
                                                                                descending=[True, False])


def sku_model(index: ForecastIndex, product_id: int) -> tuple[str | None, str | None]:
    """(model, demand pattern) the training chose for one SKU."""
    row = index.skus.filter(pl.col("product_id") == product_id)
    return (row["model"][0], row["pattern"][0]) if row.height else (None, None)


_CARD_FIGURES = ("model", "mase", "wape", "bias", "coverage_80", "coverage_95", "naive_mase", "naive_wape")


def card_model(saved: SavedModel, model_words: Mapping[str, str]) -> SavedModel:
    """``saved`` with its metadata summed up for the model card: the whole shop's and all SKUs' backtest figures
    and how many series were tested (each series' own figures are on the trust panel), and the models chosen per
    SKU demand pattern in words (not the interval widths and per-series choices a refresh reuses)."""
    m, p = saved.meta.get("metrics") or {}, saved.meta.get("params") or {}
    figures: dict[str, Any] = {}
    for measure in MEASURES:
        if found := (m.get("total") or {}).get(measure):
            row = {k: found[k] for k in _CARD_FIGURES if k in found}
            if "model" in row:
                row["model"] = model_words.get(row["model"], row["model"])
            if found.get("summary"):
                row["against_repeating_last_week"] = found["summary"]
            figures[f"Whole shop, {measure}"] = row
    if sku := m.get("sku"):
        row = {k: sku[k] for k in ("wape", "bias", "coverage_80", "coverage_95", "naive_wape") if k in sku}
        if sku.get("summary"):
            row["against_repeating_last_week"] = sku["summary"]
        if "skus_backtested" in sku:
            row["products_backtested"] = sku["skus_backtested"]
        figures["All SKUs together, units"] = row
    for level, what in (("category", "Categories"), ("store", "Stores")):
        if m.get(level):
            figures[f"{what} backtested"] = len({k.rsplit("/", 1)[0] for k in m[level]})
    figures.update({k: m[k] for k in ("origins", "horizon_days") if m.get(k)})
    params = {k: p[k] for k in ("horizon_days", "season") if k in p}
    if p.get("levels"):
        params["interval_levels"] = " and ".join(f"{lv}%" for lv in p["levels"])
    if p.get("sku_models_by_pattern"):
        params["model_per_product_demand_pattern"] = "; ".join(
            f"{pattern}: {model_words.get(model, model)}"
            for pattern, model in sorted(p["sku_models_by_pattern"].items()))
    return replace(saved, meta={**saved.meta, "metrics": figures, "params": params})


# ---------------------------------------------------------------------------------------------- exports

def value_columns(measure: str) -> dict[str, str]:
    """Forecast frame column -> export column for ``measure`` (units and money get their own names and units)."""
    return {"mean": f"forecast_{measure}", "lo_80": f"low_80_{measure}", "hi_80": f"high_80_{measure}",
            "lo_95": f"low_95_{measure}", "hi_95": f"high_95_{measure}"}


def _forecast_columns() -> dict[str, Column]:
    out = {}
    for measure, kind, unit in (("units", "number", " (units)"), ("revenue", "money", "")):
        what = "Forecast demand" if measure == "units" else "Forecast revenue"
        out[f"forecast_{measure}"] = Column(what + unit, kind, "Expected demand that day.")
        for side, word in (("low", "from"), ("high", "to")):
            for level in (80, 95):
                often = "4 times in 5" if level == 80 else "19 times in 20"
                out[f"{side}_{level}_{measure}"] = Column(f"{level}% range {word}{unit}", kind,
                                                          f"The day's demand should fall in this range {often}.")
    out["model"] = Column("Model", "text", "What made the forecast.")
    return out


# Columns of the forecast tables and exports, beside the shared ones (like tables.RANKING_COLUMNS).
FORECAST_COLUMNS: dict[str, Column] = {**COLUMNS, **_forecast_columns()}


def export_frame(frame: pl.DataFrame, measure: str, ids: Mapping[str, Any] | None = None,
                 model_words: Mapping[str, str] | None = None) -> pl.DataFrame:
    """A ``series`` frame for people and files: named columns, the model in words, ``ids`` (e.g. category,
    product_id, sku) as leading columns."""
    words = model_words or {}
    out = frame.rename(value_columns(measure)).with_columns(
        pl.col("model").replace(words))
    lead = [pl.lit(v, dtype=pl.Int64 if isinstance(v, int) else pl.Utf8).alias(k) for k, v in (ids or {}).items()]
    return out.select(*lead, "day", *value_columns(measure).values(), "model") if lead else out


def sku_rows(index: ForecastIndex, measure: str, days: int, products: pl.DataFrame, category: str | None,
             model_words: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Every SKU's daily forecast (of ``category``, or all): product_id, sku, product_name, category, day, the
    values, model. ``products`` is the ``forecast_labels`` products frame (names in scope)."""
    ids = category_skus(index, category)
    frame = index.series.get(("sku", measure))
    if frame is None or not ids:
        return pl.DataFrame()
    end = index.first_day + dt.timedelta(days=days)
    rows = frame.filter(pl.col("key").is_in([str(i) for i in ids]) & (pl.col("day") < end)).with_columns(
        pl.col("key").cast(pl.Int64).alias("product_id"))
    rows = rows.join(index.skus.select("product_id", "category"), on="product_id", how="left").join(
        products.select("product_id", "sku", "product_name"), on="product_id", how="left")
    out = export_frame(rows.drop("key"), measure, model_words=model_words)
    return out.select("product_id", "sku", "product_name", "category", "day", *value_columns(measure).values(),
                      "model").sort("product_id", "day")


# ---------------------------------------------------------------------------------------------- warehouse reads

def history(merchant_id: int, data_version: int, level: str, key: str, last_day: dt.date) -> pl.DataFrame:
    """day, units, revenue sold per day for one series: HISTORY_DAYS up to ``last_day`` and the same weeks a year
    before (cached per merchant, series and data version). The whole shop, its categories and its stores come
    from one cached query per grouping (the first view pays it, a drill into a category does not)."""
    window, skip = demand_history.history_window(last_day, HISTORY_DAYS, demand.MAX_HORIZON)
    if level == "sku":
        return cache.query("demand_history", (merchant_id,), window, data_version, level=level, key=key,
                           skip=skip).value
    by = "store" if level == "store" else "category"
    rows = cache.query("demand_history_by", (merchant_id,), window, data_version, by=by, skip=skip).value
    return demand_history.every_day(window, rows if level == "total" else rows.filter(pl.col("key") == key), skip)


@dataclass(frozen=True)
class Labels:
    """Names for the forecast's keys: a SKU reads "code · name", a store "name (region)"."""

    products: pl.DataFrame  # product_id, sku, product_name, category (compute_forecast_labels)
    codes: Mapping[int, tuple[str | None, str | None]]  # product_id -> (sku, product_name)
    stores: Mapping[int, str]

    def sku(self, product_id: int) -> str:
        code, name = self.codes.get(product_id, (None, None))
        if not code:
            return f"Product {product_id}"
        return code if not name or name == code else f"{code} · {name}"

    def store(self, key: str | int) -> str:
        return self.stores.get(int(key)) or f"Store {key}"

    def ids(self, level: str, key: str) -> dict[str, Any]:
        """The leading columns that say which series an export holds."""
        if level == "sku":
            code, name = self.codes.get(int(key), (None, None))
            return {"product_id": int(key), "sku": code or "", "product_name": name or ""}
        if level == "category":
            return {"category": key}
        if level == "store":
            return {"store_id": int(key), "store_name": self.store(key)}
        return {}


def labels(merchant_id: int, data_version: int, last_day: dt.date) -> Labels:
    """Product and store names of one merchant (``compute_forecast_labels``, cached)."""
    frames = cache.query("forecast_labels", (merchant_id,), Filters(last_day, last_day), data_version).value
    p, s = frames["products"], frames["stores"]
    codes = dict(zip(p["product_id"].to_list(), zip(p["sku"].to_list(), p["product_name"].to_list())))
    stores = {i: (n or f"Store {i}") + (f" ({r})" if r else "")
              for i, n, r in zip(s["store_id"].to_list(), s["store_name"].to_list(), s["region"].to_list())}
    return Labels(p, codes, stores)


def with_labels(frame: pl.DataFrame, label, int_keys: bool = False) -> pl.DataFrame:
    """A ``breakdown`` frame with a ``label`` column (``label(key)``), keys as ints for SKUs."""
    if int_keys:
        frame = frame.with_columns(pl.col("key").cast(pl.Int64))
    return frame.with_columns(pl.Series("label", [label(k) for k in frame["key"].to_list()], dtype=pl.Utf8))
