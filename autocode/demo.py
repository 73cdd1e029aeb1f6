"""``autocode demo``: the whole job on the bundled demo corpus, in a fresh workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import WorkspaceError
from .importer import import_files
from .workspace import Workspace

MARKER = ".autocode-demo"
CODER = "coder_a"
MODEL = "default"


def corpus_dir() -> Path:
    """The demo corpus shipped with the package (annotations/demo in the repository)."""
    return Path(__file__).with_name("data") / "demo"


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
    report = import_files(ws.store, coded + second, segmentation=ws.segmentation())
    for path in sorted((demo / "uncoded").glob("*.txt")):
        import_files(ws.store, [path], group=path.stem.replace("-", " ").capitalize().replace("group", "Group"),
                     segmentation=ws.segmentation())
    return report.totals()


def uncoded_groups(ws: Workspace) -> list[str]:
    seen = ws.store.seen(CODER)
    return [name for name in ws.store.document_names()
            if not any(s.id in seen for s in ws.store.segments(document=name, codable_only=True))]
