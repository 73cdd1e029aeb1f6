"""Taguette import: the project database (HTML, byte offsets) and the CSV exports."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from autocode.errors import InputError
from autocode.refi import QdaProject, read_qdpx, read_taguette_csv, write_qdpx
from autocode.store import read_taguette_sqlite
from autocode.refi.taguette_html import HtmlText

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path}: the shared data folder beside the repo is absent")
    return path


def usability(pattern: str) -> Path:
    folder = shared("taguette-usability")
    (path,) = sorted(folder.glob(pattern))
    return path


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def db_project() -> QdaProject:
    return read_taguette_sqlite(usability("*.sqlite3"))


def csv_rows() -> list[dict[str, str]]:
    with usability("all_tags_*.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_database_contents(db_project: QdaProject) -> None:
    p = db_project
    assert p.name == "Usability Study Analysis - February 2022"
    assert (len(p.sources), len(p.codes), len(p.selections)) == (17, 22, 1794)
    assert sum(len(s.codings) for s in p.selections) == 1930
    assert [u.name for u in p.users] == ["admin"]
    assert all(
        c.user_guid == p.users[0].guid and c.created for s in p.selections for c in s.codings
    )
    assert p.codes[0].name == "Moderator assist" and p.codes[0].description.startswith(
        "The moderator"
    )
    assert p.position_convention == "taguette-utf8-html-text"
    for source in p.sources:
        assert "<p>" not in source.text and "\r" not in source.text


def test_highlights_match_the_csv_export(db_project: QdaProject) -> None:
    """Every (document, highlighted text, tag) of the export, and nothing else."""
    names = {c.guid: c.name for c in db_project.iter_codes()}
    docs = {s.guid: s.name for s in db_project.sources}
    ours = Counter(
        (docs[s.source_guid], squash(db_project.selected_text(s)), names[c.code_guid])
        for s in db_project.selections
        for c in s.codings
    )
    theirs = Counter((r["document"], squash(r["content"]), r["tag"]) for r in csv_rows())
    assert ours == theirs


def test_a_few_highlights_by_hand(db_project: QdaProject) -> None:
    texts = [db_project.selected_text(s) for s in db_project.selections[:2]]
    assert texts == [
        "Okay, I read this and I think the text is clear.",
        "I am not exactly sure what all the images are for or whether they are there to help me.",
    ]
    first = db_project.selections[0]  # date of the highlight_add command for highlight 1
    assert first.codings[0].created == datetime(2022, 2, 16, 14, 26, 16, 78230, tzinfo=timezone.utc)


def test_database_project_exports_valid_qdpx(db_project: QdaProject, tmp_path: Path) -> None:
    out = tmp_path / "taguette.qdpx"
    write_qdpx(db_project, out)
    schema = etree.XMLSchema(etree.parse(str(shared("refi-qda", "Project.xsd"))))
    with zipfile.ZipFile(out) as archive:
        assert schema.validate(etree.parse(io.BytesIO(archive.read("project.qde"))))
    again = read_qdpx(out)
    assert [again.selected_text(s) for s in again.selections] == [
        db_project.selected_text(s) for s in db_project.selections
    ]


def test_csv_export_rebuilds_sources_from_highlights() -> None:
    project = read_taguette_csv(usability("all_tags_*.csv"), usability("codebook_*.csv"))
    rows = csv_rows()
    assert len(project.sources) == 17 and len(project.selections) == 1793
    assert sum(len(s.codings) for s in project.selections) == len(rows) == 1930
    assert [c.name for c in project.codes][:2] == ["Moderator assist", "Home tab elements useful"]
    assert all(c.description for c in project.codes)
    content = {r["id"]: r["content"] for r in rows}
    names = {c.guid: c.name for c in project.iter_codes()}
    tags = Counter((r["content"], r["tag"]) for r in rows)
    assert (
        Counter(
            (project.selected_text(s), names[c.code_guid])
            for s in project.selections
            for c in s.codings
        )
        == tags
    )
    assert sorted(project.selected_text(s) for s in project.selections) == sorted(content.values())
    assert any("rebuilt" in n for n in project.notes)


def test_csv_without_codebook(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        'id,document,tag,content\n1,a.odt,X,first bit\n1,a.odt,Y,first bit\n2,a.odt,X,"two\r\nlines"\n'
        "3,b.odt,Y,other\n",
        encoding="utf-8",
    )
    project = read_taguette_csv(path)
    assert [c.name for c in project.codes] == ["X", "Y"]
    assert [s.text for s in project.sources] == ["first bit\n\ntwo\nlines", "other"]
    assert [len(s.codings) for s in project.selections] == [2, 1, 1]
    assert project.selected_text(project.selections[1]) == "two\nlines"


def test_csv_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,doc,text\n1,a,b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"h\.csv:1: no 'document', 'tag', 'content' column"):
        read_taguette_csv(path)


def test_html_text_counts_utf8_bytes_like_taguette() -> None:
    html = "<h2>Intro</h2><p>caf\u00e9 &amp; 😩 ok</p>\r\n<p>x<br>y</p><!--c-->"
    doc = HtmlText(html)
    assert doc.text == "Intro\ncafé & 😩 ok\nx\ny"
    # Taguette's bytes: Intro 0-5, "café & 😩 ok" 5-20 (é 2 bytes, 😩 4), CRLF 20-22
    assert doc.span(5, 10) == (6, 10)  # "café"
    assert doc.span(13, 17) == (13, 14)  # the emoji
    assert doc.span(14, 16) == (14, 14)  # inside the emoji: moved past it, as Taguette does
    assert doc.span(22, 24) == (18, 21)  # "x", the break added for <br>, "y"
    assert doc.span(0, 99) is None


def make_taguette_db(path: Path, contents: str, highlights: list[tuple[int, int]]) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT, description TEXT, created DATETIME);
        CREATE TABLE project_members (project_id INTEGER, user_login TEXT, privileges TEXT);
        CREATE TABLE documents (id INTEGER PRIMARY KEY, name TEXT, description TEXT, filename TEXT,
            created DATETIME, project_id INTEGER, text_direction TEXT, contents TEXT);
        CREATE TABLE commands (id INTEGER PRIMARY KEY, date DATETIME, user_login TEXT,
            project_id INTEGER, document_id INTEGER, payload TEXT);
        CREATE TABLE tags (id INTEGER PRIMARY KEY, project_id INTEGER, path TEXT, description TEXT);
        CREATE TABLE highlights (id INTEGER PRIMARY KEY, document_id INTEGER, start_offset INTEGER,
            end_offset INTEGER, snippet TEXT);
        CREATE TABLE highlight_tags (highlight_id INTEGER, tag_id INTEGER);
        INSERT INTO projects VALUES (1, 'focus groups', '', '2023-01-02 03:04:05.000006');
        INSERT INTO project_members VALUES (1, 'ann', 'ADMIN');
        INSERT INTO tags VALUES (1, 1, 'worry', 'fear of cost');
        """
    )
    con.execute(
        "INSERT INTO documents VALUES (1, 'g1', '', 'g1.docx', '2023-01-02 03:04:05', 1, 'LEFT_TO_RIGHT', ?)",
        (contents,),
    )
    for n, (a, b) in enumerate(highlights, start=1):
        con.execute("INSERT INTO highlights VALUES (?, 1, ?, ?, '')", (n, a, b))
        con.execute("INSERT INTO highlight_tags VALUES (?, 1)", (n,))
        payload = {"type": "highlight_add", "highlight_id": n, "start_offset": a,
                   "end_offset": b, "tags": [1]}  # fmt: skip
        con.execute(
            "INSERT INTO commands VALUES (?, '2023-01-03 10:00:00', 'bob', 1, 1, ?)",
            (n, json.dumps(payload)),
        )
    con.commit()
    con.close()


