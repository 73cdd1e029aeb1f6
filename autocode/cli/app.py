"""The Typer app, the shared ``--workspace`` option, and library errors as clean exits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from ..errors import AutocodeError
from ..app.workspace import Workspace

# Piped or redirected output has no terminal width; Rich would assume 80 columns and squeeze
# the per-code tables. Use 120 there unless COLUMNS says otherwise.
_PIPE_WIDTH = None if os.environ.get("COLUMNS") or os.isatty(1) else 120
console = Console(width=_PIPE_WIDTH)
err_console = Console(stderr=True)


class _Group(TyperGroup):
    """Turns autocode's errors into one line on stderr and exit code 2."""

    def invoke(self, ctx):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AutocodeError as exc:
            # escaped: a message names files and elements such as "p.qdpx[project.qde]", not Rich markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False,
                  help="Code interview and focus-group transcripts with a model at your side. Runs locally.")
codebook_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Show, import and export the codebook.")
app.add_typer(codebook_app, name="codebook")

WorkspaceOpt = Annotated[Optional[Path], typer.Option(
    "--workspace", "-w", help="Workspace folder (default: $AUTOCODE_WORKSPACE or the current folder).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


# ``autocode -w DIR command``: set by the callback on every invocation.
_given_before_command: dict[str, Path | None] = {}


@app.callback()
def main(workspace: WorkspaceOpt = None) -> None:
    """autocode: train on your coded transcripts, get suggestions, annotate, measure agreement."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _given_before_command["workspace"] = workspace


def workspace_path(workspace: Path | None) -> Path | None:
    """The command's --workspace, else the one given before the command, else None (env / cwd)."""
    return workspace if workspace is not None else _given_before_command.get("workspace")


def open_workspace(workspace: Path | None) -> Workspace:
    return Workspace.find(workspace_path(workspace))
