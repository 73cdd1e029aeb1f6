#!/usr/bin/env python
"""Which conversational context helps the model code a turn (issue 13, section 2)?

A turn's meaning depends on what came before it. The default model sees one context
vector beside the turn's own features (the moderator's last question, else the turn
before). This bench measures other contexts, each given to the real model
(:class:`autocode.classifier.CodeClassifier`, defaults otherwise) as that one context
vector, built from the turns' cached MiniLM embeddings:

* ``none``: no context;
* ``previous``: the turn just before;
* ``question``: the other party's last turn (AnnoMI: the client's for a therapist turn, the
  therapist's for a client turn; the demo: the moderator's last question, autocode's rule);
* ``last k, decay w``: the k turns before, nearer ones weighted more (weight w^j for the
  j-th turn back), summed and normalised;
* ``other speaker, last k``: the same over the other party's turns only.

Splits: 5 folds of whole transcripts (AnnoMI), leave one focus group out (the demo).
Reported: macro-F1 and Cohen's kappa (exclusive codes) or mean per-code kappa, per variant,
and the difference to the default. Writes bench-results/context.json and
docs/benchmarks/context.md.

    .venv/bin/python scripts/bench_context.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench_quality import DATA, REPO, _annomi_units, annomi_majority  # noqa: E402
from machine import machine_line  # noqa: E402

OUT_JSON = REPO / "bench-results" / "context.json"
OUT_DOC = REPO / "docs" / "benchmarks" / "context.md"
CACHE = REPO / "bench-results" / "embeddings.sqlite3"
VARIANTS = ["none", "previous", "question", "last 3, decay 0.5", "last 5, decay 0.7", "last 10, decay 0.8",
            "other speaker, last 3"]


def _embedder():
    from autocode.embeddings import Embedder
    from autocode.store import EmbeddingCache

    return Embedder(EmbeddingCache(CACHE))


def contexts(E: np.ndarray, docs: list, speakers: list, variant: str, question_of: np.ndarray) -> np.ndarray:
    """One context vector per turn, from the turns' embeddings ``E`` in document order."""
    n, d = E.shape
    out = np.zeros((n, d), dtype=np.float32)
    if variant == "none":
        return out
    if variant == "question":
        has = question_of >= 0
        out[has] = E[question_of[has]]
        return out
    if variant == "previous":
        k, decay, other_only = 1, 1.0, False
    else:
        parts = variant.replace(",", "").split()
        other_only = variant.startswith("other speaker")
        k = int(parts[-1] if other_only else parts[1])
        decay = 0.6 if other_only else float(parts[-1])
    start = 0
    for i in range(n):
        if i and docs[i] != docs[i - 1]:
            start = i
        acc = np.zeros(d, dtype=np.float64)
        taken, w, j = 0, 1.0, i - 1
        while j >= start and taken < k:
            if not other_only or speakers[j] != speakers[i]:
                acc += w * E[j]
                w *= decay
                taken += 1
            j -= 1
        norm = np.linalg.norm(acc)
        if norm > 0:
            out[i] = acc / norm
    return out


def annomi_turns(embedder) -> dict:
    """Every AnnoMI utterance in transcript order (both roles), with its majority codes."""
    d = _annomi_units()
    t = annomi_majority(d, "main_therapist_behaviour")
    c = annomi_majority(d, "client_talk_type")
    units = t.sort_values(["transcript_id", "utterance_id"]).reset_index(drop=True)
    units["client_talk_type"] = c.set_index(["transcript_id", "utterance_id"]).loc[
        list(zip(units.transcript_id, units.utterance_id)), "client_talk_type"].values
    E = embedder.embed(units.utterance_text.astype(str).tolist())
    docs = units.transcript_id.tolist()
    speakers = units.interlocutor.tolist()
    question_of = np.full(len(units), -1)
    last = {"therapist": -1, "client": -1}
    for i, (doc, sp) in enumerate(zip(docs, speakers)):
        if i and doc != docs[i - 1]:
            last = {"therapist": -1, "client": -1}
        question_of[i] = last["client" if sp == "therapist" else "therapist"]
        last[sp] = i
    return {"units": units, "E": E, "docs": docs, "speakers": speakers, "question_of": question_of}


