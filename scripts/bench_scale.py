#!/usr/bin/env python
"""Archive-scale benchmark of `autocode suggest`: the local streaming engine and Ray.

For each size (default 100,000 and 1,000,000 segments) it writes a CSV of distinct comments
(real NHS Friends and Family Test comments from ../shared/data resampled, each with its row
number appended so that no text repeats and every one is embedded; generated sentences when
../shared/data is absent) and runs the real command line, each in its own process, over the
demo workspace's model (the study codebook, trained on the demo's six coded focus groups):

* local:  ``autocode suggest IN --out OUT --chunk-size 2000``
* Ray, 1 worker:  ``... --engine ray --actors 1 --cpus-per-actor 1``
* Ray, 2 workers: ``... --engine ray --actors 2`` (each actor gets an equal share of what the
  cluster's CPUs leave after the 0.25 CPU that reading takes: 0.875 on 2 cores)

Each run gets an empty embedding cache. It reports wall time, segments per second, and the
peak resident memory of the whole process tree (the CLI, and for Ray its raylet, GCS and
workers), sampled every 0.2 s. Ray's overhead is its time against the local engine's in the
same invocation (same machine, same moment); the cluster line is a projection from these
figures, not a measurement.

    .venv/bin/python scripts/bench_scale.py [--sizes 100000 1000000] [--engines local ray1 ray2]
        [--ray-up-to N] [--precision auto|fp32|bf16|int8] [--note TEXT]
    .venv/bin/python scripts/bench_scale.py --report     # rewrite the page from the history only

A million segments takes more than an hour per engine on 2 cores, so the figures come from
several invocations. Each one is appended to a committed history, docs/benchmarks/scale.json,
and docs/benchmarks/scale.md is written from all of it: the newest figure for each size, engine
and precision (with the date of its run), then every run as it was measured. A ratio to the
local engine is only ever taken within one invocation. ``--ray-up-to N`` runs the Ray engines
only at sizes up to N. Prints the table; the invocation's own JSON also goes to
bench-results/scale.json (``--out``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from machine import machine_line, processor

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DEMO = REPO / "annotations" / "demo"
AUTOCODE = [str(Path(sys.executable).with_name("autocode"))]  # the installed console script
ENGINES = {
    "local": [],
    "ray1": ["--engine", "ray", "--actors", "1", "--cpus-per-actor", "1"],
    "ray2": ["--engine", "ray", "--actors", "2"],
}
LABEL = {"local": "local engine", "ray1": "Ray, 1 worker", "ray2": "Ray, 2 workers"}


def comments() -> tuple[list[str], str]:
    """The texts to resample: real NHS comments, or generated sentences."""
    if (DATA / "nhs-patient-feedback").is_dir():
        import pandas as pd

        d = pd.read_csv(DATA / "nhs-patient-feedback" / "v6framework_230831.csv")
        texts = [str(t).strip() for t in d["FFT answer"].dropna() if str(t).strip()]
        return texts, f"NHS Friends and Family Test comments ({len(texts)} real ones, resampled)"
    import random

    rng = random.Random(0)
    words = ("staff were kind helpful the waiting time was long appointment nurse doctor parking food clean "
             "ward explained everything listened rude friendly quick service excellent poor").split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(4, 30))) for _ in range(5000)]
    return texts, "generated sentences (no ../shared/data)"


def write_input(path: Path, n: int, texts: list[str]) -> None:
    import random

    rng = random.Random(n)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "group", "text"])
        for i in range(n):
            w.writerow([f"c{i}", f"batch {i // 1000}", f"{rng.choice(texts)} ({i})"])


def workspace(root: Path) -> Path:
    """The demo's model: six coded focus groups (coder_a), the study codebook."""
    if (root / "models" / "default").is_dir():
        return root
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(AUTOCODE + ["init", str(root)], check=True, stdout=subprocess.DEVNULL)
    coded = sorted((DEMO / "coded").glob("focus-group-*.csv"))
    subprocess.run(AUTOCODE + ["-w", str(root), "import", *map(str, coded)], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(AUTOCODE + ["-w", str(root), "train", "--coder", "coder_a", "--no-evaluate", "--no-adapt"], check=True,
                   stdout=subprocess.DEVNULL)
    return root


def tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run(ws: Path, src: Path, out: Path, engine: str, precision: str) -> dict:
    import psutil

    with tempfile.TemporaryDirectory(prefix="autocode-scale-cache-") as tmp:
        env = {**os.environ, "AUTOCODE_EMBEDDING_CACHE": str(Path(tmp) / "embeddings.sqlite3")}
        cmd = AUTOCODE + ["-w", str(ws), "suggest", str(src), "--out", str(out), "--chunk-size", "2000",
                          "--precision", precision, *ENGINES[engine]]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ps, peak, done = psutil.Process(proc.pid), [0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss(ps))
                time.sleep(0.2)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        output, _ = proc.communicate()
        wall = time.perf_counter() - t0
        done.set()
        th.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-2000:]}")
    with out.open(encoding="utf-8", newline="") as fh:
        rows = sum(1 for _ in csv.reader(fh)) - 1
    return {"engine": engine, "wall_s": round(wall, 1), "rows": rows, "segments_per_s": round(rows / wall, 1),
            "peak_rss_mb": round(peak[0] / 2**20)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    ap.add_argument("--ray-up-to", type=int, default=None, help="run the Ray engines only at sizes up to this")
    ap.add_argument("--precision", default="auto", help="the encoder precision of every run (default auto)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--no-docs", action="store_true", help="add nothing to the history; write no page")
    ap.add_argument("--report", action="store_true", help="rewrite docs/benchmarks/scale.md from the history, no runs")
    ap.add_argument("--note", default=None, metavar="TEXT",
                    help="what the page should say of this run (e.g. what else ran beside it); shown with its table")
    ap.add_argument("--add", type=Path, nargs="*", default=[], metavar="JSON",
                    help="append these saved invocations (an earlier run's --out JSON) to the history first")
    args = ap.parse_args(argv)
    if args.report or args.add:
        history = load_history()
        history["runs"] += [json.loads(p.read_text()) for p in args.add]
        save_history(history)
        print(render(history))
        return 0
    store = args.out / "scale.json"
    args.out.mkdir(parents=True, exist_ok=True)
    texts, source = comments()
    ws = workspace(args.out / "scale-ws")
    from autocode.embeddings import native_bf16, resolve_precision

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine_line(), "processor": processor(),
              "precision": resolve_precision(args.precision), "native_bf16": native_bf16(), "source": source,
              "ray_up_to": args.ray_up_to, "runs": []}
    if args.note:
        result["note"] = args.note
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="autocode-scale-") as tmp:
            src = Path(tmp) / f"comments-{n}.csv"
            write_input(src, n, texts)
            for engine in args.engines:
                if engine != "local" and args.ray_up_to is not None and n > args.ray_up_to:
                    continue
                print(f"{n:,} segments, {LABEL[engine]} ...", flush=True)
                r = {"segments": n, **run(ws, src, Path(tmp) / f"out-{engine}.csv", engine, result["precision"])}
                assert r["rows"] == n, f"{engine} wrote {r['rows']} rows for {n} segments"
                result["runs"].append(r)
                print(f"  {r['wall_s']} s, {r['segments_per_s']} segments/s, peak RSS {r['peak_rss_mb']} MB", flush=True)
                store.write_text(json.dumps(result, indent=2))
    print()
    print(table(result["runs"], result))
    store.write_text(json.dumps(result, indent=2))
    if not args.no_docs:
        history = load_history()
        history["runs"].append(result)
        save_history(history)
        render(history)
    return 0


