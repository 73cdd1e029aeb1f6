"""``autocode demo``: import the demo corpus, train, suggest, and measure agreement."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .. import agreement as ag
from ..app import demo as d
from .app import app, console
from .model_cmds import show_suggestions


def _show(step: d.DemoStep) -> None:
    """Print one finished step of the demo."""
    data = step.data
    if step.number == 1:
        stats = data["stats"]
        console.print(f"Imported {stats['documents']} focus groups written for this demo ({stats['segments']} segments, "
                      f"{data['totals']['codings']} codings by {', '.join(c for c in stats['coders'])}).")
    elif step.number == 2:
        card = data["card"]
        m = card["cross_validated_metrics"]
        console.print(f"Model '{d.MODEL}' trained on {card['training_data']['segments']} segments coded by {d.CODER}.")
        console.print(f"Cross-validated, leaving one focus group out at a time: macro F1 {m['macro']['f1']:.2f}, "
                      f"micro F1 {m['micro']['f1']:.2f}, mean per-code kappa {m['macro']['kappa']:.2f} against {d.CODER}.")
        a = d.ADAPTATION_MEASURED
        console.print(f"This is the fast model. `autocode train` goes on to adapt the encoder to the coding, which the "
                      f"demo skips to stay quick: on this corpus that measured mean kappa {a['fast_kappa']:.2f} -> "
                      f"{a['adapted_kappa']:.2f} (5 folds of focus groups) and took about {a['minutes']:.0f} minutes on "
                      "2 cores (docs/benchmarks/quality.md, adapt.md).")
    elif step.number == 3:
        records = data["records"]
        show_suggestions([r for r in records if r["codes"]][:8], limit=None)
        n_coded = sum(1 for r in records if r["codes"])
        console.print(f"{len(records)} segments: {n_coded} with suggested codes, {len(records) - n_coded} left uncoded by the model.")
    else:
        for (a, b), k in data["pairs"].items():
            console.print(f"  {a} vs {b}: mean Cohen's kappa over the {data['n_codes']} {data['level']}s {k:.2f} "
                          f"({ag.landis_koch(k)})")
        console.print("  (the model's codes on the groups it was trained on come from refits that leave that group out)")
    if step.number < len(d.STEPS):
        console.rule(f"[bold]{step.number + 1}. {d.STEPS[step.number]}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to build the demo workspace (replaced if it is an old demo).")] = Path("demo-workspace"),
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the agreement intervals.")] = 500,
) -> None:
    """Run the whole job on the bundled demo corpus (written for the demo, not study data)."""
    t0 = time.perf_counter()
    console.rule(f"[bold]1. {d.STEPS[0]}")
    ws = d.run(directory, n_boot=n_boot, on_step=_show)
    out = ws.root / "outputs"
    console.rule("[bold]Where things are")
    console.print(f"Workspace: {ws.root}\n  model and its card: {ws.models_dir / d.MODEL}/card.md\n"
                  f"  suggestions: {out / 'suggestions.csv'} and .jsonl\n  agreement report: {out / 'agreement' / 'index.html'}")
    console.print(f"Next: autocode -w {directory} annotate --coder you --group \"Focus Group 7\"   "
                  f"(an active-learning session in your browser)")
    console.print(f"[dim]Done in {time.perf_counter() - t0:.0f} s.[/]")
