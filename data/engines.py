"""Choosing the query engine from the settings: the DuckDB warehouse file or Spark over Parquet.

Both handles expose the same small surface the dashboard and jobs use: ``engine`` (``"duckdb"`` or
``"spark"``), ``backend()`` (a fresh ibis backend for one thread, to wrap in a ``DataAccess``),
``data_version()`` (a cache key that changes with every load) and ``close()``.
"""

from __future__ import annotations

import os
from pathlib import Path

from data import settings
from data.spark import SparkWarehouse
from data.warehouse import Warehouse

ENGINES = ("duckdb", "spark")


def open_engine(
    warehouse: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Warehouse | SparkWarehouse:
    """The engine the ``backend`` setting names.

    ``duckdb``: the hardened ``Warehouse`` on the ``warehouse`` setting (or the ``warehouse`` override).
    ``spark``: a ``SparkWarehouse`` on the ``parquet_dir`` setting with the ``spark_master`` setting.
    Raises ValueError for any other backend name.
    """
    name = settings.get("backend", environ).strip().lower()
    if name == "duckdb":
        path = Path(warehouse) if warehouse else Path(settings.get("warehouse", environ))
        return Warehouse(path)
    if name == "spark":
        return SparkWarehouse(Path(settings.get("parquet_dir", environ)), master=settings.get("spark_master", environ))
    raise ValueError(f"unknown backend {name!r} (setting RETAIL_PULSE_BACKEND); use one of {', '.join(ENGINES)}")
