"""`python -m data ...`: generate, import, info, validate, upgrade, export, schema-doc."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from data import settings
from data.tables import ALL_TABLES

app = typer.Typer(
    help="Retail Pulse warehouse tools. The warehouse path comes from --warehouse, else the "
    "RETAIL_PULSE_WAREHOUSE environment variable, else warehouse/retail_pulse.duckdb.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # one message, one line (scripts grep it)

WarehouseOpt = Annotated[
    Optional[Path],
    typer.Option("--warehouse", "-w", help="Warehouse file (default: $RETAIL_PULSE_WAREHOUSE or "
                 f"{settings.get('warehouse', {})}).", show_default=False),
]


def shown(text: object) -> str:
    """Text from a file made safe for the terminal: control characters (ESC sequences that clear the screen
    or plant OSC 8 links, bidi overrides...) shown as \\x1b-style escapes, then rich markup escaped."""
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return escape(text)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {shown(message)}")
    raise typer.Exit(code)


def _check_file(file: Path) -> None:
    if file.is_dir():
        _fail(f"{file} is a folder; give the file to import (CSV, gzipped CSV, Parquet or .xlsx)")
    if not file.exists():
        _fail(f"{file}: no such file")


@app.command()
def generate(
    warehouse: WarehouseOpt = None,
    size: Annotated[str, typer.Option(help="tiny (tests), demo (< 30 s) or benchmark (10M orders).")] = "demo",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same warehouse.")] = 42,
    end_date: Annotated[Optional[str], typer.Option(help="Last day of data, YYYY-MM-DD (default fixed).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing warehouse file.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Build a demo warehouse with planted ground truth (seeded, deterministic)."""
    from data.generator import SIZES, generate as run_generate

    if size not in SIZES:
        _fail(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    path = settings.warehouse_path(warehouse)
    if path.exists() and not overwrite:
        _fail(f"{path} already exists; pass --overwrite to replace it")
    kwargs = {}
    if end_date:
        try:
            kwargs["end_date"] = dt.date.fromisoformat(end_date)
        except ValueError:
            _fail(f"--end-date {end_date!r} is not a date in YYYY-MM-DD form")
    report = run_generate(path, size=size, seed=seed, progress=not quiet, overwrite=overwrite, **kwargs)
    console.print(f"Built {path} ({size}, seed {seed}) in {report.seconds:.1f} s")
    for name, rows in report.rows.items():
        console.print(f"  {name:<28} {rows:>12,}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel (.xlsx) file to import.")],
    warehouse: WarehouseOpt = None,
    preset: Annotated[Optional[str], typer.Option(help="Column preset: online_retail_ii or customer_shopping.")] = None,
    mapping: Annotated[Optional[Path], typer.Option(help="TOML mapping file of your columns (see README).")] = None,
    merchant: Annotated[Optional[str], typer.Option(
        help="Merchant the rows belong to: its id (digits are always an id, never a name), or name:NAME "
             "e.g. 'name:Gift Shop'.")] = None,
    create_merchant: Annotated[Optional[str], typer.Option(
        help="Create the merchant by name if no merchant has that name: 'Name,COUNTRY,CURRENCY' e.g. "
             "'Gift Shop,GB,GBP' (a name of digits only is refused: it would read as an id).")] = None,
    mode: Annotated[str, typer.Option(help="refuse: any bad row refuses the file; skip: load the good rows.")]
    = "refuse",
    report: Annotated[Optional[Path], typer.Option(help="Write every rejected row (line, column, value, "
                                                   "reason) to this CSV.")] = None,
    multi_merchant: Annotated[bool, typer.Option(
        "--multi-merchant", help="Load each row into the merchant its merchant column names (rows naming none go "
        "to --merchant). Without it, rows naming another merchant than --merchant are rejected.")] = False,
) -> None:
    """Validate a file and load it all-or-nothing (staged for the running dashboard if it holds the file)."""
    from data.importers import import_file

    if mode not in ("refuse", "skip"):
        _fail(f"--mode {mode!r}: choose refuse or skip", code=2)
    chosen = _mapping_choice(preset, mapping)
    _check_file(file)
    create = None
    if create_merchant:
        parts = [p.strip() for p in create_merchant.rsplit(",", 2)]  # the name may hold commas
        if len(parts) != 3 or not all(parts):
            _fail(f"--create-merchant {create_merchant!r}: expected 'Name,COUNTRY,CURRENCY'")
        create = tuple(parts)
    try:
        result = import_file(
            settings.warehouse_path(warehouse), file, preset=chosen[0], mapping=chosen[1],
            merchant=merchant, create_merchant=create, mode=mode, multi_merchant=multi_merchant,
        )
    except ValueError as exc:  # a malformed --create-merchant (country, currency) is named by the message
        _fail(str(exc).replace("create_merchant", "--create-merchant"), code=2)
    _write_report(result.rejects, report)
    if result.status == "refused":
        if result.rejects is not None and result.rejects.height:
            _print_rejects(result.rejects)
        _fail(result.message, code=2)
    console.print(shown(result.message))
    for warning in result.warnings:
        console.print(shown(f"note: {warning}"))


