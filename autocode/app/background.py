"""The low-priority worker process an annotation session sends its heavy refits to.

Refitting the suggester (seconds of CPU) or the learner's cross-validated kappa on a thread of
the page's own process made every answer given meanwhile take 1.3-1.8 s on 2 cores: the
thread shares the interpreter lock and the cores with the answer path. Here the work runs
in one separate process at the lowest CPU priority with its maths libraries on one thread,
so the answering process keeps a core to itself. ``concurrent.futures`` is the standard
library's process pool; one worker, started once per session (``spawn``: never a fork of a
process that holds threads and an open database).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from ..embeddings import Embedder
from ..records import TrainingData
from ..store import EmbeddingCache
from .models import ClassifierFactory

__all__ = ["worker", "warm_up", "fit_suggester", "scratch_folder"]


def _exit_with_parent(parent: int) -> None:
    """The worker ends when the process that started it has gone (killed with ``kill -9``, it
    cannot shut its pool down), instead of living on as an orphan."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _lower_priority(parent: int) -> None:
    """Worker initialiser: nice 19, one thread for BLAS/OpenMP (and torch, if it is ever loaded),
    and a watch on the parent process."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True, name="exit-with-parent").start()
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                      TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    try:
        os.nice(19)
    except (OSError, AttributeError):  # not permitted, or not on this platform: run at normal priority
        pass
    threadpool_limits(1)  # numpy's BLAS is loaded already; this caps it at run time


def worker() -> Executor:
    """A pool of one low-priority worker process."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_lower_priority, initargs=(os.getpid(),))


def warm_up() -> bool:
    """A first task for the worker: it has imported what a refit needs by the time it returns."""
    return True


def scratch_folder(root: Path) -> Path:
    """A private folder under the workspace for a model on its way between processes (models
    hold transcript words, so not the system's shared temporary folder)."""
    base = root / "models" / ".scratch"
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix="session-", dir=base))


def fit_suggester(cache: str, data: TrainingData, params: dict[str, Any], folder: str) -> str:
    """In the worker: fit the session's classifier on ``data`` and save it to ``folder``.
    Embeddings come from the workspace's cache file (the session embedded everything first)."""
    embedder = Embedder(EmbeddingCache(Path(cache)))
    try:
        model = ClassifierFactory(embedder, params).fit(data)
        model.to_disk(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
