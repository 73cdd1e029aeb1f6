"""``autocode demo``: import the demo corpus, train, suggest, and measure agreement."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .app import app, console


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to build the demo workspace (replaced if it is an old demo).")] = Path("demo-workspace"),
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the agreement intervals.")] = 500,
) -> None:
    """Run the whole job on the bundled demo corpus (written for the demo, not study data)."""
    from .. import agreement as ag
    from .. import demo as d
    from .. import suggest as sg
    from ..agreement_source import frames
    from ..modeling import train_and_save
    from ..training import embedder_for, load_model
    from .model_cmds import show_suggestions

    t0 = time.perf_counter()
    ws = d.fresh_workspace(directory)
    totals = d.import_corpus(ws)
    stats = ws.store.stats()
    console.rule("[bold]1. The demo corpus")
    console.print(f"Imported {stats['documents']} focus groups written for this demo ({stats['segments']} segments, "
                  f"{totals['codings']} codings by {', '.join(c for c in stats['coders'])}).")

    console.rule("[bold]2. Train on the six coded groups")
    with console.status("Training (with leave-one-focus-group-out cross-validation)..."):
        card = train_and_save(ws, d.MODEL, coder=d.CODER)
    m = card["cross_validated_metrics"]
    console.print(f"Model '{d.MODEL}' trained on {card['training_data']['segments']} segments coded by {d.CODER}.")
    console.print(f"Cross-validated, leaving one focus group out at a time: macro F1 {m['macro']['f1']:.2f}, "
                  f"micro F1 {m['micro']['f1']:.2f}, mean per-code kappa {m['macro']['kappa']:.2f} against {d.CODER}.")

    console.rule("[bold]3. Suggest codes for the two uncoded groups")
    model = load_model(ws, d.MODEL, embedder=embedder_for(ws))
    codable = {c.path for c in ws.store.codebook().codable()}
    out = ws.root / "outputs"
    out.mkdir(exist_ok=True)
    records = []
    for group in d.uncoded_groups(ws):
        records += sg.predict(model, sg.units_from_store(ws.store, group), codable=codable)
    sg.save_suggestions(ws.store, records, d.MODEL, sg.model_version(ws, d.MODEL))
    sg.write(records, out / "suggestions.csv", "csv")
    sg.write(records, out / "suggestions.jsonl", "jsonl")
    shown = [r for r in records if r["codes"]][:8]
    show_suggestions(shown, limit=None)
    n_coded = sum(1 for r in records if r["codes"])
    console.print(f"{len(records)} segments: {n_coded} with suggested codes, {len(records) - n_coded} left uncoded by the model.")

    console.rule("[bold]4. Agreement: coder against coder, model against coders")
    model_coder = sg.ensure_model_codings(ws, d.MODEL, reference_coder="coder_b")
    coders = [d.CODER, "coder_b", model_coder]
    units, seen, codings = frames(ws.store, coders)
    report = ag.compare(units, seen, codings, coders, level="theme", by_group=True, n_boot=n_boot)
    ag.write_report(report, out / "agreement", disagreements=ag.disagreement_list(units, seen, codings, coders, level="theme"),
                    matrix=ag.disagreement_matrix(units, seen, codings, d.CODER, "coder_b", level="theme"),
                    title="Demo: inter-coder agreement at theme level")
    pairs = report.pairwise.groupby(["coder_1", "coder_2"])["kappa"].mean()
    for (a, b), k in pairs.items():
        console.print(f"  {a} vs {b}: mean Cohen's kappa over the 7 themes {k:.2f} ({ag.landis_koch(k)})")
    console.print("  (the model's codes on the groups it was trained on come from refits that leave that group out)")

    console.rule("[bold]Where things are")
    console.print(f"Workspace: {ws.root}\n  model and its card: {ws.models_dir / d.MODEL}/card.md\n"
                  f"  suggestions: {out / 'suggestions.csv'} and .jsonl\n  agreement report: {out / 'agreement' / 'index.html'}")
    console.print(f"Next: autocode -w {directory} annotate --coder you --group \"Focus Group 7\"   "
                  f"(an active-learning session in your browser)")
    console.print(f"[dim]Done in {time.perf_counter() - t0:.0f} s.[/]")
