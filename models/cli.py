"""`python -m models train | list | score | alerts check`: train models outside the dashboard, list them, score
payments, detect anomaly incidents and deliver their notifications (models/alerts/check.py).

The dashboard trains missing or stale models itself in the background; this command is for
cron, first set-up and retraining by hand. It opens the warehouse like the dashboard does, so it
cannot run while the dashboard holds the file (DuckDB allows one writing process): it then says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from data import settings

app = typer.Typer(help="Retail Pulse models: train, list, score, alerts.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)

WarehouseOpt = Annotated[Optional[Path], typer.Option("--warehouse", "-w", help="Warehouse file (default: "
                         "$RETAIL_PULSE_WAREHOUSE).", show_default=False)]


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _open(warehouse: Optional[Path]):
    from data.warehouse import Warehouse, WarehouseBusy, WarehouseMissing

    try:
        return Warehouse(settings.warehouse_path(warehouse))
    except (WarehouseBusy, WarehouseMissing) as exc:
        _fail(str(exc))


def _merchants(eng, merchant: Optional[list[int]]) -> list[int]:
    from data.access import DataAccess, Scope

    a = DataAccess(eng.backend(), Scope.unrestricted())
    known = a.to_polars(a.table("merchants").select("merchant_id"))["merchant_id"].to_list()
    if not merchant:
        return sorted(known)
    unknown = sorted(set(merchant) - set(known))
    if unknown:
        _fail(f"--merchant {', '.join(map(str, unknown))}: no such merchant (known: {', '.join(map(str, known))})")
    return sorted(set(merchant))


@app.command()
def train(
    kind: Annotated[Optional[list[str]], typer.Option("--kind", "-k", help="Model kind (repeatable); "
                    "default: every kind.")] = None,
    merchant: Annotated[Optional[list[int]], typer.Option("--merchant", "-m", help="Merchant id (repeatable); "
                        "default: every merchant.")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Train (and save, signed) the given kinds for the given merchants, showing progress."""
    from models import registry
    from models.artifacts import ModelStore, models_dir_for

    kinds = registry.load_families()
    chosen = kind or sorted(kinds)
    unknown = [k for k in chosen if k not in kinds]
    if unknown:
        _fail(f"--kind {', '.join(unknown)}: unknown model kind; known: {', '.join(sorted(kinds))}")
    eng = _open(warehouse)
    store = ModelStore(models_dir_for(eng.path))
    version = eng.data_version()
    decisions = _decisions_store(eng.path, chosen)
    failures = 0
    for merchant_id in _merchants(eng, merchant):
        for key in chosen:
            label = f"{key} / merchant {merchant_id}"

            def show(fraction: float, text: str, label: str = label) -> None:
                console.print(f"  {label}: {fraction:4.0%} {escape(text)}")

            try:
                saved = registry.train(key, eng.backend, merchant_id, version, store, progress=show,
                                       operational_store=decisions)
            except Exception as exc:  # noqa: BLE001 - one line per failure, the others go on
                failures += 1
                err.print(f"[bold red]failed:[/] {escape(label)}: {escape(str(exc))}")
                continue
            console.print(f"[green]saved[/] {escape(label)} version {saved.version} "
                          f"({saved.meta['training_seconds']} s)")
    raise typer.Exit(1 if failures else 0)


def _decisions_store(path, kinds):
    """The operational store, for kinds that learn from review decisions (None when none is trained or it is
    unavailable: the kind then trains on chargebacks alone, and its card says so)."""
    from data.store import StoreUnavailable, open_store
    from models import registry

    if not any(registry.get_kind(k).feedback for k in kinds):
        return None
    try:
        return open_store(warehouse=path)
    except StoreUnavailable as exc:
        err.print(f"[yellow]no review decisions:[/] {escape(str(exc))}; training on chargebacks alone")
        return None


@app.command("list")
def list_models(warehouse: WarehouseOpt = None) -> None:
    """Saved models: kind, merchant, newest version, data version, and whether it is stale or refused."""
    from models import registry
    from models.artifacts import ModelFileError, ModelStore, models_dir_for

    eng = _open(warehouse)
    store = ModelStore(models_dir_for(eng.path))
    current = eng.data_version()
    table = RichTable("kind", "merchant", "version", "data version", "state")
    for key in sorted(registry.load_families()):
        for merchant_id in _merchants(eng, None):
            if not store.versions(key, merchant_id):
                continue
            try:
                saved = store.load(key, merchant_id)
                state = "stale" if registry.is_stale(saved, current) else "current"
                table.add_row(key, str(merchant_id), saved.version, str(saved.data_version), state)
            except ModelFileError as exc:
                table.add_row(key, str(merchant_id), "-", "-", escape(f"refused: {exc}"))
    console.print(table)


def _since(text: Optional[str], option: str = "--since"):
    import datetime as dt

    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(f"{option} {text!r}: not a date or time; write it as 2026-03-01 or 2026-03-01T14:00")


