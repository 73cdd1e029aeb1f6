"""``autocode agreement``: coder against coder, and a model against each coder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..app.agreement import measure_agreement
from .app import JsonOpt, WorkspaceOpt, app, console, open_workspace


def _fmt(x, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


@app.command()
def agreement(
    coder: Annotated[list[str], typer.Option(help="A coder to compare (repeat: --coder A --coder B).")],
    model: Annotated[Optional[str], typer.Option(help="Also compare a trained model, as coder model:NAME; it codes "
                                                      "the first coder's units first if it has not yet.")] = None,
    unit: Annotated[str, typer.Option(help="segment, or character (as NVivo's coding comparison).")] = "segment",
    group: Annotated[Optional[str], typer.Option(help="Only this focus group / document.")] = None,
    level: Annotated[Optional[str], typer.Option(help="A level the codebook names, e.g. domain, theme or subtheme (default: codes as applied).")] = None,
    exclude_uncoded: Annotated[bool, typer.Option("--exclude-uncoded", help="Leave out units no coder coded.")] = False,
    by_group: Annotated[bool, typer.Option("--by-group/--no-by-group", help="Also per focus group.")] = True,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals (0: none).")] = 1000,
    report: Annotated[Optional[Path], typer.Option(help="Write an HTML report with plots and the disagreements (CSV).")] = None,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Inter-coder agreement per code, per group and per codebook level, with kappa labels."""
    run = measure_agreement(open_workspace(workspace), coder, model=model, unit=unit, group=group, level=level,
                            exclude_uncoded=exclude_uncoded, by_group=by_group, n_boot=n_boot, report=report)
    result, levels, coders = run.result, run.levels, run.coders
    if json_out:
        console.print_json(json.dumps(run.to_dict(), default=lambda x: None))
        return
    o = result.overall
    console.print(f"[bold]{' vs '.join(coders)}[/]: {o.n_units} {result.unit}s, {o.n_codes} codes, level "
                  f"{level or 'as applied'}. Agreement {_fmt(o.percent_agreement, 1)}%, exact match "
                  f"{_fmt(o.exact_match, 1)}%, mean kappa {_fmt(o.mean_kappa)} (prevalence-weighted "
                  f"{_fmt(o.prevalence_weighted_kappa)}), Krippendorff's alpha {_fmt(o.alpha)}"
                  + (f", Fleiss' kappa {_fmt(o.fleiss_kappa)}" if len(coders) > 2 else "") + ".")
    table = Table("code", "units", "coded", "% agree", "kappa", "95% CI", "Landis & Koch", "AC1", "alpha",
                  title="Per code, by kappa")
    per_code = result.per_code.sort_values("kappa", ascending=False, na_position="last")
    for r in per_code.itertuples():
        table.add_row(str(r.code).split("/")[-1], str(r.n_units), str(r.n_coded), _fmt(r.percent_agreement, 1), _fmt(r.kappa),
                      f"{_fmt(r.kappa_ci_low)}–{_fmt(r.kappa_ci_high)}", str(r.kappa_label or r.note or ""),
                      _fmt(r.ac1), _fmt(r.alpha))
    console.print(table)
    if len(coders) > 2:
        pairs = result.pairwise.groupby(["coder_1", "coder_2"])["kappa"].mean().reset_index()
        pt = Table("coder", "coder", "mean kappa over codes", title="Pairs")
        for r in pairs.itertuples():
            pt.add_row(r.coder_1, r.coder_2, _fmt(r.kappa))
        console.print(pt)
    if result.group_summary is not None and len(result.group_summary):
        gt = Table("group", "units", "% agree", "mean kappa", "alpha", title="Per group")
        for r in result.group_summary.itertuples():
            gt.add_row(str(r.group), str(r.n_units), _fmt(r.percent_agreement, 1), _fmt(r.mean_kappa), _fmt(r.alpha))
        console.print(gt)
    if levels:
        console.print("By codebook level: " + "; ".join(
            f"{name} mean kappa {_fmt(r.overall.mean_kappa)} ({r.overall.n_codes} codes)" for name, r in levels.items()))
    for note in result.notes:
        console.print(f"[dim]note: {note}[/]")
    if run.report:
        console.print(f"Report: {run.report}")
