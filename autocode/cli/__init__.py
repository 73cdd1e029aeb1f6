"""The ``autocode`` command line: a thin layer over the Python API."""

from . import agreement_cmd, corpus_cmds, demo_cmd, model_cmds, session_cmds, team_cmds  # noqa: F401  (registers commands)
from .app import app

__all__ = ["app"]
