"""Small files that many processes read while one at a time rewrites them.

Writers take an exclusive ``fcntl.flock`` on ``<file>.lock`` (so read-modify-write
cycles never lose each other's changes), write a temporary file in the same
folder, fsync it, ``os.replace`` it over the old one and fsync the folder.
Readers take no lock: ``os.replace`` swaps the whole file at once, so a reader
sees the old content or the new one, never an empty or half-written file.
streamlit-authenticator rewrites its YAML in place with ``open(path, "w")``,
which is where the partial reads in PITFALLS.md come from.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def lock_path_for(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive writer lock of ``path`` (blocks until free). Works across processes and threads."""
    lock = lock_path_for(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` in one step (temp file + fsync + os.replace + folder fsync).

    Call it while holding ``locked(path)`` when the new content depends on the old.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CachedReader:
    """Parse a file again only when its bytes changed. Thread-safe.

    The file is read every time (these files are a few kilobytes) and compared with the
    bytes behind the cached value: a key made of inode, mtime and size could match a
    different content, because inodes are reused and mtimes are coarse (a few ms).
    ``parse`` must return a value nobody mutates.
    """

    def __init__(self, parse: Callable[[bytes], T]):
        self._parse = parse
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[bytes, object]] = {}

    def read(self, path: Path) -> T:
        """The parsed content of ``path`` (raises FileNotFoundError when it does not exist)."""
        path = Path(path).absolute()
        data = path.read_bytes()
        with self._lock:
            hit = self._cache.get(path)
        if hit is not None and hit[0] == data:
            return hit[1]  # type: ignore[return-value]
        value = self._parse(data)
        with self._lock:
            self._cache[path] = (data, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
