"""``autocode demo``: the whole job on the bundled demo corpus (written for the demo, not study data)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import agreement as ag
from ..errors import WorkspaceError
from .agreement import codebook_levels, frames
from .imports import import_files
from .models import load_model, model_version, train
from .suggestions import ensure_model_codings, predict, save_suggestions, units_from_store, write
from .workspace import Workspace

MARKER = ".autocode-demo"
CODER = "coder_a"
SECOND_CODER = "coder_b"
MODEL = "default"


def corpus_dir() -> Path:
    """The demo corpus shipped with the package (annotations/demo in the repository)."""
    return Path(__file__).parent.parent / "data" / "demo"


def fresh_workspace(root: Path) -> Workspace:
    """A new demo workspace; an old demo workspace in the same place is replaced, anything else refused."""
    if not (corpus_dir() / "coded").is_dir():
        raise WorkspaceError(f"the demo corpus is missing ({corpus_dir()}); install autocode from its repository")
    root = root.resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise WorkspaceError(f"{root} exists and is not a demo workspace; pass another --dir")
        shutil.rmtree(root)
    ws = Workspace.init(root)
    (root / MARKER).write_text("made by `autocode demo`; safe to delete\n", encoding="utf-8")
    return ws


def import_corpus(ws: Workspace) -> dict[str, int]:
    """Six coded groups (coder_a), the second coder on two of them, two uncoded transcripts."""
    demo = corpus_dir()
    coded = sorted((demo / "coded").glob("*.csv"))
    second = sorted((demo / "second-coder").glob("*.csv"))
    report = import_files(ws, coded + second)
    for path in sorted((demo / "uncoded").glob("*.txt")):
        import_files(ws, [path], group=path.stem.replace("-", " ").capitalize().replace("group", "Group"))
    return report.totals()


def uncoded_groups(ws: Workspace) -> list[str]:
    seen = ws.store.seen(CODER)
    return [name for name in ws.store.document_names()
            if not any(s.id in seen for s in ws.store.segments(document=name, codable_only=True))]


@dataclass
class DemoStep:
    """One step of the demo, as it finishes: its title and what it produced."""

    number: int
    title: str
    data: dict[str, Any]


#: What adapting the encoder measured on this corpus, which the demo skips to stay a two-minute run:
#: mean kappa against coder_a of the fast and the adapted model, 5 folds of focus groups
#: (scripts/bench_quality.py --adapt, docs/benchmarks/quality.md, its newest demo row), and the wall time of the whole
#: adaptation `autocode train` runs (scripts/bench_adapt.py, docs/benchmarks/adapt.md), on 2 cores.
ADAPTATION_MEASURED = {"fast_kappa": 0.643, "adapted_kappa": 0.666, "minutes": 4}

STEPS = ("The demo corpus", "Train on the six coded groups", "Suggest codes for the two uncoded groups",
         "Agreement: coder against coder, model against coders")


def coders_and_model(ws: Workspace, model: str) -> list[str]:
    """The demo's two coders and model ``model``'s coder, with the model's codes made where they are
    missing (out of fold on the groups it was trained on: :func:`.suggestions.ensure_model_codings`)."""
    return [CODER, SECOND_CODER, ensure_model_codings(ws, model, reference_coder=SECOND_CODER)]


def mean_pair_kappas(report: Any) -> dict[tuple[str, str], float]:
    """Each pair of coders' Cohen's kappa, averaged over the codes of an agreement report."""
    pairs = report.pairwise.groupby(["coder_1", "coder_2"])["kappa"].mean()
    return {(a, b): float(k) for (a, b), k in pairs.items()}


def run(directory: Path, *, n_boot: int = 500, on_step: Callable[[DemoStep], None] = lambda step: None,
        level: str = "theme") -> Workspace:
    """The whole job: import, train, suggest for the uncoded groups, agreement. ``on_step`` hears
    each step as it finishes (the CLI prints them). Returns the demo workspace."""
    ws = fresh_workspace(directory)
    totals = import_corpus(ws)
    on_step(DemoStep(1, STEPS[0], {"totals": totals, "stats": ws.store.stats()}))

    card = train(ws, MODEL, coder=CODER)
    on_step(DemoStep(2, STEPS[1], {"card": card}))

    model = load_model(ws, MODEL)
    codable = {c.path for c in ws.store.codebook().codable()}
    out = ws.root / "outputs"
    out.mkdir(exist_ok=True)
    records = []
    for group in uncoded_groups(ws):
        records += predict(model, units_from_store(ws.store, group), codable=codable)
    save_suggestions(ws.store, records, MODEL, model_version(ws, MODEL))
    write(records, out / "suggestions.csv", "csv")
    write(records, out / "suggestions.jsonl", "jsonl")
    on_step(DemoStep(3, STEPS[2], {"records": records, "out": out}))

    coders = coders_and_model(ws, MODEL)
    units, seen, codings = frames(ws.store, coders)
    levels = codebook_levels(ws)
    report = ag.compare(units, seen, codings, coders, level=level, levels=levels, by_group=True, n_boot=n_boot)
    ag.write_report(report, out / "agreement", title=f"Demo: inter-coder agreement at {level} level",
                    disagreements=ag.disagreement_list(units, seen, codings, coders, level=level, levels=levels),
                    matrix=ag.disagreement_matrix(units, seen, codings, CODER, SECOND_CODER, level=level,
                                                  levels=levels))
    on_step(DemoStep(4, STEPS[3], {"pairs": mean_pair_kappas(report),
                                   "n_codes": int(report.overall.n_codes), "level": level,
                                   "report": out / "agreement" / "index.html"}))
    return ws
