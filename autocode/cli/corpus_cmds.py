"""Commands for the workspace, the codebook and the corpus: init, import, stats, export, codebook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.markup import escape
from rich.tree import Tree

from ..app.exports import FORMATS as EXPORT_FORMATS
from ..app.exports import export as export_codings
from ..app.exports import export_codebook
from ..app.imports import FORMATS, import_codebook, import_files
from ..app.workspace import Workspace
from .app import JsonOpt, WorkspaceOpt, app, codebook_app, console, open_workspace, workspace_path


@app.command()
def init(
    directory: Annotated[Optional[Path], typer.Argument(help="Folder for the workspace (default: current).")] = None,
    codebook: Annotated[Optional[Path], typer.Option(
        help="Codebook: autocode YAML, REFI-QDA .qdc, or text with one code path per line. Default: the study frame.")] = None,
    database: Annotated[Optional[str], typer.Option(
        help="Keep the store in this database (postgresql://USER@HOST/DB; the password from ~/.pgpass or "
             "$PGPASSWORD) instead of annotations/autocode.sqlite3.", show_default=False)] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a workspace: autocode.toml, annotations/ (the store) and models/."""
    target = directory or workspace_path(workspace) or Path(".")
    ws = Workspace.init(target, codebook, database=database)
    book = ws.store.codebook()
    console.print(f"Created workspace [bold]{ws.root}[/] with codebook '{book.name}' "
                  f"({len(book)} codes, {len(book.codable())} codable), store in {ws.store.path}.")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Transcripts (.txt .docx .vtt .srt), coded corpora (.csv .jsonl), "
                                                     "REFI-QDA projects (.qdpx) or Taguette projects (.sqlite3).")],
    group: Annotated[Optional[str], typer.Option(help="Group (focus group / document) name for a transcript, "
                                                      "or for corpus rows without a group column.")] = None,
    coder: Annotated[Optional[str], typer.Option(help="Coder of a coded corpus without a coder column.")] = None,
    format: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "auto",
    sources_dir: Annotated[Optional[Path], typer.Option(
        help="A project whose sources are files outside its .qdpx: the folder that holds them (only regular "
             "files under it are read).")] = None,
    max_member_mb: Annotated[float, typer.Option(help="Refuse archive members and source files larger than this.")] = 200,
    workspace: WorkspaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Import files in one transaction: all of them land, or none does."""
    ws = open_workspace(workspace)
    report = import_files(ws, list(files), group=group, coder=coder, fmt=format, sources_dir=sources_dir,
                          max_member_mb=max_member_mb)
    if json_out:
        console.print_json(json.dumps({"files": report.files, "totals": report.totals()}))
        return
    for f in report.files:
        who = f" by {', '.join(f['coders'])}" if f.get("coders") else ""
        console.print(f"{f['file']}: {f['kind']}{who}: {f['documents']} new document(s), "
                      f"{f['segments']} new segment(s), {f['codings']} coding(s)")
        for warning in f.get("warnings", []):
            console.print(f"[yellow]warning:[/] {escape(warning)}")
        if f.get("selections_mapped"):
            console.print(f"  {f['selections']} selections kept exactly, to export as they came: " + ", ".join(
                f"{n} {how}" for how, n in f["selections_mapped"].items()))
    t = report.totals()
    console.print(f"[green]Imported[/] {len(report.files)} file(s): {t['documents']} documents, "
                  f"{t['segments']} segments, {t['codings']} codings.")


@app.command()
def stats(workspace: WorkspaceOpt = None, json_out: JsonOpt = False) -> None:
    """Documents, segments, coded segments per coder, counts per code."""
    ws = open_workspace(workspace)
    s = ws.store.stats()
    if json_out:
        console.print_json(json.dumps(s))
        return
    console.print(f"{s['documents']} documents, {s['segments']} segments ({s['codable_segments']} offered for coding)")
    docs = Table("document", "format", "segments", "codable", title="Documents")
    for d in s["per_document"]:
        docs.add_row(d["name"], d["format"], str(d["segments"]), str(d["codable"] or 0))
    console.print(docs)
    coders = list(s["coders"])
    if not coders:
        console.print("No codings yet.")
        return
    table = Table("code", *coders, title="Segments per code (a sub-theme counts towards its theme and domain)")
    table.add_row("[bold]coded segments[/]", *[str(s["coders"][c]["coded_segments"]) for c in coders])
    book = ws.store.codebook()
    for code in book:
        table.add_row("  " * (code.depth - 1) + code.name, *[str(s["code_counts"][c].get(code.path, 0)) for c in coders])
    console.print(table)


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="Output file.")],
    format: Annotated[str, typer.Option("--format", help="csv, jsonl or qdpx.")] = "csv",
    coder: Annotated[Optional[list[str]], typer.Option(help="Only these coders (repeatable).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Include a model's stored suggestions (coder model:NAME).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export codings as a coded corpus (CSV/JSONL, one row per segment and coder) or a REFI-QDA project."""
    if format not in EXPORT_FORMATS:
        raise typer.BadParameter(f"unknown format {format!r}; use {', '.join(EXPORT_FORMATS)}", param_hint="--format")
    n = export_codings(open_workspace(workspace), out, fmt=format, coders=coder, model=model)
    console.print(f"Wrote {out} ({n} rows/codings).")


@codebook_app.command("show")
def codebook_show(workspace: WorkspaceOpt = None, json_out: JsonOpt = False) -> None:
    """Print the codebook as a tree."""
    ws = open_workspace(workspace)
    book = ws.store.codebook()
    if json_out:
        console.print_json(json.dumps(book.to_dict(), ensure_ascii=False))
        return
    tree = Tree(f"[bold]{book.name}[/]")
    for g in book.groups:
        node = tree.add(f"[bold cyan]{g.name}[/]" + (" (one code per segment)" if g.exclusive else ""))

        def walk(parent_node, parent_path):
            kids = book.children(parent_path) if parent_path else [c for c in book if c.group == g.name and c.parent is None]
            for c in kids:
                label = c.name if c.codable else f"[dim]{c.name} (groups codes)[/]"
                walk(parent_node.add(label), c.path)

        walk(node, None)
    console.print(tree)


@codebook_app.command("import")
def codebook_import(
    file: Annotated[Path, typer.Argument(help="Codebook: .yaml, .qdc (REFI-QDA), .csv (tag,description, as Taguette exports it) or .txt (one path per line).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Merge a codebook into the workspace's and say what was added."""
    ws = open_workspace(workspace)
    report = import_codebook(ws, file)
    console.print(f"Added {len(report['added'])} code(s), updated {len(report['updated'])}.")
    for p in report["added"]:
        console.print(f"  + {p}")
    for p in report["updated"]:
        console.print(f"  ~ {p}")


@codebook_app.command("export")
def codebook_export(
    out: Annotated[Path, typer.Argument(help="Output: .qdc (REFI-QDA), .csv (tag,description, for Taguette) or .yaml.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the workspace codebook as REFI-QDA .qdc, a Taguette tag list (.csv) or autocode YAML."""
    ws = open_workspace(workspace)
    book = export_codebook(ws, out)
    console.print(f"Wrote {out} ({len(book)} codes).")
