"""The app layer's own rules, tested directly: consensus for training, export rows, suggestion units."""

from autocode.app.exports import coded_rows, export
from autocode.app.imports import import_files
from autocode.app.models import consensus_codes, training_data
from autocode.app.suggestions import units_from_file
from autocode.io.corpus import read_csv

BARRIER, ENABLER = "Barrier", "Enabler"
FUNDING = "Opportunity/Implementation/Short-term and complex funding"

# ann codes four segments, ben three of them: ann is the primary coder.
ANN = """id,group,speaker,coder,codes,text
g-1,FG,Moderator,ann,,What gets in the way?
g-2,FG,P1,ann,Barrier,The money runs out every spring.
g-3,FG,P2,ann,Enabler,Our volunteers know people well.
g-4,FG,P3,ann,,We meet on Tuesdays.
g-5,FG,P4,ann,Barrier;Enabler,Funding is short but the team is keen.
"""
BEN = """id,group,speaker,coder,codes,text
g-2,FG,P1,ben,Enabler,The money runs out every spring.
g-3,FG,P2,ben,Enabler,Our volunteers know people well.
g-5,FG,P4,ben,Barrier,Funding is short but the team is keen.
"""
CAL = """id,group,speaker,coder,codes,text
g-2,FG,P1,cal,Enabler,The money runs out every spring.
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def by_ext(ws):
    return {s.ext_id: s.id for s in ws.store.segments()}


def test_consensus_is_the_majority_and_a_tie_goes_to_the_primary_coder(ws, tmp_path):
    import_files(ws, [write(tmp_path, "ann.csv", ANN), write(tmp_path, "ben.csv", BEN)])
    ids = by_ext(ws)
    codes, seen = consensus_codes(ws.store, ["ann", "ben"])
    assert codes[ids["g-3"]] == {ENABLER}  # both agree
    assert codes[ids["g-2"]] == {BARRIER}  # 1 vote each: the primary coder (ann, four segments) decides
    assert codes[ids["g-5"]] == {BARRIER, ENABLER}  # Barrier by both; Enabler tied, and ann applied it
    assert codes[ids["g-4"]] == set()  # only ann saw it: her "no code" stands
    assert ids["g-1"] not in seen  # the moderator's question was not offered
    # a third coder breaks the tie on g-2 by majority
    import_files(ws, [write(tmp_path, "cal.csv", CAL)])
    codes, _ = consensus_codes(ws.store, ["ann", "ben", "cal"])
    assert codes[ids["g-2"]] == {ENABLER}


def test_training_data_closes_codes_upward_and_takes_one_coder_when_named(ws, tmp_path):
    import_files(ws, [write(tmp_path, "ann.csv", ANN.replace("Enabler,Our", f"{FUNDING},Our"))])
    data = training_data(ws.store, "ann")
    row = data.texts.index("Our volunteers know people well.")
    on = {label for label, y in zip(data.labels, data.Y[row]) if y}
    assert on == {FUNDING, "Opportunity/Implementation"}  # a sub-theme implies its theme (domains group themes)
    assert data.coders == ["ann"] and len(data) == 4 and set(data.groups) == {"FG"}
    assert data.contexts[data.texts.index("We meet on Tuesdays.")] == "What gets in the way?"


def test_export_rows_hold_every_coder_and_the_uncoded_segments_once(ws, tmp_path):
    import_files(ws, [write(tmp_path, "ann.csv", ANN), write(tmp_path, "ben.csv", BEN)])
    import_files(ws, [write(tmp_path, "new.csv", "text,group\nHello there,New\nWe run a choir,New\n")])
    rows = coded_rows(ws.store)
    uncoded = [r for r in rows if r["coder"] == ""]
    # never seen by a coder: the moderator turn and the two new segments, once each and without codes
    assert sorted(r["text"] for r in uncoded) == ["Hello there", "We run a choir", "What gets in the way?"]
    assert all(r["codes"] == "" for r in uncoded)
    assert [r["coder"] for r in rows if r["id"] == "g-2"] == ["ann", "ben"]
    assert [r["codes"] for r in rows if r["id"] == "g-2"] == [[BARRIER], [ENABLER]]
    assert [r["codes"] for r in rows if r["id"] == "g-4"] == [[]]  # seen, no code: a row of its own
    only_ben = coded_rows(ws.store, ["ben"])
    assert {r["coder"] for r in only_ben} == {"ben"} and len(only_ben) == 3  # no uncoded rows for named coders


def test_export_then_import_gives_the_same_codings(ws, tmp_path):
    import_files(ws, [write(tmp_path, "ann.csv", ANN), write(tmp_path, "ben.csv", BEN)])
    out = tmp_path / "out.csv"
    assert export(ws, out) == len(coded_rows(ws.store))
    rows = read_csv(out)
    coded = {(r.id, r.coder): sorted(r.codes or []) for r in rows if r.coder}
    assert coded[("g-5", "ann")] == [BARRIER, ENABLER] and coded[("g-2", "ben")] == [ENABLER]


def test_suggestion_units_from_a_csv_leave_the_moderator_out_but_keep_the_question(ws, tmp_path):
    path = write(tmp_path, "pool.csv", "id,group,speaker,text\nq,FG,Moderator,What helps?\n"
                                       "a,FG,P1,Volunteers help.\nb,FG,P2,So does money.\nc,Other,P9,Alone.\n")
    units = units_from_file(path, ws)
    assert [u.id for u in units] == ["a", "b", "c"]
    assert [u.context for u in units] == ["What helps?", "What helps?", ""]
    assert {u.group for u in units} == {"FG", "Other"} and all(u.segment_id is None for u in units)


def test_suggestion_units_include_the_moderator_when_the_workspace_codes_moderators(ws, tmp_path):
    config = ws.root / "autocode.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("code_moderator = false", "code_moderator = true"),
                      encoding="utf-8")
    from autocode.app.workspace import Workspace

    again = Workspace.find(ws.root)
    path = write(tmp_path, "pool.csv", "id,group,speaker,text\nq,FG,Moderator,What helps?\na,FG,P1,Volunteers help.\n")
    assert [u.id for u in units_from_file(path, again)] == ["q", "a"]


def test_qdpx_export_is_the_same_file_when_codings_are_rewritten(tmp_path):
    """Exported guids come from what was coded (segment, code, coder), not from row ids, so
    re-saving the same codes (an undo and redo, a re-import) changes nothing in the file."""
    from autocode.app.workspace import Workspace

    files = []
    for name in ("a", "b"):
        ws = Workspace.init(tmp_path / name)
        import_files(ws, [write(tmp_path, "ann.csv", ANN)])
        if name == "b":
            seg = by_ext(ws)["g-2"]
            ws.store.set_codes(seg, "ann", sorted(ws.store.codings("ann")[seg]))  # same codes, new rows
        export(ws, tmp_path / f"{name}.qdpx", fmt="qdpx")
        files.append((tmp_path / f"{name}.qdpx").read_bytes())
        ws.close()
    assert files[0] == files[1]


def test_export_with_a_model_adds_its_suggestions_to_the_people_s_codings(ws, tmp_path):
    import_files(ws, [write(tmp_path, "ann.csv", ANN), write(tmp_path, "ben.csv", BEN)])
    seg = by_ext(ws)["g-4"]
    ws.store.set_codes(seg, "model:m", [ENABLER], source="model", kind="model", model_version="m@1")
    export(ws, tmp_path / "all.csv", model="m")
    coders = {r.coder for r in read_csv(tmp_path / "all.csv")}
    assert coders == {"ann", "ben", "model:m"}
    export(ws, tmp_path / "ben.csv", coders=["ben"], model="m")
    assert {r.coder for r in read_csv(tmp_path / "ben.csv")} == {"ben", "model:m"}
    assert export(ws, tmp_path / "all.qdpx", fmt="qdpx", model="m") > export(ws, tmp_path / "m.qdpx", fmt="qdpx",
                                                                            coders=["model:m"])
