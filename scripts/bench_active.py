#!/usr/bin/env python
"""Benchmark the active-learning engine (autocode.active) on real, researcher-coded corpora.

    .venv/bin/python scripts/bench_active.py            # full run (about 10 minutes on 2 cores)
    .venv/bin/python scripts/bench_active.py --quick    # fewer strategies, 1 seed: a smoke test

1. Replays active learning (``autocode.active.simulate``) with the coder's codes as the
   oracle on
   * AnnoMI, therapist utterances: main therapist behaviour, 4 mutually exclusive codes
     (question / reflection / therapist_input / other); 4,882 utterances in 133
     transcripts; the 428 utterances coded by several annotators take the majority code;
   * Taguette usability study: 22 tags over 1,793 highlights in 17 transcripts, kept
     multi-label (one yes/no per tag; 130 highlights carry 2-4 tags);
   held-out transcripts (about a quarter) for evaluation, 3 seeds (each a different
   split), for every strategy. Reported: answers needed before held-out macro-F1 reaches
   95% of a model trained on the whole pool, against random sampling.
2. Measures the latency a coding session feels: time from an answer (``teach``) to the
   next segment (``next``) on a 10,000-segment pool, one answer at a time.

Writes bench-results/active.json (git-ignored) and docs/benchmarks/active.md.
Data is read from <repo>/../shared/data; without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: one BLAS thread is fastest

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autocode.active import (  # noqa: E402
    DEFAULT_STRATEGY,
    FastLogistic,
    Learner,
    default_model_factory,
    predict_labels,
    simulate,
)
from autocode.active.simulate import mean_curve_crossing  # noqa: E402

DATA = REPO.parent / "shared" / "data"
OUT_JSON = REPO / "bench-results" / "active.json"
OUT_DOC = REPO / "docs" / "benchmarks" / "active.md"
CACHE = REPO / "bench-results" / "embeddings.sqlite3"

# Every strategy in the registry can be run with --strategies; the default list keeps a
# 10-seed run with a refit after every answer to about half an hour on 2 cores.
STRATEGIES = ["random", "margin", "badge", "rare_code", "cluster_margin"]
ISSUE_SEEDS = [0, 1, 2]  # the protocol the issue asks for; the other seeds say how noisy it is
FRACTION = 0.95


@dataclass
class Corpus:
    name: str
    description: str
    X: np.ndarray
    Y: np.ndarray
    groups: np.ndarray
    codes: list[str]
    texts: list[str]
    budget: int
    step: int


def _embedder():
    from autocode.embeddings import Embedder
    from autocode.store import EmbeddingCache

    return Embedder(EmbeddingCache(CACHE))


def load_annomi(embedder) -> Corpus:
    import pandas as pd

    d = pd.read_csv(DATA / "annomi" / "AnnoMI-full.csv")
    th = d[d.interlocutor == "therapist"]
    g = th.groupby(["transcript_id", "utterance_id"], sort=True)
    # several experts coded 428 utterances: take the most frequent code (first on a tie)
    label = g.main_therapist_behaviour.agg(lambda s: s.value_counts().index[0])
    text = g.utterance_text.first().astype(str)
    df = pd.DataFrame({"label": label, "text": text}).reset_index()
    codes = sorted(df.label.unique())
    Y = (df.label.to_numpy()[:, None] == np.array(codes)[None, :]).astype(np.int8)
    X = embedder.embed(df.text.tolist())
    return Corpus(
        "annomi", f"AnnoMI therapist behaviour: {len(df):,} utterances, {df.transcript_id.nunique()} transcripts, "
        f"{len(codes)} exclusive codes", X, Y, df.transcript_id.to_numpy(), codes, df.text.tolist(),
        budget=1000, step=20,
    )


def load_taguette(embedder) -> Corpus:
    import pandas as pd

    files = sorted((DATA / "taguette-usability").glob("all_tags_*.csv"))
    t = pd.read_csv(files[-1])
    g = t.groupby("id", sort=True)
    df = pd.DataFrame({"text": g.content.first().astype(str), "doc": g.document.first(), "tags": g.tag.agg(set)})
    codes = sorted(t.tag.unique())
    Y = np.array([[c in tags for c in codes] for tags in df.tags], dtype=np.int8)
    X = embedder.embed(df.text.tolist())
    return Corpus(
        "taguette", f"Taguette usability tags: {len(df):,} highlights, {df.doc.nunique()} transcripts, "
        f"{len(codes)} tags, multi-label ({int((Y.sum(1) > 1).sum())} highlights with 2+ tags)",
        X, Y, df.doc.to_numpy(), codes, df.text.tolist(), budget=800, step=20,
    )


def with_tfidf(corpus: Corpus, dims: int = 256) -> np.ndarray:
    """Embeddings beside a TF-IDF (word 1-2 grams) reduced by SVD, each half L2-normalised."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    T = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2).fit_transform(corpus.texts)
    S = TruncatedSVD(dims, random_state=0).fit_transform(T)
    S /= np.linalg.norm(S, axis=1, keepdims=True) + 1e-9
    return (np.hstack([corpus.X, S]) / np.sqrt(2)).astype(np.float32)


