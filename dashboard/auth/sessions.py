"""Per-user session epochs: the server-side half of logout. Pure (no streamlit).

Every session and every re-login cookie carries the epoch its user had when it
started. Logout, a password reset and removing a user bump the epoch, so every
older session and cookie of that user stops working, including a cookie copied
out of the browser (the cookie cannot be HttpOnly in Streamlit; see login.py).
Epochs are never deleted, so a user removed and added again does not revive
old cookies. The file is JSON ``{"format": 1, "epochs": {"alice": 3}}`` beside
the credentials file, rewritten atomically under a lock (atomic_file.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from dashboard.auth.atomic_file import CachedReader, locked, write_atomically

FORMAT = 1


class SessionStoreError(RuntimeError):
    """The session epochs file exists but cannot be read; sessions and cookies are then refused."""


def sessions_path_for(credentials_path: Path | str) -> Path:
    """``warehouse/credentials.yaml`` -> ``warehouse/credentials.sessions.json``."""
    p = Path(credentials_path)
    return p.with_name(f"{p.stem}.sessions.json")


def _parse(data: bytes) -> dict[str, int]:
    try:
        doc = json.loads(data.decode("utf-8"))
        epochs = doc["epochs"]
        if doc.get("format") != FORMAT or not isinstance(epochs, dict):
            raise ValueError("unexpected format")
        out = {}
        for user, epoch in epochs.items():
            if not isinstance(user, str) or not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
                raise ValueError(f"bad entry {user!r}: {epoch!r}")
            out[user] = epoch
        return out
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise SessionStoreError(
            f"session epochs file is unreadable ({exc}); fix it, or delete it AND change "
            "RETAIL_PULSE_COOKIE_KEY (deleting it alone would revive logged-out cookies)"
        ) from None


_reader = CachedReader(_parse)


def _read(path: Path) -> dict[str, int]:
    try:
        return _reader.read(path)
    except FileNotFoundError:
        return {}


def current_epoch(credentials_path: Path | str, username: str) -> int:
    """The user's current session epoch (0 when never bumped). Raises SessionStoreError on a broken file."""
    return _read(sessions_path_for(credentials_path)).get(username, 0)


def bump_epoch(credentials_path: Path | str, username: str) -> int:
    """End every session and cookie of ``username``; returns the new epoch."""
    path = sessions_path_for(credentials_path)
    with locked(path):
        epochs = dict(_read(path))
        epochs[username] = epochs.get(username, 0) + 1
        doc = {"format": FORMAT, "epochs": dict(sorted(epochs.items()))}
        write_atomically(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        return epochs[username]
