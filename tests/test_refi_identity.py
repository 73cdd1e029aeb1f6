"""Who coded what stays who coded it: users and their GUIDs, who made each selection and when,
Coding GUIDs, the project's name, code sets, rich-text sources, the codebook the project has,
and the model's suggestions under its own user with what it said about them."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from autocode.app.exports import export, export_codebook
from autocode.app.imports import import_codebook, import_files
from autocode.app.suggestions import save_suggestions
from autocode.app.workspace import Workspace
from autocode.io import codebooks
from autocode.refi import read_qdc, read_qdpx, write_qdpx
from autocode.refi.qdc import read_qdc_book
from conftest import DEMO, NVIVO, import_export, shared
from test_refi_qdpx import assert_valid_qdpx
from test_refi_qdpx_inputs import CODE, SEL, SOURCE, USER, make_qdpx, qde
from test_refi_roundtrip_property import projects

# one embedding cache for the module's workspaces (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")

MODEL_VERSION = "demo@2026-01-02T03:04:05+00:00"
P = "{urn:QDA-XML:project:1.0}"


def demo_workspace(root: Path) -> Workspace:
    """The demo corpus (coder_a on six groups, coder_b on two) with a model's stored suggestions
    on the segments coder_b coded (the codes coder_b chose, each with a made-up probability)."""
    ws = Workspace.init(root)
    import_files(ws, sorted((DEMO / "coded").glob("*.csv")) + sorted((DEMO / "second-coder").glob("*.csv")))
    records = [{"segment_id": seg, "codes": [{"code": c, "probability": 0.5 + (seg * 7 % 50) / 100} for c in sorted(cs)]}
               for seg, cs in sorted(ws.store.codings("coder_b").items())]
    save_suggestions(ws.store, records, "demo", MODEL_VERSION)
    return ws


def qde_root(path: Path) -> etree._Element:
    with zipfile.ZipFile(path) as archive:
        return etree.parse(io.BytesIO(archive.read("project.qde"))).getroot()


def selection_identity(project) -> dict:
    """Per selection guid: who made and modified it and when, and each Coding's guid, coder and date."""
    return {s.guid: (s.creating_user, s.created, s.modifying_user, s.modified, s.description,
                     [(c.guid, c.user_guid, c.created, c.code_guid) for c in s.codings])
            for s in project.selections}


# nvivo_round and demo_round: session-scoped fixtures in conftest.py, built once for this module,
# test_refi_readers and test_refi_store


# ------------------------------------------------------------------ 1. coders stay who they are

def test_nvivo_users_keep_their_guids_and_every_selection_its_maker(nvivo_round):
    original, ws, report, out, _ = nvivo_round
    assert_valid_qdpx(out)
    exported = read_qdpx(out)
    assert exported.users == original.users  # Gergo, floriansipos, test_user: guids, names, NVivo's id="test"
    assert exported.name == original.name == "Untitled"
    assert selection_identity(exported) == selection_identity(original)  # makers, modifiers, dates, Coding guids
    # floriansipos made 297 of the selections and coded none: kept as a coder all the same
    assert [u.name for u in ws.store.users()] == ["Gergo", "floriansipos", "test_user"]
    assert report["users"] == ["Gergo", "floriansipos", "test_user"] and report["coders"] == ["Gergo", "test_user"]
    makers = Counter(exported.user_by_guid()[s.creating_user].name for s in exported.selections)
    assert makers == {"floriansipos": 297, "test_user": 27, "Gergo": 6}


def test_every_selection_and_coding_says_who_made_it(demo_round, nvivo_round):
    for path in (demo_round[1], nvivo_round[3]):
        root = qde_root(path)
        users = {u.get("guid") for u in root.iter(P + "User")}
        selections = list(root.iter(P + "PlainTextSelection"))
        codings = list(root.iter(P + "Coding"))
        assert selections and codings
        assert all(e.get("creatingUser") in users for e in selections + codings)
    nvivo = qde_root(nvivo_round[3])  # the suite dated every one: so does the export
    assert all(e.get("creationDateTime") for e in nvivo.iter(P + "PlainTextSelection", P + "Coding"))


