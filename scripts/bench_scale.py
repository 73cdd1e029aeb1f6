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
workers), sampled every 0.2 s. Ray's overhead is its time against the local engine's on the
same cores; the cluster line is a projection from these figures, not a measurement.

    .venv/bin/python scripts/bench_scale.py [--sizes 100000 1000000] [--engines local ray1 ray2]
        [--ray-up-to N] [--precision auto|fp32|bf16|int8] [--name scale]

``--ray-up-to N`` runs the Ray engines only at sizes up to N (on 2 cores a million segments on
Ray takes hours). Prints a table and writes bench-results/NAME.json (and docs/benchmarks/NAME.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

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
    ap.add_argument("--name", default="scale", help="names the JSON in --out and the page in docs/benchmarks")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--no-docs", action="store_true", help="write no page in docs/benchmarks")
    args = ap.parse_args(argv)
    docs = None if args.no_docs else REPO / "docs" / "benchmarks" / f"{args.name}.md"
    store = args.out / f"{args.name}.json"
    args.out.mkdir(parents=True, exist_ok=True)
    texts, source = comments()
    ws = workspace(args.out / "scale-ws")
    from autocode.embeddings import native_bf16, resolve_precision

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
              "precision": resolve_precision(args.precision), "native_bf16": native_bf16(), "source": source,
              "ray_up_to": args.ray_up_to, "runs": []}
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
    md = markdown(result)
    print()
    print(md)
    store.write_text(json.dumps(result, indent=2))
    if docs:
        docs.write_text(md)
    return 0


def markdown(r: dict) -> str:
    lines = ["# Archive scale: `autocode suggest` on the local engine and on Ray", "",
             f"`scripts/bench_scale.py`, {r['date']}, on {r['machine']} (encoder precision {r['precision']}). "
             f"Input: {r['source']}, each with its row number appended so that every text is distinct. Model: the "
             "demo workspace's (study codebook, six coded focus groups). Each run is the real command line in its "
             "own process with an empty embedding cache; peak RSS is the whole process tree's (Ray's raylet, GCS "
             "and workers included)."
             + (f" Ray ran only at sizes up to {r['ray_up_to']:,} (on 2 cores a million segments on Ray takes hours)."
                if r.get("ray_up_to") else ""), "",
             "| segments | engine | wall time | segments/s | peak RSS | vs local |", "|---|---|---|---|---|---|"]
    local = {x["segments"]: x for x in r["runs"] if x["engine"] == "local"}
    for x in r["runs"]:
        ref = local.get(x["segments"])
        vs = f"{x['segments_per_s'] / ref['segments_per_s']:.2f}x" if ref else "-"
        lines.append(f"| {x['segments']:,} | {LABEL[x['engine']]} | {x['wall_s']:,} s | {x['segments_per_s']} | "
                     f"{x['peak_rss_mb']:,} MB | {vs} |")
    ray2 = [x for x in r["runs"] if x["engine"] == "ray2"]
    if ray2 and local:
        best = max(ray2, key=lambda x: x["segments"])
        ref = local.get(best["segments"])
        rate = best["segments_per_s"]
        lines += ["", "**Projection, not a measurement.** On this machine Ray with both cores ran at "
                  f"{rate} segments/s ({rate / ref['segments_per_s']:.2f}x the local engine on the same cores"
                  + (f", an overhead of {100 * (1 - rate / ref['segments_per_s']):.0f}%" if ref and rate < ref['segments_per_s'] else "")
                  + "). If each added machine of this kind ran as fast and the driver kept up (it reads the input "
                  "and writes the output alone), N machines would code a million segments in about "
                  f"{1e6 / rate / 3600:.1f} / N hours: " +
                  ", ".join(f"{k} machines {1e6 / (rate * k) / 60:.0f} min" for k in (4, 16, 64)) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
