"""Shared fixtures: temporary workspaces, the CLI runner, and the real corpora in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEMO = REPO / "annotations" / "demo"


def shared(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a clear message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-data test: {path} is absent (it ships beside the repo as ../shared, not in a clone)")
    return path


@pytest.fixture
def ws(tmp_path):
    from autocode.app.workspace import Workspace

    workspace = Workspace.init(tmp_path / "ws")
    yield workspace
    workspace.close()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def cli(runner, tmp_path):
    """Run ``autocode ARGS`` in a fresh workspace; returns (result, workspace path)."""
    from autocode.cli import app

    root = tmp_path / "cli-ws"

    def run(*args: str, workspace: bool = True):
        full = (["-w", str(root)] if workspace else []) + [str(a) for a in args]
        return runner.invoke(app, full, catch_exceptions=False)

    run.root = root
    return run
