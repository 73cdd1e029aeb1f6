"""Shared fixtures: temporary workspaces, the CLI runner, and the real corpora in ../shared."""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
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


def store_digest(db: Path) -> str:
    """Every row of a store file, as a digest: equal digests, unchanged store."""
    import hashlib
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(con.iterdump()).encode()).hexdigest()
    finally:
        con.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(session):
    """``session`` served by uvicorn on a free loopback port in a thread; yields the page's URL."""
    import uvicorn

    from autocode.web.server import create_app, new_token

    port = free_port()
    token = new_token()
    server = uvicorn.Server(uvicorn.Config(create_app(session, token, port), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/?token={token}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
