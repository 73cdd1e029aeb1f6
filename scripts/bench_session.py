"""Answer-to-next-segment latency of a real annotation session, through the page's own path.

Two workspaces, each served by the real ``autocode annotate`` (a separate process, as a
researcher runs it) and answered over HTTP with the page's requests (``POST /api/answer``,
token header, JSON), back to back with no thinking time (the worst case):

* **demo** -- the workspace ``autocode demo`` builds: the study codebook (COM-B, 48 codes),
  ~880 coded segments, Focus Group 7 as the pool (``--group "Focus Group 7"``, as the demo
  tells a newcomer to run). The ticked suggestions are accepted ("no code" when nothing is
  ticked) and every 5th answer is a correction to a code that was not suggested. This is
  the figure the README quotes: it is the researcher's configuration.
* **annomi** -- every AnnoMI utterance (../shared/data/annomi; skipped if absent): 7 codes in
  two exclusive groups, 6 transcripts coded, ~9,000 segments in the pool, answered with the
  experts' codes.

Each time is measured at the client: the request, the commit to the store (SQLite, fsync),
the learner's refit, the choice of the next segment with its suggestions and reasons, and
the reply. The suggester retrains every 10 answers in the session's background worker;
answers given while a retrain is in flight (from the 10th answer until the reply's model
version changes) are reported on their own row, "while retraining".

    python scripts/bench_session.py [--answers 60] [--annomi-answers 200] [--skip-annomi]

Prints a table and writes bench-results/session.json and docs/benchmarks/session.md.
"""

from __future__ import annotations

import argparse
import csv
import random
import signal
import socket
import subprocess
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from machine import machine_line

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
ANNOMI = REPO.parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv"
OUT = REPO / "bench-results"
EXTRA_ENV = dict(x.split("=", 1) for x in os.environ.get("BENCH_ENV", "").split() if "=" in x)
CODEBOOK = "[Therapist behaviour] exclusive\nreflection\nquestion\ntherapist_input\nother\n" \
           "[Client talk type] exclusive\nchange\nneutral\nsustain\n"


def majority_rows() -> list[dict]:
    """One row per utterance, the majority code where several experts coded it."""
    votes: dict[tuple[str, str], Counter] = {}
    first: dict[tuple[str, str], dict] = {}
    with ANNOMI.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            key = (r["transcript_id"], r["utterance_id"])
            code = r["main_therapist_behaviour"] if r["interlocutor"] == "therapist" else r["client_talk_type"]
            votes.setdefault(key, Counter())[code] += 1
            first.setdefault(key, r)
    rows = []
    for key in sorted(first, key=lambda k: (int(k[0]), int(k[1]))):
        r = first[key]
        rows.append({"id": f"u{key[0]}-{key[1]}", "group": f"transcript {key[0]}", "speaker": r["interlocutor"],
                     "text": r["utterance_text"].strip() or "(inaudible)", "code": votes[key].most_common(1)[0][0]})
    return rows


def serve(root: Path, coder: str, group: str | None, log: Path) -> tuple[subprocess.Popen, str, str, float]:
    """``autocode annotate`` on ``root`` in its own process; (process, base URL, token, start seconds)."""
    cmd = [str(Path(sys.executable).with_name("autocode")), "-w", str(root), "annotate", "--coder", coder,
           "--no-browser"] + (["--group", group] if group else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "400", **EXTRA_ENV})
    while "token=" not in log.read_text(errors="replace"):
        if proc.poll() is not None:
            raise SystemExit(f"autocode annotate exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    text = log.read_text()
    url = text[text.index("http://127.0.0.1:"):].split()[0].rstrip(").")
    base, token = url.split("/?token=")
    return proc, base, token, time.perf_counter() - t0


def run(name: str, root: Path, group: str | None, n: int, choose, tmp: Path) -> dict:
    """Answer ``n`` segments over HTTP; ``choose(task, i)`` gives the payload's action and codes."""
    proc, base, token, start_s = serve(root, "bench", group, tmp / f"{name}.log")
    # TCP_NODELAY as browsers set it: without it the request's body waits ~40 ms for the ACK of
    # its headers (Nagle + delayed ACK), a delay of this client that the page never has
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    client = httpx.Client(base_url=base, headers={"X-Autocode-Token": token}, timeout=120, transport=transport)
    try:
        task = client.get("/api/state").json()["task"]
        times, during, version, retraining = [], [], task["model_version"], False
        for i in range(n):
            if task is None:
                break
            action, codes = choose(task, i)
            body = {"segment_id": task["segment_id"], "action": action, "codes": codes, "answer_id": f"bench-{i:06d}"}
            t = time.perf_counter()
            r = client.post("/api/answer", json=body)
            ms = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                raise SystemExit(f"{name}: answer {i} refused: {r.status_code} {r.text}")
            reply = r.json()
            times.append(ms)
            if retraining:
                during.append(ms)
            if reply["progress"]["session_answered"] % 10 == 0:
                retraining = True  # the reply's session just sent a retrain to its worker
            task = reply["task"]
            if task is not None and task["model_version"] != version:
                version, retraining = task["model_version"], False
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    return {"workspace": name, "answers": len(times), "session_start_s": round(start_s, 1),
            "latency_ms": summary(times), "while_retraining_ms": summary(during) if during else None,
            "model_versions_seen": version}


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"n": len(times), "p50": round(statistics.median(times), 1),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1), "max": round(max(times), 1),
            "mean": round(statistics.mean(times), 1)}


