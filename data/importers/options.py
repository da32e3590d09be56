"""Every mapping option, declared once: its TOML place, the Mapping attribute, allowed values, default, doc.

mapping.py reads TOML through this registry (so an option cannot exist without a
declaration) and the README's mapping reference is checked against it by a test.
The tables ``[columns]``, ``[constants]`` and ``[values.FIELD]`` take canonical
field names (fields.py) and are described in ``TABLES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.importers.fields import STORE_KINDS

# number_format: the pattern people recognise, and the names accepted for it.
NUMBER_FORMATS: dict[str, tuple[str, str]] = {
    # pattern: (decimal mark, thousands separators accepted; "" = none)
    "1234.56": (".", ""),
    "1,234.56": (".", ","),
    "1.234,56": (",", "."),
    "1 234,56": (",", " \u00a0\u202f"),
    "1234,56": (",", ""),
}
NUMBER_FORMAT_NAMES: dict[str, str] = {
    "plain": "1234.56", "point_decimal": "1234.56", "comma_thousands": "1,234.56",
    "comma_decimal": "1.234,56", "dot_thousands_comma_decimal": "1.234,56",
    "space_thousands_comma_decimal": "1 234,56", "comma_decimal_no_thousands": "1234,56",
}


@dataclass(frozen=True)
class Option:
    section: str          # TOML table ("" = top level)
    key: str              # TOML key
    attr: str             # Mapping attribute
    kind: str             # choice | preset | text | char | bool | date | text_list | regex | encoding | sheet | date_format
    doc: str
    choices: tuple[str, ...] = ()

    @property
    def place(self) -> str:
        return f"[{self.section}] {self.key}" if self.section else self.key


OPTIONS: tuple[Option, ...] = (
    Option("", "name", "name", "text", "Name recorded in main.imports.preset (default: the file name)."),
    Option("", "preset", "preset", "preset", "Start from this preset (a name from the presets registry) and "
           "change only what the mapping says: columns renamed, rules, file options."),
    Option("file", "delimiter", "delimiter", "char", "CSV field separator, one character; sniffed from the "
           "header (comma, semicolon, tab or pipe) when absent."),
    Option("file", "encoding", "encoding", "encoding", "Text encoding of a CSV (`utf-8` default, `latin-1`, "
           "`cp1252`...). A UTF-8 or UTF-16 byte-order mark is always honoured."),
    Option("file", "sheet", "sheet", "sheet", "Excel sheet name, or number from 0; default the first sheet."),
    Option("file", "extra_columns", "extra_columns", "choice", "File columns the mapping does not use: "
           "`report` (a warning), `ignore`, or `refuse` the file.", ("report", "ignore", "refuse")),
    Option("file", "number_format", "number_format", "choice", "How numbers are written: `1234.56` (default), "
           "`1,234.56`, `1.234,56`, `1 234,56` or `1234,56`; names `plain`, `comma_thousands`, "
           "`comma_decimal` (= `1.234,56`), `space_thousands_comma_decimal`, `comma_decimal_no_thousands` "
           "are accepted too. Applies to quantities and amounts.",
           tuple(NUMBER_FORMATS) + tuple(NUMBER_FORMAT_NAMES)),
    Option("dates", "day_first", "day_first", "bool", "`true`: 05/08/2022 is 5 August; `false`: 8 May. "
           "Required when dates are ambiguous and no format is given."),
    Option("dates", "format", "date_format", "date_format", "strftime format such as `%d.%m.%Y %H:%M`; "
           "ISO dates are always accepted too."),
    Option("dates", "min", "min_date", "date", "Earliest accepted date (default 1970-01-01)."),
    Option("dates", "max", "max_date", "date", "Latest accepted date (default tomorrow)."),
    Option("rules", "negative_quantity", "negative_quantity", "choice", "Where negative quantities are allowed: "
           "`refuse` (default), `returns` (return documents), `returns_and_adjustments`.",
           ("refuse", "returns", "returns_and_adjustments")),
    Option("rules", "negative_price", "negative_price", "choice", "`refuse` (default) or `adjustments` "
           "(allowed on adjustment documents).", ("refuse", "adjustments")),
    Option("rules", "zero_price", "zero_price", "choice", "`refuse` (default) or `allow` free lines.",
           ("refuse", "allow")),
    Option("rules", "return_prefix", "return_prefix", "text", "order_ref prefix of return documents "
           "(e.g. `C`), when no order_type column says it."),
    Option("rules", "adjustment_prefix", "adjustment_prefix", "text", "order_ref prefix of adjustment "
           "documents (e.g. `A`)."),
    Option("rules", "non_merchandise_skus", "non_merchandise_skus", "text_list", "SKUs that are not goods "
           "(postage, fees): products.is_merchandise = false. A list of strings."),
    Option("rules", "non_merchandise_pattern", "non_merchandise_pattern", "regex", "Regular expression on the "
           "SKU for the same (the only option read as a regex; column names never are)."),
    Option("rules", "store_kind", "store_kind", "choice", "Kind of the new stores the file names.", STORE_KINDS),
    Option("rules", "write_offs", "write_offs", "choice", "Stock write-offs: an order whose every line has a "
           "negative quantity, price 0 and no customer. `refuse` (default: the sign and price rules judge them) "
           "or `adjustments` (loaded as adjustment documents, whatever negative_quantity and zero_price say).",
           ("refuse", "adjustments")),
    Option("rules", "duplicate_lines", "duplicate_lines", "choice", "Lines identical in every column to an "
           "earlier line: `keep` (default; loaded, counted in the report), `refuse` (each is rejected) or "
           "`drop` (loaded once, the repeats counted).", ("keep", "refuse", "drop")),
    Option("rules", "country_as_region", "country_as_region", "bool", "`true` (default): when no region "
           "column is mapped, an order's shipping_region is its shipping country (else the customer's "
           "country), so the Regions tab shows countries; `[values.shipping_region]` maps countries to "
           "regions of your own. `false`: leave regions empty."),
)
OPTIONS_BY_ATTR = {o.attr: o for o in OPTIONS}
SECTIONS = tuple(dict.fromkeys(o.section for o in OPTIONS if o.section))

TABLES: dict[str, str] = {
    "columns": "canonical field = \"column in the file\" (names are literal, never patterns). Without "
               "[columns], file columns named like the canonical fields are used.",
    "constants": "canonical field = value put on every row (e.g. channel = \"web\").",
    "values": "[values.FIELD] file value = canonical value, applied to that field's column before typing.",
}
