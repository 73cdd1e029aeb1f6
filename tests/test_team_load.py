"""A team server under load, the real ``autocode serve`` in its own process, on SQLite and on
PostgreSQL: 8 coders answering 50 segments each at once over HTTP (loopback, bounded loops),
and a kill -9 in the middle of a load. The kill test runs first; the server it restarts after the
kill carries the load test (one server start less per database)."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import DEMO, free_port

from autocode.app import accounts
from autocode.app.imports import import_files
from autocode.app.workspace import Workspace

AUTOCODE = str(Path(sys.executable).with_name("autocode"))
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def project(tmp_path_factory, module_database, shared_embeddings):
    """The demo's focus groups 1-2 coded; the texts of groups 3-6 (ours, written for the demo) as
    uncoded transcripts, with groups 7-8: a pool of some 800 segments. 8 coder accounts. One per
    database for the module: the kill test codes 40 and more of its segments, then the load test 400."""
    tmp = tmp_path_factory.mktemp("team")
    root = tmp / "team"
    patch = pytest.MonkeyPatch()  # for the module's servers too: the texts are embedded once
    patch.setenv("AUTOCODE_EMBEDDING_CACHE", str(shared_embeddings))
    ws = Workspace.init(root, database=module_database)
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-2.csv"])
    for n in range(3, 7):
        with (DEMO / "coded" / f"focus-group-{n}.csv").open(encoding="utf-8") as fh:
            lines = [f"{r['speaker']}: {r['text']}" for r in csv.DictReader(x for x in fh if not x.startswith("#"))]
        path = tmp / f"group-{n}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        import_files(ws, [path], group=f"Group {n} uncoded")
    for n in (7, 8):
        import_files(ws, [DEMO / "uncoded" / f"focus-group-{n}.txt"], group=f"Focus Group {n}")
    for i in range(8):
        accounts.add_user(ws.store, f"coder{i}", "coder", PASSWORD)
    ws.close()
    yield root
    patch.undo()


class Server:
    """``autocode serve`` in its own process."""

    def __init__(self, root: Path, *args: str) -> None:
        self.port = free_port()
        self.log = root.parent / f"serve-{self.port}.log"
        self.proc = subprocess.Popen([AUTOCODE, "-w", str(root), "serve", "--port", str(self.port), *args],
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=os.environ)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 240
        while "Team server on" not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the server did not start in 4 minutes"
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=120)


def log_in(base: str, name: str) -> tuple[httpx.Client, str]:
    """A logged-in client and its CSRF token, through the login form as a browser does."""
    client = httpx.Client(base_url=base, timeout=120)
    form = client.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    reply = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": token})
    assert reply.status_code == 303, reply.text
    page = client.get("/").text
    return client, re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def code_away(base: str, name: str, answers: int, acknowledged: list[str], given: list[tuple[str, int]],
              stop: threading.Event | None = None) -> None:
    """``name`` answers up to ``answers`` segments back to back: the ticked suggestions, else no
    code. Each acknowledged answer id goes to ``acknowledged``; each segment given to ``given``."""
    client, csrf = log_in(base, name)
    headers = {"X-CSRF-Token": csrf}
    task = client.get("/api/state").json()["task"]
    for _ in range(answers):  # bounded
        if task is None or (stop is not None and stop.is_set()):
            break
        given.append((name, task["segment_id"]))
        codes = [s["path"] for s in task["suggestions"] if s["suggested"]]
        answer_id = uuid.uuid4().hex
        try:
            reply = client.post("/api/answer", headers=headers, json={
                "segment_id": task["segment_id"], "action": "accept" if codes else "none", "codes": codes,
                "answer_id": answer_id})
        except httpx.TransportError:
            break  # the server went away (the kill -9 test)
        assert reply.status_code == 200, reply.text
        acknowledged.append(answer_id)
        task = reply.json()["task"]
    client.close()


@pytest.fixture(scope="module")
def handed_on(project):
    """The kill test's restarted server, handed on to the load test (which runs after it on the same
    database) instead of being stopped and another started; stopped here if the load test did not run."""
    held: dict[str, Server] = {}
    yield held
    if "server" in held:
        held.pop("server").stop()


def test_kill_9_mid_load_keeps_every_acknowledged_answer(project, handed_on):
    server = Server(project, "--overlap", "20%")
    acknowledged: list[str] = []
    given: list[tuple[str, int]] = []
    stop = threading.Event()
    threads = [threading.Thread(target=code_away, args=(server.base, f"coder{i}", 200, acknowledged, given, stop))
               for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True).stdout.split()
    assert children, "the server runs its suggester's worker process"
    server.proc.send_signal(signal.SIGKILL)  # mid-load: requests are in flight
    server.proc.wait(timeout=60)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert len(acknowledged) >= 40
    deadline = time.monotonic() + 10  # the worker notices its parent has gone and ends too
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children), "an orphaned worker lives on"
    again = Server(project, "--overlap", "20%")
    try:
        ws = Workspace.find(project)
        stored = ws.store.client_answer_ids()
        ws.close()
        assert set(acknowledged) <= stored
        # and the team carries on: a coder who was cut off gets a segment again
        client, csrf = log_in(again.base, "coder0")
        assert client.get("/api/state").json()["task"] is not None
        client.close()
    except BaseException:
        again.stop()
        raise
    handed_on["server"] = again  # the load test goes on with it (and stops it); else `handed_on` stops it


def test_eight_coders_at_once_lose_nothing_and_never_share_a_segment_outside_the_overlap(project, handed_on):
    # the kill test's restarted server when it ran just before (one start less per database), else a fresh one
    server = handed_on.pop("server", None) or Server(project, "--overlap", "20%")
    acknowledged: list[str] = []
    given: list[tuple[str, int]] = []
    try:
        threads = [threading.Thread(target=code_away, args=(server.base, f"coder{i}", 50, acknowledged, given))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
        assert not any(t.is_alive() for t in threads)
    finally:
        server.stop()
    assert len(acknowledged) == 400
    ws = Workspace.find(project)
    try:
        store = ws.store
        assert set(acknowledged) <= store.client_answer_ids()  # 0 lost
        slots = store.slots()
        by_segment: dict[int, set[str]] = {}
        for name, seg in given:
            by_segment.setdefault(seg, set()).add(name)
        shared = {seg for seg, names in by_segment.items() if len(names) > 1}
        assert all(slots[seg][0]["needed"] == 2 for seg in shared)  # two coders only on the overlap
        assert all(len(names) <= 2 for names in by_segment.values())
        double = [seg for seg, s in slots.items() if s[0]["needed"] == 2 and sum(x["done"] for x in s) == 2]
        assert double, "the 20% overlap was double coded"
        for seg in double:  # by two different coders, each of whom has their own codes there
            assert len({x["coder"] for x in slots[seg]}) == 2
            assert all(seg in store.seen(x["coder"]) for x in slots[seg])
    finally:
        ws.close()