def demo_workspace(tmp: Path) -> Path:
    """The workspace ``autocode demo`` builds (its steps as the CLI runs them)."""
    from autocode.app import demo

    root = tmp / "demo-workspace"
    demo.run(root, n_boot=50).close()
    return root


def annomi_workspace(tmp: Path, coded_transcripts: int) -> tuple[Path, dict[str, str]]:
    from autocode.app.imports import import_files
    from autocode.app.workspace import Workspace

    rows = majority_rows()
    groups = sorted({r["group"] for r in rows}, key=lambda g: int(g.split()[1]))
    coded = set(groups[:coded_transcripts])
    (tmp / "codebook.txt").write_text(CODEBOOK, encoding="utf-8")
    uncoded = [r for r in rows if r["group"] not in coded]
    with (tmp / "pool.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, ["id", "group", "speaker", "text"])
        w.writeheader()
        for r in uncoded:
            w.writerow({k: r[k] for k in ("id", "group", "speaker", "text")})
    with (tmp / "coded-only.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, ["id", "group", "speaker", "coder", "codes", "text"])
        w.writeheader()
        for r in rows:
            if r["group"] in coded:
                w.writerow({"id": r["id"], "group": r["group"], "speaker": r["speaker"], "coder": "annomi",
                            "codes": r["code"], "text": r["text"]})
    ws = Workspace.init(tmp / "annomi", codebook_file=tmp / "codebook.txt")
    cache = OUT / "embeddings.sqlite3"  # shared with the other benchmarks, so reruns embed nothing
    if cache.exists():
        shutil.copy(cache, ws.embedding_cache)
    # every speaker codable: therapist and client turns are both coded in AnnoMI
    (ws.root / "autocode.toml").write_text((ws.root / "autocode.toml").read_text().replace(
        "code_moderator = false", "code_moderator = true"), encoding="utf-8")
    ws = Workspace.find(ws.root)
    import_files(ws, [tmp / "coded-only.csv", tmp / "pool.csv"])
    by_ext = {r["id"]: r["code"] for r in rows}
    truth = {s.id: by_ext[s.ext_id] for s in ws.store.segments()}
    root = ws.root
    ws.close()
    return root, truth


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=60, help="answers on the demo workspace")
    ap.add_argument("--annomi-answers", type=int, default=200)
    ap.add_argument("--coded-transcripts", type=int, default=6)
    ap.add_argument("--skip-annomi", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="autocode-bench-session-"))
    rows = []
    try:
        root = demo_workspace(tmp)
        from autocode.app.workspace import Workspace

        ws = Workspace.find(root)
        codable = [c.path for c in ws.store.codebook().codable()]
        ws.close()
        rng = random.Random(0)

        def demo_answer(task: dict, i: int) -> tuple[str, list[str]]:
            ticked = [s["path"] for s in task["suggestions"] if s["suggested"]]
            if i % 5 == 4:  # a correction: a code the model did not suggest
                return "accept", [rng.choice([c for c in codable if c not in ticked])]
            return ("accept", ticked) if ticked else ("none", [])

        rows.append(run("demo", root, "Focus Group 7", args.answers, demo_answer, tmp))
        if args.skip_annomi:
            pass
        elif not ANNOMI.exists():
            print(f"annomi row skipped: {ANNOMI} is absent (the real corpora live beside the repo in ../shared)")
        else:
            aroot, truth = annomi_workspace(tmp, args.coded_transcripts)
            rows.append(run("annomi", aroot, None, args.annomi_answers,
                            lambda task, i: ("accept", [truth[task["segment_id"]]]), tmp))
            shutil.copy(aroot / "models" / "embeddings.sqlite3", OUT / "embeddings.sqlite3")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "machine": machine_line(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "target_p95_ms": 150, "rows": rows,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    (OUT / "session.json").write_text(json.dumps(result, indent=2))
    describe = {"demo": "demo workspace, study codebook (48 codes), Focus Group 7",
                "annomi": "AnnoMI, 7 codes, ~9,000-segment pool"}
    lines = [
        "# Annotation session latency", "",
        f"Written by `scripts/bench_session.py` on {result['date']} ({result['machine']}).",
        "Each workspace is served by the real `autocode annotate` in its own process and answered over HTTP with the "
        "page's own requests, back to back (no thinking time). A time runs from sending an answer to receiving the "
        "reply that carries the next segment: the commit to the store, the learner's refit, the choice of the next "
        "segment and its suggestions and reasons. The suggester retrains every 10 answers in the session's "
        "low-priority worker process; \"while retraining\" are the answers given until the new model arrived.", "",
        "| workspace | answers | session start | p50 | p95 | max | while retraining: n, p95, max |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat, dur = r["latency_ms"], r["while_retraining_ms"]
        during = f"{dur['n']}, {dur['p95']} ms, {dur['max']} ms" if dur else "-"
        lines.append(f"| {describe[r['workspace']]} | {r['answers']} | {r['session_start_s']} s | {lat['p50']} ms | "
                     f"{lat['p95']} ms | {lat['max']} ms | {during} |")
    lines += ["", f"Target: p95 under 150 ms on the demo workspace, including while anything retrains. Load average "
              f"(1 min) when it finished: {result['load_average_1min']} (other jobs on the cores make every figure "
              "slower)."]
    print("\n".join(lines))
    docs = REPO / "docs" / "benchmarks"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "session.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