# -- simulation ---------------------------------------------------------------------------


def _simulate_task(task: tuple) -> dict:
    """One (corpus, features, strategy) replay over all seeds, in a worker process."""
    corpus_name, tfidf, strategy, seeds, batch = task
    corpus = (load_annomi if corpus_name == "annomi" else load_taguette)(_embedder())
    if os.environ.get("AUTOCODE_BENCH_QUICK"):
        corpus.budget = min(corpus.budget, 300)
    X = with_tfidf(corpus) if tfidf else corpus.X
    t0 = time.perf_counter()
    res = simulate(
        X, corpus.Y, corpus.groups, [strategy], budget=corpus.budget, step=corpus.step, batch=batch,
        seeds=seeds, initial=20, codes=corpus.codes, model_factory=default_model_factory(),
    )
    print(f"  {corpus_name}{'+tfidf' if tfidf else ''} {strategy}: {time.perf_counter() - t0:.0f}s", flush=True)
    return {"corpus": corpus.name, "description": corpus.description, "result": res}


def _ratio_interval(d: np.ndarray, r: np.ndarray, ref: np.ndarray, n_labels, reps: int = 2000) -> list | None:
    """95% interval of (default's crossing / random's), resampling seeds with replacement
    (the same seeds for both: the comparison is paired). None when too few seeds."""
    if len(ref) < 5:
        return None
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(reps):
        s = rng.integers(0, len(ref), len(ref))
        a = mean_curve_crossing(d[s], ref[s], n_labels, FRACTION)
        b = mean_curve_crossing(r[s], ref[s], n_labels, FRACTION)
        a = a if a is not None else n_labels[-1] * 2  # not reached: count as twice the budget
        b = b if b is not None else n_labels[-1] * 2
        ratios.append(a / b)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return [round(float(lo), 2), round(float(hi), 2)]


def merge_simulation(parts: list[dict], seconds: float) -> dict:
    """One table's worth of results from per-strategy runs (same seeds, same splits)."""
    res = parts[0]["result"]
    for p in parts[1:]:
        res.curves.update(p["result"].curves)
    out = res.to_dict()
    out["seconds"] = round(seconds, 1)
    ref = np.asarray(res.reference_f1)
    n_labels = res.n_labels
    issue = [i for i, s in enumerate(res.seeds) if s in ISSUE_SEEDS]
    rand = res.labels_to_reach("random", FRACTION)["mean_curve"] if "random" in res.curves else None
    rand_curves = np.asarray(res.curves["random"].f1) if "random" in res.curves else None
    rand_issue = mean_curve_crossing(rand_curves[issue], ref[issue], n_labels, FRACTION) if rand_curves is not None and issue else None
    at = {m: i for i, m in enumerate(n_labels)}
    i200 = at.get(200, min(range(len(n_labels)), key=lambda i: abs(n_labels[i] - 200)))
    for row in out["summary"]:
        n = row["labels_to_target"]
        curves = np.asarray(res.curves[row["strategy"]].f1)
        row["vs_random"] = (n / rand) if (n is not None and rand) else None
        row["f1_at_200"] = float(np.mean(curves[:, i200]))
        row["issue_seeds_labels"] = mean_curve_crossing(curves[issue], ref[issue], n_labels, FRACTION) if issue else None
        row["issue_seeds_vs_random"] = (
            row["issue_seeds_labels"] / rand_issue if row["issue_seeds_labels"] and rand_issue else None
        )
        row["vs_random_interval"] = (
            _ratio_interval(curves, rand_curves, ref, n_labels) if rand_curves is not None else None
        )
    return out


