"""Validation: from a raw all-string table to typed canonical rows plus every rejected row.

Nothing here touches the warehouse; checks that need it (unknown merchant, an
order already loaded) run inside the load transaction (load.py).

The canonical rows (``ValidationReport.rows``) have the columns of
``CANONICAL_SCHEMA``: ``line`` is the source line or row; money columns are
DECIMAL(18,3) in the merchant's currency; ``order_ts`` is merchant local time;
``line_no`` numbers the lines of an order from 1; ``merchant`` is the per-row
merchant reference (null = the import command's merchant).
"""

from __future__ import annotations

import polars as pl

from data.importers import parse, signals
from data.importers.duplicates import describe, duplicate_lines
from data.importers.fields import ENUMS, FIELDS, FIELDS_BY_NAME
from data.importers.mapping import Mapping
from data.importers.presets import Preset
from data.importers.read import LINE, FileProblem, RawTable
from data.importers.report import (COLLATERAL_PREFIX, REJECT_SCHEMA, ValidationReport, empty_rejects,
                                   rejects_frame)
from data.tables import PAYMENT_SIGNALS

MONEY = parse.MONEY
CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64, "merchant": pl.Utf8, "order_ref": pl.Utf8, "line_no": pl.Int32,
    "order_ts": pl.Datetime("us"), "order_type": pl.Utf8, "status": pl.Utf8,
    "sku": pl.Utf8, "product_name": pl.Utf8, "category": pl.Utf8, "brand": pl.Utf8,
    "is_merchandise": pl.Boolean, "quantity": pl.Int32, "unit_price": MONEY, "discount_amount": MONEY,
    "line_amount": MONEY, "unit_cost": MONEY, "customer_ref": pl.Utf8, "customer_country": pl.Utf8,
    "gender": pl.Utf8, "birth_year": pl.Int32, "store": pl.Utf8, "store_kind": pl.Utf8, "region": pl.Utf8,
    "city": pl.Utf8, "channel": pl.Utf8, "payment_method": pl.Utf8, "shipping_country": pl.Utf8,
    "shipping_region": pl.Utf8, **{name: pl.Utf8 for name in PAYMENT_SIGNALS},
}
ORDER_KEY = "__order_key"
WRITE_OFF = "__write_off"
NULL_TEXT = pl.lit(None, dtype=pl.Utf8)


def resolve_columns(file_columns: list[str], mapping: Mapping, preset: Preset | None,
                    source: str) -> tuple[dict[str, str], list[str]]:
    """canonical field -> file column, and warnings; raises FileProblem for a missing required column."""
    by_fold: dict[str, list[str]] = {}
    for c in file_columns:
        by_fold.setdefault(c.casefold(), []).append(c)

    def find(name: str) -> str | None:
        if name in file_columns:
            return name
        hits = by_fold.get(name.casefold(), [])
        return hits[0] if len(hits) == 1 else None

    sources: dict[str, str] = {}
    if mapping.is_auto:
        for f in FIELDS:
            hit = find(f.name)
            if hit is not None and f.name not in mapping.constants:
                sources[f.name] = hit
    else:
        missing = []
        for fname, col in mapping.columns.items():
            hit = find(col)
            if hit is None:
                missing.append((fname, col))
            else:
                sources[fname] = hit
        # An optional field whose column is absent is a mapping error too: the person expected it.
        if missing:
            fname, col = missing[0]
            raise FileProblem(
                f"{source}: column {col!r} (mapped to {fname}) is missing; the file has columns: "
                f"{', '.join(file_columns)}", column=col)
    provided = set(sources) | set(mapping.constants) | set(preset.provides if preset else ())
    for f in FIELDS:
        if f.required and f.name not in provided:
            raise FileProblem(f"{source}: required field {f.name} has no column "
                              f"(file columns: {', '.join(file_columns)})", column=f.name)
    if not {"unit_price", "line_amount"} & provided:
        raise FileProblem(f"{source}: needs a unit_price or a line_amount column "
                          f"(file columns: {', '.join(file_columns)})", column="unit_price")
    used = set(sources.values())
    extra = [c for c in file_columns if c not in used]
    warnings = []
    if extra and mapping.extra_columns == "refuse":
        raise FileProblem(f"{source}: column {extra[0]!r} is not in the mapping (extra_columns = \"refuse\"); "
                          f"extra columns: {', '.join(extra)}", column=extra[0])
    if extra and mapping.extra_columns == "report":
        warnings.append(f"columns ignored (not mapped): {', '.join(extra)}")
    return sources, warnings


