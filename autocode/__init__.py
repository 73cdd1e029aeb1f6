"""autocode: model-assisted qualitative coding of transcripts, run locally.

The Python API, in the order of the job (every function but the first two takes the workspace first)::

    import autocode

    ws = autocode.create_workspace("my-study")            # or autocode.open_workspace("my-study")
    autocode.import_files(ws, ["fg1.csv", "fg7.txt"])     # all files land, or none does
    card = autocode.train(ws, coder="anna")               # models/default, with its card
    result = autocode.adapt(ws, budget_s=600)             # adapt its encoder; swapped in if it agrees better
    rows = autocode.suggest(ws, ["fg7"])                  # codes, confidence and reasons
    run = autocode.measure_agreement(ws, ["anna", "ben"], model="default", level="theme")
    autocode.export(ws, "out.qdpx", fmt="qdpx")           # back to NVivo, ATLAS.ti, MAXQDA ...

Errors are :class:`autocode.errors.AutocodeError` with one line that says what to do.
"""

from __future__ import annotations

from pathlib import Path

from ._version import __version__
from .app import (AgreementRun, AnnotationSession, Workspace, adapt, evaluate, export, import_files, measure_agreement,
                  simulate, suggest, train)
from .app.demo import corpus_dir as demo_corpus
from .errors import AutocodeError, InputError, WorkspaceError


def create_workspace(path: str | Path, codebook: str | Path | None = None) -> Workspace:
    """A new workspace at ``path`` (the study's codebook unless ``codebook`` names a file)."""
    return Workspace.init(path, codebook)


def open_workspace(path: str | Path | None = None) -> Workspace:
    """The workspace at ``path`` (default: $AUTOCODE_WORKSPACE, else the current folder)."""
    return Workspace.find(path)


__all__ = [
    "AgreementRun", "AnnotationSession", "AutocodeError", "adapt", "InputError", "Workspace", "WorkspaceError", "__version__",
    "create_workspace", "demo_corpus", "evaluate", "export", "import_files", "measure_agreement", "open_workspace", "simulate",
    "suggest", "train",
]
