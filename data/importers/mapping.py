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
    number_format = "1.234,56"      # decimal comma, dot thousands (default "1234.56")

    [rules]
    negative_quantity = "returns"   # "refuse", "returns", "returns_and_adjustments"
    negative_price = "refuse"       # "refuse" or "adjustments"
    zero_price = "refuse"           # "refuse" or "allow"
    return_prefix = "C"             # order_ref prefix of return documents
    adjustment_prefix = "A"         # order_ref prefix of adjustment documents
    non_merchandise_skus = ["POST"] # products.is_merchandise = false
    non_merchandise_pattern = "^FEE-"
    store_kind = "store"            # kind of new stores: online, store, warehouse
    write_offs = "adjustments"      # all lines negative, price 0, no customer: adjustments
    duplicate_lines = "keep"        # "keep", "refuse" or "drop" exact repeats of a line
    country_as_region = true        # no region column: the country is the region

``preset = "online_retail_ii"`` at the top starts from that preset: the mapping
then lists only what differs (columns renamed, a rule, file options).
Every option is declared in options.py (OPTIONS), with its allowed values.

A mapping with no ``[columns]`` matches file columns named like the canonical
fields (case-insensitively). Column names are literal text, never patterns.
"""


from __future__ import annotations

import codecs
import datetime as dt
import re
import tomllib
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from data.importers.fields import FIELDS_BY_NAME
from data.importers.options import NUMBER_FORMAT_NAMES, OPTIONS, OPTIONS_BY_ATTR, SECTIONS, TABLES, Option


class MappingError(ValueError):
    """The mapping itself is wrong (unknown field, bad option); the message names the key and what is allowed."""


@dataclass(frozen=True)
class Mapping:
    """Column mapping plus parsing options and value rules (see the module doc for the TOML form)."""

    name: str = "custom"
    preset: str | None = None
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
    number_format: str | None = None  # None: not said (read as "1234.56"; a ";" file must say it)
    negative_quantity: str = "refuse"
    negative_price: str = "refuse"
    zero_price: str = "refuse"
    return_prefix: str | None = None
    adjustment_prefix: str | None = None
    non_merchandise_skus: tuple[str, ...] = ()
    non_merchandise_pattern: str | None = None
    store_kind: str = "store"
    write_offs: str = "refuse"
    duplicate_lines: str = "keep"
    country_as_region: bool = True

    def __post_init__(self) -> None:
        if self.number_format in NUMBER_FORMAT_NAMES:
            object.__setattr__(self, "number_format", NUMBER_FORMAT_NAMES[self.number_format])
        check_mapping(self)

    @property
    def is_auto(self) -> bool:
        """True when columns are matched by canonical field name."""
        return not self.columns

    def effective_max_date(self) -> dt.date:
        return self.max_date or (dt.date.today() + dt.timedelta(days=1))


def _allowed(opt: Option) -> str:
    text = {"text": "a non-empty string", "char": "one character", "bool": "true or false",
            "date": "a date like 2015-01-01", "text_list": "a list of strings", "regex": "a regular expression",
            "encoding": "an encoding name such as \"utf-8\" or \"latin-1\"",
            "sheet": "a sheet name or a number from 0", "date_format": "a strftime format with % directives, "
            "e.g. \"%d.%m.%Y %H:%M\"; directives: " + " ".join("%" + d for d in DATE_DIRECTIVES)}.get(opt.kind)
    if opt.kind == "preset":
        from data.importers.presets import PRESETS

        return "one of " + ", ".join(f'"{c}"' for c in PRESETS)
    return text or "one of " + ", ".join(f'"{c}"' for c in opt.choices)


def _check_option(opt: Option, value: object) -> str | None:
    """Why ``value`` is not allowed for ``opt`` (None when it is)."""
    k = opt.kind
    if k == "choice":
        return None if isinstance(value, str) and value in opt.choices else "not allowed"
    if k == "preset":
        from data.importers.presets import PRESETS  # presets build Mappings: import here, not at the top

        return None if isinstance(value, str) and value in PRESETS else "not a preset"
    if k == "text":
        return None if isinstance(value, str) and value.strip() else "not a non-empty string"
    if k == "char":
        return None if isinstance(value, str) and len(value) == 1 and value not in "\r\n\"" else "not one character"
    if k == "bool":
        return None if isinstance(value, bool) else "not true or false"
    if k == "date":
        return None if isinstance(value, dt.date) else "not a date"
    if k == "text_list":
        return None if isinstance(value, tuple | list) and all(isinstance(s, str) for s in value) else "not a list"
    if k == "sheet":
        ok = (isinstance(value, str) and value != "") or (type(value) is int and value >= 0)
        return None if ok else "not a sheet"
    if not isinstance(value, str):
        return "not a string"
    if k == "regex":
        try:
            re.compile(value)
        except re.error as exc:
            return f"not a valid regular expression ({exc})"
        return None
    if k == "encoding":
        try:
            codecs.lookup(value)
        except LookupError:
            return "unknown encoding"
        return None
    if k == "date_format":
        if "%" not in value:
            return "has no % directive"
        unknown = [f"%{d}" if d else "a lone % at the end" for d in _DIRECTIVE.findall(value)
                   if d != "%" and d.lstrip("-_0^#.0123456789") not in DATE_DIRECTIVES]
        verb = "is" if len(unknown) == 1 else "are"
        return f"refused: {', '.join(unknown)} {verb} not a date directive" if unknown else None
    raise AssertionError(k)


# Directives of the date parser (chrono) a person may need; anything else (e.g. %Q) is refused up front
# instead of leaving every date unparsed. "%%" is a literal percent sign.
DATE_DIRECTIVES = (*"YyCmbBhdeaAwuUWjHkIlPpMSfzZTFDRrsv", ":z")
_DIRECTIVE = re.compile(r"%(%|[-_0^#]?\.?\d?(?::z|[A-Za-z])|.?)")


def check_mapping(m: Mapping) -> None:
    """Raise MappingError for an unknown field name or an option outside its allowed values."""
    for section in TABLES:
        table = getattr(m, section)
        if not isinstance(table, AbcMapping):
            raise MappingError(f"[{section}] must be a table of canonical field = ...")
        for name in table:
            if name not in FIELDS_BY_NAME:
                raise MappingError(
                    f"[{section}] names unknown field {name!r}; canonical fields: {', '.join(FIELDS_BY_NAME)}")
    for name, src in m.columns.items():
        if not isinstance(src, str) or not src.strip():
            raise MappingError(f"[columns] {name} must be a non-empty column name (a string), got {src!r}")
    for name, value in m.constants.items():
        if not isinstance(value, str):
            raise MappingError(f"[constants] {name} must be a string or number, got {value!r}")
    for name, table in m.values.items():
        if not isinstance(table, AbcMapping) or not all(
                isinstance(a, str) and isinstance(b, str) for a, b in table.items()):
            raise MappingError(f"[values.{name}] must be a table of file value = canonical value (strings)")
    for opt in OPTIONS:
        value = getattr(m, opt.attr)
        if value is None and (opt.attr in ("preset", "date_format", "day_first", "max_date", "delimiter", "sheet",
                                           "number_format", "return_prefix", "adjustment_prefix",
                                           "non_merchandise_pattern")):
            continue
        problem = _check_option(opt, value)
        if problem:
            raise MappingError(f"{opt.place} = {value!r} is {problem}; allowed: {_allowed(opt)}")
    if m.max_date is not None and m.max_date < m.min_date:
        raise MappingError(f"[dates] max {m.max_date} is before min {m.min_date}")


def _merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: tables merge key by key ([values.FIELD] too), other keys replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def mapping_from_dict(doc: dict, where: str = "mapping") -> Mapping:
    """A Mapping from the parsed TOML structure (see the module doc); unknown keys are refused.

    With ``preset = "NAME"`` the mapping is laid over that preset's mapping.
    """
    top = {o.key for o in OPTIONS if not o.section}
    known_top = [*sorted(top), *TABLES, *SECTIONS]
    for key in doc:
        if key not in known_top:
            raise MappingError(f"{where}: unknown key {key!r}; expected one of {', '.join(known_top)}")
    if "preset" in doc:
        from data.importers.presets import PRESETS

        name = doc["preset"]
        problem = _check_option(OPTIONS_BY_ATTR["preset"], name)
        if problem:
            raise MappingError(f"{where}: preset = {name!r} is {problem}; allowed: "
                               f"{_allowed(OPTIONS_BY_ATTR['preset'])}")
        base = mapping_to_dict(PRESETS[name].mapping)
        doc = _merge(base, {k: v for k, v in doc.items() if k != "name"}) | {"name": doc.get("name", name)}
    kwargs: dict[str, object] = {"name": doc.get("name", Path(where).stem)}
    if "preset" in doc:
        kwargs["preset"] = doc["preset"]
    for section in TABLES:
        if section in doc:
            if not isinstance(doc[section], dict):
                raise MappingError(f"{where}: [{section}] must be a table: {TABLES[section]}")
            kwargs[section] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc[section].items()}
    if "constants" in kwargs:
        kwargs["constants"] = {k: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                               for k, v in kwargs["constants"].items()}
    if "values" in kwargs:
        kwargs["values"] = {f: {str(a): str(b) if isinstance(b, int | float) else b for a, b in t.items()}
                            if isinstance(t, dict) else t for f, t in kwargs["values"].items()}
    for section in SECTIONS:
        table = doc.get(section, {})
        if not isinstance(table, dict):
            raise MappingError(f"{where}: [{section}] must be a table")
        keys = {o.key: o for o in OPTIONS if o.section == section}
        for key, value in table.items():
            if key not in keys:
                raise MappingError(f"{where}: unknown key {key!r} in [{section}]; "
                                   f"expected one of {', '.join(keys)}")
            opt = keys[key]
            if opt.kind == "date" and isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    pass
            if opt.kind == "date" and isinstance(value, dt.datetime):
                value = value.date()
            if opt.kind == "text_list" and isinstance(value, list):
                value = tuple(value)
            kwargs[opt.attr] = value
    try:
        return Mapping(**kwargs)
    except MappingError as exc:
        raise MappingError(f"{where}: {exc}") from None


def load_mapping(path: str | Path) -> Mapping:
    """Read a TOML mapping file; raises MappingError naming the file and the bad key."""
    path = Path(path)
    try:
        # A UTF-8 byte-order mark (Notepad, Excel's "UTF-8" save) is not TOML: dropped, not refused.
        doc = tomllib.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist") from None
    except IsADirectoryError:
        raise MappingError(f"mapping file {path} is a folder, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path} is not valid TOML: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path} is not valid TOML: {str(exc).splitlines()[0]}") from None
    return mapping_from_dict(doc, str(path))


def mapping_to_dict(m: Mapping) -> dict:
    """The TOML-shaped structure of a mapping (for manifests and display); inverse of mapping_from_dict."""
    out: dict[str, object] = {"name": m.name}
    for section in TABLES:
        value = getattr(m, section)
        if value:
            out[section] = {k: (dict(v) if isinstance(v, AbcMapping) else v) for k, v in value.items()}
    defaults = {f.name: f.default for f in fields(Mapping)}
    for opt in OPTIONS:
        value = getattr(m, opt.attr)
        if opt.attr == "name" or value == defaults.get(opt.attr) or value is None:
            continue
        value = list(value) if isinstance(value, tuple) else value
        if opt.section:
            out.setdefault(opt.section, {})[opt.key] = value
        else:
            out[opt.key] = value
    return out
