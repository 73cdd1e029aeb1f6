"""Commands around the model: train, suggest, evaluate, simulate, annotate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..app import adaptation
from ..app.models import evaluate as evaluate_model
from ..app.models import SHIPPED_MODEL, model_card, shipped_model
from ..app.models import train as train_model
from ..app.ray_engine import ray_suggest
from ..app.streaming import CHUNK, stream_suggest
from ..app.suggestions import FORMATS, reason, specific
from ..app.suggestions import suggest as suggest_codes
from ..records import model_coder
from ..errors import AutocodeError
from .app import JsonOpt, WorkspaceOpt, app, console, err_console, open_workspace

ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Model name under models/ (default from autocode.toml).")]


def progress_bar(label: str):
    """A rich progress bar on stderr; a task is shown only when it is long (``visible``)."""
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)


@app.command()
def train(
    name: Annotated[Optional[str], typer.Option(help="Model name (folder under models/).")] = None,
    coder: Annotated[Optional[str], typer.Option(help="Train on this coder's codes (default: the consensus of all human coders).")] = None,
    head: Annotated[str, typer.Option(help="Features: embedding, word, char joined with '+', e.g. embedding+word.")] = "embedding+word",
    context: Annotated[bool, typer.Option("--context/--no-context", help="Use the preceding moderator question as context.")] = True,
    tuning: Annotated[Optional[str], typer.Option(help="Slow options: finetune (full fine-tuning) or contrastive (SetFit-style).")] = None,
    evaluate: Annotated[bool, typer.Option("--evaluate/--no-evaluate", help="Cross-validate by group for the model card.")] = True,
    encoder: Annotated[Optional[str], typer.Option(help="Sentence encoder: all-MiniLM-L6-v2, multilingual-e5-small or both, all-MiniLM-L6-v2+multilingual-e5-small (default: [model] encoder in autocode.toml).")] = None,
    adapt: Annotated[bool, typer.Option("--adapt/--no-adapt", help="After saving the fast model, adapt the encoder to your coding and swap it in if it agrees with you better.")] = True,
    budget: Annotated[str, typer.Option("--budget", help="Time the adaptation may take: e.g. 10m, 600s, 1h.")] = "10m",
    background: Annotated[bool, typer.Option("--background", help="Adapt in the background and return at once.")] = False,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train a model on the human-coded segments and save it with its model card; then adapt
    its encoder to your coding within --budget (the fast model is usable meanwhile)."""
    budget_s = adaptation.parse_budget(budget)  # a bad value stops here, before training
    ws = open_workspace(workspace)
    name = name or ws.default_model()
    adapt = adapt and tuning is None
    if adapt:
        adaptation.refuse_if_running(ws, name)
    with console.status(f"Training {name}..."):
        card = train_model(ws, name, coder=coder, features=head, context=context, tuning=tuning, evaluate=evaluate,
                           encoder=encoder)
    if json_out and not adapt:
        console.print_json(json.dumps(card, default=str))
        return
    td = card["training_data"]
    if not json_out:
        console.print(f"Trained [bold]{name}[/] on {td['segments']} segments coded by "
                      f"{', '.join(td['coders'] or [])}; saved to {ws.models_dir / name} (card: card.md).")
        m = (card.get("cross_validated_metrics") or {}).get("macro")
        if m:
            console.print(f"{card['cross_validated_metrics'].get('scheme', 'Cross-validated')}: macro F1 {m['f1']:.2f}, "
                          f"mean kappa {m.get('kappa', float('nan')):.2f}.")
    if adapt:
        why_not = adaptation.why_not_adapt(ws, name)
        if why_not:
            if not json_out:
                console.print(f"Not adapting the encoder: {why_not}")
        elif run_adaptation(ws, name, budget_s, background=background, quiet=json_out):
            card = model_card(ws, name)
    if json_out:
        console.print_json(json.dumps(card, default=str))


def run_adaptation(ws, name: str, budget_s: float, *, background: bool, quiet: bool = False) -> dict | None:
    """Starts the adaptation; in the background returns at once, else draws its progress until it
    ends (Ctrl-C stops it; the fast model stays). Returns the result, or None."""
    proc = adaptation.start(ws, name, budget_s, background=background)
    log = adaptation.status_file(ws, name).with_suffix(".log")
    if background:
        if not quiet:
            console.print(f"Adapting the encoder in the background (process {proc.pid}, at most {budget_s:.0f} s); "
                          f"the fast model serves meanwhile. Follow it with `autocode adapt --status --name {name}`.")
        return None
    try:
        with progress_bar("Adapting the encoder") as bar:
            task = bar.add_task("adapt", total=100)
            while proc.poll() is None:
                st = adaptation.read_status(ws, name)
                bar.update(task, completed=100 * float(st.get("share") or 0),
                           description=str(st.get("stage") or ""))
                time.sleep(0.5)
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        adaptation.mark_stopped(ws, name)
        err_console.print("Stopped adapting; the fast model stays.")
        raise typer.Exit(1) from None
    st = adaptation.read_status(ws, name)
    if st.get("state") != "done":
        err = st.get("error") or f"the adaptation process ended with code {proc.returncode}; see {log}"
        raise AutocodeError(f"adapting model {name!r} failed: {err}; the fast model is saved and stays in use")
    result = st["result"]
    if not quiet:
        console.print(result["reason"] + f" ({result['seconds']:.0f} s)")
    return result