def run_annomi(role: str, turns: dict, variants: list[str]) -> dict:
    from autocode.classifier import CodeClassifier
    from autocode.classifier.evaluate import cross_validate

    units = turns["units"]
    column = "main_therapist_behaviour" if role == "therapist" else "client_talk_type"
    rows = np.flatnonzero((units.interlocutor == role).to_numpy())
    labels = sorted(units.loc[rows, column].unique())
    Y = np.stack([(units.loc[rows, column] == lab).astype(np.int8).to_numpy() for lab in labels], axis=1)
    texts = units.loc[rows, "utterance_text"].astype(str).tolist()
    groups = units.loc[rows, "transcript_id"].astype(str).tolist()
    out = {}
    for v in variants:
        C = contexts(turns["E"], turns["docs"], turns["speakers"], v, turns["question_of"])[rows]
        t0 = time.time()
        r = cross_validate(CodeClassifier, texts, Y, labels, groups, contexts=[""] * len(rows), exclusive=[labels],
                           n_splits=5, embeddings=turns["E"][rows], context_embeddings=C)
        kappa = next(iter(r["exclusive"].values()))["kappa"]  # one exclusive set: Cohen's kappa of the code
        out[v] = {"macro_f1": round(r["macro"]["f1"], 4), "kappa": round(kappa, 4), "seconds": round(time.time() - t0, 1)}
        print(f"AnnoMI {role:<9} {v:<24} macro-F1 {out[v]['macro_f1']:.3f} kappa {out[v]['kappa']:.3f}", flush=True)
    return out


def run_demo(embedder, variants: list[str]) -> dict:
    """The demo corpus (text written for the demo), coder_a, leave one focus group out."""
    import tempfile

    from autocode.app.demo import CODER, corpus_dir
    from autocode.app.imports import import_files
    from autocode.app.models import ClassifierFactory, settings, training_data
    from autocode.app.workspace import Workspace
    from autocode.classifier.evaluate import cross_validate

    with tempfile.TemporaryDirectory(prefix="autocode-bench-") as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        import_files(ws, sorted((corpus_dir() / "coded").glob("*.csv")))
        data = training_data(ws.store, CODER)
        store = ws.store
        coded = {s.id for s in data.segments}
        # every turn of every coded group in order, to build contexts from (coded or not)
        everything, docs, speakers, roles = [], [], [], []
        for doc in dict.fromkeys(s.document for s in data.segments):
            for s in store.segments(document=doc):
                everything.append(s)
                docs.append(doc)
                speakers.append(s.speaker)
                roles.append(s.role)
        factory = ClassifierFactory(ws.embedder(), settings(store.codebook()))
        ws.close()
    E = embedder.embed([s.text for s in everything])
    question_of = np.full(len(everything), -1)
    last = -1
    for i, (doc, role) in enumerate(zip(docs, roles)):
        if i and doc != docs[i - 1]:
            last = -1
        question_of[i] = last
        if role == "moderator":
            last = i
    pos = {s.id: i for i, s in enumerate(everything)}
    rows = np.array([pos[s.id] for s in data.segments])
    assert all(everything[r].id in coded for r in rows)
    out = {}
    for v in variants:
        C = contexts(E, docs, speakers, v, question_of)[rows]
        r = cross_validate(factory.new, data.texts, data.Y, data.labels, data.groups, contexts=[""] * len(rows),
                           exclusive=data.exclusive, embeddings=E[rows], context_embeddings=C,
                           prototypes=data.prototypes)
        out[v] = {"macro_f1": round(r["macro"]["f1"], 4), "kappa": round(r["macro"]["kappa"], 4)}
        print(f"demo              {v:<24} macro-F1 {out[v]['macro_f1']:.3f} kappa {out[v]['kappa']:.3f}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="+", default=VARIANTS)
    ap.add_argument("--corpora", nargs="+", default=["annomi-therapist", "annomi-client", "demo"])
    args = ap.parse_args(argv)
    if not (DATA / "annomi" / "AnnoMI-full.csv").exists():
        print(f"skipping the context benchmark: the shared data is not at {DATA}")
        return 0
    t0 = time.time()
    embedder = _embedder()
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M"),
                     "machine": machine_line(),
                     "corpora": {}}
    if any(c.startswith("annomi") for c in args.corpora):
        turns = annomi_turns(embedder)
        for role in ("therapist", "client"):
            if f"annomi-{role}" in args.corpora:
                results["corpora"][f"AnnoMI {role}"] = run_annomi(role, turns, args.variants)
    if "demo" in args.corpora:
        results["corpora"]["demo (coder_a)"] = run_demo(embedder, args.variants)
    results["seconds"] = round(time.time() - t0, 1)
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(results, indent=1))
    lines = ["# Conversational context: benchmark", "",
             f"Written by `scripts/bench_context.py` (rerun it; do not edit). Run {results['when']} on "
             f"{results['machine']}, {results['seconds']:.0f} s.", "", __doc__.split("\n\n", 1)[1].split("\n\n    ")[0], ""]
    for name, res in results["corpora"].items():
        base = res.get("question") or res.get("previous")
        lines += [f"## {name}", "", "| context | macro-F1 | kappa | macro-F1 vs `question` |", "|---|---|---|---|"]
        for v, m in res.items():
            diff = "" if base is None else f"{m['macro_f1'] - base['macro_f1']:+.3f}"
            lines.append(f"| {v} | {m['macro_f1']:.3f} | {m['kappa']:.3f} | {diff} |")
        lines.append("")
    OUT_DOC.write_text("\n".join(lines))
    print(f"wrote {OUT_JSON} and {OUT_DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