def _mapping_choice(preset: str | None, mapping: Path | None):
    """(preset name, Mapping) from --preset / --mapping; a bad choice or mapping file exits 2 with one line."""
    from data.importers import PRESETS, MappingError, load_mapping

    if preset and mapping:
        _fail(f"give --preset or --mapping, not both; to change a few columns of preset {preset!r}, write "
              f"preset = \"{preset}\" at the top of {mapping} and run with --mapping only", code=2)
    if preset and preset not in PRESETS:
        _fail(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", code=2)
    if mapping is None:
        return preset, None
    try:
        return None, load_mapping(mapping)
    except MappingError as exc:
        _fail(f"mapping: {exc}", code=2)


def _write_report(rejects, report: Path | None) -> None:
    """--report: always written (header only when nothing was rejected)."""
    from data.importers.report import count_phrase, empty_rejects, write_rejects_csv

    if report is None:
        return
    rejects = rejects if rejects is not None else empty_rejects()
    try:
        write_rejects_csv(rejects, report)
    except OSError as exc:
        _fail(f"--report {report}: cannot write it ({exc.strerror})", code=2)
    console.print(shown(f"{count_phrase(rejects)} written to {report}"))


def _print_rejects(rejects, limit: int = 20) -> None:
    from data.importers.report import count_phrase

    table = RichTable("line", "column", "value", "reason", title=f"Rejected: {count_phrase(rejects)}")
    for row in rejects.head(limit).iter_rows():
        table.add_row(*(shown(v) if v is not None else "" for v in row[:4]))
    err.print(table)


@app.command()
def info(warehouse: WarehouseOpt = None) -> None:
    """Tables, row counts, date ranges, schema and data version."""
    from data import schema, warehouse as wh
    from data.info import compute_table_stats, data_as_of

    path = settings.warehouse_path(warehouse)
    try:
        con = wh.open_for_reading(path)
    except (wh.WarehouseMissing, wh.WarehouseBusy, schema.SchemaError) as exc:
        _fail(str(exc))
    with con:
        meta = dict(con.execute("SELECT key, value FROM main.meta ORDER BY key").fetchall())
        as_of = data_as_of(meta.get("data_as_of"), con.execute("SELECT max(order_ts) FROM main.orders").fetchone()[0])
        console.print(f"[bold]{shown(path)}[/]  schema v{meta.get('schema_version')}  data version "
                      f"{meta.get('data_version')}  data as of {as_of or 'n/a'}")
        stats = compute_table_stats(wh.ibis_backend(con.cursor()), ALL_TABLES)
    out = RichTable("table", "rows", "from", "to", "date column")
    for row in stats.iter_rows(named=True):
        out.add_row(row["table"], f"{row['rows']:,}", row["first"] or "", row["last"] or "", row["date_column"] or "")
    console.print(out)


@app.command()
def validate(
    warehouse: WarehouseOpt = None,
    file: Annotated[Optional[Path], typer.Option(help="Dry-run: validate this import file, write nothing.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Preset for --file.")] = None,
    mapping: Annotated[Optional[Path], typer.Option(help="TOML mapping for --file.")] = None,
    report: Annotated[Optional[Path], typer.Option(help="With --file: write every rejected row (line, column, "
                                                   "value, reason) to this CSV.")] = None,
    merchant: Annotated[Optional[str], typer.Option(
        help="With --file: also run import's warehouse checks (read-only) for this merchant (id, or "
             "name:NAME): rows naming another merchant, orders already loaded.")] = None,
) -> None:
    """Check the warehouse's keys, references and arithmetic, or dry-run an import file (--file)."""
    if file is None and (preset or mapping or report or merchant):
        _fail("--preset, --mapping, --report and --merchant go with --file (the import file to dry-run)", code=2)
    if file is not None:
        from data.importers import validate_file

        chosen = _mapping_choice(preset, mapping)
        _check_file(file)
        result = validate_file(file, preset=chosen[0], mapping=chosen[1], merchant=merchant,
                               warehouse_path=settings.warehouse_path(warehouse) if merchant else None)
        _write_report(result.rejects, report)
        if result.rejects.height:
            _print_rejects(result.rejects)
        if result.fatal or result.rejects.height:
            _fail(result.message, code=2)
        console.print(shown(result.message))
        if merchant is None:
            console.print("note: not checked here (they need the warehouse and the merchant): rows naming "
                          "another merchant, and orders already in the warehouse; add --merchant ID to check "
                          "them too")
        return
    from data import schema, warehouse as wh
    from data.checks import run_checks

    path = settings.warehouse_path(warehouse)
    try:
        con = wh.open_for_reading(path)
    except (wh.WarehouseMissing, wh.WarehouseBusy, schema.SchemaError) as exc:
        _fail(str(exc))
    with con:
        results = run_checks(con)
    failed = [r for r in results if not r.ok]
    for r in results:
        mark = "[green]ok[/]  " if r.ok else f"[red]FAIL[/] {r.violations:,} rows, e.g. {r.sample[:3]}"
        console.print(f"{mark} {r.check.name}: {r.check.doc}")
    if failed:
        _fail(f"{len(failed)} of {len(results)} checks failed", code=2)
    console.print(f"All {len(results)} checks passed.")


@app.command()
def upgrade(warehouse: WarehouseOpt = None) -> None:
    """Upgrade an older warehouse to this version's schema, keeping its data."""
    from data import schema, warehouse as wh

    path = settings.warehouse_path(warehouse)
    if not path.exists():
        _fail(f"No warehouse at {path}")
    try:
        con = wh._connect(path, read_only=False)
        with con:
            before, after = schema.upgrade(con, str(path))
    except (wh.WarehouseBusy, schema.SchemaError) as exc:
        _fail(str(exc))
    console.print(f"{path}: schema v{before} -> v{after}" if before != after else f"{path} is already v{after}")


@app.command()
def export(
    warehouse: WarehouseOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for the Parquet datasets "
                                                "(default $RETAIL_PULSE_PARQUET_DIR).")] = None,
) -> None:
    """Write every observed table as Parquet for the Spark backend."""
    from data.spark import export_parquet

    target = out or Path(settings.get("parquet_dir"))
    export_parquet(settings.warehouse_path(warehouse), target)
    console.print(f"Exported to {target}")


@app.command("schema-doc")
def schema_doc(out: Annotated[Path, typer.Option(help="Where to write it.")] = Path("docs/SCHEMA.md")) -> None:
    """Regenerate the schema reference from data/tables.py."""
    from data.schema import render_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown())
    console.print(f"Wrote {out}")


# `python -m data store ...` (operational store: migrations, info) lives with the store in data/store/commands.py.
from data.store.commands import app as store_app  # noqa: E402

app.add_typer(store_app, name="store")