@app.command()
def adapt(
    name: Annotated[Optional[str], typer.Option(help="Model name (folder under models/).")] = None,
    budget: Annotated[str, typer.Option("--budget", help="Time the adaptation may take: e.g. 10m, 600s, 1h.")] = "10m",
    background: Annotated[bool, typer.Option("--background", help="Adapt in the background and return at once.")] = False,
    status: Annotated[bool, typer.Option("--status", help="Say how an adaptation is going (or went), and change nothing.")] = False,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Adapt a trained model's encoder to your coding; swap it in only if it agrees with you better
    (cross-validated by focus group). `autocode train` does this after training."""
    budget_s = adaptation.parse_budget(budget)
    ws = open_workspace(workspace)
    name = name or ws.default_model()
    if status:
        st = adaptation.read_status(ws, name)
        if json_out:
            console.print_json(json.dumps(st, default=str))
        elif not st:
            console.print(f"Model {name!r} has not been adapted.")
        elif st.get("state") == "done":
            console.print(st["result"]["reason"])
        elif st.get("state") == "failed":
            console.print(f"The last adaptation of {name!r} failed: {st.get('error')}")
        else:
            console.print(f"Adapting {name!r}: {st.get('stage')}, {100 * float(st.get('share') or 0):.0f}% "
                          f"(started {st.get('started')}, budget {float(st.get('budget_s') or 0):.0f} s).")
        return
    result = run_adaptation(ws, name, budget_s, background=background, quiet=json_out)
    if json_out:
        console.print_json(json.dumps(result, default=str))


@app.command()
def suggest(
    inputs: Annotated[list[str], typer.Argument(help="Transcript files, CSV/JSONL/Parquet segment files, or group names in the workspace.")],
    group: Annotated[Optional[str], typer.Option(help="Group name for a single input file.")] = None,
    model: ModelOpt = None,
    out: Annotated[Optional[Path], typer.Option(help="Write all suggestions to this file.")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="csv, jsonl (adds every code's score) or parquet; default: parquet for a .parquet OUT, else csv.")] = None,
    top_k: Annotated[Optional[int], typer.Option(help="At most this many codes per segment.")] = None,
    save: Annotated[bool, typer.Option("--save", help="Store as codings of coder model:NAME (never over a human's).")] = False,
    chunk_size: Annotated[Optional[int], typer.Option("--chunk-size", min=1, help="Read, code and write CSV/JSONL/Parquet rows this many at a time (flat memory; needs --out; the default for Parquet input: 2000).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="local, or ray: the chunks coded by Ray actors (pip install 'autocode[ray]').")] = "local",
    address: Annotated[Optional[str], typer.Option("--address", help="Ray cluster to join: auto or HOST:PORT (default: a local one).")] = None,
    actors: Annotated[int, typer.Option("--actors", min=1, help="Ray actors, each with the model loaded once.")] = 2,
    cpus_per_actor: Annotated[Optional[float], typer.Option("--cpus-per-actor", min=0.1, help="CPUs Ray reserves for each actor (default: 1, or an equal share of what the cluster has left after reading the input, if less).")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="The encoder's: auto (bf16 where the CPU has it natively, else fp32), fp32, bf16 or int8; default: autocode.toml's [suggest] precision, else auto.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Suggest codes, with confidence and a reason, for every codable segment."""
    fmt = format or ("parquet" if out is not None and out.suffix.lower() == ".parquet" else "csv")
    if fmt not in FORMATS:
        raise typer.BadParameter("use csv, jsonl or parquet", param_hint="--format")
    ws = open_workspace(workspace)
    name = model or ws.default_model()
    if engine not in ("local", "ray"):
        raise typer.BadParameter("use local or ray", param_hint="--engine")
    precision = ws.suggest_precision(precision)  # a bad value stops here, before anything is read
    if shipped_model(ws, name):
        console.print(f"No model trained in this workspace yet: suggesting with the shipped model '{SHIPPED_MODEL}' "
                      "for the study's codebook (trained on text written for the autocode demo, not on real "
                      "transcripts); `autocode train` replaces it with one trained on your coding.")
    chunked = (chunk_size is not None or engine == "ray"
               or (any(Path(i).suffix.lower() == ".parquet" for i in inputs) and not save))
    if chunked:
        if out is None or save:
            raise typer.BadParameter("chunked suggestions are written to a file: give --out, without --save",
                                     param_hint="--chunk-size" if engine == "local" else "--engine")
        with progress_bar("Suggesting") as bar:
            task = bar.add_task("suggest", total=None)
            options = {"model": name, "group": group, "top_k": top_k, "fmt": fmt, "chunk_size": chunk_size or CHUNK,
                       "precision": precision,
                       "progress": lambda n: bar.update(task, advance=n)}
            result = (ray_suggest(ws, inputs, out, address=address, actors=actors, cpus_per_actor=cpus_per_actor,
                                  **options) if engine == "ray" else stream_suggest(ws, inputs, out, **options))
        console.print(f"Wrote {result.count} suggestions to {out} (encoder {precision}).")
        if result.head:
            show_suggestions(result.head, limit=None)
        if result.head and result.count > len(result.head):
            console.print(f"... and {result.count - len(result.head)} more segments in {out}.")
        return
    if fmt == "parquet" and out is None:
        raise typer.BadParameter("parquet is a file format: give --out", param_hint="--format")
    with progress_bar("Suggesting") as bar:
        task = bar.add_task("suggest", total=None, visible=False)
        records = suggest_codes(ws, inputs, model=name, group=group, save=save, top_k=top_k, out=out, fmt=fmt, precision=precision,
                                progress=lambda n, total: bar.update(task, advance=n, total=total, visible=total >= 200))
    if save:
        stored = sum(r["segment_id"] is not None for r in records)
        console.print(f"Stored suggestions for {stored} segments as coder {model_coder(name)}.")
    if out:
        console.print(f"Wrote {len(records)} suggestions to {out} (encoder {precision}).")
    show_suggestions(records, limit=None if out is None else 12)


def show_suggestions(records: list[dict], limit: int | None = 12) -> None:
    table = Table("who", "segment", "suggested codes", "reason", title="Suggestions", show_lines=True)
    for r in records[:limit] if limit else records:
        text = r["text"] if len(r["text"]) < 160 else r["text"][:157] + "..."
        codes = "\n".join(f"{c['code'].split('/')[-1]} ({c['probability']:.0%})" for c in specific(r["codes"]))
        table.add_row(f"{r['group']}\n{r['speaker'] or ''}", text, codes or "[dim]no code[/]", reason(r))
    console.print(table)
    if limit and len(records) > limit:
        console.print(f"... and {len(records) - limit} more segments (use --out to save them all).")


@app.command()
def evaluate(
    model: ModelOpt = None,
    coder: Annotated[Optional[str], typer.Option(help="Evaluate against this coder (default: as the model was trained).")] = None,
    by: Annotated[str, typer.Option("--by", help="Fold unit: group (leave one focus group out).")] = "group",
    report: Annotated[Optional[Path], typer.Option(help="Write an HTML report with plots to this folder.")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Leave-one-focus-group-out cross-validation: per code P/R/F1/kappa, macro and micro, learning curve."""
    if by != "group":
        raise typer.BadParameter("only 'group' folds are supported: segments of one focus group are never split",
                                 param_hint="--by")
    ws = open_workspace(workspace)
    name = model or ws.default_model()
    with console.status("Cross-validating..."):
        result = evaluate_model(ws, name, coder=coder, report=report)
    if json_out:
        console.print_json(json.dumps(result, default=str))
        return
    table = Table("code", "support", "precision", "recall", "F1", "kappa", title=f"{name}: {result['scheme']}")
    for row in sorted(result["per_code"], key=lambda r: -r["support"]):
        if not row["support"]:
            continue
        table.add_row(row["code"], str(row["support"]), f"{row['precision']:.2f}", f"{row['recall']:.2f}",
                      f"{row['f1']:.2f}", f"{row['kappa']:.2f}")
    console.print(table)
    m, mi = result["macro"], result["micro"]
    console.print(f"macro: P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f} kappa {m['kappa']:.2f} | "
                  f"micro: F1 {mi['f1']:.2f}")
    if result.get("learning_curve"):
        console.print("learning curve (share of training groups -> macro F1): " + ", ".join(
            f"{p['fraction']:.0%} -> {p['macro_f1']:.2f}" for p in result["learning_curve"]))
    if report:
        console.print(f"Report: {report / 'index.html'}")
