"""Property tests: random Unicode text and selections survive export and import."""

from __future__ import annotations

import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from autocode.refi import (
    QdaCode,
    QdaCoding,
    QdaProject,
    QdaSelection,
    QdaSet,
    QdaSource,
    QdaUser,
    read_qdpx,
    write_qdpx,
)
from autocode.refi.positions import normalise_text

PIECES = st.sampled_from(
    [
        "a",
        "Z",
        " ",
        "é",
        "e\u0301",
        "ő",
        "\n",
        "\r\n",
        "\r",
        "😩",
        "👍🏽",
        "👨‍👩‍👧",
        "🇭🇺",
        "𝔘",
        "日本",
        "\t",
        "ß",
        "<&>",
        '"',
        "\u200b",
        "\u0627\u0644",
    ]
)
TEXTS = st.lists(PIECES, max_size=60).map("".join)
CODES = [
    QdaCode("c0de0000-0000-4000-8000-000000000001", "A"),
    QdaCode("c0de0000-0000-4000-8000-000000000002", "B", is_codable=True, color="#00ff00"),
]
USERS = [
    QdaUser("05e40000-0000-4000-8000-000000000001", "Ann"),
    QdaUser("05e40000-0000-4000-8000-000000000002", "model"),
]
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)


def cuts(text: str) -> list[int]:
    """Code-point indices that do not split a CRLF pair."""
    return [
        i for i in range(len(text) + 1) if not (0 < i < len(text) and text[i - 1 : i + 1] == "\r\n")
    ]


@st.composite
def projects(draw: st.DrawFn) -> QdaProject:
    sources, selections = [], []
    for s in range(draw(st.integers(1, 3))):
        text = draw(TEXTS)
        guid = f"50c00000-0000-4000-8000-00000000000{s}"
        rich = draw(st.one_of(st.none(), st.binary(max_size=40)))  # a .docx, say: carried, never read
        sources.append(QdaSource(guid, f"doc {s}", text, rich_text=rich,
                                 rich_text_path=None if rich is None else f"rich {s}.docx"))
        allowed = cuts(text)
        for k in range(draw(st.integers(0, 4))):
            a, b = sorted(draw(st.lists(st.sampled_from(allowed), min_size=2, max_size=2)))
            codings = [
                QdaCoding(
                    draw(st.sampled_from(CODES)).guid,
                    draw(st.sampled_from([u.guid for u in USERS] + [None])),
                    draw(st.sampled_from([WHEN, None])),
                    draw(st.sampled_from([None, f"c0d10000-0000-4000-8000-000{s}0{k}0{n}0000"])),
                )
                for n in range(draw(st.integers(0, 2)))
            ]
            selections.append(
                QdaSelection(
                    f"5e1e0000-0000-4000-8000-0000000{s}000{k}", guid, a, b, codings=codings
                )
            )
    members = draw(st.lists(st.sampled_from([c.guid for c in CODES]), unique=True))
    sets = [QdaSet("5e700000-0000-4000-8000-000000000001", "a set", members, "why")] if draw(st.booleans()) else []
    return QdaProject(
        "prop", users=list(USERS), codes=list(CODES), sources=sources, selections=selections, sets=sets
    )


@settings(max_examples=60, deadline=None)
@given(projects())
def test_write_then_read_keeps_text_and_selections(project: QdaProject) -> None:
    raw = {s.guid: s.text for s in project.sources}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.qdpx"
        write_qdpx(project, path)
        again = read_qdpx(path)
    assert [s.text for s in again.sources] == [normalise_text(s.text) for s in project.sources]
    assert len(again.selections) == len(project.selections)
    assert again.sets == project.sets
    assert [(s.rich_text, s.rich_text_path) for s in again.sources] == [
        (s.rich_text, s.rich_text_path) for s in project.sources
    ]
    for before, after in zip(project.selections, again.selections, strict=True):
        assert after.guid == before.guid and after.source_guid == before.source_guid
        assert [c[:3] for c in after.codings] == [c[:3] for c in before.codings]
        assert all(a.guid == (b.guid or a.guid) and a.guid for a, b in zip(after.codings, before.codings))
        assert again.selected_text(after) == normalise_text(
            raw[before.source_guid][before.start : before.end]
        )
        if "\r" not in raw[before.source_guid]:
            assert (after.start, after.end) == (before.start, before.end)


def utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.data())
def test_nvivo_style_file_reads_back(text: str, data: st.DataObject) -> None:
    """A file written as NVivo does (BOM, CRLF, UTF-16 units) reads to the same spans."""
    stored = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    allowed = cuts(stored)
    spans = [
        sorted(data.draw(st.lists(st.sampled_from(allowed), min_size=2, max_size=2)))
        for _ in range(3)
    ]
    selections = "".join(
        f'<PlainTextSelection guid="5e1e0000-0000-4000-8000-00000000000{i}" '
        f'startPosition="{utf16(stored, a)}" endPosition="{utf16(stored, b)}"/>'
        for i, (a, b) in enumerate(spans)
    )
    qde = (
        '<Project xmlns="urn:QDA-XML:project:1.0" name="n" origin="NVivo for Windows 12.6"><Sources>'
        '<TextSource guid="50c00000-0000-4000-8000-000000000000" name="d" '
        f'plainTextPath="internal://d.txt">{selections}</TextSource></Sources></Project>'
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "n.qdpx"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("project.qde", qde)
            archive.writestr("Sources/d.txt", b"\xef\xbb\xbf" + stored.encode("utf-8"))
        project = read_qdpx(path, convention="utf16-crlf-bom")
    assert project.sources[0].text == normalise_text(stored)
    for (a, b), selection in zip(spans, project.selections, strict=True):
        assert project.selected_text(selection) == normalise_text(stored[a:b])