def test_small_database(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    contents = "<p>Mod: and money?</p>\n<p>P1: \u00e1rak &lt;3 nőnek 😟 mindig</p>"
    start = len("Mod: and money?\nP1: ".encode())
    end = start + len("árak <3 nőnek 😟".encode())
    make_taguette_db(path, contents, [(start, end)])
    project = read_taguette_sqlite(path)
    (selection,) = project.selections
    assert project.selected_text(selection) == "árak <3 nőnek 😟"
    assert [u.name for u in project.users] == ["ann", "bob"]
    bob = project.users[1].guid
    assert selection.codings[0].user_guid == bob
    assert selection.codings[0].created == datetime(2023, 1, 3, 10, tzinfo=timezone.utc)
    assert project.codes[0].description == "fear of cost"


def test_database_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite3"
    make_taguette_db(bad, "<p>short</p>", [(0, 400)])
    with pytest.raises(InputError, match="highlights id=1"):
        read_taguette_sqlite(bad)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InputError, match="not a Taguette database"):
        read_taguette_sqlite(other)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(InputError, match="not a SQLite database"):
        read_taguette_sqlite(junk)
    with pytest.raises(InputError, match="no project with id 9"):
        read_taguette_sqlite(tmp_path / "bad.sqlite3", project_id=9)