def run_simulations(tasks: list[tuple], log) -> dict:
    """Run (corpus, tfidf, strategy, seeds, batch) tasks on two worker processes; merge per table."""
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    # the slowest tasks first, so that the two workers finish together
    order = sorted(tasks, key=lambda t: (t[0] != "taguette", t[1]))
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        outs = list(pool.map(_simulate_task, order))
    tables: dict[str, list] = {}
    for task, out in zip(order, outs):
        tables.setdefault(task[0] + ("+tfidf" if task[1] else ""), []).append((task, out))
    merged = {}
    for key in sorted(tables, key=lambda k: (k.split("+")[0] != "annomi", "+" in k)):
        parts = [o for t, o in sorted(tables[key], key=lambda x: tasks.index(x[0]))]
        sim = merge_simulation(parts, time.perf_counter() - t0)
        name, desc = parts[0]["corpus"], parts[0]["description"]
        if key.endswith("+tfidf"):
            sim.update(title=f"{name}: MiniLM embeddings + TF-IDF (SVD 256)",
                       description=desc + "; features: embeddings beside TF-IDF word 1-2 grams reduced to 256 "
                       "dimensions by SVD")
        else:
            sim.update(title=f"{name}: MiniLM embeddings", description=desc)
        merged[key] = sim
    log(f"simulations done in {time.perf_counter() - t0:.0f}s")
    return merged


# -- latency ------------------------------------------------------------------------------------


def latency_pool(embedder, size: int = 10_000) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """10,000 real segments (AnnoMI utterances, Taguette highlights, NHS comments) and
    22-code multi-label answers from a 'teacher' model trained on the Taguette tags."""
    import pandas as pd

    texts: list[str] = []
    a = pd.read_csv(DATA / "annomi" / "AnnoMI-full.csv")
    texts += a.utterance_text.astype(str).tolist()
    files = sorted((DATA / "taguette-usability").glob("all_tags_*.csv"))
    t = pd.read_csv(files[-1])
    texts += t.content.astype(str).tolist()
    nhs = DATA / "nhs-patient-feedback" / "v6framework_230831.csv"
    if nhs.exists():
        texts += pd.read_csv(nhs)["FFT answer"].dropna().astype(str).tolist()
    texts = list(dict.fromkeys(x for x in texts if x.strip()))[:size]
    X = embedder.embed(texts)
    if len(X) < size:  # top up with jittered copies (only if the shared data shrank)
        rng = np.random.default_rng(0)
        extra = X[rng.integers(len(X), size=size - len(X))] + 0.01 * rng.normal(size=(size - len(X), X.shape[1]))
        X = np.vstack([X, (extra / np.linalg.norm(extra, axis=1, keepdims=True)).astype(np.float32)])
    tag = load_taguette(embedder)
    teacher = FastLogistic().fit(tag.X, tag.Y)
    Y = predict_labels(teacher.predict_proba(X), exclusive=False, at_least_one=True)
    return X, Y, tag.codes


def measure_latency(X: np.ndarray, Y: np.ndarray, codes: list[str], strategy: str, answers: int, log) -> dict:
    t0 = time.perf_counter()
    learner = Learner(X, codes, strategy=strategy, initial=20, seed=0, background=True)
    start_s = time.perf_counter() - t0
    lat, fit_ms = [], []
    try:
        t = time.perf_counter()
        q = learner.next(1)
        first_s = time.perf_counter() - t
        for _ in range(answers):
            i = int(q[0])
            t = time.perf_counter()
            learner.teach([i], Y[i : i + 1])
            t_fit = time.perf_counter()
            q = learner.next(1)
            lat.append((time.perf_counter() - t) * 1000)
            fit_ms.append((t_fit - t) * 1000)
        learner.wait_idle(timeout=60)
        status = learner.status()
    finally:
        learner.close()
    lat_a = np.asarray(lat)
    after_cold = lat_a[learner.initial :]
    out = {
        "strategy": strategy,
        "load_average": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "pool": int(len(X)),
        "codes": len(codes),
        "answers": answers,
        "session_start_s": round(start_s, 3),
        "first_question_s": round(first_s, 3),
        "p50_ms": round(float(np.percentile(lat_a, 50)), 1),
        "p95_ms": round(float(np.percentile(lat_a, 95)), 1),
        "max_ms": round(float(lat_a.max()), 1),
        "p95_ms_after_cold_start": round(float(np.percentile(after_cold, 95)), 1),
        "teach_p50_ms": round(float(np.percentile(fit_ms, 50)), 1),
        "teach_p95_ms": round(float(np.percentile(fit_ms, 95)), 1),
        "last_100_p95_ms": round(float(np.percentile(lat_a[-100:], 95)), 1),
        "final_status": status.message,
    }
    log(f"  latency {strategy}: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, max {out['max_ms']} ms "
        f"(session start {start_s:.2f}s, first question {first_s:.2f}s)")
    return out


