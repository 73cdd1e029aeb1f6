"""The annotation session object that the page, the CLI and these tests share."""


import pytest

from autocode.app.session import AnnotationSession
from autocode.errors import InputError
from autocode.app.imports import import_files
from autocode.app.workspace import Workspace
from conftest import DEMO


# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, module_database):
    """The demo's groups in a workspace, on SQLite and on PostgreSQL."""
    ws = Workspace.init(tmp_path_factory.mktemp("annot") / "ws", database=module_database)
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-2.csv"])
    import_files(ws, [DEMO / "uncoded" / "focus-group-7.txt"], group="Focus Group 7")
    yield ws
    ws.close()


@pytest.fixture
def session(workspace):
    s = AnnotationSession.start(workspace, "researcher", group="Focus Group 7", background=False)
    yield s
    s.close()


def answers(ws, session_id):
    return ws.store.answers(session_id)


def test_state_offers_a_segment_of_the_group_with_suggestions_and_reasons(session):
    state = session.state()
    task = state["task"]
    assert task["group"] == "Focus Group 7" and task["speaker"].startswith("Participant")
    assert task["before"] or task["after"]
    assert task["model_version"].startswith(f"session{session.session_id}.")
    assert all(0 <= s["probability"] <= 1 for s in task["suggestions"])
    assert len(task["similar"]) == 3 and all(s["text"] for s in task["similar"])
    assert {g["name"] for g in state["codebook"]} == {"COM-B", "Valence"}
    assert state["progress"]["remaining"] == 88


def test_each_ticked_suggestion_shows_its_own_coded_examples_and_their_coder(session, workspace):
    store = workspace.store
    book = store.codebook()
    coded = {s.text: set(book.close_upward(store.codings("coder_a").get(s.id, ())))
             for s in store.segments() if s.id in store.seen("coder_a")}
    explained = 0
    task = session.state()["task"]
    for _ in range(6):
        for s in task["suggestions"]:
            if not s["suggested"]:
                assert "evidence" not in s
                continue
            ev = s["evidence"]
            explained += 1
            assert 1 <= len(ev["like"]) <= 2 and ev["unlike"] is not None
            assert all(s["path"] in coded[x["text"]] and x["coders"] == ["coder_a"] for x in ev["like"])
            assert s["path"] not in coded[ev["unlike"]["text"]] and ev["unlike"]["coders"] == ["coder_a"]
            assert ev["unlike"]["codes"] == [p.split("/")[-1] for p in ev["unlike"]["codes"]]  # names, as chips show
        task = session.answer({"segment_id": task["segment_id"], "action": "skip"})["task"]
    assert explained


def test_accept_correct_skip_undo_are_committed_with_provenance(session, workspace):
    store = workspace.store
    task = session.state()["task"]
    ticked = [s["path"] for s in task["suggestions"] if s["suggested"]]
    first = session.answer({"segment_id": task["segment_id"], "action": "accept" if ticked else "none",
                            "codes": ticked})
    assert first["source"] == "accepted" and first["saved"]["codes"] == sorted(ticked)
    assert first["saved"]["action"] == ("accepted" if ticked else "no code")
    row = [r for r in store.coding_rows("researcher") if r["segment_id"] == task["segment_id"]]
    assert task["segment_id"] in store.seen("researcher")
    assert all(r["source"] == "accepted" and r["model_version"] == task["model_version"] for r in row)

    second = first["task"]
    assert second["segment_id"] != task["segment_id"]
    corrected = ["Not therapists", "Barrier"]
    out = session.answer({"segment_id": second["segment_id"], "action": "accept", "codes": corrected, "memo": "tricky"})
    assert out["source"] == "corrected"
    assert store.codings("researcher")[second["segment_id"]] == {
        "Capability/Understanding boundaries/Not therapists", "Barrier"}
    assert store.memo(second["segment_id"], "researcher") == "tricky"
    log = answers(workspace, session.session_id)
    assert [a["action"] for a in log] == ["accept", "correct"]
    assert log[1]["answered"] == sorted(["Capability/Understanding boundaries/Not therapists", "Barrier"])

    undone = session.undo()
    assert undone["undone"]["segment_id"] == second["segment_id"] and undone["task"]["segment_id"] == second["segment_id"]
    assert undone["undone"]["codes"] == log[1]["answered"]
    assert second["segment_id"] not in store.seen("researcher")
    assert store.memo(second["segment_id"], "researcher") is None
    assert session.progress()["session_answered"] == 1

    skipped = session.answer({"segment_id": second["segment_id"], "action": "skip"})
    assert skipped["task"]["segment_id"] != second["segment_id"]
    assert second["segment_id"] not in store.seen("researcher")


def test_bad_answers_are_refused_and_change_nothing(session, workspace):
    task = session.state()["task"]
    before = workspace.store.counts()["codings"]
    with pytest.raises(InputError, match="unknown code"):
        session.answer({"segment_id": task["segment_id"], "action": "accept", "codes": ["Not a code"]})
    with pytest.raises(InputError, match="cannot be applied"):
        session.answer({"segment_id": task["segment_id"], "action": "accept", "codes": ["Capability"]})
    with pytest.raises(InputError, match="not waiting"):
        session.answer({"segment_id": 1, "action": "accept", "codes": []})
    assert workspace.store.counts()["codings"] == before


def test_a_new_session_resumes_without_repeating_answered_segments(workspace):
    done = workspace.store.seen("researcher")
    again = AnnotationSession.start(workspace, "researcher", group="Focus Group 7", background=False)
    assert again.progress()["remaining"] == 88 - len(done)
    assert again.state()["task"]["segment_id"] not in done
    again.close()
