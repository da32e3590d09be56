"""What every model page shares: the saved model to show, background training, its progress, the model card.

A page never trains. ``current_model`` returns the newest usable saved model for one merchant and, when it
is missing or older than the warehouse's data version, queues training on the process's one background
worker (``models.jobs.TrainingQueue``). The page keeps showing the last good model meanwhile;
``render_training_status`` says what is happening and reruns the status fragment every few seconds until
the job ends, then reruns the page so the new model shows.

Payload readers are cached per (kind, merchant, version): a version's bytes never change (they are signed).
A version's signature is checked once per state of its files (size, modification time), not on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import cache
from dashboard.plain_text import markdown_text
from data import settings
from data.store.errors import StoreError
from models import registry
from models.artifacts import META_FILE, MODEL_FILE, ModelFileError, ModelStore, SavedModel, models_dir_for
from models.card import build_model_card
from models.jobs import FAILED, JobStatus, TrainingQueue

POLL_SECONDS = 3


def _models_root() -> Path:
    eng = cache.engine()
    base = getattr(eng, "path", None) or Path(settings.get("parquet_dir"))
    return models_dir_for(base)


@st.cache_resource(show_spinner=False)
def model_store() -> ModelStore:
    """The process's model store (signed versions under the models folder)."""
    return ModelStore(_models_root())


@st.cache_resource(show_spinner=False)
def training_queue() -> TrainingQueue:
    """The process's one training worker; it reads through its own cursors of the cached engine."""
    registry.load_families()
    eng = cache.engine()
    try:
        decisions = cache.store()  # reviewer decisions teach the fraud model (models.registry feedback)
    except StoreError:
        decisions = None
    return TrainingQueue(model_store(), eng.backend, operational_store=decisions)


def current_model(kind: str, merchant_id: int, data_version: int) -> tuple[SavedModel | None, JobStatus | None]:
    """The newest usable saved model (or None) and the training job, queued now if the model is missing or stale.

    A refused file (tampered with, foreign key) counts as missing: it is never loaded, and a new model is trained.
    """
    saved = _latest_usable(kind, merchant_id)
    job = None
    if registry.is_stale(saved, data_version) and training_in_app():
        job = training_queue().submit(kind, merchant_id, data_version)
    return saved, job


def _latest_usable(kind: str, merchant_id: int) -> SavedModel | None:
    """``ModelStore.latest_usable`` with each version's check done once per state of its files.

    Verifying reads and hashes the whole file (tens of MB at 20,000 SKUs), too slow for every page run. A
    version is checked again whenever its files' size or modification time change, so a file replaced or
    edited on disk is still refused on the next run.
    """
    store = model_store()
    for version in reversed(store.versions(kind, merchant_id)):
        try:
            return _load(kind, merchant_id, version)
        except (ModelFileError, ValueError):
            continue
    return None


def _load(kind: str, merchant_id: int, version: str) -> SavedModel:
    store = model_store()
    folder = store.root / kind / f"merchant-{int(merchant_id)}" / version
    try:
        stamp = tuple((s.st_size, s.st_mtime_ns) for s in (p.stat() for p in (folder / MODEL_FILE, folder / META_FILE)))
    except OSError:
        stamp = None  # missing: load() refuses it with the reason
    return _verified(str(store.root), kind, merchant_id, version, stamp)


@st.cache_resource(show_spinner=False, max_entries=16)
def _verified(root: str, kind: str, merchant_id: int, version: str, stamp: tuple | None) -> SavedModel:
    return model_store().load(kind, merchant_id, version)


def training_in_app() -> bool:
    """The ``train_in_app`` setting: ``off`` leaves training to ``python -m models train``."""
    value = settings.get("train_in_app").strip().lower()
    if value not in ("on", "off"):
        raise settings.SettingError(f"RETAIL_PULSE_TRAIN_IN_APP must be `on` or `off`, not {value!r}")
    return value == "on"


def render_training_status(kind: str, merchant_id: int, saved: SavedModel | None) -> None:
    """A line about background training, refreshed every few seconds while a job for this model is active."""

    @st.fragment(run_every=POLL_SECONDS)
    def _status() -> None:
        job = training_queue().status(kind, merchant_id)
        if job is None:
            if saved is None and not training_in_app():
                st.info("No model is saved yet, and this instance does not train in the background "
                        "(RETAIL_PULSE_TRAIN_IN_APP=off). Run `python -m models train` on the server.")
            return
        if job.active:
            what = "a new version of this model" if saved is not None else "the first model"
            shown = " The page shows the last good model meanwhile." if saved is not None else ""
            st.progress(min(max(job.progress, 0.0), 1.0),
                        text=f"Training {what} in the background: {markdown_text(job.message)}.{shown}")
        elif job.state == FAILED:
            st.warning(f"Training failed; the page shows the last good model if there is one. "
                       f"{markdown_text(job.message)}")
        elif saved is None or (job.version and job.version != saved.version):
            st.rerun(scope="app")  # the new model is saved: show it

    _status()


def render_model_card(saved: SavedModel, data_version: int) -> None:
    """The model card in an expander: what the model is, when and on what data it was trained, its backtests."""
    card = build_model_card(saved, data_version)
    with st.expander(f"Model card: {card.title}", icon=":material/description:"):
        st.text(card.description)
        facts = [("Version", card.version), ("Trained", card.trained_at), ("Trained on days", card.training_window),
                 ("Rows read", f"{card.training_rows:,}"),
                 ("Data version", f"{card.data_version}" + (_stale_words() if card.stale else ""))]
        st.table({"About": [k for k, _ in facts], "Value": [v for _, v in facts]}, hide_index=True)
        if card.metrics:
            st.caption("Backtest results")
            st.table({"Measure": [k for k, _ in card.metrics], "Value": [v for _, v in card.metrics]}, hide_index=True)
        if card.params:
            st.caption("Settings chosen")
            st.table({"Setting": [k for k, _ in card.params], "Value": [v for _, v in card.params]}, hide_index=True)
        for note in card.notes:
            st.text(note)
        st.caption(f"Libraries: {card.libraries}")


def _stale_words() -> str:
    if training_in_app():
        return " (older than the warehouse: a new version is trained in the background)"
    return " (older than the warehouse: run `python -m models train` for a new one)"


@st.cache_resource(show_spinner=False, max_entries=64)
def _read(kind: str, merchant_id: int, version: str, reader_name: str, args: tuple) -> Any:
    return _READERS[reader_name](_load(kind, merchant_id, version).payload, *args)


_READERS: dict[str, Callable[..., Any]] = {}


def register_reader(name: str, reader: Callable[..., Any]) -> None:
    """Name a payload reader (bytes, *args) -> value so ``read_payload`` can cache its result."""
    _READERS[name] = reader


def read_payload(saved: SavedModel, reader_name: str, *args: Any) -> Any:
    """``reader(saved.payload, *args)``, computed once per model version and arguments, shared by sessions."""
    return _read(saved.kind, saved.merchant_id, saved.version, reader_name, tuple(args))
