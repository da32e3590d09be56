"""Every setting Retail Pulse reads, declared once with its default and help.

A setting comes from its environment variable, else its default. Command-line
flags (``--warehouse``) override the environment for that one command. The
README's settings table is checked against this registry by a test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: str
    help: str

    def value(self, environ: dict[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        raw = env.get(self.env, "")
        return raw if raw.strip() else self.default


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "warehouse",
        "RETAIL_PULSE_WAREHOUSE",
        "warehouse/retail_pulse.duckdb",
        "Path of the DuckDB warehouse file (relative paths are taken from the current directory).",
    ),
    Setting(
        "backend",
        "RETAIL_PULSE_BACKEND",
        "duckdb",
        "Query engine: `duckdb` (the warehouse file) or `spark` (ibis' PySpark backend over Parquet).",
    ),
    Setting(
        "spark_master",
        "RETAIL_PULSE_SPARK_MASTER",
        "local[2]",
        "Spark master URL when the backend is `spark` (`local[N]` runs in-process; `spark://host:7077` a cluster).",
    ),
    Setting(
        "parquet_dir",
        "RETAIL_PULSE_PARQUET_DIR",
        "warehouse/parquet",
        "Folder of one Parquet dataset per table, read by the `spark` backend (written by `python -m data export`).",
    ),
    Setting(
        "demo_size",
        "RETAIL_PULSE_DEMO_SIZE",
        "demo",
        "Size the dashboard generates on first start when no warehouse exists: `tiny`, `demo` or `benchmark`.",
    ),
    Setting(
        "demo_seed",
        "RETAIL_PULSE_DEMO_SEED",
        "42",
        "Random seed of the generated demo warehouse.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str, environ: dict[str, str] | None = None) -> str:
    """The current value of setting ``name`` (raises KeyError for an unknown name)."""
    return _BY_NAME[name].value(environ)


def warehouse_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: the explicit override, else RETAIL_PULSE_WAREHOUSE, else the default."""
    return Path(override) if override else Path(get("warehouse"))