def _string_frame(raw: RawTable, sources: dict[str, str], mapping: Mapping) -> pl.DataFrame:
    # Columns get positional names first: pl.col("^...$") would read a file's column name as a regex.
    frame = raw.frame.clone()  # cheap: the buffers are shared
    position = {name: f"__c{i}" for i, name in enumerate(frame.columns)}
    frame.columns = [position[c] if c != LINE else LINE for c in frame.columns]
    exprs = [pl.col(LINE).alias("line")]
    for f in FIELDS:
        name = _region_source(sources, mapping) if f.name == "shipping_region" else f.name
        if name in sources:
            e = pl.col(position[sources[name]]).str.strip_chars()
        elif name in mapping.constants:
            e = pl.lit(mapping.constants[name], dtype=pl.Utf8)
        else:
            e = NULL_TEXT
        e = pl.when(e.str.len_chars() > 0).then(e)
        table = mapping.values.get(f.name)
        if table:
            e = e.replace(dict(table))
        exprs.append(e.alias(f.name))
    return frame.select(exprs)


def _region_source(sources: dict[str, str], mapping: Mapping) -> str:
    """The field shipping_region is read from: itself, or (rules.country_as_region, no region given) the
    shipping country, else the customer's country, so a file with countries only still has regions."""
    given = set(sources) | set(mapping.constants)
    if not mapping.country_as_region or {"shipping_region", "region"} & given:
        return "shipping_region"
    return next((c for c in ("shipping_country", "customer_country") if c in given), "shipping_region")


class _Rejects:
    """Collects reject frames: (line, column label, raw value, reason)."""

    def __init__(self, labels: dict[str, str]):
        self.labels = labels
        self.parts: list[pl.DataFrame] = []

    def add(self, frame: pl.DataFrame, field: str, reason: pl.Expr, value: pl.Expr | None = None) -> None:
        hit = frame.lazy().select(
            pl.col("line"), pl.lit(self.labels.get(field, field)).alias("column"),
            (value if value is not None else pl.col(field).cast(pl.Utf8)).alias("value"),
            reason.alias("reason"),
        ).filter(pl.col("reason").is_not_null()).collect()
        if hit.height:
            self.parts.append(hit.cast(REJECT_SCHEMA))

    def frame(self) -> pl.DataFrame:
        return pl.concat(self.parts) if self.parts else empty_rejects()


