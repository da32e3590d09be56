"""Saved models: one folder per trained version, its bytes and metadata signed by this installation.

Layout under the models folder (``models_dir`` setting, default ``<warehouse>.models/``)::

    <kind>/merchant-<id>/<version>/model.bin   the fitted state, in the format the kind names
    <kind>/merchant-<id>/<version>/meta.json   what was trained, on what, how well, and the signature

``version`` sorts by training time. The signature is an HMAC-SHA256, keyed by a secret that
only this installation holds (``model.key`` in the models folder, 0600, or the ``model_key``
setting for several instances sharing one folder), over the bytes' SHA-256 and the
metadata. Loading checks it before anything is deserialised, so a file changed on disk,
copied from another installation or dropped in by hand is refused with a clear message,
and pickle (used only where a library offers no safe format) never runs on such a file.
Folders are 0700 and files 0600.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data import settings

MODEL_FILE = "model.bin"
META_FILE = "meta.json"
KEY_FILE = "model.key"


class ModelFileError(RuntimeError):
    """A saved model cannot be used: missing, tampered with, or not written by this installation."""


@dataclass(frozen=True)
class SavedModel:
    """A verified model version: ``payload`` are the fitted bytes, ``meta`` what meta.json says."""

    kind: str
    merchant_id: int
    version: str
    payload: bytes
    meta: Mapping[str, Any]
    path: Path

    @property
    def data_version(self) -> int:
        return int(self.meta.get("data_version", -1))


def models_dir_for(warehouse: Path | str, environ: dict[str, str] | None = None) -> Path:
    """The ``models_dir`` setting, else a folder beside the warehouse file (``<warehouse>.models``)."""
    configured = settings.get("models_dir", environ).strip()
    if configured:
        return Path(configured)
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.name + ".models")


class ModelStore:
    """Save, list and load signed model versions under ``root``."""

    def __init__(self, root: Path | str, key: bytes | None = None):
        self.root = Path(root)
        self._key = key

    # ---------------------------------------------------------------- writing
    def save(self, kind: str, merchant_id: int, payload: bytes, meta: Mapping[str, Any]) -> SavedModel:
        """Write a new version atomically (a temp folder renamed into place) and return it."""
        _check_name(kind)
        now = dt.datetime.now(dt.timezone.utc)
        digest = hashlib.sha256(payload).hexdigest()
        version = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + digest[:8]
        full = {**meta, "kind": kind, "merchant_id": int(merchant_id), "version": version,
                "saved_at": now.isoformat(timespec="seconds"), "sha256": digest}
        full["signature"] = self._sign(full)
        folder = self._merchant_dir(kind, merchant_id)
        _mkdirs(folder)
        tmp = folder / f".tmp-{version}-{secrets.token_hex(4)}"
        tmp.mkdir(mode=0o700)
        try:
            _write(tmp / MODEL_FILE, payload)
            _write(tmp / META_FILE, json.dumps(full, indent=2, sort_keys=True, default=str).encode())
            os.replace(tmp, folder / version)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return SavedModel(kind, int(merchant_id), version, payload, full, folder / version)

    # ---------------------------------------------------------------- reading
    def versions(self, kind: str, merchant_id: int) -> list[str]:
        """Saved versions, oldest first (unverified: ``load`` checks each)."""
        folder = self._merchant_dir(kind, merchant_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def load(self, kind: str, merchant_id: int, version: str | None = None) -> SavedModel:
        """The given (default: newest) version, after checking its hash and signature.

        Raises ModelFileError naming the file and what is wrong; nothing is deserialised before.
        """
        versions = self.versions(kind, merchant_id)
        if version is None:
            if not versions:
                raise ModelFileError(f"No {kind} model is saved for merchant {merchant_id}; train one with "
                                     f"`python -m models train --kind {kind} --merchant {merchant_id}`.")
            version = versions[-1]
        _check_name(version)
        folder = self._merchant_dir(kind, merchant_id) / version
        try:
            payload = (folder / MODEL_FILE).read_bytes()
            meta = json.loads((folder / META_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"Model {folder} cannot be read ({exc}); retrain it.") from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("signature"), str):
            raise ModelFileError(f"Model {folder / META_FILE} has no signature; it was not written by Retail Pulse.")
        if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
            raise ModelFileError(f"Model {folder / MODEL_FILE} does not match its recorded hash: it was changed "
                                 "after it was saved. It is refused; retrain it.")
        if not hmac.compare_digest(self._sign(meta), meta["signature"]):
            raise ModelFileError(f"Model {folder} was not signed by this installation (foreign or edited "
                                 "metadata). It is refused; retrain it.")
        if meta.get("kind") != kind or meta.get("merchant_id") != int(merchant_id) or meta.get("version") != version:
            raise ModelFileError(f"Model {folder} says it is {meta.get('kind')} for merchant "
                                 f"{meta.get('merchant_id')}, not {kind} for merchant {merchant_id}; refused.")
        return SavedModel(kind, int(merchant_id), version, payload, meta, folder)

    def latest_usable(self, kind: str, merchant_id: int) -> SavedModel | None:
        """The newest version that verifies, or None (a refused newer file does not hide a good older one)."""
        for version in reversed(self.versions(kind, merchant_id)):
            try:
                return self.load(kind, merchant_id, version)
            except ModelFileError:
                continue
        return None

    # ---------------------------------------------------------------- internals
    def _merchant_dir(self, kind: str, merchant_id: int) -> Path:
        _check_name(kind)
        return self.root / kind / f"merchant-{int(merchant_id)}"

    def _sign(self, meta: Mapping[str, Any]) -> str:
        unsigned = {k: v for k, v in meta.items() if k != "signature"}
        text = json.dumps(unsigned, sort_keys=True, default=str).encode()
        return hmac.new(self._secret(), text, hashlib.sha256).hexdigest()

    def _secret(self) -> bytes:
        if self._key is None:
            configured = settings.get("model_key").strip()
            self._key = configured.encode() if configured else _installation_key(self.root)
        return self._key


def _installation_key(root: Path) -> bytes:
    """The key file in the models folder, created (0600, exclusively) on first use."""
    _mkdirs(root)
    path = root / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
        if len(key) < 32:
            raise ModelFileError(f"{path} is too short to be a model key; delete it (saved models then need "
                                 "retraining).") from None
        return key
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_hex(32).encode())
        f.flush()
        os.fsync(f.fileno())
    return path.read_bytes().strip()


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"not a model kind or version name: {name!r}")


def _mkdirs(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