# -- the history and its page ------------------------------------------------------------------

HISTORY = REPO / "docs" / "benchmarks" / "scale.json"
PAGE = REPO / "docs" / "benchmarks" / "scale.md"


def load_history() -> dict:
    return json.loads(HISTORY.read_text()) if HISTORY.exists() else {"runs": []}


def save_history(history: dict) -> None:
    history["runs"].sort(key=lambda r: r["date"])
    HISTORY.write_text(json.dumps(history, indent=2) + "\n")


def table(rows: list[dict], run: dict | None = None) -> str:
    """Rows of one invocation (``run`` given: ratios to its local engine) or the newest figures
    across invocations (each row carries its run's date and precision; no ratios across runs)."""
    head = "| segments | engine | wall time | segments/s | peak RSS | "
    head += "vs local (same run) |" if run else "precision | processor | run |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    local = {x["segments"]: x for x in rows if x["engine"] == "local"} if run else {}
    for x in rows:
        cells = f"| {x['segments']:,} | {LABEL[x['engine']]} | {x['wall_s']:,} s | {x['segments_per_s']} | " \
                f"{x['peak_rss_mb']:,} MB | "
        if run:
            ref = local.get(x["segments"])
            cells += (f"{x['segments_per_s'] / ref['segments_per_s']:.2f}x" if ref else "-") + " |"
        else:
            cells += f"{x['precision']} | {x['processor']} | {x['date']} |"
        lines.append(cells)
    return "\n".join(lines)