def measure_fit(X: np.ndarray, Y: np.ndarray, sizes=(100, 300, 500), repeats: int = 5) -> list[dict]:
    """FastLogistic fit times: from scratch, and warm-started after one more answer."""
    rng = np.random.default_rng(0)
    out = []
    for n in sizes:
        cold, warm = [], []
        for _ in range(repeats):
            idx = rng.choice(len(X), n + 1, replace=False)
            m = FastLogistic()
            t = time.perf_counter()
            m.fit(X[idx[:n]], Y[idx[:n]])
            cold.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            m.fit(X[idx], Y[idx])
            warm.append((time.perf_counter() - t) * 1000)
        out.append({"labels": n, "codes": int(Y.shape[1]), "cold_ms": round(float(np.median(cold)), 1),
                    "warm_ms": round(float(np.median(warm)), 1)})
    return out


# -- report --------------------------------------------------------------------------------------


def _fmt_n(n, budget):
    return f">{budget}" if n is None else str(n)


def _paired_auc(sim: dict, strategy: str) -> str:
    """Seeds on which the strategy's mean macro-F1 over the curve beats random's, and the
    paired Wilcoxon signed-rank p-value of the difference (scipy)."""
    from scipy.stats import wilcoxon

    if strategy == "random" or "random" not in sim["curves"]:
        return ""
    a = np.asarray(sim["curves"][strategy]["f1"]).mean(axis=1)
    r = np.asarray(sim["curves"]["random"]["f1"]).mean(axis=1)
    wins = f"{int((a > r).sum())} of {len(a)}"
    if len(a) < 5 or np.allclose(a, r):
        return wins
    return f"{wins} (p {wilcoxon(a - r).pvalue:.3f})"