def _type(s: pl.DataFrame, mapping: Mapping, given: set[str], rj: _Rejects) -> pl.DataFrame:
    """Typed columns; each unparsable value becomes a reject and a null. Absent fields stay null."""
    lo, hi = mapping.min_date, mapping.effective_max_date()
    dtypes = {f.name: CANONICAL_SCHEMA.get(f.name, pl.Int32) for f in FIELDS}
    # Dates are parsed once into a helper column: the reasons below read it instead of re-parsing.
    s = s.with_columns(parse.datetime_value(pl.col("order_ts"), mapping.date_format, mapping.day_first)
                       .alias("__ts"))
    typed = []
    for f in FIELDS:
        col = pl.col(f.name)
        if f.name not in given:
            if f.kind != "text" or f.name in ENUMS or f.name in ("payment_method", *signals.PARSED_HERE):
                typed.append((f.name, parse.Parsed(pl.lit(None, dtype=dtypes[f.name]), NULL_TEXT)))
            continue
        if f.kind == "int":
            p = parse.parse_int(col, mapping.number_format or PLAIN_NUMBERS)
        elif f.kind == "money":
            p = parse.parse_money(col, mapping.number_format or PLAIN_NUMBERS)
        elif f.kind == "datetime":
            p = parse.datetime_problems(col, pl.col("__ts"), mapping.date_format, lo, hi)
        elif f.name in ENUMS:
            choices = ENUMS[f.name]
            spelled = parse.slug(col) if f.name == "auth_result" else col.str.to_lowercase()
            value = spelled.replace_strict(choices, default=None, return_dtype=pl.Utf8)
            expected = ", ".join(dict.fromkeys(choices.values()))
            p = parse.Parsed(value, pl.when(col.is_not_null() & value.is_null())
                             .then(pl.lit(f"unknown {f.name}; expected one of {expected}")))
        elif f.name == "payment_method":
            p = parse.Parsed(parse.slug(col), NULL_TEXT)
        elif f.name in signals.PARSED_HERE:
            p = signals.parse_signal(f.name, col)
        else:
            continue
        typed.append((f.name, p))
    for name, p in typed:
        if name in given:  # a card number never reaches the rejects report: only its last four digits
            rj.add(s, name, p.bad, signals.masked(pl.col(name)) if name in signals.PARSED_HERE else None)
    t = s.with_columns([p.value.alias(name) for name, p in typed]).drop("__ts")
    for f in FIELDS:
        if f.required:
            rj.add(s, f.name, pl.when(pl.col(f.name).is_null()).then(pl.lit(f"missing {f.name}")))
    rj.add(s, "unit_price", pl.when(pl.col("unit_price").is_null() & pl.col("line_amount").is_null())
           .then(pl.lit("missing unit_price (and no line_amount to derive it from)")))
    return t


def _to_mills(e: pl.Expr) -> pl.Expr:
    return (e * 1000).cast(pl.Int64)


def _from_mills(e: pl.Expr) -> pl.Expr:
    return (e.cast(pl.Decimal(18, 0)).cast(MONEY) / 1000).cast(MONEY)


