"""Against a peer on real data: Online Retail II daily total revenue, the last 28 days held out.

The aggregate forecaster (model chosen by a 3-origin backtest among seasonal naive, AutoETS, Theta and
Prophet with GB holidays and paydays) must score a MASE no worse than statsforecast's AutoETS with its
default model search, fitted in this test on the same history.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import ibis
import numpy as np
import polars as pl

from data.access import DataAccess, Scope
from data.importers import import_file
from data.warehouse import open_for_loading
from models import evaluation
from models.forecasting import aggregate, total
from models.forecasting import demand_data as dd

HOLDOUT = 28


def test_online_retail_revenue_forecast_is_at_least_as_good_as_autoets(datasets_dir, tmp_path):
    path = tmp_path / "w.duckdb"
    open_for_loading(path).close()
    import_file(path, datasets_dir / "online_retail_II_2009_2010.csv.gz", preset="online_retail_ii",
                create_merchant=("Online Retail II", "GB", "GBP"))
    con = duckdb.connect(str(path), read_only=True)
    try:
        access = DataAccess(ibis.duckdb.from_connection(con.cursor()), Scope.unrestricted())
        daily = total.load_daily_totals(access).filter(pl.col("unique_id") == "revenue")
        country = dd.load_country(access)
        promos = dd.load_promotions(access)
    finally:
        con.close()
    cut = daily["ds"].max() - dt.timedelta(days=HOLDOUT)
    history, future = daily.filter(pl.col("ds") <= cut), daily.filter(pl.col("ds") > cut)
    history = history.with_columns(pl.lit("total/revenue").alias("unique_id"))
    first, end = history["ds"].min(), daily["ds"].max()
    features = dd.promo_calendar(promos, ["(all)"], first, end).rename({"day": "ds"}).join(
        dd.calendar_features(pl.date_range(first, end, "1d", eager=True), country).rename({"day": "ds"}), on="ds")
    ours, metrics = aggregate.forecast_aggregates(history, HOLDOUT, prophet_ids=("total/revenue",),
                                                  features=features, country=country)

    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    peer = StatsForecast(models=[AutoETS(season_length=7)], freq="1d", n_jobs=1).forecast(df=history, h=HOLDOUT)
    actual = future["y"].to_numpy()
    past = history["y"].to_numpy()
    our_mase = evaluation.mase(actual, ours.sort("day")["mean"].to_numpy(), past)
    peer_mase = evaluation.mase(actual, np.clip(peer.sort("ds")["AutoETS"].to_numpy(), 0, None), past)
    print(f"Online Retail II revenue, 28-day holdout: MASE {our_mase:.3f} ({metrics['total/revenue']['model']}), "
          f"AutoETS {peer_mase:.3f}")
    assert country == "GB"
    assert our_mase <= peer_mase
