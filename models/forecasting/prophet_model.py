"""Prophet, wrapped as a well-behaved estimator, for aggregate daily series.

Prophet validates in its constructor and can be fitted only once, so ``ProphetForecaster`` stores its
settings in ``__init__`` and builds a fresh ``Prophet`` inside every ``fit`` (sklearn conventions: ``fit``
returns self, learned state ends in ``_``). It adds the merchant country's public holidays (Prophet's own
table, from the ``holidays`` package), and the regressors it is given per day (here: the deepest
promotion discount running and the payday flag), which must be known for the forecast days too:
promotions scheduled in the promotions table shape the forecast this way.

``cross_validation`` is the rolling-origin backtest in statsforecast's frame shape (unique_id, ds, cutoff,
y, Prophet), so the same scoring functions rank it beside the statistical models.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import polars as pl

NAME = "Prophet"


class ProphetForecaster:
    def __init__(self, country: str | None = None, regressors: tuple[str, ...] = (), yearly: bool = True,
                 random_state: int = 0):
        self.country = country
        self.regressors = regressors
        self.yearly = yearly
        self.random_state = random_state

    def fit(self, history: pl.DataFrame, features: pl.DataFrame | None = None) -> ProphetForecaster:
        """``history``: ds (date), y; ``features``: ds and one column per regressor (every day of history)."""
        from prophet import Prophet

        for name in ("prophet", "cmdstanpy"):  # Stan's per-fit chatter is not a progress report
            logging.getLogger(name).setLevel(logging.WARNING)
        model = Prophet(weekly_seasonality=True, yearly_seasonality=self.yearly, daily_seasonality=False,
                        uncertainty_samples=0)  # intervals are conformal, from backtest errors
        if self.country:
            try:
                model.add_country_holidays(country_name=self.country)
            except (ValueError, AttributeError, NotImplementedError):
                pass  # a country Prophet cannot name: no holiday effects, the rest still fits
        for name in self.regressors:
            model.add_regressor(name)
        frame = self._frame(history.select("ds", "y"), features)
        np.random.seed(self.random_state)
        model.fit(frame)
        self.model_ = model
        self.last_day_ = history["ds"].max()
        return self

    def predict(self, h: int, features: pl.DataFrame | None = None) -> pl.DataFrame:
        """ds, Prophet (the point forecast) for the ``h`` days after the training data."""
        days = pl.DataFrame({"ds": pl.date_range(self.last_day_ + dt.timedelta(days=1),
                                                 self.last_day_ + dt.timedelta(days=h), "1d", eager=True)})
        out = self.model_.predict(self._frame(days, features))
        return pl.DataFrame({"ds": days["ds"], NAME: np.asarray(out["yhat"], float)})

    def _frame(self, days: pl.DataFrame, features: pl.DataFrame | None):
        frame = days
        if self.regressors:
            if features is None:
                raise ValueError(f"Prophet needs the regressors {', '.join(self.regressors)} for every day")
            frame = frame.join(features.select("ds", *self.regressors), on="ds", how="left").fill_null(0.0)
        pdf = frame.to_pandas()
        pdf["ds"] = pdf["ds"].astype("datetime64[ns]")
        return pdf


def cross_validation(history: pl.DataFrame, features: pl.DataFrame | None, country: str | None,
                     regressors: tuple[str, ...], h: int, windows: int) -> pl.DataFrame:
    """Rolling-origin backtest of Prophet per series: unique_id, ds, cutoff, y, Prophet."""
    parts = []
    for (uid,), series in history.group_by(["unique_id"], maintain_order=True):
        series = series.sort("ds")
        last = series["ds"].max()
        for k in range(windows, 0, -1):
            cutoff = last - dt.timedelta(days=h * k)
            train = series.filter(pl.col("ds") <= cutoff)
            model = ProphetForecaster(country, regressors).fit(train, features)
            fc = model.predict(h, features)
            actual = series.filter((pl.col("ds") > cutoff) & (pl.col("ds") <= cutoff + dt.timedelta(days=h)))
            parts.append(actual.select("ds", "y").join(fc, on="ds").with_columns(
                pl.lit(uid).alias("unique_id"), pl.lit(cutoff).alias("cutoff")))
    return pl.concat(parts).select("unique_id", "ds", "cutoff", "y", NAME)


def conformal_bounds(point: np.ndarray, residuals: np.ndarray, levels: tuple[int, ...]) -> dict[str, np.ndarray]:
    """lo_<level>/hi_<level> = point -/+ the level's quantile of absolute backtest errors (split conformal)."""
    errors = np.abs(np.asarray(residuals, float))
    out = {}
    for level in levels:
        q = float(np.quantile(errors, level / 100)) if errors.size else 0.0
        out[f"lo_{level}"], out[f"hi_{level}"] = point - q, point + q
    return out
