"""The store: versioned schema, WAL, all-or-nothing transactions, codebook merges, codings."""

import sqlite3

import pytest

from autocode import codebook
from autocode.errors import InputError
from autocode.store import SCHEMA_VERSION, Store


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.sqlite3", create=True)
    s.set_codebook(codebook.default())
    yield s
    s.close()


def test_schema_is_versioned_and_in_wal_mode(store):
    assert store.schema_version() == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"documents", "speakers", "segments", "codes", "codings", "coders", "sessions", "answers", "seen"} <= tables


def test_a_newer_store_is_refused(tmp_path, store):
    store.db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(InputError, match="newer than this autocode"):
        Store.open(store.path)


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="autocode init"):
        Store.open(tmp_path / "nope.sqlite3")


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.db.execute("INSERT INTO documents (name, format, text, imported_at) VALUES ('a', 'text', 'x', 'now')")
            with store.transaction():  # nested: part of the outer one
                store.db.execute("INSERT INTO documents (name, format, text, imported_at) VALUES ('b', 'text', 'y', 'now')")
            raise RuntimeError("boom")
    assert store.document_names() == []


def test_codings_keep_provenance_and_never_mix_coders(store):
    with store.transaction():
        doc = store.db.execute("INSERT INTO documents (name, format, text, imported_at) VALUES ('d', 'text', 'hello', 'now')").lastrowid
        seg = store.db.execute("INSERT INTO segments (document_id, position, turn, text, start, end) VALUES (?, 0, 0, 'hello', 0, 5)", (doc,)).lastrowid
    store.set_codes(seg, "ann", ["Barrier"])
    store.set_codes(seg, "model:m", ["Enabler"], source="model", kind="model", model_version="m@1", probabilities={"Enabler": 0.8})
    store.set_codes(seg, "ann", ["Enabler"], source="corrected", model_version="m@1")
    rows = {r["coder"]: dict(r) for r in store.coding_rows()}
    assert rows["ann"]["code"] == "Enabler" and rows["ann"]["source"] == "corrected"
    assert rows["model:m"]["probability"] == 0.8 and rows["model:m"]["kind"] == "model"
    assert rows["ann"]["created_at"]
    with pytest.raises(InputError, match="unknown coding source"):
        store.set_codes(seg, "ann", ["Barrier"], source="guessed")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO codings (segment_id, code_id, coder_id, source, created_at) VALUES (?, 1, 1, 'bogus', 'x')", (seg,))


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