def test_selection_makers_and_coding_guids_survive_a_workspace(tmp_path):
    """A selection made by one user and coded by another, with a description and a modifier."""
    other = "7e57e57e-0000-4000-8000-000000000001"
    text = qde().replace(f'<PlainTextSelection guid="{SEL}"',
                         f'<PlainTextSelection guid="{SEL}" creatingUser="{other}" creationDateTime="2024-01-02T03:04:05Z"'
                         f' modifyingUser="{USER}" modifiedDateTime="2024-02-03T04:05:06Z"')
    text = text.replace("<Users>", f'<Users><User guid="{other}" name="Maker" id="mk"/>')
    text = text.replace('creatingUser="' + USER + '"><CodeRef', 'creatingUser="' + USER + '" creationDateTime="2024-01-05T00:00:00Z"><CodeRef')
    text = text.replace('<Coding guid=', '<Description>why it is coded</Description><Coding guid=')
    path = make_qdpx(tmp_path, text)
    original = read_qdpx(path)
    _, _, out = import_export(tmp_path, path, "ws")
    exported = read_qdpx(out)
    assert selection_identity(exported) == selection_identity(original)
    assert {(u.guid, u.name, u.id) for u in exported.users} == {(u.guid, u.name, u.id) for u in original.users}
    assert exported.name == "t"


# ------------------------------------------------------------------ 2. rich-text sources

def test_nvivo_docx_sources_are_carried_byte_for_byte(nvivo_round):
    _, _, _, out, _ = nvivo_round
    with zipfile.ZipFile(shared(*NVIVO)) as archive:
        docx = {Path(n).name: archive.read(n) for n in archive.namelist() if n.endswith(".docx")}
    assert len(docx) == 2
    with zipfile.ZipFile(out) as archive:
        for name, data in docx.items():
            assert archive.read(f"sources/{name}") == data
    refs = {e.get("richTextPath") for e in qde_root(out).iter(P + "TextSource")}
    assert refs == {f"internal://{name}" for name in docx}


def test_a_rich_text_outside_the_archive_is_noted_not_followed(tmp_path):
    path = make_qdpx(tmp_path, qde(text_attr='plainTextPath="internal://t.txt" richTextPath="file:///etc/passwd"'))
    project = read_qdpx(path)
    assert project.sources[0].rich_text is None
    assert any("rich text file:///etc/passwd not kept" in n for n in project.notes)


# ------------------------------------------------------------------ 3. the codebook the project has

def test_a_fresh_workspace_takes_the_project_s_codebook_and_says_so(nvivo_round):
    original, ws, report, out, _ = nvivo_round
    assert len(ws.store.codebook()) == 152
    assert not {c.path for c in codebooks.default()} & {c.path for c in ws.store.codebook()}
    assert any("untouched default study codebook" in n and "152 codes" in n for n in report["notes"])
    def tree(codes):  # (autocode trims a code's description)
        return [(c.guid, c.name, c.is_codable, c.color, (c.description or "").strip(), tree(c.children)) for c in codes]

    assert tree(read_qdpx(out).codes) == tree(original.codes)  # the 152 codes only, not the 48 of the default frame


CODED = """id,group,speaker,coder,codes,text
a,FG,Moderator,ann,,What helps?
b,FG,P1,ann,Not therapists,We are not therapists and we say so.
c,FG,P2,ann,Enabler,Volunteers help a lot.
"""


