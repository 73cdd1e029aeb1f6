"""REFI-QDA and Taguette projects through the store and the CLI: import, export, import again."""

from __future__ import annotations

import zipfile
from collections import Counter

import pytest

from autocode.errors import InputError
from autocode.app.imports import import_files
from autocode.refi import read_qdpx
from autocode.refi.mapping import covers
from autocode.app.workspace import Workspace
from conftest import DEMO, copy_workspace, shared
from test_refi_qdpx import assert_valid_qdpx


def selections(ws: Workspace) -> Counter:
    return Counter((s.document, s.code, s.coder, s.start, s.end) for s in ws.store.selections())


def test_nvivo_import_export_import(nvivo_trip):
    """The NVivo project imported into a fresh workspace, exported, and the export imported into
    another fresh workspace (conftest's ``nvivo_trip``, built once for the run)."""
    first, second, out = nvivo_trip.first, nvivo_trip.second, nvivo_trip.out
    assert nvivo_trip.report["positions"] == "utf16-crlf-bom"
    assert set(nvivo_trip.report["coders"]) == {"Gergo", "test_user"}
    assert_valid_qdpx(out)
    assert first.store.document_names() == second.store.document_names()
    assert [first.store.document(n).text for n in first.store.document_names()] == \
           [second.store.document(n).text for n in second.store.document_names()]
    assert selections(first) == selections(second) and sum(selections(first).values()) == 330
    assert {c.path for c in first.store.codebook() if c.group == "Codes"} == \
           {c.path for c in second.store.codebook() if c.group == "Codes"}
    for coder in ("Gergo", "test_user"):
        assert first.store.codings(coder) and len(first.store.codings(coder)) == len(second.store.codings(coder))
        assert sorted(map(sorted, first.store.codings(coder).values())) == sorted(map(sorted, second.store.codings(coder).values()))


def test_a_code_taken_off_in_autocode_stays_off_after_export(tmp_path, nvivo_trip):
    """An imported selection whose code the coder later removed is not exported again."""
    from autocode.app.exports import export

    first = copy_workspace(nvivo_trip.first, tmp_path / "a")  # the NVivo project freshly imported, ours to change
    try:
        coded = first.store.codings("Gergo")
        assert coded == nvivo_trip.first.store.codings("Gergo")  # the copy is the import
        seg_id, paths = next((s, p) for s, p in sorted(coded.items()) if len(p) >= 1)
        dropped = sorted(paths)[0]
        first.store.set_codes(seg_id, "Gergo", sorted(paths - {dropped}))
        out = tmp_path / "out.qdpx"
        export(first, out, fmt="qdpx")
        second = Workspace.init(tmp_path / "b")
        import_files(second, [out])
        seg = {(s.document, s.start, s.end): s.id for s in second.store.segments()}
        old = next(s for s in first.store.segments() if s.id == seg_id)
        again = second.store.codings("Gergo")
        assert again.get(seg[(old.document, old.start, old.end)], set()) == paths - {dropped}
        # everything else the coder coded comes back as it was
        assert len(again) >= len(coded) - 1
        assert sum(len(p) for p in again.values()) == sum(len(p) for p in coded.values()) - 1
        second.close()
    finally:
        first.close()
    assert nvivo_trip.first.store.codings("Gergo") == coded  # the shared import is untouched


def test_segments_take_codes_by_the_documented_rule():
    assert covers([(0, 10)], 0, 20, 0.5)            # half the segment
    assert covers([(0, 9)], 0, 40, 0.5)  # 9 chars lying inside a 40-char segment: a phrase codes it
    assert not covers([(30, 60)], 0, 40, 0.5)        # 10 of 40 characters, and most of the selection is outside
    assert covers([(5, 9)], 0, 100, 0.5)            # a short phrase lying inside the segment
    assert not covers([(90, 120)], 0, 100, 0.5)     # a selection mostly in the next segment
    assert covers([(0, 30), (40, 70)], 0, 100, 0.5) is True


def test_exported_demo_validates_and_keeps_model_as_its_own_user(tmp_path, ws):
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "second-coder" / "focus-group-1.csv"])
    seg = ws.store.segments(codable_only=True)[0]
    ws.store.set_codes(seg.id, "model:demo", ["Barrier"], source="model", kind="model", model_version="demo-1")
    out = tmp_path / "demo.qdpx"
    from autocode.app.exports import export

    export(ws, out, fmt="qdpx")
    assert_valid_qdpx(out)
    project = read_qdpx(out)
    assert {u.name for u in project.users} == {"coder_a", "coder_b", "autocode model demo"}
    again = Workspace.init(tmp_path / "again")
    import_files(again, [out])
    assert again.store.codings("model:demo") == {again.store.segments(codable_only=True)[0].id: {"Barrier"}}
    assert again.store.codings("coder_a").__len__() == ws.store.codings("coder_a").__len__()


def test_minimal_project_and_atlas_codebook(tmp_path, cli):
    cli("init", cli.root, workspace=False)
    r = cli("import", shared("refi-qda", "minimal.qdpx"))
    assert r.exit_code == 0, r.output
    r = cli("codebook", "import", shared("refi-qda", "atlasti9_portableqda.qdc"))
    assert r.exit_code == 0 and "Added" in r.output
    out = tmp_path / "cb.qdc"
    assert cli("codebook", "export", out).exit_code == 0
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(shared("refi-qda", "Codebook.xsd"))))
    assert schema.validate(etree.parse(str(out))), schema.error_log.last_error


def test_taguette_database_import(ws):
    db = shared("taguette-usability", "SERDIF_P2_ThematicAnalysis.sqlite3")
    report = import_files(ws, [db])
    assert report.files[0]["documents"] == 17
    tags = [c for c in ws.store.codebook() if c.group == "Codes"]
    assert len(tags) == 22 and all(c.description for c in tags)
    assert sum(selections(ws).values()) >= 1794
    coded = ws.store.codings("admin")
    assert len(coded) > 1000


def test_broken_project_writes_nothing(tmp_path, ws):
    bad = tmp_path / "broken.qdpx"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("project.qde", "<Project xmlns='urn:QDA-XML:project:1.0'><Sources>")
    good = DEMO / "coded" / "focus-group-1.csv"
    with pytest.raises(InputError, match="broken.qdpx"):
        import_files(ws, [good, bad])
    assert ws.store.document_names() == []


def test_taguette_highlights_csv_is_recognised(ws):
    csv_export = shared("taguette-usability", "all_tags_20220303.csv")
    report = import_files(ws, [csv_export])
    assert report.files[0]["kind"].startswith("taguette") and report.files[0]["documents"] == 17
    assert len([c for c in ws.store.codebook() if c.group == "Codes"]) >= 20
