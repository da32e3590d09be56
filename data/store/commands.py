"""`python -m data store ...`: migrate the operational store and say where it is.

Imports SQLAlchemy only when a command runs, so `python -m data` stays quick to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="The operational store (alert actions, purchase-order drafts, audit log): "
                  "RETAIL_PULSE_STATE_URL, else <warehouse>.state.sqlite.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

UrlOpt = Annotated[Optional[str], typer.Option("--url", help="Store URL (default: $RETAIL_PULSE_STATE_URL, "
                                               "else the SQLite file beside the warehouse).", show_default=False)]
WarehouseOpt = Annotated[Optional[Path], typer.Option("--warehouse", "-w", help="Warehouse whose store file "
                                                      "to use when no URL is set.", show_default=False)]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


@app.command()
def upgrade(url: UrlOpt = None, warehouse: WarehouseOpt = None) -> None:
    """Create the store if missing and apply every migration (safe while the dashboard runs)."""
    from data.store import location, migration
    from data.store.errors import StoreError
    from data.store.store import open_store

    try:
        store = open_store(url, warehouse=warehouse, migrate=False)
        before, after = migration.upgrade_to_head(store.engine)
    except StoreError as exc:
        _fail(str(exc))
    where = location.describe(store.url)
    store.close()
    console.print(escape(f"{where}: migration {before} -> {after}" if before != after
                         else f"{where} is already at migration {after}"))


@app.command()
def info(url: UrlOpt = None, warehouse: WarehouseOpt = None) -> None:
    """Where the store is, its migration, and how many rows each table holds."""
    from sqlalchemy import func, select

    from data.store import location, migration
    from data.store.errors import StoreError
    from data.store.store import open_store
    from data.store.tables import metadata

    try:
        store = open_store(url, warehouse=warehouse, migrate=False)
        current, head = migration.current_revision(store.engine), migration.head_revision()
    except StoreError as exc:
        _fail(str(exc))
    console.print(escape(f"{location.describe(store.url)}  migration {current} (this version knows {head})"))
    if current == head:
        with store.engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
                console.print(f"  {table.name:<22} {rows:>12,}")
    else:
        console.print("  run `python -m data store upgrade` to bring it to the current migration")
    store.close()
