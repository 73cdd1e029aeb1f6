"""The page's HTTP API: every body validated (400 naming the field), sizes capped (413),
answers idempotent by the page's answer id, and a session that survives kill -9 and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from autocode.app.imports import import_files
from autocode.app.session import AnnotationSession
from autocode.app.workspace import Workspace
from autocode.web.requests import MAX_BODY_BYTES, MAX_MEMO_CHARS
from autocode.web.server import create_app, new_token, remembered_door
from conftest import DEMO

# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


PORT = 8766
POOL = ("Moderator: What gets in the way?\n"
        "Participant 1: The funding stops in March and nobody tells us.\n"
        "Participant 2: We're not counsellors, and when someone is in crisis we just cope.\n"
        "Participant 3: Honestly the volunteers are exhausted, two of them have had to step back.\n"
        "Participant 4: The GP surgery sends people to us but never asks how it went.\n"
        "Participant 1: Seeing someone sing again after months indoors, that's why we do it.\n")


def small_workspace(root: Path) -> Workspace:
    ws = Workspace.init(root)
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-3.csv"])
    pool = root.parent / "pool.txt"
    pool.write_text(POOL, encoding="utf-8")
    import_files(ws, [pool], group="Pool")
    return ws


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    ws = small_workspace(tmp_path_factory.mktemp("api") / "ws")
    session = AnnotationSession.start(ws, "api-coder", group="Pool", background=False)
    token = new_token()
    client = TestClient(create_app(session, token, PORT), base_url=f"http://127.0.0.1:{PORT}")
    client.headers.update({"X-Autocode-Token": token})
    yield client, session, ws
    session.close()
    ws.close()


def answers_in_store(ws: Workspace, session: AnnotationSession) -> int:
    return len(ws.store.answers(session.session_id))


@pytest.mark.parametrize("payload, field", [
    ({"segment_id": 1, "codes": [5]}, "codes.0"),
    ({"segment_id": 1, "memo": {"a": 1}}, "memo"),
    ({"segment_id": 1e400}, "segment_id"),
    ({"segment_id": "7"}, "segment_id"),
    ({"segment_id": True}, "segment_id"),
    ({"segment_id": -1}, "segment_id"),
    ({}, "segment_id"),
    ({"segment_id": 1, "action": "delete"}, "action"),
    ({"segment_id": 1, "codes": "Barrier"}, "codes"),
    ({"segment_id": 1, "answer_id": "../../etc"}, "answer_id"),
    ({"segment_id": 1, "extra": 1}, "extra"),
])
def test_a_wrong_answer_body_is_a_400_naming_the_field(api, payload, field):
    client, session, ws = api
    before = answers_in_store(ws, session)
    body = json.dumps(payload).replace("1e+400", "1e400") if payload.get("segment_id") == 1e400 else json.dumps(payload)
    r = client.post("/api/answer", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and field in r.json()["error"]
    assert answers_in_store(ws, session) == before


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"{\"segment_id\": 1", b"\"x\"", b"[" * 100_000])
def test_a_body_that_is_not_a_json_object_is_a_400(api, body):
    client, session, ws = api
    r = client.post("/api/answer", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_oversized_bodies_and_memos_are_413_and_change_nothing(api):
    client, session, ws = api
    task = session.state()["task"]
    before = answers_in_store(ws, session)
    big = json.dumps({"segment_id": task["segment_id"], "action": "skip", "memo": "x" * (MAX_BODY_BYTES + 10)})
    r = client.post("/api/answer", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "most accepted" in r.json()["error"]

    def chunks():  # no Content-Length: the limit holds while reading
        for _ in range(64):
            yield b" " * 65536

    r = client.post("/api/answer", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    memo = json.dumps({"segment_id": task["segment_id"], "codes": ["Barrier"], "memo": "m" * (MAX_MEMO_CHARS + 1)})
    r = client.post("/api/answer", content=memo, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "memo" in r.json()["error"]
    assert answers_in_store(ws, session) == before
    assert ws.store.memo(task["segment_id"], "api-coder") is None


def test_no_code_is_an_explicit_answer_and_a_retry_is_not_saved_twice(api):
    client, session, ws = api
    task = session.state()["task"]
    r = client.post("/api/answer", json={"segment_id": task["segment_id"], "action": "accept", "codes": []})
    assert r.status_code == 400 and "nothing is ticked" in r.json()["error"]
    r = client.post("/api/answer", json={"segment_id": task["segment_id"], "action": "none", "codes": ["Barrier"]})
    assert r.status_code == 400
    answer_id = uuid.uuid4().hex
    first = client.post("/api/answer", json={"segment_id": task["segment_id"], "action": "none", "answer_id": answer_id})
    assert first.status_code == 200, first.text
    saved = first.json()["saved"]
    assert saved == {"answer_id": answer_id, "segment_id": task["segment_id"], "action": "no code", "codes": []}
    assert task["segment_id"] in ws.store.seen("api-coder") and not ws.store.codings("api-coder").get(task["segment_id"])
    n = answers_in_store(ws, session)
    again = client.post("/api/answer", json={"segment_id": task["segment_id"], "action": "none", "answer_id": answer_id})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["saved"] == saved and answers_in_store(ws, session) == n
    # the next task is the one the first reply gave, not a new one
    assert again.json()["task"]["segment_id"] == first.json()["task"]["segment_id"]
    undone = client.post("/api/undo", json={}).json()["undone"]
    nothing_suggested = not any(s["suggested"] for s in task["suggestions"])
    assert undone == {"segment_id": task["segment_id"], "action": "accepted" if nothing_suggested else "corrected",
                      "codes": []}
    assert client.post("/api/undo", json={"x": 1}).status_code == 400


def test_the_door_file_is_owner_only_and_stable(tmp_path):
    token, port, path = remembered_door(tmp_path / ".annotate", "Ann O'Tator")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = remembered_door(tmp_path / ".annotate", "Ann O'Tator")
    assert again[0] == token and len(token) >= 32
    assert remembered_door(tmp_path / ".annotate", "someone else")[0] != token
    path.write_text("{broken", encoding="utf-8")
    assert remembered_door(tmp_path / ".annotate", "Ann O'Tator")[0] != token  # a damaged file: a new token


# ---------------------------------------------------------------------------- restarts, through the CLI

def _start(root: Path, log: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("autocode")), "-w", str(root), "annotate", "--coder", "kim",
                             "--group", "Pool", "--no-browser"], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=env)
    deadline = time.time() + 180
    while time.time() < deadline:
        text = log.read_text(errors="replace")
        if "token=" in text:
            url = text[text.index("http://127.0.0.1:"):].split()[0].rstrip(").")
            return proc, url
        if proc.poll() is not None:
            raise AssertionError(f"annotate exited with {proc.returncode}:\n{text}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("annotate did not print its address:\n" + log.read_text())


def _get_state(base: str, token: str) -> dict:
    deadline = time.time() + 10
    while True:
        try:
            r = httpx.get(base + "/api/state", headers={"X-Autocode-Token": token}, timeout=5)
            assert r.status_code == 200, r.text
            return r.json()
        except httpx.TransportError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_kill_9_then_restart_the_same_tab_resumes_and_undo_reaches_back_and_sigterm_closes(tmp_path):
    root = tmp_path / "ws"
    small_workspace(root).close()
    proc, url = _start(root, tmp_path / "first.log")
    base, token = url.split("/?token=")
    try:
        headers = {"X-Autocode-Token": token}
        task = _get_state(base, token)["task"]
        r = httpx.post(base + "/api/answer", headers=headers, timeout=30,
                       json={"segment_id": task["segment_id"], "codes": ["Barrier"], "answer_id": "first-answer-1"})
        assert r.status_code == 200, r.text
        first_seg = task["segment_id"]
        task = r.json()["task"]
        r = httpx.post(base + "/api/answer", headers=headers, timeout=30,
                       json={"segment_id": task["segment_id"], "action": "none", "answer_id": "second-answer-2"})
        assert r.status_code == 200
        second_seg = task["segment_id"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    proc, url2 = _start(root, tmp_path / "second.log")
    try:
        assert url2 == url  # the same address and token: the open tab carries on
        state = _get_state(base, token)
        assert state["progress"]["session_answered"] == 2 and state["progress"]["coder_answered"] == 2
        # the page's retry of an answer whose reply it never saw: recognised, not saved twice
        r = httpx.post(base + "/api/answer", headers=headers, timeout=30,
                       json={"segment_id": second_seg, "action": "none", "answer_id": "second-answer-2"})
        assert r.status_code == 200 and r.json()["duplicate"] is True
        # undo reaches the answers given before the kill
        r = httpx.post(base + "/api/undo", headers=headers, json={}, timeout=30).json()
        assert r["undone"]["segment_id"] == second_seg and r["task"]["segment_id"] == second_seg
        r = httpx.post(base + "/api/undo", headers=headers, json={}, timeout=30).json()
        assert r["undone"]["segment_id"] == first_seg and r["undone"]["codes"] == ["Barrier"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
    ws = Workspace.find(root)
    try:
        info = ws.store.session_info(1)  # the killed session, resumed by the restart
        assert info["coder"] == "kim" and info["ended_at"] is not None, "SIGTERM left the session open"
        assert not ws.store.seen("kim")  # both answers undone
        assert "Session closed" in (tmp_path / "second.log").read_text()
    finally:
        ws.close()
    with socket.socket() as s:  # the server let go of its port
        s.bind(("127.0.0.1", int(base.rsplit(":", 1)[1])))
