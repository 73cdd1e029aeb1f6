"""Each suggestion explained code by code: the two most similar coded segments that carry the
code (with who coded them), the most similar one that does not, and the words behind it; in the
records, the CSV reason, the stored note and the REFI-QDA export."""

import csv

import numpy as np
import pytest
from conftest import DEMO

from autocode.app.exports import export
from autocode.app.imports import import_files
from autocode.app.models import train
from autocode.app.suggestions import code_reason, predict, reason, specific, suggest, training_coders, units_from_store
from autocode.app.team import TeamCoder
from autocode.app.workspace import Workspace
from autocode.classifier import CodeClassifier
from autocode.records import model_coder
from autocode.refi.mapping import suggestion_note
from autocode.refi.qdpx_read import read_qdpx


# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two demo groups coded by coder_a and by coder_b; a model of their consensus; Focus Group 7
    suggested, saved and written as CSV."""
    root = tmp_path_factory.mktemp("evidence")
    ws = Workspace.init(root / "ws")
    import_files(ws, [DEMO / d / f"focus-group-{i}.csv" for d in ("coded", "second-coder") for i in (1, 2)])
    import_files(ws, [DEMO / "uncoded" / "focus-group-7.txt"], group="Focus Group 7")
    train(ws, "m", evaluate=False)
    records = suggest(ws, ["Focus Group 7"], model="m", save=True, out=root / "s.csv")
    with (root / "s.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    yield ws, records, rows, root
    ws.close()


def who_applied(ws, seg_id):
    """coder -> codes (closed upward) on a segment, read from the store without the app's helper."""
    book = ws.store.codebook()
    return {c: set(book.close_upward(ws.store.codings(c).get(seg_id, ()))) for c in ("coder_a", "coder_b")
            if seg_id in ws.store.seen(c)}


def test_every_suggested_code_has_its_own_examples_with_their_coders(trained):
    ws, records, _, _ = trained
    texts = {s.id: s.text for s in ws.store.segments()}
    suggested = [r for r in records if r["codes"]]
    assert len(suggested) >= 20
    crossed = 0
    codes = [c for r in suggested for c in r["codes"]]
    assert sum(bool(c["words"]) for c in codes) >= 0.8 * len(codes)  # stop words are never evidence
    for r in suggested:
        for c in r["codes"]:
            assert 1 <= len(c["like"]) <= 2 and c["unlike"] is not None
            sims = [x["similarity"] for x in c["like"]]
            assert sims == sorted(sims, reverse=True)
            for x in c["like"]:
                applied = who_applied(ws, x["segment_id"])
                assert x["text"] == texts[x["segment_id"]]
                assert x["coders"] == [name for name, codes in applied.items() if c["code"] in codes] != []
            u = c["unlike"]
            assert u["coders"] == [name for name, codes in who_applied(ws, u["segment_id"]).items()
                                   if c["code"] not in codes] != []
            assert c["code"] not in u["codes"]
        # the nearest segment overall often carries none of the codes; each code's examples do
        nearest = set(r["similar"][0]["codes"])
        crossed += any(c["code"] not in nearest for c in r["codes"])
    assert crossed  # the old single reason would have shown a segment without the code here


def test_the_csv_reason_explains_each_specific_code(trained):
    _, records, rows, _ = trained
    by_id = {r["id"]: r for r in records}
    for row in rows:
        r = by_id[row["id"]]
        assert row["reason"] == reason(r)
        if not r["codes"]:
            assert row["reason"].startswith("no code reached its threshold")
            continue
        parts = row["reason"].split(" || ")
        shown = specific(r["codes"])
        assert len(parts) == len(shown)
        for part, c in zip(parts, shown):
            assert part == f"{c['code'].split('/')[-1]}: {code_reason(c)}"
            first = c["like"][0]
            assert f"like \"{first['text'][:30]}" in part and f"({', '.join(first['coders'])})" in part
            assert "not like \"" in part


def test_each_stored_and_exported_code_carries_its_own_note(trained):
    ws, records, _, root = trained
    entries = {(r["segment_id"], c["code"]): c for r in records for c in r["codes"]}
    rows = [row for row in ws.store.coded_spans() if row.coder == model_coder("m")]
    assert len(rows) == len(entries)
    assert all(row.note == code_reason(entries[(row.segment_id, row.code)]) for row in rows)
    # two codes of one segment are explained differently (their own examples)
    per_segment: dict[int, set[str]] = {}
    for row in rows:
        per_segment.setdefault(row.segment_id, set()).add(row.note)
    assert any(len(notes) > 1 for notes in per_segment.values())
    export(ws, root / "out.qdpx", fmt="qdpx", model="m")
    project = read_qdpx(root / "out.qdpx")
    users = {u.guid: u.name for u in project.users}
    notes = {s.description for s in project.selections if users[s.codings[0].user_guid] == "autocode model m"}
    assert notes == {suggestion_note(row) for row in rows}


def test_a_model_whose_training_texts_are_not_the_store_s_credits_nobody(trained):
    ws, _, _, _ = trained
    segs = [s for s in ws.store.segments(document="Focus Group 7", codable_only=True)][:4]
    labels = ["Barrier", "Enabler"]
    texts = ["The money runs out", "We have no time", "People love it", "It helps them a lot"] * 3
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]] * 3)
    ids = [s.id for s in ws.store.segments(document="Focus Group 1")][:12]  # coded segments, other texts
    model = CodeClassifier(embedder=ws.embedder(), cv=0).fit(texts, Y, labels, ids=ids)
    assert training_coders(ws.store, model) == {}
    records = predict(model, units_from_store(ws.store, "Focus Group 7", ids={s.id for s in segs}),
                      coders=training_coders(ws.store, model))
    coded = [c for r in records for c in r["codes"]]
    assert coded and all(x["coders"] == [] for c in coded for x in c["like"] + [c["unlike"]])
    assert all(code_reason(c).count("(") == code_reason(c).count("(no code)") + code_reason(c).count("(Barrier)")
               + code_reason(c).count("(Enabler)") for c in coded if "(" not in "".join(x["text"] for x in c["like"]))


def test_a_team_coder_sees_themselves_and_never_a_colleague_s_name():
    view = TeamCoder(ws=None, coder="ann", strategy="uncertainty")  # type: ignore[arg-type]
    assert view._shown_coders(["ann", "ben", "cal"]) == ["you", "another coder"]
    assert view._shown_coders(["ben"]) == ["another coder"]
