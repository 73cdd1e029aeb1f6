"""Answer latency on a team server with 1, 4 and 8 coders answering at once.

The workspace is the study's configuration: the default codebook (COM-B, 48 codes), the demo's
focus groups 1-4 coded (ours, written for the demo), and groups 5-8 as the pool (the texts of
5 and 6 imported as uncoded transcripts), with a 20% double-coding overlap. For each number of
coders a fresh copy of the workspace is served by the real ``autocode serve`` (its own process,
SQLite), every coder logs in through the login form, and all answer back to back with no
thinking time (the worst case), and once more with the most coders reading each segment first (``--think``):
the ticked suggestions, else "no code". Each time is measured at
the client, from sending ``POST /api/answer`` to the reply that carries the next segment.

    python scripts/bench_team.py [--answers 30] [--coders 1,4,8]

Prints a table and writes bench-results/team.json and docs/benchmarks/team.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from machine import machine_line

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "annotations" / "demo"
OUT = REPO / "bench-results"
AUTOCODE = str(Path(sys.executable).with_name("autocode"))
PASSWORD = "bench password 123"


def run(root: Path, *args: str, stdin: str | None = None) -> None:
    done = subprocess.run([AUTOCODE, "-w", str(root), *args], input=stdin, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"autocode {' '.join(args)} failed: {done.stderr.strip()}")


def build(root: Path, tmp: Path, coders: int) -> None:
    """The bench's workspace (see the module docstring) with ``coders`` accounts."""
    run(root, "init")
    run(root, "import", *[str(DEMO / "coded" / f"focus-group-{n}.csv") for n in range(1, 5)])
    for n in (5, 6):
        with (DEMO / "coded" / f"focus-group-{n}.csv").open(encoding="utf-8") as fh:
            lines = [f"{r['speaker']}: {r['text']}" for r in csv.DictReader(x for x in fh if not x.startswith("#"))]
        path = tmp / f"group-{n}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        run(root, "import", str(path), "--group", f"Focus Group {n} (uncoded)")
    for n in (7, 8):
        run(root, "import", str(DEMO / "uncoded" / f"focus-group-{n}.txt"), "--group", f"Focus Group {n}")
    for i in range(coders):
        run(root, "users", "add", f"coder{i}", "--role", "coder", stdin=PASSWORD + "\n")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_in(base: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=120)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    reply = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": token})
    if reply.status_code != 303:
        sys.exit(f"login of {name} failed: {reply.status_code} {reply.text[:200]}")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    return client, csrf


def coder(base: str, name: str, answers: int, times: list[float], start: threading.Barrier, think: float) -> None:
    client, csrf = log_in(base, name)
    task = client.get("/api/state").json()["task"]
    start.wait()
    pause = random.Random(name)
    for _ in range(answers):
        if task is None:
            break
        if think:  # a researcher reads the segment first: 0.5x-1.5x ``think`` seconds
            time.sleep(think * pause.uniform(0.5, 1.5))
        codes = [s["path"] for s in task["suggestions"] if s["suggested"]]
        t0 = time.perf_counter()
        reply = client.post("/api/answer", headers={"X-CSRF-Token": csrf}, json={
            "segment_id": task["segment_id"], "action": "accept" if codes else "none", "codes": codes,
            "answer_id": uuid.uuid4().hex})
        times.append(time.perf_counter() - t0)
        if reply.status_code != 200:
            sys.exit(f"{name}: answer refused: {reply.status_code} {reply.text[:200]}")
        task = reply.json()["task"]
    client.close()


def one_run(template: Path, n: int, answers: int, tmp: Path, think: float = 0.0) -> dict:
    root = tmp / f"ws-{n}-{think:g}"
    shutil.copytree(template, root)
    port = free_port()
    log = tmp / f"serve-{n}-{think:g}.log"
    t0 = time.perf_counter()
    proc = subprocess.Popen([AUTOCODE, "-w", str(root), "serve", "--port", str(port), "--overlap", "20%"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    while "Team server on" not in log.read_text():
        if proc.poll() is not None:
            sys.exit(log.read_text())
        time.sleep(0.2)
    started = time.perf_counter() - t0
    times: list[float] = []
    barrier = threading.Barrier(n + 1)
    threads = [threading.Thread(target=coder, args=(f"http://127.0.0.1:{port}", f"coder{i}", answers, times, barrier, think))
               for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t1 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t1
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    ms = sorted(1000 * t for t in times)
    return {"coders": n, "think_s": think, "answers": len(ms), "p50_ms": statistics.median(ms),
            "p95_ms": ms[max(0, int(round(0.95 * len(ms))) - 1)], "max_ms": ms[-1],
            "answers_per_s": len(ms) / wall, "server_start_s": started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=30, help="answers per coder")
    parser.add_argument("--coders", default="1,4,8", help="comma-separated numbers of coders")
    parser.add_argument("--think", type=float, default=2.0,
                        help="also run the most coders with this many seconds of reading per segment (0: not)")
    args = parser.parse_args()
    counts = [int(c) for c in args.coders.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp_:
        tmp = Path(tmp_)
        template = tmp / "template"
        build(template, tmp, max(counts))
        rows = [one_run(template, n, args.answers, tmp) for n in counts]
        if args.think:
            rows.append(one_run(template, max(counts), args.answers, tmp, think=args.think))
    machine = machine_line()
    print(f"Team server answer latency ({machine}; SQLite; back to back, no thinking time)")
    print(f"{'coders':>6} {'think s':>8} {'answers':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'answers/s':>10} {'start s':>8}")
    for r in rows:
        print(f"{r['coders']:>6} {r['think_s']:>8g} {r['answers']:>8} {r['p50_ms']:>8.0f} {r['p95_ms']:>8.0f} {r['max_ms']:>8.0f} "
              f"{r['answers_per_s']:>10.1f} {r['server_start_s']:>8.1f}")
    OUT.mkdir(exist_ok=True)
    (OUT / "team.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2), encoding="utf-8")
    md = ["# Team server: answer latency", "", f"Measured by `python scripts/bench_team.py` on {machine}.",
          "The study codebook (48 codes), demo groups 1-4 coded, groups 5-8 as the pool, 20% overlap;",
          "every coder answers back to back with no thinking time (the worst case), and in the last row",
          "after reading each segment for 0.5-1.5x the thinking time; SQLite.", "",
          "| coders | thinking | answers | p50 | p95 | max | answers/s |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['coders']} | {r['think_s']:g} s | {r['answers']} | {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['max_ms']:.0f} ms | "
           f"{r['answers_per_s']:.1f} |" for r in rows]
    (REPO / "docs" / "benchmarks").mkdir(parents=True, exist_ok=True)
    (REPO / "docs" / "benchmarks" / "team.md").write_text("\n".join(md) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
