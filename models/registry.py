"""The model kinds Retail Pulse trains, and the one way to train any of them.

A kind declares what it is (title and description for its model card), which libraries it
rests on (their versions go into the metadata), and a ``fit`` function: scoped data access
in, a ``Fitted`` out (bytes of the fitted state, its parameters, training window and backtest
metrics). ``train`` runs it for one merchant through the data-access layer, stamps the
metadata (data version, library versions, timing) and saves it through ``ModelStore``, so
every model in the product is saved, versioned, signed and described the same way.
Families register their kinds in ``KINDS`` (a page or the CLI loops over it).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from data.access import DataAccess, Scope
from models.artifacts import ModelStore, SavedModel

Progress = Callable[[float, str], None]  # (fraction done 0..1, what is happening now)


@dataclass(frozen=True)
class Fitted:
    """What a kind's ``fit`` returns: the fitted state as bytes plus what the card shows.

    ``params``: the chosen settings; ``window``: first and last day trained on (ISO dates);
    ``metrics``: backtest figures (name -> number, or nested per series level);
    ``notes``: plain sentences for the card (e.g. why a fallback was used).
    """

    payload: bytes
    params: Mapping[str, Any]
    window: tuple[str, str] | None
    metrics: Mapping[str, Any]
    rows: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelKind:
    key: str
    title: str
    description: str  # what the model is and does, in words, for the model card
    libraries: tuple[str, ...]  # distribution names whose versions are recorded
    fit: Callable[[DataAccess, Progress], Fitted] = field(repr=False)
    # Kinds that learn from what people decided (fraud review decisions as labels): read from the operational
    # store given to ``train`` and passed to ``fit_with_feedback`` instead of ``fit``.
    feedback: Callable[[Any, int], Any] | None = field(default=None, repr=False)
    fit_with_feedback: Callable[[DataAccess, Progress, Any], Fitted] | None = field(default=None, repr=False)


KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> ModelKind:
    if kind.key in KINDS:
        raise ValueError(f"model kind {kind.key!r} is registered twice")
    KINDS[kind.key] = kind
    return kind


def get_kind(key: str) -> ModelKind:
    load_families()
    try:
        return KINDS[key]
    except KeyError:
        raise KeyError(f"unknown model kind {key!r}; known: {', '.join(sorted(KINDS)) or 'none'}") from None


def load_families() -> dict[str, ModelKind]:
    """Import every model family so its kinds are registered; returns the registry."""
    import models.families  # noqa: F401 - registers on import

    return KINDS


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def train(kind_key: str, backend_factory: Callable[[], Any], merchant_id: int, data_version: int,
          store: ModelStore, progress: Progress | None = None, operational_store: Any = None) -> SavedModel:
    """Fit ``kind_key`` on one merchant's data and save it; returns the saved, signed version.

    ``backend_factory`` gives a fresh ibis backend (its own cursor) for this thread; the data
    access is scoped to ``merchant_id`` alone, so a model never sees another merchant's rows.
    ``operational_store``: where a kind with ``feedback`` reads what people decided (that merchant's only).
    """
    kind = get_kind(kind_key)
    report = progress or (lambda fraction, text: None)
    started = time.perf_counter()
    access = DataAccess(backend_factory(), Scope.merchants([int(merchant_id)]))
    report(0.0, f"Reading {kind.title.lower()} data")
    if kind.feedback is not None and kind.fit_with_feedback is not None and operational_store is not None:
        fitted = kind.fit_with_feedback(access, report, kind.feedback(operational_store, int(merchant_id)))
    else:
        fitted = kind.fit(access, report)
    meta = {
        "title": kind.title,
        "description": kind.description,
        "params": dict(fitted.params),
        "training_window": list(fitted.window) if fitted.window else None,
        "training_rows": int(fitted.rows),
        "metrics": dict(fitted.metrics),
        "notes": list(fitted.notes),
        "data_version": int(data_version),
        "engine": access.engine,
        "libraries": library_versions(kind.libraries),
        "trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "training_seconds": round(time.perf_counter() - started, 2),
    }
    saved = store.save(kind.key, merchant_id, fitted.payload, meta)
    report(1.0, "Saved")
    return saved


def is_stale(saved: SavedModel | None, data_version: int) -> bool:
    """True when there is no model, or it was trained on an older data version than the warehouse's."""
    return saved is None or saved.data_version < int(data_version)
