"""The store: versioned schema, WAL, all-or-nothing transactions, codebook merges, codings, on
SQLite and on PostgreSQL (the ``database`` fixture runs each test on both)."""

import sqlite3

import pytest

from autocode.io import codebooks as codebook
from autocode.errors import InputError
from autocode.records import NewSegment
import sqlalchemy as sa

from autocode.store import MIGRATIONS, Store
from autocode.store.schema import HEAD, statements


@pytest.fixture
def store(tmp_path, database):
    s = Store.open(database or tmp_path / "s.sqlite3", create=True)
    s.set_codebook(codebook.default())
    yield s
    s.close()


@pytest.fixture
def lite(tmp_path):
    """A SQLite store, for what only SQLite has (WAL, a file another program opens)."""
    s = Store.open(tmp_path / "s.sqlite3", create=True)
    s.set_codebook(codebook.default())
    yield s
    s.close()


def test_schema_is_versioned_and_in_wal_mode(store):
    assert store.revision() == HEAD
    assert store.journal_mode() == ("wal" if store.dialect == "sqlite" else None)
    tables = set(store.counts())
    assert {"documents", "speakers", "segments", "codes", "codings", "coders", "sessions", "answers", "seen"} <= tables


def test_a_newer_store_is_refused(tmp_path, store):
    with store.transaction():
        store._x("UPDATE alembic_version SET version_num='9999'")
    with pytest.raises(InputError, match="newer than this autocode"):
        Store.open(store.url)


def test_a_store_from_before_alembic_is_migrated_to_the_same_schema(tmp_path, lite):
    """A v1 store (the hand-written SQLite scripts) is brought through v4 to Alembic's head, and
    ends with the tables and columns of a store made new."""
    old = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(old)
    for statement in statements(MIGRATIONS[0]):
        raw.execute(statement)
    raw.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    raw.execute("INSERT INTO coders (name, kind) VALUES ('ann', 'human')")
    raw.commit()
    raw.close()
    migrated = Store.open(old)
    assert migrated.revision() == HEAD and migrated.coders() == [{"name": "ann", "kind": "human"}]
    columns = lambda s: {t: sorted(c["name"] for c in sa.inspect(s._conn).get_columns(t)) for t in s.tables()}  # noqa: E731
    assert columns(migrated) == columns(lite)
    migrated.close()


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="autocode init"):
        Store.open(tmp_path / "nope.sqlite3")


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_document("a", "x", "text")
            with store.transaction():  # nested: part of the outer one
                store.add_document("b", "y", "text")
            raise RuntimeError("boom")
    assert store.document_names() == []


def test_codings_keep_provenance_and_never_mix_coders(store):
    with store.transaction():
        doc = store.add_document("d", "hello", "text")
        [seg] = store.add_segments(doc, [NewSegment("hello", 0, 5, None, "participant", 0, True)])
    store.set_codes(seg, "ann", ["Barrier"])
    store.set_codes(seg, "model:m", ["Enabler"], source="model", kind="model", model_version="m@1", probabilities={"Enabler": 0.8})
    store.set_codes(seg, "ann", ["Enabler"], source="corrected", model_version="m@1")
    rows = {r["coder"]: dict(r) for r in store.coding_rows()}
    assert rows["ann"]["code"] == "Enabler" and rows["ann"]["source"] == "corrected"
    assert rows["model:m"]["probability"] == 0.8 and rows["model:m"]["kind"] == "model"
    assert rows["ann"]["created_at"]
    with pytest.raises(InputError, match="unknown coding source"):
        store.set_codes(seg, "ann", ["Barrier"], source="guessed")
    # the schema refuses it too, below the Store API
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction():
            store._x("INSERT INTO codings (segment_id, code_id, coder_id, source, created_at) VALUES (?, 1, 1, 'bogus', 'x')",
                     (seg,))


def test_codebook_merge_reports_added_and_updated(store, tmp_path):
    extra = tmp_path / "extra.txt"
    extra.write_text("[Tone]\nHopeful\n", encoding="utf-8")
    report = store.set_codebook(codebook.load(extra))
    assert report == {"added": ["Hopeful"], "updated": []}
    changed = codebook.default()
    changed.codes["Barrier"].description = "New wording"
    assert store.set_codebook(changed)["updated"] == ["Barrier"]
    assert store.codebook().codes["Barrier"].description == "New wording"
    assert "Hopeful" in store.codebook().codes  # never deleted


def test_a_workspace_locked_by_another_writer_is_one_clear_line(tmp_path, store):
    if store.dialect == "sqlite":
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    else:
        import psycopg

        other = psycopg.connect(store.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        other.execute("BEGIN")
        other.execute("LOCK TABLE documents IN EXCLUSIVE MODE")
    waiting = Store.open(store.url, timeout=0.2)
    with pytest.raises(InputError, match="the workspace is busy"):
        with waiting.transaction():
            waiting.add_document("x", "y", "text")
    other.execute("ROLLBACK")
    other.close()
    with waiting.transaction():  # free again: the same store writes
        waiting.add_document("x", "y", "text")
    assert "x" in waiting.document_names()
    waiting.close()


def test_init_keeps_the_store_in_the_database_named(cli, postgres, tmp_path, monkeypatch):
    """``autocode init --database URL``: the URL goes to autocode.toml, every command uses it, and
    a second workspace on the same database is refused (one line, exit 2)."""
    monkeypatch.delenv("AUTOCODE_DATABASE_URL", raising=False)
    url = postgres.new_database()
    made = cli("init", cli.root, "--database", url, workspace=False)
    assert made.exit_code == 0, made.output
    assert f'database = "{url}"' in (cli.root / "autocode.toml").read_text()
    assert not (cli.root / "annotations" / "autocode.sqlite3").exists()
    assert cli("stats").exit_code == 0
    again = cli("init", tmp_path / "other", "--database", url, workspace=False)
    assert again.exit_code == 2 and "already holds an autocode store" in again.output
    bad = cli("init", tmp_path / "third", "--database", "postgresql://nobody@/nowhere?host=/nonexistent", workspace=False)
    assert bad.exit_code == 2 and "cannot open the database" in bad.output and "Traceback" not in bad.output
