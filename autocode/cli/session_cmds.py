"""``autocode annotate`` (the local web page), ``autocode progress`` (how far the model has come)
and ``autocode simulate`` (active learning replayed)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from ..app.progress import coder_progress
from ..app.session import AnnotationSession
from ..app.simulation import simulate as replay
from ..web import server
from .app import JsonOpt, WorkspaceOpt, app, console, open_workspace


@app.command()
def annotate(
    coder: Annotated[str, typer.Option(help="Your name as a coder: every answer is stored under it.")],
    strategy: Annotated[Optional[str], typer.Option(help="Which segment to ask next (default: the measured best).")] = None,
    group: Annotated[Optional[str], typer.Option(help="Only this focus group (double coding included).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Start from a trained model's suggestions (default: train on the coded segments).")] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the address instead of opening the browser.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Open the annotation page: accept or correct suggestions while the model learns from you."""
    ws = open_workspace(workspace)
    with console.status("Preparing the session (embedding segments, training the first model)..."):
        session = AnnotationSession.start(ws, coder, strategy=strategy, group=group, model=model)
    progress = session.progress()
    console.print(f"Session {session.session_id} for [bold]{coder}[/]: {progress['remaining']} segments to code, "
                  f"strategy {session.strategy}, model {session.model_version}.")
    try:
        server.serve(session, port=port, open_browser=not no_browser, door=ws.door_dir, coder=coder,
                     on_ready=lambda url: console.print(
                         f"Open [link={url}]{url}[/link] (Ctrl+C to stop; every answer is saved as you give it; "
                         "a tab left open reconnects when you run this command again)."))
    finally:
        session.close()
        console.print(f"Session closed: {session.answered} answers saved. Run the same command to carry on.")


@app.command()
def simulate(
    coder: Annotated[str, typer.Option(help="Replay with this coder's codes as the oracle.")],
    strategy: Annotated[Optional[list[str]], typer.Option(help="Strategies to compare (repeatable); random is always included.")] = None,
    budget: Annotated[int, typer.Option(help="Most answers to simulate.")] = 300,
    step: Annotated[int, typer.Option(help="Evaluate every STEP answers.")] = 20,
    batch: Annotated[int, typer.Option(min=1, help="Answers between refits (1: after every answer, as in a session).")] = 1,
    initial: Annotated[int, typer.Option(help="Answers before the first model (the cold start).")] = 20,
    seeds: Annotated[str, typer.Option(help="Comma-separated random seeds.")] = "0,1,2",
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """How much more must I code? Replays active learning on coded groups and reports learning curves."""
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter("give whole numbers separated by commas, e.g. 0,1,2", param_hint="--seeds") from None
    ws = open_workspace(workspace)
    with console.status("Embedding the coded segments and replaying the strategies..."):
        result = replay(ws, coder, strategy, budget=budget, step=step, batch=batch, initial=initial, seeds=seed_list)
    names = list(result.curves)
    if json_out:
        console.print_json(json.dumps({**result.to_dict(), "summary": result.summary()}, default=float))
        return
    table = Table("answers", *names, title=f"Held-out macro F1 (mean of {len(seed_list)} seeds; whole-pool model: "
                                           f"{sum(result.reference_f1) / len(result.reference_f1):.2f})")
    means = {n: result.curves[n].mean("f1") for n in names}
    for i, n_lab in enumerate(result.n_labels):
        table.add_row(str(n_lab), *[f"{means[n][i]:.2f}" for n in names])
    console.print(table)
    last = result.n_labels[-1]

    def answers(values: list) -> str:
        return ", ".join("more than " + str(last) if v is None else str(v) for v in values)

    for row in result.summary():
        reach = row["labels_to_target"]
        console.print(f"{row['strategy']}: reaches 95% of the whole-pool F1 after "
                      f"{reach if reach is not None else 'more than ' + str(last)} answers; every code has 5 "
                      f"examples after {answers(row['labels_to_min_positives'])} (per seed)")
        per_code = row.get("labels_to_code_kappa")
        if per_code is not None:
            reached = [v for v in per_code if v is not None]
            when = f" (median {int(np.median(reached))} answers)" if reached else ""
            console.print(f"  {len(reached)} of {len(per_code)} codes reach held-out kappa 0.6 within {last} answers{when}")
        vs = row.get("vs_random")
        if vs:
            spread = (f"95% interval over seeds {vs['low']:+.3f} to {vs['high']:+.3f}" if vs["low"] is not None
                      else "one seed, so no interval: give --seeds 0,1,2 or more for one")
            console.print(f"  mean macro-F1 over the curve {vs['mean_f1_difference']:+.3f} against random ({spread})")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


@app.command()
def progress(
    coder: Annotated[str, typer.Option(help="Whose progress: the coder's answers and random checks.")],
    group: Annotated[Optional[str], typer.Option(help="Only this focus group's pool (as annotate --group).")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """How far has the model come? Agreement on the random checks, and per code its examples, its
    estimated kappa and about how many more answers it needs. Reads the store; writes nothing."""
    ws = open_workspace(workspace)
    with console.status("Rebuilding the model from your answers..."):
        report = coder_progress(ws, coder, group)
    if json_out:
        console.print_json(json.dumps(report, default=float))
        return
    est = report["estimate"]
    if est is None:
        console.print(f"{coder} has nothing coded yet: {report['remaining']} segments to code. "
                      "Run autocode annotate to start.")
        return
    console.print(f"[bold]{coder}[/]: {report['answers']} answers in sessions, {report['coded']} coded segments in "
                  f"all, {report['remaining']} left to code.")
    console.print(f"Agreement with you on random checks: {est['sentence']}. 1 question in 10 is a segment drawn "
                  "at random, so this estimates how the model codes the rest.")
    for title, rows in (("Codes", est["codes"]), ("Valence", est["valence"])):
        if not rows:
            continue
        table = Table("code", "examples", "kappa on random checks (95%)", "recent kappa", "needs",
                      title=f"{title} (never seen first; target kappa {est['target']:.1f}, "
                            f"{est['min_positives']} examples to start)")
        for r in rows:
            interval = "" if r["low"] is None else f" ({_fmt(r['low'])}-{_fmt(r['high'])})"
            table.add_row(r["code"], str(r["positives"]), _fmt(r["kappa"]) + interval, _fmt(r["recent_kappa"]),
                          r["status"])
        console.print(table)
    console.print("'recent kappa': the model's suggestions against your answers over your last 100 answers "
                  "(segments the strategy chose); 'needs': a rough projection from how that has grown.")
