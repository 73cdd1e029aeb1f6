"""Nothing a coder did is lost: every imported selection is kept and exported as it came,
codes on turns not offered for coding are stored for those turns, and the import says how
its selections mapped onto the segments."""

from __future__ import annotations

from collections import Counter

from autocode.app.exports import export
from autocode.app.imports import import_files
from autocode.app.models import training_data
from autocode.app.workspace import Workspace
from autocode.refi import read_qdpx
from autocode.store import read_taguette_sqlite
from autocode.refi.mapping import coder_name
from conftest import shared
from test_refi_qdpx_inputs import make_qdpx, qde


def exact_pairs(project) -> Counter:
    """(source, code, coder, exact text) for every coding of every selection."""
    code_name = {c.guid: c.name for c in project.iter_codes()}
    users = project.user_by_guid()
    sources = {s.guid: s for s in project.sources}
    return Counter((sources[s.source_guid].name, code_name[c.code_guid],
                    coder_name(users.get(c.user_guid) if c.user_guid else None),
                    sources[s.source_guid].text[s.start:s.end])
                   for s in project.selections for c in s.codings)


def round_trip(tmp_path, path, original):
    ws = Workspace.init(tmp_path / "ws")
    report = import_files(ws, [path])
    export(ws, tmp_path / "out.qdpx", fmt="qdpx")
    return ws, report.files[0], exact_pairs(original), exact_pairs(read_qdpx(tmp_path / "out.qdpx"))


def test_a_selection_on_the_moderator_turn_is_stored_reported_and_exported(tmp_path):
    path = make_qdpx(tmp_path, qde(start=11, end=15))  # "why?" in "Moderator: why?"
    ws, report, before, after = round_trip(tmp_path, path, read_qdpx(path))
    assert report["selections_mapped"] == {"on turns not offered for coding": 1}
    moderator = next(s for s in ws.store.segments() if s.role == "moderator")
    assert ws.store.codings("Coder A")[moderator.id] == {"Economy"}  # stored for that turn
    assert not moderator.codable
    assert len(training_data(ws.store, "Coder A")) == 1  # the participant's turn only: not offered, not trained on
    assert after == before


def test_the_taguette_project_comes_back_whole(tmp_path):
    path = shared("taguette-usability", "SERDIF_P2_ThematicAnalysis.sqlite3")
    _, report, before, after = round_trip(tmp_path, path, read_taguette_sqlite(path))
    assert sum(before.values()) == 1930
    assert after == before  # every highlight-tag pair, "Moderator assist" and cross-turn ones included
    assert sum(report["selections_mapped"].values()) == 1930
    assert report["selections_mapped"]["on turns not offered for coding"] > 0
    assert report["selections_mapped"]["across segments"] > 0


def test_the_nvivo_project_comes_back_whole(nvivo_trip):
    """The NVivo project imported into a fresh workspace and exported (conftest's ``nvivo_trip``,
    built once for the run: round_trip's steps)."""
    report = nvivo_trip.report
    before, after = exact_pairs(read_qdpx(nvivo_trip.path)), exact_pairs(read_qdpx(nvivo_trip.out))
    assert sum(before.values()) == 330 and after == before
    assert sum(report["selections_mapped"].values()) == 330
