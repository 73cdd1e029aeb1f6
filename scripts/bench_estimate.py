#!/usr/bin/env python
"""Does the random-check estimate tell the truth? Coverage of its 95% interval, by method.

    .venv/bin/python scripts/bench_estimate.py            # 4 seeds, demo and AnnoMI subtypes

A session asks 1 question in 10 at random (a *random check*); the model's agreement with the
researcher on those is its estimate of how it codes the rest (autocode.active.estimate). Here
the session is replayed (the coder's codes as the oracle, refits as a session bounds them,
strategies random and discover) on the demo corpus (text written for the demo; coder_a) and on
AnnoMI therapist behaviour subtypes, a quarter of the documents held out per seed. Every 40
answers from 120 to 400, the estimate's interval is computed three ways on the same checks
(percentile bootstrap; BCa, bias-corrected and accelerated; BCa read at the expanded interval's
quantiles for small samples, the default) and compared with the model's true
kappa on the uncoded rest of the pool (what the estimate describes) and on the held-out
documents. Reported: the share of checkpoints whose interval held the truth, with a 95%
interval for that share, the mean error (estimate minus truth) and the mean width. A session's
checkpoints share its checks (the checks at 400 answers include those at 120), so they are not
independent: the share's interval resamples whole sessions (a seed and a strategy), not
checkpoints, and with few sessions it is wide; a coverage read from a handful of sessions can
miss 90% by chance. Writes bench-results/estimate.json and docs/benchmarks/estimate.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import autocode.active.learner as learner_module  # noqa: E402
from autocode.active import Learner, predict_labels  # noqa: E402
from autocode.active.estimate import MIN_CHECKS, kappa_interval, overall_kappa  # noqa: E402
from autocode.active.simulate import estimate_coverage, group_split  # noqa: E402
from autocode.app.learning import REFIT_MAX_ITER  # noqa: E402
from bench_active import DATA, REPO, _embedder, load_annomi, load_demo  # noqa: E402
from machine import machine_line  # noqa: E402

#: interval name -> kappa_interval's arguments
METHODS = {"percentile": {"method": "percentile", "expand": False},
           "BCa": {"method": "bca", "expand": False},
           "BCa, expanded (default)": {"method": "bca", "expand": True}}
OUT_JSON = REPO / "bench-results" / "estimate.json"
OUT_DOC = REPO / "docs" / "benchmarks" / "estimate.md"


TRUTH = {"rest": "uncoded rest of the pool", "test": "held-out documents"}


def summarise(points: list[dict], against: str) -> dict:
    """Coverage (with its by-session interval), error and width of the estimates at ``points``."""
    points = [p for p in points if np.isfinite(p["low"])]
    sessions: dict[tuple, list[dict]] = {}
    for p in points:
        sessions.setdefault((p["seed"], p["strategy"]), []).append(p)
    cov = estimate_coverage(list(sessions.values()), against, min_checks=0)  # the caller chose the checkpoints
    err = [p["kappa"] - p[against] for p in points]
    return {"sessions": cov["sessions"], "checkpoints": len(points), "coverage": cov["coverage"],
            "coverage_low": cov["low"], "coverage_high": cov["high"],
            "mean_error": float(np.mean(err)), "error_sd": float(np.std(err)),
            "mean_width": float(np.mean([p["high"] - p["low"] for p in points]))}


def share(r: dict) -> str:
    """"83% (60-100%)": the coverage and its by-session interval."""
    spread = "" if r["coverage_low"] is None else f" ({r['coverage_low']:.0%}-{r['coverage_high']:.0%})"
    return f"{r['coverage']:.0%}{spread}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--report", action="store_true",
                    help=f"rewrite the page from the saved points ({OUT_JSON.relative_to(REPO)}), no replays")
    args = ap.parse_args(argv)
    if args.report:
        if not OUT_JSON.exists():
            print(f"nothing to report: {OUT_JSON} is absent (run without --report first)")
            return 2
        saved = json.loads(OUT_JSON.read_text())
        return report(saved["points"], saved["when"], saved["seconds"], saved["machine"], saved["seeds"])
    if not (DATA / "annomi" / "AnnoMI-full.csv").exists():
        print(f"skipping: the shared data is not at {DATA}")
        return 0
    captured: dict = {}
    original = learner_module.code_progress

    def spy(codes, positives, truth, pred, **kw):  # the checks' answers and out-of-fold predictions
        captured["truth"], captured["pred"] = truth.copy(), pred.copy()
        return original(codes, positives, truth, pred, **kw)

    learner_module.code_progress = spy
    t0 = time.time()
    emb = _embedder()
    points = []
    for name, loader in (("demo", load_demo), ("annomi", load_annomi)):
        c = loader(emb)
        exclusive = bool((c.Y.sum(1) == 1).all())
        for seed in range(args.seeds):
            pool, test = group_split(c.groups, 0.25, seed)
            Xp, Yp, Xt, Yt = c.X[pool], c.Y[pool], c.X[test], c.Y[test]
            for strategy in ("random", "discover"):
                lr = Learner(Xp, c.codes, strategy=strategy, initial=10, background=False, seed=seed,
                             refit_max_iter=REFIT_MAX_ITER, estimate_every=20, prototypes=c.prototypes,
                             places=[(c.groups[i], i) for i in pool],
                             exclusive=exclusive)
                while lr.n_labelled < 400:
                    q = lr.next(1)
                    lr.teach(q, Yp[q])
                    if lr.n_labelled % 40 or lr.n_labelled < 120:
                        continue
                    lr.estimate(refresh=True)
                    at_least_one = lr._at_least_one()
                    rest = ~lr.labelled_mask
                    truth = {
                        "rest": overall_kappa(Yp[rest], predict_labels(lr.predict_proba()[rest], exclusive,
                                                                       at_least_one=at_least_one), exclusive),
                        "test": overall_kappa(Yt, predict_labels(lr.model.predict_proba(Xt), exclusive,
                                                                 at_least_one=at_least_one), exclusive)}
                    for method, how in METHODS.items():
                        iv = kappa_interval(captured["truth"], captured["pred"], exclusive, **how)
                        points.append({"corpus": name, "seed": seed, "strategy": strategy, "n_labels": lr.n_labelled,
                                       "checks": len(captured["truth"]), "method": method, "kappa": iv["kappa"],
                                       "low": iv["low"], "high": iv["high"], **truth})
                print(f"{name} seed {seed} {strategy}: {time.time() - t0:.0f}s", flush=True)
    return report(points, time.strftime("%Y-%m-%d %H:%M"), round(time.time() - t0, 1), machine_line(), args.seeds)


def report(points: list[dict], when: str, seconds: float, machine: str, seeds: int) -> int:
    """Summarise the replays' checkpoints, write bench-results/estimate.json and the page, print it."""
    rows = [{"corpus": corpus, "method": method, "against": against,
             "checks": f"< {MIN_CHECKS}" if few else f">= {MIN_CHECKS}",
             **summarise([p for p in points if p["corpus"] == corpus and p["method"] == method
                          and (p["checks"] < MIN_CHECKS) == few], against)}
            for corpus, method, against, few in itertools.product(("demo", "annomi"), METHODS, ("rest", "test"),
                                                                  (True, False))]
    default = next(m for m in METHODS if "default" in m)
    by_strategy = [{"corpus": corpus, "strategy": strategy, "against": against,
                    **summarise([p for p in points if p["corpus"] == corpus and p["method"] == default
                                 and p["strategy"] == strategy and p["checks"] >= MIN_CHECKS], against)}
                   for corpus, strategy, against in itertools.product(("demo", "annomi"), ("random", "discover"),
                                                                      ("rest", "test"))]
    out = {"when": when, "seconds": seconds, "machine": machine, "seeds": seeds, "summary": rows,
           "by_strategy": by_strategy, "points": points}
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(out, indent=1))
    lines = ["# The random-check estimate: does its interval hold the truth?", "",
             f"Written by `scripts/bench_estimate.py` (rerun it; do not edit). Run {out['when']} on {out['machine']}, "
             f"{out['seconds']:.0f} s, {seeds} seeds.", "", __doc__.split("\n\n", 2)[2].strip(), "",
             f"A session gives an estimate from {MIN_CHECKS} random checks on (`MIN_CHECKS`); the rows with fewer "
             "say why.", "",
             "| corpus | interval | truth | random checks | sessions | checkpoints | held the truth (95% interval, by session) "
             "| mean error | mean width |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['corpus']} | {r['method']} | {TRUTH[r['against']]} | {r['checks']} | {r['sessions']} "
                     f"| {r['checkpoints']} | {share(r)} | {r['mean_error']:+.3f} | {r['mean_width']:.3f} |")
    lines += ["", f"By strategy, the default interval, {MIN_CHECKS}+ checks. *Spread*: the standard deviation of the "
              "estimate's error over the checkpoints; a 95% interval's half-width should be about twice it.", "",
              "| corpus | strategy | truth | sessions | checkpoints | held the truth (95% interval, by session) "
              "| mean error | spread of the error | mean half-width | half-width / spread |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in by_strategy:
        lines.append(f"| {r['corpus']} | {r['strategy']} | {TRUTH[r['against']]} | {r['sessions']} | {r['checkpoints']} "
                     f"| {share(r)} | {r['mean_error']:+.3f} | {r['error_sd']:.3f} | {r['mean_width'] / 2:.3f} "
                     f"| {r['mean_width'] / 2 / r['error_sd']:.1f} |")
    OUT_DOC.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
