"""The ``demand_forecast`` kind: its saved payload, and the functions that read forecasts back.

Payload: a zip of Parquet frames (forecast, skus, shares, lost; columns in ``demand``'s module doc),
a JSON of the choices a refresh reuses, and the global SKU model's trees (XGBoost JSON) when it was chosen.
Readers (no refit, no data read):

- ``load_forecast(payload, days=28)``: the forecast frame, first ``days`` days (1 to 90).
- ``compute_location_demand(payload, days=28)``: the SKU x location daily demand distribution that
  stock-out risk builds on: product_id, store_id, day, mean (units), sd (units), lo_80, hi_80, lo_95,
  hi_95 (units; quantiles 10/90 and 2.5/97.5), dispersion (negative binomial size k; a location's share of
  a negative binomial is negative binomial with the same k, so sums over days stay tractable), model.
- ``load_lost_sales(payload)``: the out-of-stock days frame for ``censoring.compute_lost_sales``.

``refresh(access, saved_payload)`` forecasts again on newer data with the models the training chose
(no backtest; the global SKU model is the saved one, the per-series models refit on the new days): what a
nightly refresh runs.
"""

from __future__ import annotations

import io
import json
import zipfile

import polars as pl

from data.access import DataAccess
from models.forecasting import demand, sku
from models.registry import Fitted, ModelKind, Progress, register

FRAMES = ("forecast", "skus", "shares", "lost")
GLOBAL_MODEL = "global_model.json"  # the SKU-level XGBoost model (XGBoost's JSON), when a SKU class chose it


def to_payload(result: demand.Forecasts) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name in FRAMES:
            part = io.BytesIO()
            getattr(result, name).write_parquet(part)
            z.writestr(f"{name}.parquet", part.getvalue())
        z.writestr("params.json", json.dumps({"params": result.params, "metrics": result.metrics}, default=str))
        if result.global_model:
            z.writestr(GLOBAL_MODEL, result.global_model)
    return buf.getvalue()


def read_payload(payload: bytes, frames: tuple[str, ...] = FRAMES) -> dict:
    """Frames by name (``frames``: only those are decoded; a reader that needs one frame of a 10M-order model
    skips a second of decoding the others), plus "params" and "metrics" (dicts) and "global_model" (bytes,
    or None)."""
    with zipfile.ZipFile(io.BytesIO(payload)) as z:
        out: dict = {name: pl.read_parquet(io.BytesIO(z.read(f"{name}.parquet"))) for name in frames}
        out.update(json.loads(z.read("params.json")))
        out["global_model"] = z.read(GLOBAL_MODEL) if GLOBAL_MODEL in z.namelist() else None
    return out


def _first_days(frame: pl.DataFrame, days: int) -> pl.DataFrame:
    if not 1 <= days <= demand.MAX_HORIZON:
        raise ValueError(f"forecast days must be 1 to {demand.MAX_HORIZON}, got {days}")
    start = frame["day"].min()
    return frame.filter((pl.col("day") - start).dt.total_days() < days)


def load_forecast(payload: bytes, days: int = demand.DEFAULT_HORIZON) -> pl.DataFrame:
    """Forecast rows of every level for the first ``days`` days (columns: see ``demand``)."""
    return _first_days(read_payload(payload, ("forecast",))["forecast"], days)


def compute_location_demand(payload: bytes, days: int = demand.DEFAULT_HORIZON) -> pl.DataFrame:
    """SKU x location daily demand distribution for the next ``days`` days (see module doc)."""
    parts = read_payload(payload, ("forecast", "skus", "shares"))
    fc = _first_days(parts["forecast"], days).filter((pl.col("level") == "sku") & (pl.col("measure") == "units"))
    fc = fc.select(pl.col("key").cast(pl.Int64).alias("product_id"), "day", "mean", "model")
    out = fc.join(parts["shares"], on="product_id", how="inner").join(
        parts["skus"].select("product_id", "dispersion"), on="product_id", how="left")
    out = out.with_columns((pl.col("mean") * pl.col("share")).alias("mean"), pl.col("dispersion").fill_null(1.0))
    q = sku.quantiles(out["mean"].to_numpy(), out["dispersion"].to_numpy())
    out = out.with_columns([pl.Series(name, q[name]) for name in ("sd", "lo_80", "hi_80", "lo_95", "hi_95")])
    return out.select("product_id", "store_id", "day", "mean", "sd", "lo_80", "hi_80", "lo_95", "hi_95",
                      "dispersion", "model").sort("product_id", "store_id", "day")


def load_lost_sales(payload: bytes) -> pl.DataFrame:
    """product_id, category, day, censored, lost_units, lost_revenue on every out-of-stock day trained on."""
    return read_payload(payload, ("lost",))["lost"]


def fit(access: DataAccess, progress: Progress) -> Fitted:
    result = demand.train_forecasts(access, progress=progress)
    return Fitted(payload=to_payload(result), params=result.params, window=result.window,
                  metrics=result.metrics, rows=result.rows, notes=result.notes)


def refresh(access: DataAccess, saved_payload: bytes, progress: Progress | None = None) -> bytes:
    """A new payload forecast on the data as it is now, with the saved model choices (no backtest)."""
    saved = read_payload(saved_payload)
    result = demand.train_forecasts(access, progress=progress, reuse=saved)
    return to_payload(result)


KIND = register(ModelKind(
    key="demand_forecast",
    title="Demand forecast",
    description=("Daily demand in units and revenue for the whole shop, each category, each store and each SKU, "
                 "90 days ahead with 80% and 95% intervals. Out-of-stock days count as censored demand, not as "
                 "zero sales. Each level's model is chosen by a 3-origin, 28-day backtest: repeat last week, "
                 "exponential smoothing, Theta or Prophet (holidays, promotions, paydays) for totals and "
                 "categories; Croston, TSB or one XGBoost model over all SKUs for SKUs. SKU forecasts add up to "
                 "their category and the total (reconciled). Intervals come from backtest errors."),
    libraries=("statsforecast", "mlforecast", "xgboost-cpu", "hierarchicalforecast", "prophet", "holidays",
               "polars", "numpy"),
    fit=fit,
))