@app.command()
def score(
    merchant: Annotated[Optional[list[int]], typer.Option("--merchant", "-m", help="Merchant id (repeatable); "
                        "default: every merchant.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Score payments made from this date or time "
                     "(ISO, e.g. 2026-03-01); default: the last 7 days of payments.", show_default=False)] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Score payments with each merchant's saved fraud model and put the flagged ones in the review queue.

    A payment already in the queue is left as it is, so running this again enqueues nothing new.
    """
    from data.store import Principal, open_store
    from data.store.errors import StoreUnavailable
    from models.artifacts import ModelFileError, ModelStore, models_dir_for
    from models.fraud.commands import score_merchant

    start = _since(since)
    eng = _open(warehouse)
    models = ModelStore(models_dir_for(eng.path))
    try:
        store = open_store(warehouse=eng.path)
    except StoreUnavailable as exc:
        _fail(str(exc))
    job = Principal.staff("scoring-job")
    failures = 0
    for merchant_id in _merchants(eng, merchant):
        label = f"fraud_score / merchant {merchant_id}"
        try:
            result = score_merchant(eng.backend, models, store, job, merchant_id, since=start,
                                    progress=lambda text, label=label: console.print(f"  {label}: {escape(text)}"))
        except (ModelFileError, ValueError) as exc:
            failures += 1
            err.print(f"[bold red]failed:[/] {escape(label)}: {escape(str(exc))}")
            continue
        console.print(f"[green]scored[/] {escape(label)}: {result.scored:,} payments, {result.flagged:,} flagged "
                      f"at score >= {result.threshold:.3f}, {result.added:,} newly queued")
    raise typer.Exit(1 if failures else 0)


alerts_app = typer.Typer(help="Anomaly alerts: detect incidents and deliver notifications.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("check")
def alerts_check(
    merchant: Annotated[Optional[list[int]], typer.Option("--merchant", "-m", help="Merchant id (repeatable); "
                        "default: every merchant.")] = None,
    hours: Annotated[int, typer.Option("--hours", min=1, max=24 * 60, help="How many hours back to look "
                     "for incidents, before each merchant's last complete hour of orders.")] = 24,
    until: Annotated[Optional[str], typer.Option("--until", help="Look before this time (ISO, shop time) "
                     "instead of each merchant's last order.", show_default=False)] = None,
    grain: Annotated[Optional[list[str]], typer.Option("--grain", help="hour and/or day (repeatable); "
                     "default: hour.")] = None,
    deliver_only: Annotated[bool, typer.Option("--deliver-only", help="Send what is queued; detect "
                            "nothing.")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Detect incidents for every merchant, store them, and send the notifications due (for cron or a
    systemd timer; safe beside the dashboard, beside another run, and after a crash)."""
    import datetime as dt

    from data.store import open_store
    from data.store.errors import StoreUnavailable
    from models.alerts import check

    grains = tuple(grain or ["hour"])
    bad = [g for g in grains if g not in check.GRAINS]
    if bad:
        _fail(f"--grain {', '.join(bad)}: use hour or day")
    end = _since(until, "--until")
    path = settings.warehouse_path(warehouse)
    if not deliver_only and not Path(path).exists():
        # A mistyped path is a setting to fix, not a busy warehouse: fail before a store is made beside it.
        _fail(f"no warehouse at {path}: check --warehouse or RETAIL_PULSE_WAREHOUSE (a new one is made with "
              "`python -m data generate`)")
    try:
        store = open_store(warehouse=path)
    except StoreUnavailable as exc:
        _fail(str(exc))
    access, skipped, closer = None, None, None
    if not deliver_only:
        try:
            access, closer = check.open_access(path)
        except check.WarehouseUnreadable as exc:
            skipped = str(exc)
            err.print(f"[bold yellow]detection skipped:[/] {escape(skipped)}; sending what is already queued")
    report = check.run_check(store, access, merchant_ids=merchant or None, lookback=dt.timedelta(hours=hours),
                             until=end, grains=grains, base_url=settings.get("public_url"),
                             skipped=skipped, progress=lambda text: console.print(f"  {escape(text)}"))
    if closer is not None:
        closer()
    store.close()
    for failure in report.failures:
        err.print(f"[bold red]failed:[/] {escape(failure)}")
    for error in report.delivery.errors:
        err.print(f"[yellow]not delivered:[/] {escape(error)}")
    d = report.delivery
    console.print(f"{report.merchants} merchants, {report.new_incidents} new incidents "
                  f"({report.updated_incidents} updated), {report.queued} notifications and {report.digests} "
                  f"digests queued in {report.detection_seconds:.1f} s; sent {d.sent}, retrying {d.retrying}, "
                  f"gave up {d.failed}, cancelled {d.cancelled} in {report.delivery_seconds:.1f} s")
    raise typer.Exit(1 if report.failures or d.failed else (75 if skipped else 0))
