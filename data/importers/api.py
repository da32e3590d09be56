"""import_file and validate_file: the two entry points the CLI and the admin page call."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import polars as pl

from data import inbox, warehouse
from data.importers.load import MODES, MerchantSpec, load_rows
from data.importers.mapping import Mapping
from data.importers.presets import Preset, get_preset
from data.importers.read import FileProblem, read_source
from data.importers.report import ImportResult, ValidationReport, rejects_frame
from data.importers.validate import CANONICAL_SCHEMA, validate_raw


def _choose(preset: str | Preset | None, mapping: Mapping | None) -> tuple[Mapping, Preset | None]:
    if preset is not None and mapping is not None:
        raise ValueError("give a preset or a mapping, not both; to change a preset's columns or rules, "
                         "write preset = \"NAME\" at the top of the mapping file")
    if isinstance(preset, str):
        preset = get_preset(preset)
    if preset is not None:
        return preset.mapping, preset
    if mapping is not None and mapping.preset:
        # A mapping laid over a preset (mapping.py merged the options): the preset's own steps still run.
        return mapping, get_preset(mapping.preset)
    return mapping or Mapping(name="auto"), None


def validate_file(file_path: str | Path, preset: str | Preset | None = None,
                  mapping: Mapping | None = None, *, warehouse_path: str | Path | None = None,
                  merchant: str | int | None = None) -> ValidationReport:
    """Read and check ``file_path`` without touching any warehouse (a dry run).

    With neither preset nor mapping, file columns named like the canonical fields
    (data/importers/fields.py) are used. The report's ``rows`` are the canonical
    rows that would be loaded, ``rejects`` every problem (line, column, value,
    reason), ``fatal`` a file-level refusal, ``message`` a sentence for people.
    Checks needing the warehouse (the merchant of every row, orders already loaded) run
    only with ``warehouse_path`` and ``merchant`` (read-only; a warning says when the
    warehouse cannot be read), else at load.
    Raises KeyError for an unknown preset name and ValueError when given both.
    """
    mapping, preset_obj = _choose(preset, mapping)
    path = Path(file_path)
    source = path.name
    try:
        raw = read_source(path, delimiter=mapping.delimiter, encoding=mapping.encoding, sheet=mapping.sheet)
    except FileProblem as exc:
        report = ValidationReport(source=source, preset=preset_obj.name if preset_obj else mapping.name)
        report.fatal = str(exc)
        report.rows = pl.DataFrame(schema=CANONICAL_SCHEMA)
        report.rejects = rejects_frame([(exc.line, exc.column, exc.value, str(exc))])
        return report
    report = validate_raw(raw, mapping, preset_obj, source)
    if warehouse_path is not None and merchant is not None:
        _warehouse_checks(report, Path(warehouse_path), MerchantSpec(merchant))
    return report


def _warehouse_checks(report: ValidationReport, warehouse_path: Path, spec: MerchantSpec) -> None:
    """What load_rows would refuse, checked read-only: unknown merchant, rows of another merchant, orders
    already in the warehouse. Adds to ``report`` (fatal or rejects); writes nothing."""
    from data import schema
    from data.importers.load import _already_loaded, _Refused, _resolve_merchants

    if report.fatal or report.rows.is_empty():
        return
    try:
        con = warehouse.open_for_reading(warehouse_path)
    except (warehouse.WarehouseMissing, warehouse.WarehouseBusy, schema.SchemaError) as exc:
        report.warnings.append(f"not checked against the warehouse ({exc})")
        return
    labels = report.labels
    cur = con.cursor()  # a fresh cursor: the opening checks may leave a result pending on ``con``
    try:
        rows, _, rejects = _resolve_merchants(cur, report.rows, spec, dt.datetime.now(),
                                              labels.get("merchant", "merchant"))
        rejects = pl.concat([rejects, _already_loaded(cur, rows, labels.get("order_ref", "order_ref"))])
    except _Refused as exc:
        report.fatal = f"{report.source}: {exc}"
        return
    finally:
        cur.close()
        con.close()
    if rejects.height:
        report.rejects = pl.concat([report.rejects, rejects]).sort("line", maintain_order=True)


def import_file(warehouse_path: str | Path, file_path: str | Path, *, preset: str | Preset | None = None,
                mapping: Mapping | None = None, merchant: str | int | None = None,
                create_merchant: tuple[str, str, str] | None = None, mode: str = "refuse",
                import_id: str | None = None, multi_merchant: bool = False) -> ImportResult:
    """Validate ``file_path`` and load it into the warehouse all or nothing, or stage it for the dashboard.

    - preset: a name from PRESETS (e.g. "online_retail_ii"), or mapping: a Mapping (see load_mapping).
    - merchant: merchant id or name the rows belong to; create_merchant=(name, country, currency)
      creates it if no merchant has that name. Rows naming another merchant (a `merchant` column)
      are rejected, named by line, column and value, unless multi_merchant=True: then each row goes
      to the merchant it names (rows naming none to ``merchant``), and the result's per_merchant
      and main.imports (one row per merchant) say which merchant got what.
    - mode: "refuse" (default; any rejected row refuses the file and nothing is written) or "skip"
      (orders with a rejected line are skipped and counted; the rest is loaded).
    - import_id: idempotency key; made here (uuid4) when not given. Loading an import_id that is
      already in main.imports does nothing and reports status "loaded".

    When another process (the running dashboard) holds the warehouse, the validated rows are
    staged in ``<warehouse>.inbox/<import_id>/`` and that process applies them (data/inbox.py):
    status "staged". Staged loads found when this process opens the warehouse are applied first.
    Never raises for bad files or rows: status "refused" with rejects and a message instead.
    Raises ValueError for a bad mode, create_merchant tuple, or preset and mapping together.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    import_id = str(import_id or uuid.uuid4())
    spec = MerchantSpec(merchant, create_merchant, bool(multi_merchant))  # ValueError: malformed create tuple
    source = Path(file_path).name
    report = validate_file(file_path, preset=preset, mapping=mapping)
    result = ImportResult(status="refused", import_id=import_id, source=source, message="",
                          rejects=report.rejects, rows_rejected=report.rows_rejected, warnings=report.warnings,
                          line_word=report.line_word, duplicate_lines=report.duplicate_lines)
    if report.fatal:
        result.message = f"refused, nothing written: {report.fatal}"
        return result
    if report.rejects.height and mode == "refuse":
        result.message = f"refused, nothing written: {report.message}"
        return result
    if report.rows.is_empty():
        result.message = f"refused, nothing written: {source} has no loadable rows"
        return result
    if spec.default_ref is None and (not spec.multi or report.rows["merchant"].null_count()):
        result.message = (f"refused, nothing written: no merchant for {source}: pass --merchant ID (or name:NAME) or "
                          "--create-merchant 'Name,COUNTRY,CURRENCY' (on the Data page: choose the merchant)"
                          + ("" if spec.multi else "; a file whose rows name their merchants also needs "
                             "--multi-merchant"))
        return result
    try:
        con = warehouse.open_for_loading(warehouse_path)
    except warehouse.WarehouseBusy:
        staged = inbox.stage(warehouse_path, report.rows, import_id=import_id, merchant=spec, mode=mode,
                             source=source, preset=report.preset, rows_rejected=report.rows_rejected,
                             line_word=report.line_word, labels=report.labels)
        result.status, result.staged_path = "staged", staged
        result.rows_loaded = report.rows.height
        result.message = (f"{source}: {report.rows.height:,} lines validated and staged; the running dashboard "
                          f"will apply it (or the next import, if another import held the warehouse) "
                          f"(import {import_id})" + _skipped(result))
        return result
    try:
        result.applied_before = inbox.apply_pending(con, warehouse_path)
        outcome = load_rows(con, report.rows, import_id=import_id, merchant=spec, mode=mode, source=source,
                            preset=report.preset, rows_rejected=report.rows_rejected,
                            line_word=report.line_word, labels=report.labels)
    finally:
        con.close()
    if outcome.rejects.height:
        result.rejects = pl.concat([report.rejects, outcome.rejects]).sort("line", maintain_order=True)
    result.rows_rejected = outcome.rows_rejected
    result.merchant_id, result.data_version = outcome.merchant_id, outcome.data_version
    result.per_merchant = outcome.per_merchant
    if outcome.status == "refused":
        result.message = f"refused, nothing written: {source}: {outcome.message}"
        return result
    result.status, result.rows_loaded = "loaded", outcome.rows_loaded
    if outcome.status == "already":
        result.message = f"{source}: {outcome.message}"
    else:
        result.message = loaded_message(result)
    return result


def loaded_message(result: ImportResult, how: str = "") -> str:
    """'<file>: N lines loaded for merchant M (import ...)', naming each merchant of a multi-merchant load."""
    if len(result.per_merchant) > 1:
        parts = "; ".join(f"merchant {m} {name!r}: {n:,} lines" for m, name, n in result.per_merchant)
        who = f"{len(result.per_merchant)} merchants ({parts})"
    else:
        who = f"merchant {result.merchant_id}"
    return f"{result.source}: {result.rows_loaded:,} lines loaded for {who}{how} (import {result.import_id})" \
        + _skipped(result)


def _skipped(result: ImportResult) -> str:
    text = f"; {result.rows_rejected:,} rejected lines skipped" if result.rows_rejected else ""
    if result.duplicate_lines:
        text += f"; {result.duplicate_lines:,} exact duplicate lines (see the warnings)"
    return text
