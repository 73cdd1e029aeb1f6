#!/usr/bin/env python
"""Learning from the codebook itself: cold start and a prior for codes with few examples.

On Taguette's usability project (../shared/data/taguette-usability: 1,793 highlights in 17
transcripts, 22 tags, each with the researchers' own written description in codebook_*.csv),
with bench_quality's 5 folds of whole transcripts, it scores macro-F1 on the held-out transcripts
when the model has 0, 5, 10 or 20 coded highlights per tag (drawn at random from the training
transcripts, 3 seeds), or all of them:

* chance: each tag given at random at its prevalence (expected macro-F1, computed exactly);
* nearest description (0 examples): each highlight gets the tag whose "name: description"
  embedding is most similar to it;
* the plain model: autocode's default, trained on the k examples per tag;
* the model with the codebook prior (autocode's default since this benchmark): the same, with each
  tag's "name: description" learnt as one more coded example of that tag (``CodeClassifier.fit(
  prototypes=...)``: its own group, no context, never shown as an example).

    .venv/bin/python scripts/bench_codebook.py [--seeds 3]

Prints a table and writes bench-results/codebook.json and docs/benchmarks/codebook.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench_quality import DATA, REPO, taguette  # noqa: E402
from machine import machine_line  # noqa: E402

SHOTS = (0, 5, 10, 20, "all")  # "all": every coded highlight of the training transcripts


def codebook() -> dict[str, str]:
    path = sorted((DATA / "taguette-usability").glob("codebook_*.csv"))[-1]
    book = pd.read_csv(path)
    return {str(t): str(d) for t, d in zip(book.tag, book.description)}


def sample(Y: np.ndarray, rows: np.ndarray, k: int, rng) -> np.ndarray:
    """k random positives of every label among ``rows`` (all of them where it has fewer)."""
    chosen: set[int] = set()
    for j in range(Y.shape[1]):
        pos = rows[Y[rows, j] == 1]
        chosen.update(rng.choice(pos, size=min(k, len(pos)), replace=False).tolist())
    return np.array(sorted(chosen))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks" / "codebook.md")
    args = ap.parse_args(argv)
    if not (DATA / "taguette-usability").is_dir():
        print(f"bench_codebook: {DATA / 'taguette-usability'} is absent; nothing to measure, skipping.")
        return 0
    warnings.filterwarnings("ignore")
    from autocode.classifier import CodeClassifier
    from autocode.classifier.evaluate import code_metrics, group_splits
    from autocode.embeddings import Embedder
    from autocode.store import EmbeddingCache

    args.out.mkdir(parents=True, exist_ok=True)
    emb = Embedder(EmbeddingCache(args.out / "embeddings.sqlite3"))
    task, book = taguette(), codebook()
    labels = task.labels
    missing = [l for l in labels if l not in book]
    protos = [f"{l}: {book.get(l, '')}" for l in labels]
    E = emb.embed(task.texts)
    Ec = np.zeros_like(E)
    nz = [i for i, c in enumerate(task.contexts) if c.strip()]
    Ec[nz] = emb.embed([task.contexts[i] for i in nz])
    P = emb.embed(protos)
    groups = np.asarray(task.groups)
    splits = group_splits(groups, 5)
    Y = task.Y
    rows: dict[str, dict[int, list[float]]] = {m: {} for m in ("chance", "nearest description", "plain model",
                                                                "model + codebook prior")}
    seconds: dict[str, float] = {m: 0.0 for m in rows}

    def macro(pred, te):
        return code_metrics(Y[te], pred, labels, [])["macro"]["f1"]

    for seed in range(args.seeds):
        for k in SHOTS:
            if k == "all" and seed:
                continue  # no draw: the same every seed
            D = {m: np.zeros_like(Y) for m in rows}
            for f, (tr, te) in enumerate(splits):
                rng = np.random.default_rng(1000 * seed + 10 * SHOTS.index(k) + f)
                if k == 0:
                    t0 = time.time()
                    D["nearest description"][te, (E[te] @ P.T).argmax(1)] = 1
                    seconds["nearest description"] += time.time() - t0
                    continue
                pick = tr if k == "all" else sample(Y, tr, k, rng)
                texts = [task.texts[i] for i in pick]
                ctx = [task.contexts[i] for i in pick]
                for name, prior in (("plain model", False), ("model + codebook prior", True)):
                    t0 = time.time()
                    m = CodeClassifier(embedder=emb).fit(
                        texts, Y[pick], labels, contexts=ctx, groups=list(groups[pick]), embeddings=E[pick],
                        context_embeddings=Ec[pick], prototypes=dict(zip(labels, protos)) if prior else None)
                    order = [m.labels_.index(l) for l in labels]
                    p = m.predict_proba([task.texts[i] for i in te], [task.contexts[i] for i in te],
                                        embeddings=E[te], context_embeddings=Ec[te])
                    D[name][te] = m.decide(p)[:, order]
                    seconds[name] += time.time() - t0
            allrows = np.arange(len(Y))
            prev = Y.mean(0)
            rows["chance"].setdefault(k, []).append(float(prev.mean()))  # expected F1 of a tag at its prevalence
            for name in ("nearest description", "plain model", "model + codebook prior"):
                if (k == 0) != (name == "nearest description"):
                    continue
                rows[name].setdefault(k, []).append(macro(D[name], allrows))
            print(f"seed {seed}, {k} per tag: " + ", ".join(f"{n} {v[k][-1]:.3f}" for n, v in rows.items() if k in v),
                  flush=True)
    demo = demo_corpus()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": machine_line(),
              "corpus": task.note, "tags_without_description": missing, "seeds": args.seeds,
              "macro_f1": {n: {str(k): {"mean": round(float(np.mean(v)), 4), "min": round(float(np.min(v)), 4),
                                        "max": round(float(np.max(v)), 4)} for k, v in d.items()} for n, d in rows.items()},
              "seconds": {n: round(s, 1) for n, s in seconds.items()}, "demo": demo}
    (args.out / "codebook.json").write_text(json.dumps(result, indent=2))
    md = markdown(result)
    print()
    print(md)
    if args.docs:
        args.docs.write_text(md)
    return 0


def demo_corpus() -> dict:
    """The demo corpus with the study codebook's own descriptions: leave-one-focus-group-out
    macro-F1 and kappa of the default model trained on coder_a, without and with the prior."""
    import tempfile

    from autocode.app.demo import CODER, corpus_dir
    from autocode.app.imports import import_files
    from autocode.app.models import ClassifierFactory, settings, training_data
    from autocode.app.workspace import Workspace
    from autocode.classifier.evaluate import cross_validate

    out = {}
    with tempfile.TemporaryDirectory(prefix="autocode-bench-") as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        import_files(ws, sorted((corpus_dir() / "coded").glob("*.csv")))
        data = training_data(ws.store, CODER)
        factory = ClassifierFactory(ws.embedder(), settings(ws.store.codebook()))
        for name, protos in (("plain model", None), ("model + codebook prior", data.prototypes)):
            r = cross_validate(factory.new, data.texts, data.Y, data.labels, data.groups, contexts=data.contexts,
                               exclusive=data.exclusive, prototypes=protos)
            out[name] = {"macro_f1": round(r["macro"]["f1"], 4), "kappa": round(r["macro"]["kappa"], 4)}
            print(f"demo corpus, {name}: macro-F1 {out[name]['macro_f1']:.3f}, kappa {out[name]['kappa']:.3f}", flush=True)
        out["segments"], out["prototypes"] = len(data), len(data.prototypes)
        ws.close()
    return out


def markdown(r: dict) -> str:
    lines = ["# Learning from the codebook: Taguette's 22 tags and their written descriptions", "",
             f"`scripts/bench_codebook.py`, {r['date']}, on {r['machine']}. {r['corpus']}. Five folds of whole "
             f"transcripts (bench_quality's); k coded highlights per tag drawn from the training transcripts, "
             f"{r['seeds']} seeds; macro-F1 over every highlight, held out (mean, and the range over seeds).", "",
             "| method | " + " | ".join(f"{k} per tag" if k != "all" else "all coded" for k in SHOTS) + " |", "|---|" + "---|" * len(SHOTS)]
    for name, d in r["macro_f1"].items():
        cells = [(f"{d[str(k)]['mean']:.3f} ({d[str(k)]['min']:.3f}-{d[str(k)]['max']:.3f})" if str(k) in d else "-")
                 for k in SHOTS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Chance gives each tag at random at its prevalence (expected F1 = prevalence). Seconds spent "
              "fitting and predicting, all seeds and folds: " + ", ".join(f"{n} {s}" for n, s in r["seconds"].items()
                                                                        if s) + "."]
    d = r.get("demo")
    if d:
        lines += ["", f"The demo corpus (written for the demo; the study codebook, {d['prototypes']} codes described; "
                  f"{d['segments']} segments coded by coder_a in six focus groups; leave one group out):", "",
                  "| method | macro-F1 | mean kappa |", "|---|---|---|"]
        for name in ("plain model", "model + codebook prior"):
            lines.append(f"| {name} | {d[name]['macro_f1']:.3f} | {d[name]['kappa']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
