"""The SQLite store of a workspace: documents, segments, codebook, codings with provenance.

One file (``annotations/autocode.sqlite3``), WAL mode, foreign keys on. The schema is
versioned: ``MIGRATIONS[i]`` takes a store from version ``i`` to ``i + 1``. Every
write that comes from one import or one answer is one transaction (``with store.transaction():``).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from .codebook import Code, Codebook, CodeGroup
from .errors import InputError

SOURCES = ("human", "model", "accepted", "corrected")

SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE code_groups (
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', exclusive INTEGER NOT NULL DEFAULT 0,
    levels TEXT NOT NULL DEFAULT '[]', position INTEGER NOT NULL);
CREATE TABLE codes (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    grp TEXT NOT NULL REFERENCES code_groups(name), parent_path TEXT REFERENCES codes(path),
    codable INTEGER NOT NULL DEFAULT 1, description TEXT NOT NULL DEFAULT '', color TEXT,
    attrs TEXT NOT NULL DEFAULT '{}', guid TEXT, position INTEGER NOT NULL);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, source_path TEXT, format TEXT NOT NULL,
    text TEXT NOT NULL, guid TEXT, imported_at TEXT NOT NULL);
CREATE TABLE speakers (
    id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('moderator', 'participant')),
    UNIQUE (document_id, name));
CREATE TABLE segments (
    id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ext_id TEXT, position INTEGER NOT NULL, turn INTEGER NOT NULL,
    speaker_id INTEGER REFERENCES speakers(id), text TEXT NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, timestamp TEXT, codable INTEGER NOT NULL DEFAULT 1,
    UNIQUE (document_id, position), UNIQUE (document_id, ext_id));
CREATE TABLE coders (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL CHECK (kind IN ('human', 'model')));
-- A coder has "seen" a segment when they coded it, including deciding on no code.
CREATE TABLE seen (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    coder_id INTEGER NOT NULL REFERENCES coders(id), created_at TEXT NOT NULL,
    PRIMARY KEY (segment_id, coder_id));
CREATE TABLE codings (
    id INTEGER PRIMARY KEY, segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    code_id INTEGER NOT NULL REFERENCES codes(id), coder_id INTEGER NOT NULL REFERENCES coders(id),
    source TEXT NOT NULL CHECK (source IN ('human', 'model', 'accepted', 'corrected')),
    model_version TEXT, probability REAL, session_id INTEGER REFERENCES sessions(id),
    created_at TEXT NOT NULL, UNIQUE (segment_id, code_id, coder_id));
-- Exact coded spans (REFI-QDA selections), kept so that export loses nothing.
CREATE TABLE selections (
    id INTEGER PRIMARY KEY, document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    code_id INTEGER NOT NULL REFERENCES codes(id), coder_id INTEGER NOT NULL REFERENCES coders(id),
    start INTEGER NOT NULL, end INTEGER NOT NULL, guid TEXT, name TEXT, created_at TEXT);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, coder_id INTEGER NOT NULL REFERENCES coders(id), strategy TEXT NOT NULL,
    model_version TEXT, params TEXT NOT NULL DEFAULT '{}', started_at TEXT NOT NULL, ended_at TEXT);
-- Every answer in an annotation session, in order; undo is an answer too.
CREATE TABLE answers (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id),
    segment_id INTEGER NOT NULL REFERENCES segments(id), action TEXT NOT NULL
        CHECK (action IN ('accept', 'correct', 'skip', 'undo')),
    suggested TEXT NOT NULL DEFAULT '[]', answered TEXT NOT NULL DEFAULT '[]', memo TEXT,
    model_version TEXT, created_at TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
CREATE TABLE memos (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE,
    coder_id INTEGER NOT NULL REFERENCES coders(id), text TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (segment_id, coder_id));
CREATE INDEX codings_by_coder ON codings(coder_id, segment_id);
CREATE INDEX segments_by_doc ON segments(document_id, position);
"""

