"""Background training: pages ask for a fresh model, a worker thread trains it, pages show progress.

A page never trains. It calls ``TrainingQueue.ensure`` with the data version it shows; when
the newest saved model is missing or older than that version, a job is queued (once per kind,
merchant and data version) and the page goes on showing the last good model with the job's
progress. One worker thread trains one job at a time: the machine has few cores and the
dashboard's queries need them too. A failed job keeps its error message for the page and is
retried only for a newer data version or an explicit retry.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from models import registry
from models.artifacts import ModelStore

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True)
class JobStatus:
    kind: str
    merchant_id: int
    data_version: int
    state: str
    progress: float = 0.0
    message: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    version: str | None = None  # the saved model version when done

    @property
    def active(self) -> bool:
        return self.state in (QUEUED, RUNNING)


class TrainingQueue:
    """Thread-safe; one per process (the dashboard keeps it in ``st.cache_resource``)."""

    def __init__(self, store: ModelStore, backend_factory: Callable[[], Any],
                 train: Callable[..., Any] = registry.train, operational_store: Any = None):
        self.store = store
        self._operational_store = operational_store  # reviewer decisions for kinds that learn from them
        self._backend_factory = backend_factory
        self._train = train
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, int], JobStatus] = {}
        self._queue: queue.Queue[tuple[str, int, int]] = queue.Queue()
        self._worker: threading.Thread | None = None

    def ensure(self, kind: str, merchant_id: int, data_version: int) -> JobStatus | None:
        """Queue training when the saved model is missing or stale; returns the job, or None when fresh."""
        saved = self.store.latest_usable(kind, merchant_id)
        if not registry.is_stale(saved, data_version):
            return None
        return self.submit(kind, merchant_id, data_version)

    def submit(self, kind: str, merchant_id: int, data_version: int, *, retry: bool = False) -> JobStatus:
        """Queue a job unless one for this data version is queued, running, done or failed; ``retry`` (a person's
        Retrain button) queues one after a done or failed job too, never beside an active one."""
        registry.get_kind(kind)  # unknown kinds fail here, in the caller, with the known ones listed
        key = (kind, int(merchant_id))
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.data_version >= data_version:
                if job.active or (job.state in (DONE, FAILED) and not retry):
                    return job
            job = JobStatus(kind, int(merchant_id), int(data_version), QUEUED, message="Waiting to start")
            self._jobs[key] = job
            self._queue.put((kind, int(merchant_id), int(data_version)))
            self._start_worker()
            return job

    def status(self, kind: str, merchant_id: int) -> JobStatus | None:
        with self._lock:
            return self._jobs.get((kind, int(merchant_id)))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued job is done (for the CLI and tests); False on timeout."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    # ---------------------------------------------------------------- worker
    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="model-training", daemon=True)
            self._worker.start()

    def _update(self, key: tuple[str, int], **changes: Any) -> None:
        with self._lock:
            self._jobs[key] = replace(self._jobs[key], **changes)

    def _work(self) -> None:
        while True:
            kind, merchant_id, data_version = self._queue.get()
            key = (kind, merchant_id)
            try:
                self._update(key, state=RUNNING, started_at=dt.datetime.now(), message="Starting")
                extra = {"operational_store": self._operational_store} if self._operational_store is not None else {}
                saved = self._train(kind, self._backend_factory, merchant_id, data_version, self.store,
                                    progress=lambda f, text: self._update(key, progress=float(f), message=text),
                                    **extra)
                self._update(key, state=DONE, progress=1.0, message="Trained",
                             finished_at=dt.datetime.now(), version=saved.version)
            except Exception as exc:  # noqa: BLE001 - the page shows the message; the log has the traceback
                log.exception("training %s for merchant %s failed", kind, merchant_id)
                self._update(key, state=FAILED, message=f"Training failed: {exc}", finished_at=dt.datetime.now())
            finally:
                self._queue.task_done()