def _derive(t: pl.DataFrame, s: pl.DataFrame, mapping: Mapping, rj: _Rejects) -> pl.DataFrame:
    q, up, la = pl.col("quantity"), pl.col("unit_price"), pl.col("line_amount")
    # unit_price from line_amount, rounded half away from zero to 0.001 (exact integer arithmetic).
    a, b = _to_mills(la).abs(), q.cast(pl.Int64).abs()
    sign = pl.when((la < 0) != (q < 0)).then(-1).otherwise(1)
    derived_up = pl.when(b > 0).then(_from_mills(sign * ((2 * a + b) // (2 * b))))
    t = t.with_columns(
        pl.col("discount_amount").fill_null(pl.lit(0).cast(MONEY)),
        pl.coalesce(up, derived_up).alias("unit_price"),
        pl.col("line_amount").alias("__given_la"),
    )
    computed = (q * pl.col("unit_price") - pl.col("discount_amount")).cast(MONEY)
    t = t.with_columns(pl.coalesce(la, computed).alias("line_amount"))
    t = t.with_columns(s.select(pl.col("line_amount").alias("__la_raw")))
    both = pl.col("__given_la").is_not_null() & up.is_not_null()
    gap = (pl.col("__given_la").cast(pl.Float64) - computed.cast(pl.Float64)).abs()
    tolerance = pl.max_horizontal(pl.lit(0.01), 0.005 * q.cast(pl.Float64).abs()) + 1e-9
    rj.add(t, "line_amount", pl.when(both & (gap > tolerance)).then(
        pl.format("line_amount differs from quantity x unit_price - discount ({})", computed.cast(pl.Utf8))),
        value=pl.col("__la_raw"))
    # birth_year from age at the order's year.
    year = pl.col("order_ts").dt.year()
    rj.add(t, "age", pl.when((pl.col("age") < 0) | (pl.col("age") > 120)).then(pl.lit("age outside 0..120")))
    by = pl.coalesce(pl.col("birth_year"), pl.when(pl.col("age").is_between(0, 120)).then(year - pl.col("age")))
    t = t.with_columns(by.cast(pl.Int32).alias("birth_year"))
    rj.add(t, "birth_year", pl.when((pl.col("birth_year") < 1900) | (pl.col("birth_year") > year))
           .then(pl.lit("birth year outside 1900 .. the order's year")))
    # Document type: the mapped value, else the order_ref prefix, else sale.
    ref = pl.col("order_ref")
    by_prefix = pl.lit("sale")
    if mapping.adjustment_prefix:
        by_prefix = pl.when(ref.str.starts_with(mapping.adjustment_prefix)).then(pl.lit("adjustment")) \
            .otherwise(by_prefix)
    if mapping.return_prefix:
        by_prefix = pl.when(ref.str.starts_with(mapping.return_prefix)).then(pl.lit("return")).otherwise(by_prefix)
    sku = pl.col("sku")
    non_merch = sku.is_in(list(mapping.non_merchandise_skus))
    if mapping.non_merchandise_pattern:
        non_merch = non_merch | sku.str.contains(mapping.non_merchandise_pattern)
    return t.with_columns(
        pl.coalesce(pl.col("order_type"), by_prefix).alias("order_type"),
        pl.col("status").fill_null("completed"),
        pl.lit(mapping.store_kind).alias("store_kind"),
        (~non_merch.fill_null(False)).alias("is_merchandise"),
    )


def _write_offs(t: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """rules.write_offs = "adjustments": a sale order whose every line takes stock out at price 0 with no
    customer is a stock write-off, loaded as an adjustment; its lines skip the sign and zero-price rules."""
    if mapping.write_offs != "adjustments":
        return t.with_columns(pl.lit(False).alias(WRITE_OFF))
    line = (pl.col("quantity") < 0) & (pl.col("unit_price") == 0) & pl.col("customer_ref").is_null()
    whole = line.fill_null(False).all().over(ORDER_KEY) & (pl.col("order_type") == "sale")
    return t.with_columns(whole.alias(WRITE_OFF)).with_columns(
        pl.when(pl.col(WRITE_OFF)).then(pl.lit("adjustment")).otherwise(pl.col("order_type")).alias("order_type"))


def _rules(t: pl.DataFrame, s: pl.DataFrame, mapping: Mapping, rj: _Rejects, price_field: str) -> None:
    q, up, kind = pl.col("quantity"), pl.col("unit_price"), pl.col("order_type")
    ruled = ~pl.col(WRITE_OFF)  # write-offs were judged whole by _write_offs
    t = t.with_columns(s.select(pl.col("quantity").alias("__q_raw"), pl.col(price_field).alias("__p_raw")))
    qv, pv = pl.col("__q_raw"), pl.col("__p_raw")
    rj.add(t, "quantity", pl.when(q == 0).then(pl.lit("quantity is 0")), qv)
    allowed = {"refuse": [], "returns": ["return"], "returns_and_adjustments": ["return", "adjustment"]}[
        mapping.negative_quantity]
    if allowed:
        why = pl.format("negative quantity on a {} document; only {} documents may have one", kind,
                        pl.lit(" or ".join(allowed)))
    else:
        why = pl.lit("negative quantity; this mapping refuses them (rules.negative_quantity)")
    rj.add(t, "quantity", pl.when((q < 0) & ~kind.is_in(allowed) & ruled).then(why), qv)
    if mapping.negative_price == "adjustments":
        why = pl.format("negative price on a {} document; only adjustments may have one", kind)
        neg_ok = kind == "adjustment"
    else:
        why, neg_ok = pl.lit("negative price; this mapping refuses them (rules.negative_price)"), pl.lit(False)
    rj.add(t, price_field, pl.when((up < 0) & ~neg_ok).then(why), pv)
    if mapping.zero_price == "refuse":
        rj.add(t, price_field, pl.when((up == 0) & ruled).then(
            pl.lit("price is 0; this mapping refuses free lines (rules.zero_price)")), pv)
    rj.add(t, "discount_amount", pl.when(pl.col("discount_amount") < 0).then(pl.lit("negative discount")))
    rj.add(t, "unit_cost", pl.when(pl.col("unit_cost") < 0).then(pl.lit("negative unit cost")))


def _order_checks(t: pl.DataFrame, given: set[str], rj: _Rejects) -> pl.DataFrame:
    """One customer, store and document type per order; unique (order, line_no) when line_no is mapped."""
    keys = [ORDER_KEY]
    checked = [f for f in ("customer_ref", "store", "order_type", "status", *PAYMENT_SIGNALS) if f in given]
    if checked:
        firsts = t.group_by(keys).agg(pl.col("line").first().alias("__first_line"),
                                      *(pl.col(f).first().alias(f"__first_{f}") for f in checked))
        joined = t.join(firsts, on=keys, how="left", maintain_order="left")
        for fname in checked:
            first = pl.col(f"__first_{fname}")
            rj.add(joined, fname, pl.when(pl.col(fname).ne_missing(first)).then(pl.format(
                "order {} has {} {} on line {}", pl.col("order_ref"), pl.lit(fname),
                first.fill_null("(empty)"), pl.col("__first_line"))))
    if "line_no" in given:
        dup_first = pl.col("line").first().over(keys + ["line_no"])
        rj.add(t, "line_no", pl.when(pl.col("line_no").is_not_null() & (pl.col("line") != dup_first)).then(
            pl.format("duplicate key: order {} line_no {} is also on line {}", pl.col("order_ref"),
                      pl.col("line_no"), dup_first)))
        return t
    return t.with_columns((pl.int_range(pl.len(), dtype=pl.Int32).over(keys) + 1).alias("line_no"))


def validate_raw(raw: RawTable, mapping: Mapping, preset: Preset | None, source: str) -> ValidationReport:
    """Type and check every row of ``raw``; see the module doc for the canonical columns."""
    report = ValidationReport(source=source, preset=preset.name if preset else mapping.name,
                              line_word=raw.line_word)
    try:
        sources, warnings = resolve_columns(raw.columns, mapping, preset, source)
    except FileProblem as exc:
        return _fatal(report, exc)
    report.warnings += warnings
    labels = {f: sources.get(f, f) for f in FIELDS_BY_NAME}
    report.labels = labels
    s = _string_frame(raw, sources, mapping)
    blank = pl.all_horizontal([pl.col(f.name).is_null() for f in FIELDS if f.name in sources])
    nblank = s.filter(blank).height
    s = s.filter(~blank)
    if nblank:
        report.warnings.append(f"{nblank} empty rows ignored")
    report.rows_read = s.height + len(raw.rejects)
    dups = duplicate_lines(raw).filter(pl.col("line").is_in(s["line"].implode()))
    report.duplicate_lines = dups.height
    if dups.height:
        report.warnings.append(describe(dups, mapping.duplicate_lines, raw.line_word))
        if mapping.duplicate_lines == "drop":
            s = s.filter(~pl.col("line").is_in(dups["line"].implode()))
    if preset and preset.prepare:
        s = preset.prepare(s)
    if not mapping.date_format and mapping.day_first is None:
        amb = parse.ambiguous_dates(s["order_ts"])
        if amb.any():
            first = s.filter(amb).row(0, named=True)
            evidence = parse.day_first_evidence(s["order_ts"].drop_nulls())
            label = labels["order_ts"]
            return _fatal(report, FileProblem(
                f"{source}: {raw.line_word} {first['line']}, column {label!r}: date {first['order_ts']!r} is "
                f"ambiguous (day/month order unknown){'; ' + evidence if evidence else ''}. Say which in the "
                "mapping's dates section: day_first = true or false, or format = \"...\"",
                line=first["line"], column=label, value=first["order_ts"]),
                reason="ambiguous day/month order; set day_first or a date format in the mapping")
    given = set(sources) | set(mapping.constants) | set(preset.provides if preset else ())
    european = _european_numbers(raw, s, sources, mapping, source, labels)
    if european is not None:
        return _fatal(report, european)
    rj = _Rejects(labels)
    for ln, col, val, why in raw.rejects:
        rj.parts.append(rejects_frame([(ln, col, val, why)]))
    if dups.height and mapping.duplicate_lines == "refuse":
        rj.parts.append(dups.select("line", pl.lit(None, dtype=pl.Utf8).alias("column"),
                                    pl.lit(None, dtype=pl.Utf8).alias("value"),
                                    pl.format("exact duplicate of {} {} (rules.duplicate_lines = \"refuse\")",
                                              pl.lit(raw.line_word), pl.col("first_line")).alias("reason"))
                        .cast(REJECT_SCHEMA))
    t = _type(s, mapping, given, rj)
    t = _derive(t, s, mapping, rj)
    t = t.with_columns((pl.col("merchant").fill_null("") + "\x1f" + pl.col("order_ref").fill_null(""))
                       .alias(ORDER_KEY))
    if preset and preset.classify:
        t = preset.classify(t)
    t = _write_offs(t, mapping)
    price_field = "unit_price" if "unit_price" in given else "line_amount"
    _rules(t, s, mapping, rj, price_field)
    t = _order_checks(t, given, rj)
    rejects = rj.frame()
    bad_lines = rejects["line"].drop_nulls().unique()
    bad = t.filter(pl.col("line").is_in(bad_lines.implode()))
    bad_orders = bad.group_by(ORDER_KEY).agg(pl.col("line").min().alias("__bad_line"))
    t = t.join(bad_orders, on=ORDER_KEY, how="left", maintain_order="left")
    collateral = t.filter(pl.col("__bad_line").is_not_null() & ~pl.col("line").is_in(bad_lines.implode()))
    if collateral.height:
        rejects = pl.concat([rejects, collateral.select(
            "line", pl.lit(labels["order_ref"]).alias("column"), pl.col("order_ref").alias("value"),
            pl.format(COLLATERAL_PREFIX + " {} was rejected (line {})", pl.col("order_ref"),
                      pl.col("__bad_line")).alias("reason")).cast(REJECT_SCHEMA)])
    report.rejects = rejects.sort("line", maintain_order=True)
    report.rows = t.filter(pl.col("__bad_line").is_null()).select(
        [pl.col(c).cast(dt) for c, dt in CANONICAL_SCHEMA.items()])
    return report


PLAIN_NUMBERS = "1234.56"
# 1.000 / 12.345.678 (dot thousands) or 2,55 / 1.234,56 (decimal comma).
_EUROPEAN = r"^[+-]?(\d{1,3}(\.\d{3})+(,\d+)?|\d+,\d+)$"


def _european_numbers(raw: RawTable, s: pl.DataFrame, sources: dict, mapping: Mapping, source: str,
                      labels: dict) -> FileProblem | None:
    """A ";"-separated file with no number_format whose numbers look European, named by its first such value.

    Read as "1234.56", quantity 1.000 became 1 and price 1.299 stayed 1.299 without a word: never guess.
    """
    if raw.delimiter != ";" or mapping.number_format is not None:
        return None
    hits = []
    for f in FIELDS:
        if f.kind not in ("int", "money") or f.name not in sources or f.name not in s.columns:
            continue
        hit = s.filter(pl.col(f.name).str.contains(_EUROPEAN)).select("line", f.name).head(1)
        if hit.height:
            hits.append((*hit.row(0), labels[f.name]))
    if not hits:
        return None
    line, value, label = min(hits, key=lambda h: h[0])  # the first such line of the file
    return FileProblem(
        f"{source}: {raw.line_word} {line}, column {label!r}: {value!r} - this looks like a European export "
        "(\";\"-separated, dot thousands or decimal comma); set number_format = \"1.234,56\" (or \"1234.56\" if "
        "dots are decimals) in the mapping's [file] section", line=line, column=label, value=value)


def _fatal(report: ValidationReport, exc: FileProblem, reason: str | None = None) -> ValidationReport:
    report.fatal = str(exc)
    report.rows = pl.DataFrame(schema=CANONICAL_SCHEMA)
    report.rejects = rejects_frame([(exc.line, exc.column, exc.value, reason or str(exc))])
    return report
