"""First start: build the demo warehouse when none exists, once, even with several processes starting."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from data import settings
from data.warehouse import DIR_MODE, FILE_MODE


def ensure_warehouse(path: Path | None = None) -> bool:
    """Generate the configured demo warehouse at ``path`` unless a file is already there.

    Returns True when this call built it. A lock file beside the warehouse makes
    concurrent first starts wait for one build instead of racing; the generator
    itself writes to a temporary file and renames it, so nobody sees half a file.
    """
    path = Path(path) if path else settings.warehouse_path()
    if path.exists():
        return False
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".build.lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if path.exists():
            return False
        from data.generator import generate

        generate(path, size=settings.get("demo_size"), seed=int(settings.get("demo_seed")), progress=False)
        return True
    finally:
        os.close(fd)