def table_rows(sim: dict, budget: int) -> list[str]:
    ref = np.mean(sim["reference_f1"])
    n_seeds = len(sim["seeds"])
    rows = [
        f"| strategy | answers to {FRACTION:.0%} of whole-pool macro-F1 ({n_seeds} seeds) | vs random "
        f"| 95% interval (seed bootstrap) | seeds 0-2 only: answers, vs random | per seed "
        f"| macro-F1 at 200 | mean macro-F1 over curve | seeds with a higher mean than random (Wilcoxon p) "
        f"| final macro-F1 | final kappa | stopping signal fired at |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sim["summary"]:
        ratio = "" if r["vs_random"] is None else f"{r['vs_random']:.2f}"
        if r["labels_to_target"] is None:
            ratio = "not reached"
        seeds = ", ".join(_fmt_n(n, budget) for n in r["labels_to_target_per_seed"])
        stops = ", ".join(str(s) for s in r["stop_at"]) or "-"
        name = f"**{r['strategy']}** (default)" if r["strategy"] == DEFAULT_STRATEGY else r["strategy"]
        ci = r.get("vs_random_interval")
        ci = "" if not ci or r["strategy"] == "random" else f"{ci[0]:.2f}-{ci[1]:.2f}"
        issue = r.get("issue_seeds_vs_random")
        issue = (f"{_fmt_n(r.get('issue_seeds_labels'), budget)}, "
                 + ("-" if issue is None else f"{issue:.2f}"))
        rows.append(
            f"| {name} | {_fmt_n(r['labels_to_target'], budget)} | {ratio} | {ci} | {issue} | {seeds} "
            f"| {r['f1_at_200']:.3f} | {r['mean_f1']:.3f} | {_paired_auc(sim, r['strategy'])} "
            f"| {r['final_f1']:.3f} | {r['final_kappa']:.3f} | {stops} |"
        )
    rows.append("")
    rows.append(
        f"Whole-pool model: macro-F1 {ref:.3f} (per seed {', '.join(f'{v:.3f}' for v in sim['reference_f1'])}), "
        f"kappa {np.mean(sim['reference_kappa']):.3f}; target {FRACTION * ref:.3f}. Pool "
        f"{', '.join(map(str, sim['pool_size']))} segments, held out {', '.join(map(str, sim['test_size']))} "
        f"(whole transcripts). {sim['seconds']} s."
    )
    return rows


def write_doc(results: dict, path: Path) -> None:
    lines = [
        "# Active learning: benchmark",
        "",
        "Written by `scripts/bench_active.py` (do not edit by hand; rerun it). "
        f"Run {results['when']} on {results['machine']}.",
        "",
        "## What is measured",
        "",
        "Active learning is replayed on two corpora that researchers coded, with their codes as the oracle "
        "(`autocode.active.simulate`). Each seed holds out about a quarter of the transcripts (whole "
        "transcripts, never single segments) and keeps the rest as the pool. The strategy starts from 20 "
        "answers chosen by its cold start and then asks "
        + ("one segment at a time, and the model (`FastLogistic`: logistic regression on the MiniLM "
           "embeddings, balanced code weights, warm start) is refitted after every answer, as in a coding "
           "session" if results.get("batch", 20) == 1 else
           f"{results.get('batch', 20)} segments at a time, refitting the model (`FastLogistic`) after each batch")
        + "; every 20 answers macro-F1 and Cohen's kappa are measured on the held-out transcripts. "
        f"The headline is the answers needed before the seed-averaged curve reaches {FRACTION:.0%} of the "
        "macro-F1 of the same model trained on the whole pool; \"vs random\" divides it by random sampling's. "
        f"The run uses {len(results['seeds'])} seeds (transcript splits); the column \"seeds 0-2 only\" is the "
        "issue's 3-seed protocol, and the interval resamples the seeds (paired: the same seeds for the "
        "strategy and for random) to show how far that protocol's answer can move. The curves are flat "
        "near the target, so a 0.005 wobble in F1 moves a crossing by a hundred answers; the mean macro-F1 "
        "over the whole curve (area under the learning curve) is the steadier comparison.",
        "",
        "Strategies: `random`; `margin` (smallest gap between the two likeliest codes; for multi-label "
        "codes the code nearest 0.5, which least confidence and entropy rank identically); `badge` "
        "(k-means++ on gradient embeddings); `rare_code` (half rare-code likelihood, half margin); "
        "`cluster_margin` (k-means the pool into ~N/10 clusters, at most 200; ask in the least-covered "
        "cluster, there the segment with the smallest margin). The last two start from k-means centroids "
        "(representative cold start). Every other registered strategy runs with `--strategies`.",
        "",
    ]
    for key, sim in results["simulations"].items():
        lines += [f"## {sim['title']}", "", sim["description"] + ".", ""]
        lines += table_rows(sim, sim["settings"]["budget"])
        lines.append("")
    lat = results.get("latency")
    if lat:
        lines += [
            "## Latency: answer to next segment",
            "",
            f"A session on a pool of {lat[0]['pool']:,} real segments (AnnoMI utterances, Taguette highlights, "
            f"NHS comments) with {lat[0]['codes']} codes (multi-label; answers from a teacher model trained on "
            f"the Taguette tags), {lat[0]['answers']} answers one at a time; each time is `teach` (refit + "
            "rescoring the pool + stopping signal) followed by `next(1)`. Cross-validated kappa runs on the "
            "background thread every 10 answers, as in a real session. "
            + (
                "Load average when each ran: "
                + ", ".join(f"{r['strategy']} {r['load_average'][0]}" for r in lat)
                + " (2 CPUs; other jobs' load inflates the tail)."
                if all(r.get("load_average") for r in lat)
                else "This run shared the 2 CPUs with another job (load average about 4), which inflates "
                "the tail; the difference between the two rows is that noise, not the strategy."
            ),
            "",
            "| strategy | p50 ms | p95 ms | max ms | p95 after cold start | p95 of last 100 | teach p50 / p95 ms "
            "| session start s | first question s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in lat:
            lines.append(
                f"| {r['strategy']} | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} | "
                f"{r['p95_ms_after_cold_start']} | {r['last_100_p95_ms']} | {r['teach_p50_ms']} / "
                f"{r['teach_p95_ms']} | {r['session_start_s']} | {r['first_question_s']} |"
            )
        lines.append("")
    if results.get("fit"):
        lines += [
            "FastLogistic fit time (median of 5, 384-d embeddings, "
            f"{results['fit'][0]['codes']} codes): "
            + "; ".join(f"{f['labels']} answers: {f['cold_ms']} ms from scratch, {f['warm_ms']} ms warm-started "
                        "after one more answer" for f in results["fit"]) + ".",
            "",
        ]
    lines += ["## Findings", ""] + results["findings"] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def findings(results: dict) -> list[str]:
    out = []
    for key, sim in results["simulations"].items():
        rows = {r["strategy"]: r for r in sim["summary"]}
        d, r = rows.get(DEFAULT_STRATEGY), rows.get("random")
        if not (d and r):
            continue
        best_auc = max(sim["summary"], key=lambda x: x["mean_f1"])
        ratio = d["vs_random"]
        budget = sim["settings"]["budget"]
        if ratio is not None:
            verdict = "meets the target (at most half)" if ratio <= 0.5 else "does not meet the target of half"
        elif d["labels_to_target"] is not None:
            verdict = f"random did not reach the target within {budget} answers"
        else:
            verdict = f"neither reached the target within {budget} answers"
        ci = d.get("vs_random_interval")
        issue = d.get("issue_seeds_vs_random")
        out.append(
            f"- {sim['title']}: the default `{DEFAULT_STRATEGY}` needs "
            f"{_fmt_n(d['labels_to_target'], budget)} answers against random's "
            f"{_fmt_n(r['labels_to_target'], budget)}"
            + (f" ({ratio:.2f} x random" if ratio is not None else "")
            + (f"; 95% interval over seeds {ci[0]:.2f}-{ci[1]:.2f}" if ci and ratio is not None else "")
            + (")" if ratio is not None else "")
            + f": {verdict}. On the issue's seeds 0-2 alone: "
            + (f"{issue:.2f} x random" if issue is not None else "no ratio (one of the two did not reach the target)")
            + f". Mean macro-F1 over the curve {d['mean_f1']:.3f} vs random {r['mean_f1']:.3f}; "
            f"highest: `{best_auc['strategy']}` ({best_auc['mean_f1']:.3f})."
        )
    out += STATIC_FINDINGS
    return out


STATIC_FINDINGS = [
    "- The issue's goal was for the default to need at most half the answers random sampling needs. "
    "No strategy here does, on either corpus. Every strategy shares one model (logistic regression on "
    "frozen MiniLM embeddings) whose learning curves flatten early: the 95% target sits on the flat part, "
    "where a strategy can only buy the last few points of F1 and where a 0.005 wobble in F1 moves a "
    "crossing by a hundred answers. The per-seed crossings of one strategy spread over a factor of three "
    "or more, and no strategy's seed-bootstrap interval lies below 1: on these corpora the 3-seed "
    "protocol cannot tell any of these strategies from random by the crossing alone, and a single "
    "3-seed run can land anywhere in those intervals (compare the \"seeds 0-2 only\" column with the "
    "10-seed one).",
    "- How the default was chosen: `cluster_margin` has the highest mean macro-F1 over the curve on both "
    "corpora, beats random's on most seeds (significantly on AnnoMI, see the Wilcoxon column), and its "
    "10-seed crossing is no later than random's on either corpus. Expect a steadier early curve "
    "(macro-F1 at 200 answers) and somewhat fewer answers on average, not half.",
    "- The model is refitted after every answer here, as in a session (`--batch 20` refits after "
    "batches of 20, as the first version of this benchmark did, where plain margin looked better than it "
    "does here). With one answer at a time, uncertainty alone (`margin`) is no better than random on "
    "either corpus; cluster margin's coverage of the k-means clusters spreads the questions over the "
    "corpus.",
    "- For multi-label codes least confidence, margin and entropy rank segments identically (each is a "
    "monotone function of the most uncertain code's |p - 0.5|), so only margin is run by default.",
    "- Stopping: the signal (consecutive models 20 answers apart agreeing at kappa 0.97 over 3 comparisons) "
    "fired between 460 and 980 answers where it fired within the budget (column above), on or after most seeds' 95% point: it says "
    "\"stabilised\" once further answers buy little, not before.",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--batch", type=int, default=1, help="answers between refits (1: as in a session)")
    ap.add_argument("--strategies", nargs="+", default=STRATEGIES)
    ap.add_argument("--quick", action="store_true", help="random + default, one seed, small budget")
    ap.add_argument("--tfidf", action="store_true", help="also replay on embeddings + TF-IDF features")
    ap.add_argument("--latency-answers", type=int, default=300)
    ap.add_argument("--json", type=Path, default=OUT_JSON)
    ap.add_argument("--doc", type=Path, default=OUT_DOC)
    ap.add_argument("--report-only", action="store_true", help="rewrite the doc from the saved JSON, no runs")
    args = ap.parse_args(argv)

    if args.report_only:
        results = json.loads(args.json.read_text())
        results["findings"] = findings(results)
        write_doc(results, args.doc)
        print(f"wrote {args.doc} from {args.json}")
        return 0

    if not (DATA / "annomi" / "AnnoMI-full.csv").exists() or not (DATA / "taguette-usability").exists():
        print(f"skipping the active-learning benchmark: the shared data is not at {DATA} "
              "(it lives beside the repository as ../shared/data)")
        return 0

    log = lambda msg: print(msg, flush=True)  # noqa: E731
    strategies = args.strategies
    seeds = args.seeds
    if args.quick:
        strategies, seeds = ["random", DEFAULT_STRATEGY], seeds[:1]
        os.environ["AUTOCODE_BENCH_QUICK"] = "1"  # worker processes cap the budget
    if "random" not in strategies:
        strategies = ["random"] + strategies
    t_all = time.perf_counter()
    embedder = _embedder()
    results: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "default_strategy": DEFAULT_STRATEGY,
        "fraction": FRACTION,
        "seeds": seeds,
        "simulations": {},
    }
    tasks = [(c, False, st, seeds, args.batch) for c in ("annomi", "taguette") for st in strategies]
    if args.tfidf:
        tasks += [(c, True, st, seeds, args.batch) for c in ("annomi", "taguette")
                  for st in dict.fromkeys(["random", "margin", DEFAULT_STRATEGY])]
    if args.quick:
        tasks = [t for t in tasks if t[0] == "annomi"]
    log(f"== {len(tasks)} replays ({len(seeds)} seeds each) on 2 worker processes")
    results["simulations"] = run_simulations(tasks, log)
    results["batch"] = args.batch

    log("\n== latency on a 10,000-segment pool")
    X, Y, codes = latency_pool(embedder)
    answers = 60 if args.quick else args.latency_answers
    results["latency"] = [
        measure_latency(X, Y, codes, s, answers, log) for s in dict.fromkeys(["random", "margin", DEFAULT_STRATEGY])
    ]
    results["fit"] = measure_fit(X, Y)
    results["findings"] = findings(results)
    results["total_seconds"] = round(time.perf_counter() - t_all, 1)

    # -- print the table
    for key, sim in results["simulations"].items():
        print(f"\n{sim['title']}  (whole-pool macro-F1 {np.mean(sim['reference_f1']):.3f}, "
              f"target {FRACTION:.0%} = {FRACTION * np.mean(sim['reference_f1']):.3f})")
        print(f"  {'strategy':<18}{'answers':>9}{'vs random':>11}{'per seed':>22}{'F1@200':>8}{'meanF1':>8}{'final':>7}")
        for r in sim["summary"]:
            ratio = "-" if r["vs_random"] is None else f"{r['vs_random']:.2f}"
            per = ",".join(_fmt_n(n, sim["settings"]["budget"]) for n in r["labels_to_target_per_seed"])
            print(f"  {r['strategy']:<18}{_fmt_n(r['labels_to_target'], sim['settings']['budget']):>9}{ratio:>11}"
                  f"{per:>22}{r['f1_at_200']:>8.3f}{r['mean_f1']:>8.3f}{r['final_f1']:>7.3f}")
    print("\nfit (ms): " + "; ".join(f"{f['labels']} answers {f['cold_ms']} cold / {f['warm_ms']} warm" for f in results["fit"]))
    print("latency (answer -> next segment, ms):")
    for r in results["latency"]:
        print(f"  {r['strategy']:<18} p50 {r['p50_ms']:>6}  p95 {r['p95_ms']:>6}  max {r['max_ms']:>6}  "
              f"(pool {r['pool']:,}, {r['codes']} codes)")
    print()
    for line in results["findings"][: len(results["simulations"])]:
        print(line)
    print(f"\ntotal {results['total_seconds']} s")

    if args.quick and args.json == OUT_JSON:
        args.json = OUT_JSON.with_name("active-quick.json")  # never overwrite the full run's numbers
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    if not args.quick:
        write_doc(results, args.doc)
        print(f"wrote {args.json} and {args.doc}")
    else:
        print(f"wrote {args.json} (quick run: {args.doc} left alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
