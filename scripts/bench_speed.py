#!/usr/bin/env python
"""Speed benchmark of the suggestion path and of training.

* Suggestion throughput: segments per second of ``predict_proba`` + ``explain`` on
  new texts (embedding included, nothing cached), against the raw encoder forward
  pass (``Embedder.encode_uncached``) on the same texts in the same run. The ratio
  is the figure (target >= 85%).
* Training time with a warm embedding cache, on 1k and 10k segments.
* Peak resident memory of the process after each step.

Training segments are real coded ones from ../shared/data (NHS comments and AnnoMI
utterances, multi-label) when present, otherwise generated sentences.

    .venv/bin/python scripts/bench_speed.py [--sizes 1000 10000] [--new 1000]

Prints a table and writes bench-results/speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench_quality import DATA, REPO  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def training_pool(n: int, seed: int = 0):
    """(texts, Y, labels, groups): real coded segments when ../shared/data exists."""
    rng = np.random.default_rng(seed)
    if DATA.is_dir():
        from bench_quality import _annomi_units, annomi_majority, nhs

        t = nhs(min_support=25)
        texts, groups = list(t.texts), list(t.groups)
        labels = list(t.labels)
        rows = [list(r) for r in t.Y]
        units = annomi_majority(_annomi_units(), "main_therapist_behaviour")
        beh = units["main_therapist_behaviour"].fillna("client").astype(str)
        extra = sorted(beh.unique())
        labels += [f"AnnoMI/{b}" for b in extra]
        rows = [r + [0] * len(extra) for r in rows]
        for text, b, tr in zip(units.utterance_text.astype(str), beh, units.transcript_id):
            texts.append(text)
            rows.append([0] * len(t.labels) + [int(b == e) for e in extra])
            groups.append(f"annomi-{tr}")
        Y = np.array(rows, dtype=np.int8)
        source = "NHS comments + AnnoMI utterances (real coded segments)"
    else:
        words = ("money funding grant council volunteers training crisis therapist choir garden walk "
                 "library heritage referral safeguarding partnership trust time people group week").split()
        texts = [" ".join(rng.choice(words, size=rng.integers(5, 25))) for _ in range(max(n, 2000))]
        labels = [f"Domain {i % 3}/Theme {i}" for i in range(12)]
        Y = (rng.random((len(texts), len(labels))) < 0.1).astype(np.int8)
        groups = [f"g{i % 20}" for i in range(len(texts))]
        source = "generated sentences (no ../shared/data)"
    order = rng.permutation(len(texts))
    while len(order) < n:  # only the generated pool could be short
        order = np.r_[order, order]
    order = order[:n]
    return [texts[i] for i in order], Y[order], labels, [groups[i] for i in order], source


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--new", type=int, default=1000, help="new segments for the suggestion path (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating timing repeats; the best is kept")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from autocode.classifier import CodeClassifier
    from autocode.embeddings import Embedder
    from autocode.store import EmbeddingCache

    args.out.mkdir(parents=True, exist_ok=True)
    cache = Embedder(EmbeddingCache(args.out / "embeddings.sqlite3"))
    n_max = max(args.sizes)
    texts, Y, labels, groups, source = training_pool(n_max + args.new)
    train_texts, new_texts = texts[: n_max], texts[n_max:]
    # new texts must not be in any cache: make them unique to this run
    stamp = f" [{time.time_ns()}]"
    new_texts = [t + stamp for t in new_texts]
    print(f"training pool: {source}; {len(labels)} codes")
    print(f"warming the embedding cache for {n_max} training segments ...", flush=True)
    cache.embed(train_texts)
    rows = []
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
              "source": source, "n_codes": len(labels), "train": [], "suggest": {}}
    model = None
    for n in args.sizes:
        t0 = time.perf_counter()
        model = CodeClassifier(embedder=cache).fit(train_texts[:n], Y[:n], labels, groups=groups[:n])
        dt = time.perf_counter() - t0
        result["train"].append({"segments": n, "seconds": round(dt, 2), "peak_rss_mb": round(peak_rss_mb())})
        rows.append((f"train {n} segments (warm cache)", f"{dt:.2f} s", f"{peak_rss_mb():.0f} MB"))
        print(rows[-1], flush=True)

    # the suggestion path against the raw encoder, alternating, best of repeats
    ref = Embedder(None)
    ref.encode_uncached([t + " (warm-up)" for t in new_texts[:200]])  # load and warm up outside the timing
    enc_best, sug_best = float("inf"), float("inf")
    for r in range(args.repeats):
        batch = [t + f" #{r}" for t in new_texts]  # fresh texts each repeat: no cache hits
        t0 = time.perf_counter()
        ref.encode_uncached(batch)
        enc_best = min(enc_best, time.perf_counter() - t0)
        fresh = Embedder(None)
        fresh._model = ref.model  # same weights, empty caches
        model.set_params(embedder=fresh)
        t0 = time.perf_counter()
        model.predict_proba(batch)
        model.explain(batch)
        sug_best = min(sug_best, time.perf_counter() - t0)
    n_new = len(new_texts)
    enc_rate, sug_rate = n_new / enc_best, n_new / sug_best
    result["suggest"] = {
        "segments": n_new, "model_trained_on": args.sizes[-1],
        "encoder_segments_per_s": round(enc_rate, 1), "suggest_segments_per_s": round(sug_rate, 1),
        "ratio": round(sug_rate / enc_rate, 3), "peak_rss_mb": round(peak_rss_mb()),
    }
    rows.append(("raw encoder forward pass", f"{enc_rate:.1f} segments/s", ""))
    rows.append((f"suggest: predict_proba + explain (model of {args.sizes[-1]})", f"{sug_rate:.1f} segments/s",
                 f"{peak_rss_mb():.0f} MB"))
    rows.append(("suggest / encoder", f"{100 * sug_rate / enc_rate:.1f}%", "target >= 85%"))
    w = max(len(r[0]) for r in rows)
    print()
    print(f"{'step':{w}}  {'figure':>22}  peak RSS / note")
    for a, b, c in rows:
        print(f"{a:{w}}  {b:>22}  {c}")
    (args.out / "speed.json").write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out / 'speed.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
