"""Benchmark: the demo's agreement table with the fast model and with the adapted encoder.

Issue 13's demo row: the model against each coder at the theme level, as `autocode demo` and
`autocode agreement` report it (mean Cohen's kappa over the 7 themes; on the groups a model was
trained on, its codes come from refits that leave that whole focus group out). It builds the demo
workspace, trains the fast model (coder_a's six focus groups), a second model that
`autocode train` adapts (autocode/app/adaptation.py, default budget), and a third that embeds
with the multilingual-e5-small encoder option (`[model] encoder`; frozen, as it always is), and a fourth with
both encoders (a model of each, probabilities averaged; ``both-adapted``: that pair with its MiniLM model
adapted). The adapted models'
left-out refits adapt the encoder again without the group they code, so no group is coded by an
encoder that saw it. Prints a table and writes bench-results/demo-agreement.json.

    .venv/bin/python scripts/bench_demo_agreement.py [--budget 600] [--models fast adapted e5 both both-adapted]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autocode import agreement as ag  # noqa: E402
from autocode.app import adaptation  # noqa: E402
from autocode.app.agreement import codebook_levels, frames  # noqa: E402
from autocode.app.demo import (CODER, SECOND_CODER, coders_and_model, fresh_workspace,  # noqa: E402
                               import_corpus, mean_pair_kappas)
from autocode.app.models import train  # noqa: E402
from autocode.embeddings import E5_ENCODER, ENSEMBLE_ENCODER  # noqa: E402
from machine import machine_line  # noqa: E402

#: each model this benchmark can train -> its encoder (None: the workspace's, MiniLM)
ENCODER_OF = {"fast": None, "adapted": None, "e5": E5_ENCODER, "both": ENSEMBLE_ENCODER, "both-adapted": ENSEMBLE_ENCODER}
#: the models `autocode train` then adapts (for both encoders: the MiniLM model of the pair)
ADAPTED = {"adapted", "both-adapted"}


def agreement(ws, name: str) -> dict:
    """Mean pairwise kappa per coder pair, at the theme level and over every code."""
    coders = coders_and_model(ws, name)
    units, seen, codings = frames(ws.store, coders)
    out = {}
    for level in ("theme", None):
        report = ag.compare(units, seen, codings, coders, level=level, levels=codebook_levels(ws), by_group=True, n_boot=0)
        out[level or "codes"] = {f"{a} vs {b}": round(k, 3) for (a, b), k in mean_pair_kappas(report).items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=adaptation.DEFAULT_BUDGET_S, help="adaptation budget, seconds")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "demo-agreement.json")
    ap.add_argument("--models", nargs="+", choices=tuple(ENCODER_OF), default=["fast", "adapted", "e5", "both"])
    args = ap.parse_args(argv)
    result: dict = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": machine_line(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="autocode-demo-agreement-") as tmp:
        ws = fresh_workspace(Path(tmp) / "ws")
        import_corpus(ws)
        for name in args.models:
            t0 = time.perf_counter()
            train(ws, name, coder=CODER, encoder=ENCODER_OF[name])
            row: dict = {}
            if name in ADAPTED:
                r = adaptation.adapt(ws, name, budget_s=args.budget)
                row["adaptation"] = {"swapped": r.swapped, "reason": r.reason, "fast_cv": r.fast, "adapted_cv": r.adapted}
            t1 = time.perf_counter()
            row.update(agreement(ws, name))
            row["seconds"] = {"train_and_adapt": round(t1 - t0, 1), "out_of_fold_codes": round(time.perf_counter() - t1, 1)}
            result["models"][name] = row
            print(f"{name}: {row}", flush=True)
        ws.close()
    print("\n| model | level | coder_a vs coder_b | coder_a vs model | coder_b vs model |\n|---|---|---|---|---|")
    for name, row in result["models"].items():
        for level in ("theme", "codes"):
            k = row[level]
            print(f"| {name} | {level} | {k[f'{CODER} vs {SECOND_CODER}']:.3f} | {k[f'{CODER} vs model:{name}']:.3f} "
                  f"| {k[f'{SECOND_CODER} vs model:{name}']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