def projection(run: dict) -> str | None:
    """The cluster line from one invocation with Ray on both cores and the local engine at the
    same size (the largest such size), or None."""
    local = {x["segments"]: x for x in run["runs"] if x["engine"] == "local"}
    pairs = [x for x in run["runs"] if x["engine"] == "ray2" and x["segments"] in local]
    if not pairs:
        return None
    best = max(pairs, key=lambda x: x["segments"])
    rate, ref = best["segments_per_s"], local[best["segments"]]["segments_per_s"]
    return (f"**Projection, not a measurement** (from the run of {run['date']}, {best['segments']:,} segments). "
            f"On this machine Ray with both cores ran at {rate} segments/s ({rate / ref:.2f}x the local engine on the "
            "same cores in the same run"
            + (f", an overhead of {100 * (1 - rate / ref):.0f}%" if rate < ref else "")
            + "). If each added machine of this kind ran as fast and the driver kept up (it reads the input and "
            f"writes the output alone), N machines would code a million segments in about {1e6 / rate / 3600:.1f} / N "
            "hours: " + ", ".join(f"{k} machines {1e6 / (rate * k) / 60:.0f} min" for k in (4, 16, 64)) + ".")


def render(history: dict) -> str:
    """docs/benchmarks/scale.md from every recorded invocation (written, and returned)."""
    runs = sorted(history["runs"], key=lambda r: r["date"], reverse=True)
    newest: dict[tuple, dict] = {}
    for r in runs:
        for x in r["runs"]:
            newest.setdefault((x["segments"], x["engine"], r["precision"]),
                              {**x, "precision": r["precision"], "processor": r.get("processor", "not recorded"),
                               "date": r["date"] + (" (see its note)" if r.get("note") else "")})
    order = list(ENGINES)
    latest = sorted(newest.values(), key=lambda x: (x["segments"], x["precision"], order.index(x["engine"])))
    lines = ["# Archive scale: `autocode suggest` on the local engine and on Ray", "",
             "Written by `scripts/bench_scale.py` from the history in `scale.json` (do not edit by hand; "
             "`bench_scale.py --report` rewrites it). Each run is the real command line in its own process with "
             "an empty embedding cache, over the demo workspace's model (study codebook, six coded focus groups); "
             "peak RSS is the whole process tree's (Ray's raylet, GCS and workers included). A ratio to the local "
             "engine is only taken within one run, and figures from two processors are not comparable.", "",
             "## The newest figure for each size, engine and precision", "", table(latest)]
    for r in runs:
        if (line := projection(r)):
            lines += ["", line]
            break
    lines += ["", "## Every run", ""]
    for r in runs:
        lines += [f"### {r['date']}", "",
                  f"On {r['machine']}, encoder precision {r['precision']}. Input: {r['source']}, each with its row "
                  "number appended so that every text is distinct."
                  + (f" {r['note']}" if r.get("note") else ""), "", table(r["runs"], r), ""]
    text = "\n".join(lines).rstrip() + "\n"
    PAGE.write_text(text)
    return text


if __name__ == "__main__":
    raise SystemExit(main())
