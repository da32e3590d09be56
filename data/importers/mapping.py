"""How a file's columns map onto the canonical fields, and the rules its values follow.

A ``Mapping`` is plain data: build it in Python or load it from a small TOML file
with :func:`load_mapping`::

    name = "shop-export"            # recorded in main.imports.preset

    [columns]                       # canonical field = "column in the file"
    order_ref = "Order Number"
    order_ts = "Created At"
    sku = "SKU"
    quantity = "Qty"
    unit_price = "Price"

    [constants]                     # same value on every row
    channel = "web"

    [values.gender]                 # file value = canonical value
    F = "female"

    [dates]
    day_first = true                # or: format = "%d.%m.%Y %H:%M"
    min = 2015-01-01                # optional range; default 1970-01-01 .. tomorrow

    [file]
    delimiter = ";"                 # CSV only; sniffed from the header when absent
    encoding = "utf-8"              # e.g. "latin-1"
    sheet = "Orders"                # Excel only; default the first sheet
    extra_columns = "report"        # "report", "ignore" or "refuse"

    [rules]
    negative_quantity = "returns"   # "refuse", "returns", "returns_and_adjustments"
    negative_price = "refuse"       # "refuse" or "adjustments"
    zero_price = "refuse"           # "refuse" or "allow"
    return_prefix = "C"             # order_ref prefix of return documents
    adjustment_prefix = "A"         # order_ref prefix of adjustment documents
    non_merchandise_skus = ["POST"] # products.is_merchandise = false
    non_merchandise_pattern = "^FEE-"
    store_kind = "store"            # kind of new stores: online, store, warehouse

A mapping with no ``[columns]`` matches file columns named like the canonical
fields (case-insensitively).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from data.importers.fields import FIELDS_BY_NAME, STORE_KINDS


class MappingError(ValueError):
    """The mapping itself is wrong (unknown field, bad option); the message names the key."""


NEGATIVE_QUANTITY = ("refuse", "returns", "returns_and_adjustments")
NEGATIVE_PRICE = ("refuse", "adjustments")
ZERO_PRICE = ("refuse", "allow")
EXTRA_COLUMNS = ("report", "ignore", "refuse")


@dataclass(frozen=True)
class Mapping:
    """Column mapping plus parsing options and value rules (see the module doc for the TOML form)."""

    name: str = "custom"
    columns: AbcMapping[str, str] = field(default_factory=dict)
    constants: AbcMapping[str, str] = field(default_factory=dict)
    values: AbcMapping[str, AbcMapping[str, str]] = field(default_factory=dict)
    date_format: str | None = None
    day_first: bool | None = None
    min_date: dt.date = dt.date(1970, 1, 1)
    max_date: dt.date | None = None  # None: tomorrow, at validation time
    delimiter: str | None = None
    encoding: str = "utf-8"
    sheet: str | int | None = None
    extra_columns: str = "report"
    negative_quantity: str = "refuse"
    negative_price: str = "refuse"
    zero_price: str = "refuse"
    return_prefix: str | None = None
    adjustment_prefix: str | None = None
    non_merchandise_skus: tuple[str, ...] = ()
    non_merchandise_pattern: str | None = None
    store_kind: str = "store"

    def __post_init__(self) -> None:
        check_mapping(self)

    @property
    def is_auto(self) -> bool:
        """True when columns are matched by canonical field name."""
        return not self.columns

    def effective_max_date(self) -> dt.date:
        return self.max_date or (dt.date.today() + dt.timedelta(days=1))


def _choice(value: object, allowed: tuple[str, ...], key: str) -> None:
    if value not in allowed:
        raise MappingError(f"{key} = {value!r} is not one of {', '.join(allowed)}")


def check_mapping(m: Mapping) -> None:
    """Raise MappingError for an unknown field name or an option outside its allowed values."""
    for section in ("columns", "constants", "values"):
        for name in getattr(m, section):
            if name not in FIELDS_BY_NAME:
                raise MappingError(
                    f"[{section}] names unknown field {name!r}; canonical fields: {', '.join(FIELDS_BY_NAME)}")
    for name, src in m.columns.items():
        if not isinstance(src, str) or not src.strip():
            raise MappingError(f"[columns] {name} must be a non-empty column name, got {src!r}")
    for name, table in m.values.items():
        if not isinstance(table, AbcMapping):
            raise MappingError(f"[values.{name}] must be a table of file value = canonical value")
    _choice(m.extra_columns, EXTRA_COLUMNS, "extra_columns")
    _choice(m.negative_quantity, NEGATIVE_QUANTITY, "negative_quantity")
    _choice(m.negative_price, NEGATIVE_PRICE, "negative_price")
    _choice(m.zero_price, ZERO_PRICE, "zero_price")
    _choice(m.store_kind, STORE_KINDS, "store_kind")
    if m.day_first is not None and not isinstance(m.day_first, bool):
        raise MappingError(f"day_first must be true or false, got {m.day_first!r}")
    if m.date_format is not None and "%" not in m.date_format:
        raise MappingError(f"date format {m.date_format!r} has no % directive (example: %d/%m/%Y %H:%M)")
    if m.delimiter is not None and len(m.delimiter) != 1:
        raise MappingError(f"delimiter must be one character, got {m.delimiter!r}")
    if m.non_merchandise_pattern is not None:
        try:
            re.compile(m.non_merchandise_pattern)
        except re.error as exc:
            raise MappingError(f"non_merchandise_pattern is not a valid regex: {exc}") from exc
    if m.max_date is not None and m.max_date < m.min_date:
        raise MappingError(f"dates max {m.max_date} is before min {m.min_date}")
    try:
        "".encode(m.encoding)
    except LookupError as exc:
        raise MappingError(f"unknown encoding {m.encoding!r}") from exc


_SECTIONS: dict[str, dict[str, str]] = {
    # TOML section -> {TOML key: Mapping attribute}
    "dates": {"format": "date_format", "day_first": "day_first", "min": "min_date", "max": "max_date"},
    "file": {"delimiter": "delimiter", "encoding": "encoding", "sheet": "sheet", "extra_columns": "extra_columns"},
    "rules": {k: k for k in ("negative_quantity", "negative_price", "zero_price", "return_prefix",
                             "adjustment_prefix", "non_merchandise_skus", "non_merchandise_pattern",
                             "store_kind")},
}


def mapping_from_dict(doc: dict, where: str = "mapping") -> Mapping:
    """A Mapping from the parsed TOML structure (see the module doc); unknown keys are refused."""
    known_top = {"name", "columns", "constants", "values", *_SECTIONS}
    for key in doc:
        if key not in known_top:
            raise MappingError(f"{where}: unknown key {key!r}; expected one of {', '.join(sorted(known_top))}")
    kwargs: dict[str, object] = {"name": str(doc.get("name", Path(where).stem))}
    for section in ("columns", "constants", "values"):
        if section in doc:
            if not isinstance(doc[section], dict):
                raise MappingError(f"{where}: [{section}] must be a table")
            kwargs[section] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc[section].items()}
    for k, v in kwargs.get("constants", {}).items():
        if not isinstance(v, str | int | float):
            raise MappingError(f"{where}: [constants] {k} must be a string or number")
    if "constants" in kwargs:
        kwargs["constants"] = {k: str(v) for k, v in kwargs["constants"].items()}
    if "values" in kwargs:
        kwargs["values"] = {f: {str(a): str(b) for a, b in t.items()} if isinstance(t, dict) else t
                            for f, t in kwargs["values"].items()}
    for section, keys in _SECTIONS.items():
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise MappingError(f"{where}: [{section}] must be a table")
        for key, value in table.items():
            if key not in keys:
                raise MappingError(f"{where}: unknown key {key!r} in [{section}]; "
                                   f"expected one of {', '.join(keys)}")
            attr = keys[key]
            if attr in ("min_date", "max_date"):
                value = _as_date(value, f"{where}: [dates] {key}")
            if attr == "non_merchandise_skus":
                if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                    raise MappingError(f"{where}: non_merchandise_skus must be a list of strings")
                value = tuple(value)
            kwargs[attr] = value
    try:
        return Mapping(**kwargs)
    except MappingError as exc:
        raise MappingError(f"{where}: {exc}") from None


def _as_date(value: object, key: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise MappingError(f"{key} must be a date like 2015-01-01, got {value!r}")


def load_mapping(path: str | Path) -> Mapping:
    """Read a TOML mapping file; raises MappingError naming the file and the bad key."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path} is not valid TOML: {exc}") from None
    return mapping_from_dict(doc, str(path))


def mapping_to_dict(m: Mapping) -> dict:
    """The TOML-shaped structure of a mapping (for manifests and display); inverse of mapping_from_dict."""
    out: dict[str, object] = {"name": m.name}
    for section in ("columns", "constants", "values"):
        value = getattr(m, section)
        if value:
            out[section] = {k: (dict(v) if isinstance(v, AbcMapping) else v) for k, v in value.items()}
    for section, keys in _SECTIONS.items():
        table = {}
        for key, attr in keys.items():
            value = getattr(m, attr)
            default = next(f.default for f in fields(Mapping) if f.name == attr)
            if value != default and value is not None:
                table[key] = list(value) if isinstance(value, tuple) else value
        if table:
            out[section] = table
    return out
