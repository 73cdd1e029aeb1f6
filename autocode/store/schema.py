"""The store's schema before Alembic: SQLite scripts, ``MIGRATIONS[i]`` takes a store from version
``i`` to ``i + 1``. They bring a store made by an older autocode to version 4, which Alembic's first
revision (``migrations/versions/0001_baseline.py``) reproduces on any database; from there on every
change is an Alembic revision (:data:`HEAD`)."""

from __future__ import annotations

import sqlite3

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

# v2: an answer carries the id the page made for it, so that a retried request is not a second answer.
SCHEMA_V2 = """
ALTER TABLE answers ADD COLUMN answer_id TEXT;
CREATE UNIQUE INDEX answers_by_client_id ON answers(answer_id) WHERE answer_id IS NOT NULL;
CREATE INDEX answers_by_session ON answers(session_id, id);
"""

# v3: who coders are in the QDA suites, and what a REFI-QDA project carries besides spans.
#  * a coder keeps the GUID (and short id) of the suite's User they came from;
#  * a code remembers that it came from an import (a project or a codebook file), so that an
#    export writes the codes the project has, not the unused default frame;
#  * a selection keeps its Coding's guid, its Description, and who made the span and when
#    (PlainTextSelection@creatingUser/modifyingUser and their dates), apart from the coder;
#  * a source's rich text (richTextPath: NVivo's .docx) is kept byte for byte;
#  * code sets (REFI <Set>, ATLAS.ti's code groups) are kept with their members.
SCHEMA_V3 = """
ALTER TABLE coders ADD COLUMN guid TEXT;
ALTER TABLE coders ADD COLUMN refi_id TEXT;
ALTER TABLE codes ADD COLUMN imported INTEGER NOT NULL DEFAULT 0;
ALTER TABLE selections ADD COLUMN coding_guid TEXT;
ALTER TABLE selections ADD COLUMN description TEXT;
ALTER TABLE selections ADD COLUMN creator_id INTEGER REFERENCES coders(id);
ALTER TABLE selections ADD COLUMN selected_at TEXT;
ALTER TABLE selections ADD COLUMN modifier_id INTEGER REFERENCES coders(id);
ALTER TABLE selections ADD COLUMN modified_at TEXT;
CREATE TABLE rich_texts (
    document_id INTEGER PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    path TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE code_sets (
    id INTEGER PRIMARY KEY, guid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, description TEXT,
    position INTEGER NOT NULL);
CREATE TABLE code_set_members (
    set_id INTEGER NOT NULL REFERENCES code_sets(id) ON DELETE CASCADE,
    code_id INTEGER NOT NULL REFERENCES codes(id), position INTEGER NOT NULL,
    PRIMARY KEY (set_id, code_id));
"""

# v4: a model's suggestion keeps its reason (the words and similar segments behind it), for export.
SCHEMA_V4 = """
ALTER TABLE codings ADD COLUMN note TEXT;
"""

MIGRATIONS: list[str] = [SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4]
#: The last hand-written version; Alembic's revision ``BASELINE`` is the same schema.
SCHEMA_VERSION = len(MIGRATIONS)
BASELINE = "0001"
#: The newest Alembic revision: what every store is migrated to when it is opened.
HEAD = "0003"
#: Every revision this autocode knows, oldest first (a store at another one is newer than this autocode).
REVISIONS = ("0001", "0002", "0003")


def statements(script: str) -> list[str]:
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
