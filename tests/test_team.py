"""A team's shared session (autocode.app.team): leases, the double-coding overlap coded blind,
undo and skip, a restart, and the overlap's agreement; on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import DEMO

from autocode.app.imports import import_files
from autocode.app.team import Team
from autocode.app.workspace import Workspace
from autocode.errors import InputError

pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def team_ws(tmp_path, shared_embeddings, monkeypatch):
    """One coded group (training data) and one uncoded group (the pool)."""
    monkeypatch.setenv("AUTOCODE_EMBEDDING_CACHE", str(shared_embeddings))
    ws = Workspace.init(tmp_path / "ws")
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv"])
    import_files(ws, [DEMO / "uncoded" / "focus-group-7.txt"], group="Focus Group 7")
    yield ws
    ws.close()


@pytest.fixture
def team(team_ws):
    t = Team.open(team_ws, background=False)
    yield t
    t.close()


def answer(team, coder, codes=None, action=None):
    """``coder`` answers their next segment (its first suggestion, else no code); returns its id."""
    task = team.coder_state(coder)["task"]
    if task is None:
        return None
    codes = [s["path"] for s in task["suggestions"][:1]] if codes is None else codes
    act = action or ("accept" if codes else "none")
    team.answer(coder, {"segment_id": task["segment_id"], "action": act, "codes": codes if act == "accept" else []})
    return task["segment_id"]


def test_no_segment_goes_to_two_coders_outside_the_overlap_and_the_overlap_is_double_coded(team, team_ws):
    team.set_overlap(0.3)
    given = Counter()
    for i in range(36):
        seg = answer(team, f"coder{i % 4}")
        given[seg] += 1
    store = team_ws.store
    slots = store.slots()
    twice = {seg for seg, n in given.items() if n > 1}
    assert twice, "a 30% overlap over 36 answers double-codes some segments"
    assert all(slots[seg][0]["needed"] == 2 for seg in twice)  # only overlap segments twice
    assert all(n <= 2 for n in given.values())
    # the overlap is about the share asked for (a draw per segment), and never coded twice by one coder
    overlap = {seg for seg, s in slots.items() if s[0]["needed"] == 2}
    assert 0.1 <= len(overlap) / len(slots) <= 0.6
    for seg in twice:
        assert len({s["coder"] for s in slots[seg]}) == 2
    assert team.overview()["double_coded"] == len([s for s in twice if all(x["done"] for x in slots[s])])


def test_double_coding_is_blind_the_model_learns_an_overlap_segment_after_both_answers(team):
    team.set_overlap(1.0)  # everything double coded
    estimate = team.progress("bea")["estimate"]
    first = answer(team, "ann", codes=["Enabler"])
    learner = team.engine.learner
    assert not learner.labelled_mask[learner.rows([first])[0]]  # not taught: bea's suggestions cannot carry it
    task = team.coder_state("bea")["task"]
    assert task["segment_id"] == first  # the learner's first choice is still open for a second coder
    assert all(s["text"] != task["text"] for s in task["similar"])
    # nothing of ann's answer reaches bea: the per-code progress (every code by name) is as it was
    progress = team.progress("bea")
    assert progress.pop("estimate") == estimate
    assert "Enabler" not in str(progress)
    answer(team, "bea", codes=["Barrier"])
    assert learner.labelled_mask[learner.rows([first])[0]]
    assert team.double_coded() == {first: ("ann", "bea")}
    # a third coder is never given it
    assert team.coder_state("cai")["task"]["segment_id"] != first


def test_a_lease_holds_a_segment_until_it_runs_out(team_ws):
    team = Team.open(team_ws, background=False, lease_seconds=3600)
    try:
        held = team.coder_state("ann")["task"]["segment_id"]
        assert team.coder_state("bea")["task"]["segment_id"] != held
        assert team.coder_state("ann")["task"]["segment_id"] == held  # a reload gets the same one back
        with pytest.raises(InputError, match="not waiting"):  # bea cannot answer ann's segment
            team.answer("bea", {"segment_id": held, "action": "none", "codes": []})
    finally:
        team.close()
    expired = Team.open(team_ws, background=False, lease_seconds=-1)  # every lease runs out at once
    try:
        with team_ws.store.transaction():  # ann's lease ran out an hour ago
            team_ws.store._x("UPDATE assignments SET expires_at='2000-01-01T00:00:00+00:00' WHERE done=0")
        expired._slots = team_ws.store.slots()
        seen = {expired.coder_state(c)["task"]["segment_id"] for c in ("cai", "dan")}
        assert held in seen  # free again, given to another coder
    finally:
        expired.close()


def test_skip_gives_the_segment_up_and_undo_takes_an_answer_back(team):
    skipped = answer(team, "ann", action="skip")
    assert team.coder_state("ann")["task"]["segment_id"] != skipped
    assert team.coder_state("bea")["task"]["segment_id"] == skipped  # free for the others
    done = answer(team, "ann", codes=["Barrier"])
    back = team.undo("ann")
    assert back["undone"]["segment_id"] == done and back["task"]["segment_id"] == done
    assert "Barrier" not in {c for s in team.ws.store.codings("ann").values() for c in s}
    assert team.coder_state("ann")["task"]["segment_id"] == done  # still theirs


def test_a_restart_resumes_leases_and_never_asks_an_answered_segment_again(team_ws):
    team = Team.open(team_ws, background=False)
    answered = [answer(team, "ann") for _ in range(11)]
    checks = [a["segment_id"] for a in team_ws.store.coder_answers("ann") if a["random_check"]]
    assert len(checks) == 2  # the first question, then 1 in 10
    held = team.coder_state("ann")["task"]["segment_id"]
    session = team.coder("ann").session_id
    del team  # killed: no close
    again = Team.open(team_ws, background=False)
    try:
        assert again.coder("ann").session_id == session  # the unended session is resumed
        assert again.coder_state("ann")["task"]["segment_id"] == held
        assert not set(answered) & {again.coder_state(c)["task"]["segment_id"] for c in ("bea", "cai")}
        assert again.coder_state("ann")["progress"]["session_answered"] == 11
        learner = again.engine.learner  # the random checks and what was suggested before each answer, restored
        assert sorted(learner.ids[i] for i in learner.check_mask.nonzero()[0]) == sorted(checks)
        assert learner._prior_known.sum() == 11
    finally:
        again.close()


def test_the_overlaps_agreement_is_per_code_with_intervals(team):
    team.set_overlap(1.0)
    # ann and bea each answer what they are given (the learner's first choice with a free slot) until
    # six segments are double coded, the sixth completed by bea
    for _ in range(40):
        answer(team, "ann", codes=["Enabler"])
        before = len(team.double_coded())
        task = team.coder_state("bea")["task"]
        seg = task["segment_id"]
        team.answer("bea", {"segment_id": seg, "action": "accept", "codes": ["Enabler"] if seg % 2 else ["Barrier"]})
        if len(team.double_coded()) >= 6 and len(team.double_coded()) > before:
            break
    n = len(team.double_coded())
    assert n >= 6
    result = team.agreement(n_boot=200)
    assert result["segments"] == n and result["pairs"] == [{"coders": ["ann", "bea"], "segments": n}]
    rows = {r["code"]: r for r in result["per_code"]}
    enabler = rows["Enabler"]
    odd = sum(1 for s in team.double_coded() if s % 2)
    assert enabler["n"] == n and enabler["ac1_ci"][0] <= enabler["ac1"] <= enabler["ac1_ci"][1]
    assert (enabler["kappa"] == 1.0) == (odd == n)
    assert team.agreement() is team.agreement()  # cached until a double-coded answer changes
    team.undo("bea")  # bea's last answer completed a pair: it is no longer double coded
    assert team.agreement(n_boot=50)["segments"] == n - 1
