"""Chunked reading and writing of segment files (autocode.io.rowstream), without a model."""

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DEMO

from autocode.embeddings import Embedder
from autocode.errors import InputError
from autocode.io import corpus
from autocode.io.rowstream import RowWriter, iter_chunks


def write_csv(path, rows, header=("id", "text")):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_chunks_keep_every_row_in_order_last_chunk_included(tmp_path):
    path = write_csv(tmp_path / "a.csv", [(f"r{i}", f"text {i}") for i in range(23)])
    chunks = list(iter_chunks(path, 5))
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3]
    assert [r.id for c in chunks for r in c] == [f"r{i}" for i in range(23)]
    assert [r.line for r in chunks[-1]] == [22, 23, 24]


def test_same_rows_as_corpus_reader_for_csv_and_jsonl(tmp_path):
    demo = DEMO / "coded" / "focus-group-1.csv"
    expected = corpus.read_rows(demo)
    assert [r for c in iter_chunks(demo, 7) for r in c] == expected
    jsonl = tmp_path / "fg1.jsonl"
    jsonl.write_text("".join(json.dumps({"id": r.id, "speaker": r.speaker, "text": r.text}) + "\n" for r in expected))
    got = [r for c in iter_chunks(jsonl, 4) for r in c]
    assert got == corpus.read_rows(jsonl) and [r.text for r in got] == [r.text for r in expected]


def test_utf16_with_bom_and_comment_lines(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes("# a comment\nid\ttext\n1\tcafé\n2\tnaïve\n".encode("utf-16"))
    rows = [r for c in iter_chunks(path, 1) for r in c]
    assert [(r.id, r.text, r.line) for r in rows] == [("1", "café", 3), ("2", "naïve", 4)]


def test_parquet_rows_and_row_numbers(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"ID": [f"p{i}" for i in range(10)], "Text": [f"t{i}" for i in range(10)],
                             "other": list(range(10))}), path, row_group_size=3)
    chunks = list(iter_chunks(path, 4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert [(r.id, r.text, r.line) for r in chunks[-1]] == [("p8", "t8", 9), ("p9", "t9", 10)]


@pytest.mark.parametrize("content, line, message", [
    ("id,text\n" + "".join(f"{i},t{i}\n" for i in range(50)) + "51,\n", 52, "empty 'text'"),
    ("id,text\n1,a\n2,b,c\n", 3, "row has 3 fields"),
    ("id,words\n1,a\n", 1, "no 'text' column"),
    ("id,text\n1,a\n2,b\n1,c\n", 4, "duplicate id '1' (first on line 2)"),
    ("id,text\n1,a\n2,\"b\n", 2, "malformed CSV"),  # where corpus.read_csv says it is
])
def test_a_bad_row_names_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as err:
        for _ in iter_chunks(path, 10):
            pass
    assert err.value.line == line and message in str(err.value) and str(err.value).startswith(str(path))


def test_bad_bytes_and_bad_json_name_the_line(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"id,text\n1,ok\n2,caf\xe9\n")
    with pytest.raises(InputError, match=r"b\.csv:3: not UTF-8 text"):
        list(iter_chunks(path, 10))
    path = tmp_path / "b.jsonl"
    path.write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"b\.jsonl:2: not valid JSON"):
        list(iter_chunks(path, 10))
    path = tmp_path / "b.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a Parquet file"):
        list(iter_chunks(path, 10))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_writer_appends_chunks_and_renames_at_the_end(tmp_path, fmt):
    out = tmp_path / f"out.{fmt}"
    rows = [{"id": str(i), "codes": ["A", "B/C"] if i % 2 else [], "text": f"t{i}"} for i in range(7)]
    with RowWriter(out, fmt, ["id", "codes", "text"]) as w:
        w.write(rows[:4])
        w.write(rows[4:])
        assert not out.exists()
        w.commit()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
    if fmt == "parquet":
        got = pq.read_table(out).to_pylist()
        assert got == [{"id": r["id"], "codes": ";".join(r["codes"]), "text": r["text"]} for r in rows]
    else:
        reference = tmp_path / "ref" / out.name
        reference.parent.mkdir()
        corpus.write_rows(rows, reference, fmt=fmt, columns=["id", "codes", "text"])
        assert out.read_bytes() == reference.read_bytes()


def test_writer_leaves_nothing_without_commit(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError), RowWriter(out, "csv", ["id"]) as w:
        w.write([{"id": "1"}])
        raise RuntimeError("boom")
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_embedder_memory_is_bounded(monkeypatch):
    emb = Embedder(cache=None, memory_limit=4)
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.array([[float(len(t))] * 384 for t in texts], dtype=np.float32)

    monkeypatch.setattr(emb, "encode_uncached", encode)
    texts = [f"text {'x' * i}" for i in range(10)]
    vecs = emb.embed(texts)
    assert vecs[:, 0].tolist() == [float(len(t)) for t in texts]
    assert len(emb._memory) <= 4
    emb.embed(texts[-2:])
    assert len(calls) == 1  # the newest vectors are still in memory


def test_writer_into_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(InputError, match="the output folder does not exist"):
        RowWriter(tmp_path / "nope" / "out.csv", "csv", ["id"])


def test_jsonl_keys_are_read_as_the_in_memory_reader_reads_them(tmp_path):
    """Column names in any case, as read_jsonl takes them (``"Text"`` is the text)."""
    import json

    from autocode.io.corpus import read_jsonl

    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"ID": "a1", "Text": "hello there", "Group": "G", "Codes": "Barrier"}) + "\n",
                    encoding="utf-8")
    streamed = [r for chunk in iter_chunks(path) for r in chunk]
    assert streamed == read_jsonl(path)
