import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autocode.io.corpus import read_csv
from autocode.errors import InputError
from autocode.app.exports import export
from autocode.app.imports import import_files

CODED = """# a test corpus
id,group,speaker,coder,codes,text
g1-1,FG1,Moderator,ann,,What gets in the way?
g1-2,FG1,Participant 1,ann,Short-term and complex funding;Barrier,The money only ever lasts a year.
g1-3,FG1,Participant 2,ann,,Yeah.
g1-4,FG1,Participant 2,ann,Not therapists;Coping in the moment;Barrier,"We're not counsellors, and when someone cries, what do you do?"
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def counts(store):
    rows = store.counts()
    return {t: rows[t] for t in ("documents", "segments", "codings", "seen", "coders")}


@pytest.mark.usefixtures("database")
def test_coded_csv_import(ws, tmp_path):
    report = import_files(ws, [write(tmp_path, "c.csv", CODED)])
    assert report.totals() == {"documents": 1, "segments": 4, "codings": 5}
    codings = ws.store.codings("ann")
    segs = {s.ext_id: s for s in ws.store.segments()}
    assert codings[segs["g1-2"].id] == {"Opportunity/Implementation/Short-term and complex funding", "Barrier"}
    assert segs["g1-3"].id in ws.store.seen("ann") and segs["g1-3"].id not in codings  # coded as "no code"
    assert segs["g1-1"].id not in ws.store.seen("ann")  # moderator, not offered
    doc = ws.store.document("FG1")
    assert all(doc.text[s.start:s.end] == s.text for s in segs.values())


@pytest.mark.usefixtures("database")
def test_second_coder_adds_codings_to_the_same_segments(ws, tmp_path):
    import_files(ws, [write(tmp_path, "a.csv", CODED)])
    second = CODED.replace(",ann,", ",bob,").replace("Short-term and complex funding;Barrier", "Keeping activities free;Barrier")
    import_files(ws, [write(tmp_path, "b.csv", second)])
    assert counts(ws.store)["segments"] == 4
    seg = {s.ext_id: s.id for s in ws.store.segments()}["g1-2"]
    assert ws.store.codings("bob")[seg] == {"Opportunity/Implementation/Keeping activities free", "Barrier"}
    assert ws.store.codings("ann")[seg] != ws.store.codings("bob")[seg]


@pytest.mark.usefixtures("database")
def test_same_id_with_other_text_is_an_error(ws, tmp_path):
    import_files(ws, [write(tmp_path, "a.csv", CODED)])
    before = counts(ws.store)
    changed = CODED.replace(",ann,", ",bob,").replace("lasts a year", "lasts two years")
    with pytest.raises(InputError, match=r"b.csv:4: id 'g1-2'"):
        import_files(ws, [write(tmp_path, "b.csv", changed)])
    assert counts(ws.store) == before


@pytest.mark.usefixtures("database")
def test_jsonl_with_list_codes(ws, tmp_path):
    lines = [{"id": "1", "group": "G", "speaker": "P1", "coder": "c", "codes": ["Regional differences", "Barrier"],
              "text": "Up here the council does things its own way."},
             {"id": "2", "group": "G", "speaker": "P2", "text": "And we got nothing.", "coder": "c", "codes": ""}]
    path = write(tmp_path, "x.jsonl", "\n".join(json.dumps(x) for x in lines))
    import_files(ws, [path])
    assert sum(len(v) for v in ws.store.codings("c").values()) == 2


@pytest.mark.usefixtures("database")
def test_uncoded_segments_file(ws, tmp_path):
    report = import_files(ws, [write(tmp_path, "u.csv", "text,group\nHello there,New\nWe run a choir,New\n")])
    assert report.totals()["segments"] == 2 and counts(ws.store)["codings"] == 0


@pytest.mark.parametrize("content,message", [
    ("id,codes\n1,Barrier\n", r"u.csv:1: no 'text' column"),
    ("text,codes,coder\nhello,Barier,a\n", r"u.csv:2: unknown code 'Barier'; did you mean 'Barrier'"),
    ("text,codes,coder\nhello,Capability,a\n", "not codable"),
    ("id,text,codes,coder\n1,a,Barrier,x\n1,b,Barrier,x\n", r"u.csv:3: duplicate id '1'"),
    ("text,codes\nhello,Barrier\n", "no coder"),
    ("text,codes,coder\n\"unterminated,Barrier,a\n", "malformed CSV"),
    ("text,codes,coder\nhello,Barrier,a,extra\n", "u.csv:2: row has 4 fields"),
    ("", "empty"),
])
@pytest.mark.usefixtures("database")
def test_bad_corpus_rows_write_nothing(ws, tmp_path, content, message):
    good = write(tmp_path, "good.csv", CODED)
    bad = write(tmp_path, "u.csv", content)
    with pytest.raises(InputError, match=message):
        import_files(ws, [good, bad])  # the good file must not land either
    assert counts(ws.store)["documents"] == 0 and counts(ws.store)["codings"] == 0


@pytest.mark.usefixtures("database")
def test_non_utf8_csv_names_the_line(ws, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,codes,coder\nok,Barrier,a\ncaf\xe9,Barrier,a\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.csv:3: not UTF-8"):
        import_files(ws, [path])


@pytest.mark.usefixtures("database")
def test_transcript_group_already_present(ws, tmp_path):
    path = write(tmp_path, "fg.txt", "Moderator: Hi.\nParticipant 1: Hello.\n")
    import_files(ws, [path])
    with pytest.raises(InputError, match="already in the workspace"):
        import_files(ws, [path])
    import_files(ws, [path], group="fg-again")
    assert ws.store.document_names() == ["fg", "fg-again"]


CODES = ["Regional differences", "Keeping activities free", "Not therapists", "Peer support and learning",
         "Widening inclusion", "Barrier", "Enabler"]
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda t: t.strip() and t.strip() == t and "\n" not in t)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(texts, st.sets(st.sampled_from(CODES), max_size=3)), min_size=1, max_size=12))
def test_import_then_export_returns_the_same_codings(tmp_path_factory, rows):
    from autocode.app.workspace import Workspace

    root = tmp_path_factory.mktemp("prop")
    ws = Workspace.init(root / "ws")
    src = root / "in.csv"
    import csv

    with src.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "group", "speaker", "coder", "codes", "text"])
        for i, (text, codes) in enumerate(rows):
            w.writerow([f"s{i}", "G", f"Participant {i % 3}", "ann", ";".join(sorted(codes)), text])
    import_files(ws, [src])
    out = root / "out.csv"
    export(ws, out)
    book = ws.store.codebook()
    back = {r.id: {book.resolve(c).path for c in r.codes} for r in read_csv(out)}
    want = {f"s{i}": {book.resolve(c).path for c in codes} for i, (_, codes) in enumerate(rows)}
    assert back == want
    assert [r.text for r in read_csv(out)] == [t for t, _ in rows]
    ws.close()


def test_context_is_the_moderators_last_question_else_the_previous_turn():
    from autocode.records import preceding_contexts

    turns = [(0, True, "What stops you?"), (1, False, "Money."), (1, False, "And time."), (2, False, "Same."),
             (3, True, "And what helps?"), (4, False, "Friends.")]
    assert preceding_contexts(turns) == ["", "What stops you?", "What stops you?", "What stops you?",
                                         "What stops you?", "And what helps?"]
    assert preceding_contexts([(0, False, "Hello."), (1, False, "Hi.")]) == ["", "Hello."]
