"""Importers for real order-line files (CSV, gzipped CSV, Parquet, Excel .xlsx).

Public API (used by ``python -m data import|validate`` and the admin Data page)::

    from data.importers import import_file, validate_file, ImportResult, ValidationReport
    from data.importers import PRESETS, Preset, Mapping, load_mapping, FIELDS

    result = import_file(warehouse_path, file_path, preset="online_retail_ii", merchant="Online Retail II",
                         create_merchant=("Online Retail II", "GB", "GBP"), mode="refuse")
    result.status         # "loaded" | "staged" | "refused"
    result.rejects        # polars frame: line, column, value, reason
    result.write_rejects_csv("rejects.csv")

Modules: fields (canonical fields), mapping (Mapping, TOML), presets (registry),
read + typed_files (files -> strings, file-level problems), parse + validate (typed rows and
rejects), build + load (the one-transaction load), report (results), api.
Nothing here imports streamlit.
"""

from __future__ import annotations

from data.importers.api import import_file, validate_file
from data.importers.fields import FIELDS, Field
from data.importers.load import MerchantSpec
from data.importers.mapping import Mapping, MappingError, load_mapping
from data.importers.presets import PRESETS, Preset
from data.importers.report import ImportResult, ValidationReport

__all__ = ["FIELDS", "PRESETS", "Field", "ImportResult", "Mapping", "MappingError", "MerchantSpec", "Preset",
           "ValidationReport", "import_file", "load_mapping", "validate_file"]
