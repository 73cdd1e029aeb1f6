"""Answer-to-next-segment latency of a real annotation session, on AnnoMI.

Builds a workspace from every AnnoMI utterance (../shared/data/annomi; skips if absent):
therapist utterances carry one of 4 behaviours, client utterances one of 3 talk types,
two exclusive code groups. A few transcripts are coded (the training data); the rest,
about 9,000 segments, is the pool. Then it answers N segments through
``AnnotationSession.answer`` -- the same call the web page makes -- with the AnnoMI codes
as the answers, timing each call: commit to the store (SQLite, fsync), refit of the
learner, choice of the next segment, and its suggestions and reasons.

    python scripts/bench_session.py [--answers 200] [--coded-transcripts 6]

Prints a table and writes bench-results/session.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
ANNOMI = REPO.parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv"
OUT = REPO / "bench-results"
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=200)
    ap.add_argument("--coded-transcripts", type=int, default=6)
    args = ap.parse_args()
    if not ANNOMI.exists():
        print(f"skipped: {ANNOMI} is absent (the real corpora live beside the repo in ../shared)")
        return 0
    from autocode.app.session import AnnotationSession
    from autocode.app.imports import import_files
    from autocode.app.workspace import Workspace

    rows = majority_rows()
    groups = sorted({r["group"] for r in rows}, key=lambda g: int(g.split()[1]))
    coded = set(groups[: args.coded_transcripts])
    tmp = Path(tempfile.mkdtemp(prefix="autocode-bench-session-"))
    (tmp / "codebook.txt").write_text(CODEBOOK, encoding="utf-8")
    # the pool: no codes column, so it is imported as uncoded segments
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
    ws = Workspace.init(tmp / "ws", codebook_file=tmp / "codebook.txt")
    cache = OUT / "embeddings.sqlite3"  # shared with the other benchmarks, so reruns embed nothing
    OUT.mkdir(exist_ok=True)
    if cache.exists():
        shutil.copy(cache, ws.embedding_cache)
    # every speaker codable: therapist and client turns are both coded in AnnoMI
    (ws.root / "autocode.toml").write_text((ws.root / "autocode.toml").read_text().replace(
        "code_moderator = false", "code_moderator = true"), encoding="utf-8")
    ws = Workspace.find(ws.root)
    import_files(ws, [tmp / "coded-only.csv", tmp / "pool.csv"])
    truth = {r["id"]: r["code"] for r in rows}
    t0 = time.perf_counter()
    session = AnnotationSession.start(ws, "bench", background=True)
    start_s = time.perf_counter() - t0
    pool = session.progress()["remaining"]
    times = []
    task = session.state()["task"]
    ext = {s.id: s.ext_id for s in ws.store.segments()}
    for _ in range(args.answers):
        code = truth[ext[task["segment_id"]]]
        t = time.perf_counter()
        out = session.answer({"segment_id": task["segment_id"], "action": "accept", "codes": [code]})
        times.append((time.perf_counter() - t) * 1000)
        task = out["task"]
    session.close()
    shutil.copy(ws.embedding_cache, cache)
    times_sorted = sorted(times)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "pool_segments": pool, "labelled_at_start": len(rows) - len(uncoded), "answers": args.answers,
        "session_start_s": round(start_s, 2),
        "latency_ms": {"p50": round(statistics.median(times), 1),
                       "p95": round(times_sorted[int(0.95 * (len(times) - 1))], 1),
                       "max": round(max(times), 1), "mean": round(statistics.mean(times), 1)},
        "target_p95_ms": 150,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    (OUT / "session.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Annotation session latency", "",
        f"Written by `scripts/bench_session.py` on {result['date']} ({result['machine']}).",
        f"AnnoMI, every utterance: {pool} segments in the pool, {result['labelled_at_start']} coded at the start "
        f"({args.coded_transcripts} transcripts), {args.answers} answers given through `AnnotationSession.answer` (the "
        "call the web page makes) with AnnoMI's codes as the answers. Each time covers the commit to the store, the "
        "learner's refit, the choice of the next segment, and its suggestions and reasons.", "",
        "| measure | value |", "|---|---|",
        f"| session start (embeddings cached, first model trained) | {start_s:.1f} s |",
        *[f"| answer -> next segment, {k} | {v} ms |" for k, v in result["latency_ms"].items()],
        "", f"Target: p95 under 150 ms. Load average (1 min) when it finished: {result['load_average_1min']} "
        "(other jobs on the 2 cores make every figure slower).",
    ]
    print("\n".join(lines))
    docs = REPO / "docs" / "benchmarks"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "session.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