#: MIGRATIONS[i] brings a store from schema version i to i + 1.
MIGRATIONS: list[str] = [SCHEMA_V1]
SCHEMA_VERSION = len(MIGRATIONS)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Segment:
    id: int
    document: str
    ext_id: str | None
    position: int
    turn: int
    speaker: str | None
    role: str | None
    text: str
    start: int
    end: int
    codable: bool
    timestamp: str | None = None


class Store:
    """The workspace's SQLite store. Use :meth:`open`; writes go through :meth:`transaction`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._depth = 0

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> "Store":
        p = Path(path)
        if not p.exists() and not create:
            raise InputError("no autocode store here", file=p, hint="run `autocode init` first, or pass --workspace")
        store = cls(p)
        store.migrate()
        return store

    def close(self) -> None:
        self.db.close()

    # ---------------------------------------------------------------- schema
    def schema_version(self) -> int:
        has_meta = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise InputError(f"store schema version {version} is newer than this autocode ({SCHEMA_VERSION})",
                             file=self.path, hint="upgrade autocode")
        for step in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _statements(MIGRATIONS[step]):
                    self.db.execute(statement)
                self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(step + 1),))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All-or-nothing: the block's writes land together, or none do. Nests."""
        if self._depth == 0:
            self.db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield self.db
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        else:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("COMMIT")

    # ---------------------------------------------------------------- codebook
    def codebook(self) -> Codebook:
        name = self.meta("codebook_name") or "codebook"
        book = Codebook(name=name)
        for g in self.db.execute("SELECT * FROM code_groups ORDER BY position"):
            book.groups.append(CodeGroup(g["name"], g["description"], bool(g["exclusive"]), json.loads(g["levels"])))
        for c in self.db.execute("SELECT * FROM codes ORDER BY position"):
            book.codes[c["path"]] = Code(
                name=c["name"], path=c["path"], group=c["grp"], parent=c["parent_path"], codable=bool(c["codable"]),
                description=c["description"], color=c["color"], attrs=json.loads(c["attrs"]), guid=c["guid"],
            )
        return book

    def set_codebook(self, book: Codebook) -> dict[str, list[str]]:
        """Merge ``book`` into the stored codebook: new groups and codes are added, existing ones
        updated (description, colour, codable). Codes are never deleted (codings refer to them).
        Returns {"added": [...], "updated": [...]}."""
        report: dict[str, list[str]] = {"added": [], "updated": []}
        with self.transaction():
            if not self.meta("codebook_name"):
                self.set_meta("codebook_name", book.name)
            known_groups = {r[0] for r in self.db.execute("SELECT name FROM code_groups")}
            for g in book.groups:
                if g.name in known_groups:
                    self.db.execute("UPDATE code_groups SET description=?, exclusive=?, levels=? WHERE name=?",
                                    (g.description, int(g.exclusive), json.dumps(g.levels), g.name))
                else:
                    pos = self.db.execute("SELECT COUNT(*) FROM code_groups").fetchone()[0]
                    self.db.execute("INSERT INTO code_groups VALUES (?, ?, ?, ?, ?)",
                                    (g.name, g.description, int(g.exclusive), json.dumps(g.levels), pos))
            existing = {r["path"]: r for r in self.db.execute("SELECT * FROM codes")}
            for c in book:
                values = (c.codable, c.description, c.color, json.dumps(c.attrs, ensure_ascii=False), c.guid)
                if c.path in existing:
                    old = existing[c.path]
                    if (bool(old["codable"]), old["description"], old["color"], old["attrs"], old["guid"]) != (
                        c.codable, c.description, c.color, values[3], c.guid or old["guid"]):
                        self.db.execute(
                            "UPDATE codes SET codable=?, description=?, color=?, attrs=?, guid=COALESCE(?, guid) WHERE path=?",
                            (*values, c.path))
                        report["updated"].append(c.path)
                else:
                    pos = self.db.execute("SELECT COUNT(*) FROM codes").fetchone()[0]
                    self.db.execute(
                        "INSERT INTO codes (path, name, grp, parent_path, codable, description, color, attrs, guid, position)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (c.path, c.name, c.group, c.parent, *values, pos))
                    report["added"].append(c.path)
        return report

    def code_id(self, path: str) -> int:
        row = self.db.execute("SELECT id FROM codes WHERE path=?", (path,)).fetchone()
        if row is None:
            raise InputError(f"code {path!r} is not in the workspace codebook", hint="add it with `autocode codebook import`")
        return row[0]

    # ---------------------------------------------------------------- meta
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---------------------------------------------------------------- coders
    def coder_id(self, name: str, kind: str = "human") -> int:
        row = self.db.execute("SELECT id FROM coders WHERE name=?", (name,)).fetchone()
        if row:
            return row[0]
        with self.transaction():
            return self.db.execute("INSERT INTO coders (name, kind) VALUES (?, ?)", (name, kind)).lastrowid

    def coders(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT name, kind FROM coders ORDER BY id")]

    # ---------------------------------------------------------------- documents and segments
    def document_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM documents ORDER BY id")]

    def document(self, name: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM documents WHERE name=?", (name,)).fetchone()
        if row is None:
            known = ", ".join(self.document_names()[:8]) or "none yet"
            raise InputError(f"no group or document named {name!r} in the workspace", hint=f"known: {known}")
        return row

    def segments(self, *, document: str | None = None, codable_only: bool = False,
                 ids: Iterable[int] | None = None) -> list[Segment]:
        sql = ("SELECT s.*, d.name AS document, sp.name AS speaker, sp.role AS role FROM segments s "
               "JOIN documents d ON d.id = s.document_id LEFT JOIN speakers sp ON sp.id = s.speaker_id WHERE 1=1")
        args: list[Any] = []
        if document is not None:
            sql += " AND d.name = ?"
            args.append(document)
        if codable_only:
            sql += " AND s.codable = 1"
        if ids is not None:
            id_list = list(ids)
            sql += f" AND s.id IN ({','.join('?' * len(id_list))})"
            args.extend(id_list)
        sql += " ORDER BY s.document_id, s.position"
        return [
            Segment(r["id"], r["document"], r["ext_id"], r["position"], r["turn"], r["speaker"], r["role"],
                    r["text"], r["start"], r["end"], bool(r["codable"]), r["timestamp"])
            for r in self.db.execute(sql, args)
        ]

    # ---------------------------------------------------------------- codings
    def codings(self, coder: str | None = None, *, sources: Iterable[str] | None = None) -> dict[int, set[str]]:
        """segment id -> set of code paths applied by ``coder`` (all coders when None)."""
        sql = ("SELECT c.segment_id, k.path FROM codings c JOIN codes k ON k.id = c.code_id "
               "JOIN coders u ON u.id = c.coder_id WHERE 1=1")
        args: list[Any] = []
        if coder is not None:
            sql += " AND u.name = ?"
            args.append(coder)
        if sources is not None:
            src = list(sources)
            sql += f" AND c.source IN ({','.join('?' * len(src))})"
            args.extend(src)
        out: dict[int, set[str]] = {}
        for seg, path in self.db.execute(sql, args):
            out.setdefault(seg, set()).add(path)
        return out

    def seen(self, coder: str) -> set[int]:
        """Segments that ``coder`` has coded (with or without a code)."""
        return {r[0] for r in self.db.execute(
            "SELECT s.segment_id FROM seen s JOIN coders u ON u.id = s.coder_id WHERE u.name = ?", (coder,))}

    def set_codes(self, segment_id: int, coder: str, paths: Iterable[str], *, source: str = "human",
                  kind: str = "human", model_version: str | None = None,
                  probabilities: dict[str, float] | None = None, session_id: int | None = None,
                  replace: bool = True) -> None:
        """Record that ``coder`` coded segment ``segment_id`` with ``paths`` (possibly none).

        With ``replace`` the coder's earlier codes on that segment are replaced. One transaction.
        """
        if source not in SOURCES:
            raise InputError(f"unknown coding source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
        with self.transaction():
            coder_id = self.coder_id(coder, kind)
            stamp = now()
            if replace:
                self.db.execute("DELETE FROM codings WHERE segment_id=? AND coder_id=?", (segment_id, coder_id))
            self.db.execute("INSERT OR REPLACE INTO seen (segment_id, coder_id, created_at) VALUES (?, ?, ?)",
                            (segment_id, coder_id, stamp))
            for path in paths:
                prob = (probabilities or {}).get(path)
                self.db.execute(
                    "INSERT OR REPLACE INTO codings (segment_id, code_id, coder_id, source, model_version, probability,"
                    " session_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (segment_id, self.code_id(path), coder_id, source, model_version, prob, session_id, stamp))

    def forget(self, segment_id: int, coder: str) -> None:
        """Remove ``coder``'s coding of a segment (used by undo)."""
        with self.transaction():
            row = self.db.execute("SELECT id FROM coders WHERE name=?", (coder,)).fetchone()
            if row:
                self.db.execute("DELETE FROM codings WHERE segment_id=? AND coder_id=?", (segment_id, row[0]))
                self.db.execute("DELETE FROM seen WHERE segment_id=? AND coder_id=?", (segment_id, row[0]))

    def coding_rows(self, coder: str | None = None) -> list[sqlite3.Row]:
        """Every coding with its provenance, for export and audit."""
        sql = ("SELECT d.name AS document, s.ext_id, s.position, s.id AS segment_id, k.path AS code, u.name AS coder,"
               " u.kind, c.source, c.model_version, c.probability, c.created_at FROM codings c"
               " JOIN segments s ON s.id = c.segment_id JOIN documents d ON d.id = s.document_id"
               " JOIN codes k ON k.id = c.code_id JOIN coders u ON u.id = c.coder_id")
        args: tuple = ()
        if coder:
            sql += " WHERE u.name = ?"
            args = (coder,)
        return list(self.db.execute(sql + " ORDER BY s.document_id, s.position, k.position", args))

    # ---------------------------------------------------------------- stats
    def stats(self) -> dict[str, Any]:
        q = self.db.execute
        per_coder = {r["name"]: {"kind": r["kind"], "coded_segments": r["n"]} for r in q(
            "SELECT u.name, u.kind, COUNT(s.segment_id) AS n FROM coders u LEFT JOIN seen s ON s.coder_id = u.id"
            " GROUP BY u.id ORDER BY u.id")}
        book = self.codebook()
        counts: dict[str, dict[str, int]] = {}
        for coder in per_coder:
            direct: dict[str, set[int]] = {}
            for seg, paths in self.codings(coder).items():
                for p in book.close_upward(paths):
                    direct.setdefault(p, set()).add(seg)
            counts[coder] = {p: len(direct.get(p, ())) for p in book.codes}
        return {
            "documents": q("SELECT COUNT(*) FROM documents").fetchone()[0],
            "segments": q("SELECT COUNT(*) FROM segments").fetchone()[0],
            "codable_segments": q("SELECT COUNT(*) FROM segments WHERE codable=1").fetchone()[0],
            "per_document": [dict(r) for r in q(
                "SELECT d.name, d.format, COUNT(s.id) AS segments, SUM(s.codable) AS codable FROM documents d"
                " LEFT JOIN segments s ON s.document_id = d.id GROUP BY d.id ORDER BY d.id")],
            "coders": per_coder,
            "code_counts": counts,
        }


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (executescript would commit our transaction)."""
    out, buf = [], []
    for line in script.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip()
            if sqlite3.complete_statement(stmt):
                out.append(stmt)
                buf = []
    return out