def test_export_leaves_out_the_unused_default_frame(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    (tmp_path / "coded.csv").write_text(CODED, encoding="utf-8")
    import_files(ws, [tmp_path / "coded.csv"])
    export(ws, tmp_path / "out.qdpx", fmt="qdpx")
    assert_valid_qdpx(tmp_path / "out.qdpx")
    exported = {c.name for c in read_qdpx(tmp_path / "out.qdpx").iter_codes()}
    assert exported == {"Capability", "Understanding boundaries", "Not therapists", "Enabler"}  # and their parents
    export_codebook(ws, tmp_path / "out.qdc")
    assert {c.name for top in read_qdc(tmp_path / "out.qdc") for c in top.walk()} == exported
    # a project imported into a workspace already in use is merged into its codebook, and its
    # unused codes are exported all the same: they are the project's
    path = make_qdpx(tmp_path, qde().replace('isCodable="true"/>', 'isCodable="true"/><Code guid="'
                                             '11111111-2222-4333-8444-555555555555" name="Unused" isCodable="true"/>'))
    report = import_files(ws, [path])
    assert not any("untouched" in n for n in report.files[0]["notes"])
    export(ws, tmp_path / "merged.qdpx", fmt="qdpx")
    names = {c.name for c in read_qdpx(tmp_path / "merged.qdpx").iter_codes()}
    assert names == exported | {"Economy", "Unused"}


def test_a_fresh_codebook_export_is_the_default_frame(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    export_codebook(ws, tmp_path / "cb.qdc")
    assert len([c for top in read_qdc(tmp_path / "cb.qdc") for c in top.walk()]) == 48


# ------------------------------------------------------------------ code sets

def test_atlas_code_sets_are_kept_through_a_codebook_round_trip(tmp_path):
    atlas = shared("refi-qda", "atlasti9_portableqda.qdc")
    ws = Workspace.init(tmp_path / "ws")
    import_codebook(ws, atlas)
    out = tmp_path / "out.qdc"
    export_codebook(ws, out)
    codes, sets = read_qdc_book(out)
    original_codes, original_sets = read_qdc_book(atlas)
    assert codes == original_codes  # the default frame, unused, is not in it
    assert sets == original_sets and [s.name for s in sets] == ["codeGroup1::codeGroup1.2", "codeGroup1::codeGroup1.1"]
    again = Workspace.init(tmp_path / "again")
    import_codebook(again, out)
    export_codebook(again, tmp_path / "again.qdc")
    assert (tmp_path / "again.qdc").read_bytes() == out.read_bytes()


def test_project_sets_are_kept_and_written_in_the_project(tmp_path):
    sets = (f'<Sets><Set guid="5e700000-0000-4000-8000-000000000001" name="Money talk"><Description>d</Description>'
            f'<MemberCode targetGUID="{CODE}"/><MemberSource targetGUID="{SOURCE}"/></Set></Sets>')
    path = make_qdpx(tmp_path, qde().replace("</Sources>", "</Sources>" + sets))
    original = read_qdpx(path)
    assert [(s.name, s.code_guids, s.description) for s in original.sets] == [("Money talk", [CODE], "d")]
    assert any("1 members that are not codes" in n for n in original.notes)
    _, _, out = import_export(tmp_path, path, "ws")
    assert_valid_qdpx(out)
    assert read_qdpx(out).sets == original.sets


def test_code_groups_travel_as_sets(demo_round):
    ws, out, again, *_ = demo_round
    assert [s.name for s in read_qdpx(out).sets] == ["COM-B", "Valence"]
    groups = {c.path: c.group for c in ws.store.codebook()}
    assert {c.path: c.group for c in again.store.codebook()} == {p: groups[p] for p in
                                                                  {c.path for c in again.store.codebook()}}


# ------------------------------------------------------------------ 4. the model's suggestions

def test_model_suggestions_carry_their_probability_and_model_version(demo_round):
    ws, out, *_ = demo_round
    project = read_qdpx(out)
    users = {u.guid: u.name for u in project.users}
    by_model = [s for s in project.selections if users[s.codings[0].user_guid] == "autocode model demo"]
    assert len(by_model) == sum(len(c) for c in ws.store.codings("model:demo").values())
    probabilities = {(r["segment_id"], r["code"]): r["probability"] for r in ws.store.coding_rows("model:demo")}
    segment = {(s.document, s.start, s.end): s.id for s in ws.store.segments()}
    path_of = {c.name: c.path for c in ws.store.codebook()}  # the demo frame's names are unique
    code_name = {c.guid: c.name for c in project.iter_codes()}
    for sel in by_model:
        assert sel.creating_user == sel.codings[0].user_guid  # the model's own user made it
        assert sel.created is not None and sel.codings[0].created is not None
        seg = segment[(project.source_by_guid()[sel.source_guid].name, sel.start, sel.end)]
        p = probabilities[(seg, path_of[code_name[sel.codings[0].code_guid]])]
        assert sel.description == f"autocode model {MODEL_VERSION}: probability {p:.2f}"
    assert not any(s.description for s in project.selections if s not in by_model)


# ------------------------------------------------------------------ 6. export -> import -> export is byte-stable

def test_export_import_export_is_byte_stable(nvivo_round, demo_round):
    assert nvivo_round[3].read_bytes() == nvivo_round[4].read_bytes()
    assert demo_round[1].read_bytes() == demo_round[4].read_bytes()
    assert_valid_qdpx(demo_round[1])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projects())
def test_any_project_exports_the_same_bytes_after_a_workspace_round_trip(project):
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        write_qdpx(project, tmp / "p.qdpx")
        a, _, first = import_export(tmp, tmp / "p.qdpx", "a")
        b, _, second = import_export(tmp, first, "b")
        a.close()
        b.close()
        assert second.read_bytes() == first.read_bytes()


def test_a_user_renamed_between_two_projects_stays_two_users(tmp_path):
    """Two projects name one GUID differently: the first coder keeps it, the second gets their own
    (and so does the second project's source, which came under the first one's guid)."""
    ws = Workspace.init(tmp_path / "ws")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_qdpx(tmp_path / "a", qde())
    second = make_qdpx(tmp_path / "b", qde().replace('name="Coder A"', 'name="Coder A (laptop)"')
                       .replace('name="P1"', 'name="P2"'))
    import_files(ws, [first, second])
    export(ws, tmp_path / "out.qdpx", fmt="qdpx")
    users = {u.name: u.guid for u in read_qdpx(tmp_path / "out.qdpx").users}
    assert users["Coder A"] == USER and users["Coder A (laptop)"] != USER
    assert len({s.guid for s in read_qdpx(tmp_path / "out.qdpx").sources}) == 2


def test_a_real_suggestion_carries_its_reason_into_the_suite(tmp_path):
    """A trained model's suggestions, stored by `suggest --save`'s path with their reasons: the
    exported selection's description says the words and the most similar coded segment."""
    from autocode.app.models import load_model, train
    from autocode.app.suggestions import predict, units_from_store

    ws = Workspace.init(tmp_path / "ws")
    import_files(ws, [DEMO / "coded" / f"focus-group-{i}.csv" for i in (1, 2, 3)])
    train(ws, "m", coder="coder_a")
    model = load_model(ws, "m", embedder=ws.embedder())
    codable = {c.path for c in ws.store.codebook().codable()}
    units = [u for u in units_from_store(ws.store, "Focus Group 3")][:12]
    records = predict(model, units, codable=codable)
    assert any(r["codes"] for r in records)
    save_suggestions(ws.store, records, "m", "m@test")
    out = tmp_path / "with-model.qdpx"
    export(ws, out, fmt="qdpx", model="m")
    project = read_qdpx(out)
    users = {u.guid: u.name for u in project.users}
    notes = [s.description for s in project.selections if users[s.codings[0].user_guid] == "autocode model m"]
    assert notes and all(n.startswith("autocode model m@test: probability ") for n in notes)
    assert all("words: " in n or "like \"" in n for n in notes), notes[:3]
    ws.close()
