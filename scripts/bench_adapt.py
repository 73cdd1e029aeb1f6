"""Benchmark: what `autocode train`'s encoder adaptation costs and gains, as a researcher runs it.

For each workspace it builds, it trains the fast model (`autocode train --no-adapt`), then runs the
adaptation exactly as `autocode train` does (autocode/app/adaptation.py: the fast model and the
adapted one cross-validated on 3 folds of whole groups, then the final adaptation if it wins),
within the default budget of 10 minutes, and reports the wall time, both agreements and the
decision. Issue 13's target: a 2,000-segment study adapts in at most 10 minutes on 2 cores.

Workspaces:
* ``demo``: the demo workspace as `autocode demo` builds it (the study codebook, 48 codes, coder_a's
  six focus groups): the user's real configuration;
* ``annomi-2000``: 2,000 AnnoMI therapist utterances (whole transcripts, in transcript order; the
  majority code of four) imported as a coded CSV, one focus group per transcript
  (needs ../shared/data; skipped without it).

    .venv/bin/python scripts/bench_adapt.py [--workspace demo] [--budget 600]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from machine import machine_line

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
WORKSPACES = ("demo", "annomi-2000")


def demo_workspace(root: Path):
    from autocode.app.demo import fresh_workspace, import_corpus

    ws = fresh_workspace(root)
    import_corpus(ws)
    return ws, "coder_a"


def annomi_workspace(root: Path, n: int = 2000):
    import bench_quality as bq

    from autocode.app.imports import import_files
    from autocode.app.workspace import Workspace

    task = bq.annomi("therapist")
    keep, seen = [], set()
    for i, g in enumerate(task.groups):  # whole transcripts, in order, until n utterances
        if len(keep) >= n and g not in seen:
            break
        seen.add(g)
        keep.append(i)
    book = root.parent / "annomi-codebook.txt"
    book.write_text("\n".join(task.labels) + "\n", encoding="utf-8")
    ws = Workspace.init(root, codebook_file=book)
    coded = root.parent / "annomi-coded.csv"
    with open(coded, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "group", "speaker", "coder", "codes", "text"])
        for i in keep:
            codes = [l for l, y in zip(task.labels, task.Y[i]) if y]
            w.writerow([task.ids[i], f"transcript {task.groups[i]}", "Therapist", "experts", ";".join(codes), task.texts[i]])
    import_files(ws, [coded])
    return ws, "experts"


def run(name: str, budget_s: float) -> dict:
    from autocode.app.adaptation import adapt
    from autocode.app.models import train, training_data

    with tempfile.TemporaryDirectory(prefix=f"bench-adapt-{name}-") as tmp:
        root = Path(tmp) / "ws"
        ws, coder = demo_workspace(root) if name == "demo" else annomi_workspace(root)
        data = training_data(ws.store, coder)
        t0 = time.monotonic()
        train(ws, "default", coder=coder, evaluate=False)
        t_fast = time.monotonic() - t0
        stages: dict[str, float] = {}

        def progress(stage: str, share: float) -> None:
            stages.setdefault(stage.split(",")[0], round(time.monotonic() - t0, 1))

        t1 = time.monotonic()
        result = adapt(ws, "default", budget_s=budget_s, progress=progress)
        seconds = time.monotonic() - t1
        ws.close()
    return {"workspace": name, "segments": len(data), "codes": len(data.labels), "groups": len(set(data.groups)),
            "fast_train_seconds": round(t_fast, 1), "adapt_seconds": round(seconds, 1), "budget_s": budget_s,
            "within_budget": seconds <= budget_s, "fast": result.fast, "adapted": result.adapted,
            "swapped": result.swapped, "epochs": result.epochs, "layers": result.layers, "reason": result.reason,
            "stages_started_at_s": stages}


def markdown(report: dict) -> str:
    lines = [
        "# Encoder adaptation benchmark",
        "",
        f"Written by `scripts/bench_adapt.py` on {report['date']} ({report['machine']}).",
        "The adaptation as `autocode train` runs it after saving the fast model: the fast and the adapted model",
        "cross-validated on 3 folds of whole focus groups, then, if the adapted one agrees better (mean kappa),",
        "the encoder adapted on every coded segment and swapped in. Seconds: the adaptation's wall time (the",
        "fast model's training before it is listed apart).",
        "",
        "| workspace | segments | codes | groups | fast model trains (s) | adaptation (s) | budget (s) | fast: macro-F1 / kappa | adapted: macro-F1 / kappa | swapped in | epochs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lines.append(f"| {r['workspace']} | {r['segments']} | {r['codes']} | {r['groups']} | {r['fast_train_seconds']} "
                     f"| {r['adapt_seconds']} | {r['budget_s']:.0f} | {r['fast']['macro_f1']:.3f} / {r['fast']['kappa']:.3f} "
                     f"| {r['adapted']['macro_f1']:.3f} / {r['adapted']['kappa']:.3f} | {'yes' if r['swapped'] else 'no'} "
                     f"| {r['epochs']} |")
    if report.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(report["skipped"])]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workspace", action="append", choices=WORKSPACES, help="run only these (repeatable)")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds (default 600, train's default)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results")
    ap.add_argument("--docs", type=Path, default=REPO / "docs" / "benchmarks" / "adapt.md")
    args = ap.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    report = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine_line(),
              "runs": [], "skipped": []}
    for name in args.workspace or WORKSPACES:
        if name == "annomi-2000" and not (REPO.parent / "shared" / "data" / "annomi").is_dir():
            report["skipped"].append(f"{name}: ../shared/data/annomi is absent")
            print(f"skip {name}: ../shared/data/annomi is absent")
            continue
        r = run(name, args.budget)
        report["runs"].append(r)
        print(f"{name}: {r['segments']} segments, adaptation {r['adapt_seconds']} s; {r['reason']}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adapt.json").write_text(json.dumps(report, indent=2))
    md = markdown(report)
    if args.docs and not args.workspace:
        args.docs.write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
