"""Reading a Taguette project's own SQLite database (read-only): the SQL half of the Taguette
import; :func:`autocode.refi.taguette.project_from_tables` builds the project from the rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..errors import InputError
from ..refi.model import QdaProject
from ..refi.taguette import TaguetteTables, project_from_tables

TABLES = ("projects", "documents", "tags", "highlights", "highlight_tags")


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise InputError("no such file", file=path, hint="check the path to the .sqlite3 file")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        tables = {
            row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"not a SQLite database ({exc})",
            file=path,
            hint="pass Taguette's project database (.sqlite3), or use its CSV export",
        ) from None
    missing = [t for t in TABLES if t not in tables]
    if missing:
        con.close()
        raise InputError(
            f"not a Taguette database: no table {', '.join(missing)}",
            file=path,
            hint="pass the .sqlite3 file Taguette keeps its projects in",
        )
    return con


def _pick_project(con: sqlite3.Connection, path: Path, project_id: int | None) -> tuple:
    rows = con.execute("SELECT id, name, description, created FROM projects ORDER BY id").fetchall()
    chosen = [r for r in rows if project_id is None or r[0] == project_id]
    if len(chosen) == 1:
        return chosen[0]
    listed = ", ".join(f"{r[0]} ({r[1]})" for r in rows) or "none"
    problem = "several projects" if project_id is None else f"no project with id {project_id}"
    raise InputError(
        f"{problem} in the database; projects: {listed}",
        file=path,
        element="projects",
        hint="name the project to import by its id",
    )


def read_tables(path: str | Path, project_id: int | None = None) -> TaguetteTables:
    """The rows of one project of a Taguette database (a database holding several needs ``project_id``)."""
    path = Path(path)
    con = _connect(path)
    try:
        project = _pick_project(con, path, project_id)
        pid = project[0]
        return TaguetteTables(
            project=tuple(project),
            commands=con.execute(
                "SELECT date, user_login, payload FROM commands "
                "WHERE project_id = ? AND payload LIKE '%highlight_add%' ORDER BY id", (pid,)).fetchall(),
            members=[r[0] for r in con.execute(
                "SELECT user_login FROM project_members WHERE project_id = ? ORDER BY user_login", (pid,))],
            tags=con.execute("SELECT id, path, description FROM tags WHERE project_id = ? ORDER BY id",
                             (pid,)).fetchall(),
            documents=con.execute(
                "SELECT id, name, description, created, contents FROM documents WHERE project_id = ? ORDER BY id",
                (pid,)).fetchall(),
            highlight_tags=con.execute(
                "SELECT ht.highlight_id, ht.tag_id FROM highlight_tags ht "
                "JOIN tags t ON t.id = ht.tag_id WHERE t.project_id = ? ORDER BY ht.tag_id", (pid,)).fetchall(),
            highlights=con.execute(
                "SELECT h.id, h.document_id, h.start_offset, h.end_offset FROM highlights h "
                "JOIN documents d ON d.id = h.document_id WHERE d.project_id = ? "
                "ORDER BY d.id, h.start_offset, h.end_offset, h.id", (pid,)).fetchall(),
        )
    finally:
        con.close()


def read_taguette_sqlite(path: str | Path, project_id: int | None = None) -> QdaProject:
    """A Taguette database as a REFI project (see :func:`autocode.refi.taguette.project_from_tables`)."""
    return project_from_tables(read_tables(path, project_id), path)
