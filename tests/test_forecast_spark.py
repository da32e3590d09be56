"""Forecasting on the Spark the queries use (fugue, local mode, tiny warehouse), and no pile-up of temp views.

The SKU demand history is read through data.access on the Spark engine, handed to statsforecast as a Spark
DataFrame (fugue runs one task per partition of series) and the result must equal the in-process one.
Workers must start the venv's python: without PYSPARK_PYTHON they start the system python and fail with
"No module named 'pandas'". mlforecast's global XGBoost model trains there too (DistributedMLForecast with
SparkXGBForecast).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys

import numpy as np
import polars as pl
import pytest

from data.access import DataAccess, Scope
from models.forecasting import censoring, sku
from models.forecasting import demand_data as dd

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Java is not installed: Spark local mode needs a JVM"),
]


@pytest.fixture(scope="module")
def spark_warehouse(fixture_warehouse_path, tmp_path_factory):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from data.spark import SparkWarehouse, export_parquet

    out = tmp_path_factory.mktemp("parquet")
    export_parquet(fixture_warehouse_path, out)
    wh = SparkWarehouse(out, master="local[2]")
    yield wh
    wh.close()


def test_a_thousand_filtered_queries_leave_the_catalog_as_it_was(spark_warehouse):
    access = DataAccess(spark_warehouse.backend(), Scope.merchants([1]))
    session = spark_warehouse.session
    before = sorted(t.name for t in session.catalog.listTables())
    o = access.table("orders")
    channels = ["web", "app", "store", "marketplace"]
    # Each query binds its filter value as an ibis memtable, which Spark holds as a temp view. An empty
    # result keeps the 1,000 queries cheap (~0.2 s each on 2 cores); the views are registered all the same.
    for i in range(1000):
        frame = access.to_polars(o.filter(access.equals(o.channel, channels[i % 4])).select("order_id").limit(0))
        assert frame.columns == ["order_id"]
    after = sorted(t.name for t in session.catalog.listTables())
    assert after == before
    counts = {c: access.scalar(o.filter(access.equals(o.channel, c)).count()) for c in channels}
    assert sum(counts.values()) == access.scalar(o.filter(o.channel.isin(channels)).count()) > 0
    # The same expression run twice registers its bound values again after they were dropped.
    expr = o.filter(access.equals(o.channel, "web")).count()
    assert access.scalar(expr) == access.scalar(expr) == counts["web"]
    assert sorted(t.name for t in session.catalog.listTables()) == before


@pytest.fixture(scope="module")
def sku_history(spark_warehouse) -> pl.DataFrame:
    """Merchant 1's SKU demand over the last 182 days, read through data.access on Spark."""
    access = DataAccess(spark_warehouse.backend(), Scope.merchants([1]))
    bounds = dd.data_bounds(access)
    demand = censoring.compute_demand(dd.load_sku_days(access, bounds))
    return demand.filter(pl.col("day") > bounds[1] - dt.timedelta(days=182)).select(
        pl.col("product_id").cast(pl.Utf8).alias("unique_id"), pl.col("day").alias("ds"),
        pl.col("demand").clip(lower_bound=0).alias("y"))


def _spark_frame(spark_warehouse, history: pl.DataFrame):
    pdf = history.to_pandas()
    pdf["ds"] = pdf["ds"].astype("datetime64[ns]")
    return spark_warehouse.session.createDataFrame(pdf).repartition(2)


def test_statsforecast_runs_on_spark_through_fugue_and_matches_local(spark_warehouse, sku_history):
    from statsforecast import StatsForecast

    assert sku_history["unique_id"].n_unique() > 50
    local = sku.stats_forecast(sku_history, 14).sort("unique_id", "ds")
    sf = StatsForecast(models=sku._stats_models(), freq="D", n_jobs=1)
    remote = pl.from_pandas(sf.forecast(df=_spark_frame(spark_warehouse, sku_history), h=14).toPandas()) \
        .sort("unique_id", "ds")
    assert remote.height == local.height
    for model in sku.STATS:
        np.testing.assert_allclose(remote[model].to_numpy(), local[model].to_numpy(), rtol=1e-6, atol=1e-9)


def test_mlforecast_global_xgboost_trains_on_spark(spark_warehouse, sku_history):
    from mlforecast.distributed import DistributedMLForecast
    from mlforecast.distributed.models.spark.xgb import SparkXGBForecast
    from mlforecast.lag_transforms import RollingMean

    fc = DistributedMLForecast(models=[SparkXGBForecast(n_estimators=30, max_depth=4, num_workers=1)], freq="D",
                               lags=[7, 14], lag_transforms={7: [RollingMean(28)]}, num_partitions=2)
    fc.fit(_spark_frame(spark_warehouse, sku_history))
    out = pl.from_pandas(fc.predict(14).toPandas())
    ids = sku_history["unique_id"].n_unique()
    assert out.height == 14 * ids and out["unique_id"].n_unique() == ids
    values = out["SparkXGBForecast"].to_numpy()
    assert np.isfinite(values).all()
    recent = sku_history.filter(pl.col("ds") > sku_history["ds"].max() - dt.timedelta(days=28))["y"].mean()
    assert 0.5 * recent < values.mean() < 2 * recent  # the level of the SKUs' last four weeks
