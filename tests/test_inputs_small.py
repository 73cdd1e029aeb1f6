"""Small input errors from a user test: each is one line naming the file (and line), exit code 2,
and the store exactly as it was; and the inputs that were wrongly refused now import."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import pytest

from autocode.app.imports import import_files
from autocode.errors import InputError
from autocode.io import corpus, transcripts
from autocode.io.segmentation import SegmentationConfig, coding_warnings, transcript_segments
from conftest import store_digest

TRANSCRIPT = "Moderator: What gets in the way?\nParticipant 1: The money only ever lasts a year.\n"
CSV = "id,group,speaker,text\n1,FG1,Moderator,What gets in the way?\n2,FG1,Participant 1,The money only lasts a year.\n"


@pytest.fixture
def ws_cli(cli):
    """An initialised CLI workspace holding one good transcript; yields (cli, store file)."""
    assert cli("init", str(cli.root), workspace=False).exit_code == 0
    good = cli.root.parent / "already-there.txt"
    good.write_text(TRANSCRIPT, encoding="utf-8")
    assert cli("import", good).exit_code == 0
    return cli, cli.root / "annotations" / "autocode.sqlite3"


def refused(ws_cli, path: Path, *expected: str) -> str:
    """``autocode import path``: exit 2, one line naming the file and holding ``expected``, store unchanged.
    A good transcript is imported alongside it, and must not land either."""
    cli, db = ws_cli
    good = path.parent / "good-alongside.txt"
    good.write_text(TRANSCRIPT, encoding="utf-8")
    before = store_digest(db)
    r = cli("import", good, path)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.output, r.output
    line = lines[0]
    assert path.name in line
    for text in expected:
        assert text in line, line
    assert store_digest(db) == before
    return line


# --- a broken .docx ----------------------------------------------------------------------------

def real_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_paragraph("Moderator: What stops you?")
    d.add_paragraph("Participant 4: Honestly, the paperwork.")
    d.save(path)
    return path


def rezip(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    zout.writestr(info.filename, change[info.filename])
            else:
                zout.writestr(info, zin.read(info))
    return dst


@pytest.mark.parametrize("kind,why", [
    ("types-not-types", "damaged or not a Word document inside"),  # the AttributeError of the user test
    ("document-xml-broken", "damaged or not a Word document inside"),
    ("no-document-xml", "holds no word/document.xml"),
    ("excel", "Excel workbook"),
    ("opendocument", "OpenDocument"),
    ("word-97", "Word 97-2003 .doc"),
    ("truncated", "not a readable Word document"),
    ("lzma", "packed with a method Word does not use"),
    ("text", "not a zip archive"),
])
def test_a_broken_docx_is_one_line_saying_it_is_not_a_readable_word_document(ws_cli, tmp_path, kind, why):
    good = real_docx(tmp_path / "good.docx")
    path = tmp_path / f"focus-group-{kind}.docx"
    if kind == "types-not-types":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("word/document.xml", "<nope/>")
    elif kind == "document-xml-broken":
        rezip(good, path, {"word/document.xml": b"<w:document><w:body><w:p>unclosed"})
    elif kind == "no-document-xml":
        rezip(good, path, {"word/document.xml": None})
    elif kind == "excel":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("xl/workbook.xml", "<workbook/>")
    elif kind == "opendocument":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
            z.writestr("content.xml", "<office:document-content/>")
    elif kind == "word-97":
        path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    elif kind == "lzma":
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info))
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:-200])
    else:
        path.write_text(TRANSCRIPT, encoding="utf-8")
    line = refused(ws_cli, path, "not a readable Word document", why, "save it again as a Word Document (.docx)")
    assert "AttributeError" not in line and "KeyError" not in line


def test_a_docx_that_unpacks_far_beyond_its_size_is_refused_before_python_docx_reads_it(tmp_path):
    path = real_docx(tmp_path / "bomb.docx")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/media/padding.xml", b"\x00" * (3 * 2**20))
    with pytest.raises(InputError, match=r"bomb.docx: not a readable Word document: word/media/padding.xml unpacks"):
        transcripts.read_docx(path)


def test_a_good_docx_still_reads(tmp_path):
    doc = transcripts.read_transcript(real_docx(tmp_path / "fg.docx"))
    assert [t.speaker for t in doc.turns] == ["Moderator", "Participant 4"]


# --- NUL bytes ---------------------------------------------------------------------------------

NUL_CASES = [
    ("focus-group-1.txt", TRANSCRIPT.encode() + b"Participant 2: and then\x00 nothing\n", 3),
    ("focus-group-2.txt", b"\x00" + TRANSCRIPT.encode(), 1),
    ("focus-group-3.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\n<v P1>hi\x00\n", 4),
    ("focus-group-4.txt", "\ufeff".encode("utf-16-le") + "Participant 1: a\r\nb\x00c\r\n".encode("utf-16-le"), 2),
    ("coded.csv", CSV.encode().replace(b"lasts a year", b"lasts\x00a year"), 3),
    ("coded-crlf.csv", CSV.replace("\n", "\r\n").encode().replace(b"What", b"\x00What"), 2),
    ("coded.jsonl", b'{"text": "fine", "group": "J"}\n{"text": "bad\\u0000 here", "group": "J"}\n', 2),
    ("coded-key.jsonl", b'{"text": "fine", "group": "J", "x": {"k\\u0000": 1}}\n', 1),
]


@pytest.mark.parametrize("name,data,line", NUL_CASES, ids=[c[0] for c in NUL_CASES])
def test_a_nul_byte_is_refused_naming_the_file_and_line(ws_cli, tmp_path, name, data, line):
    path = tmp_path / name
    path.write_bytes(data)
    refused(ws_cli, path, f"{name}:{line}:", "NUL character")


def test_the_nul_rule_in_the_reader_itself(tmp_path):
    path = tmp_path / "fg.txt"
    path.write_bytes(b"Participant 1: one\nParticipant 2: tw\x00o\n")
    with pytest.raises(InputError, match=r"fg.txt:2: the text holds a NUL character"):
        transcripts.read_transcript(path)
    path = tmp_path / "c.csv"
    path.write_bytes(b"text\nok\nno\x00\n")
    with pytest.raises(InputError, match=r"c.csv:3: the text holds a NUL character"):
        corpus.read_csv(path)


# --- encodings -----------------------------------------------------------------------------------

ENCODINGS = {
    "utf8": lambda s: s.encode("utf-8"),
    "utf8-bom": lambda s: s.encode("utf-8-sig"),
    "utf16-le-bom": lambda s: s.encode("utf-16"),  # what Python, Notepad and Excel write: LE with BOM
    "utf16-be-bom": lambda s: "\ufeff".encode("utf-16-be") + s.encode("utf-16-be"),
    "utf32-bom": lambda s: s.encode("utf-32"),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_utf8_and_utf16_with_a_bom_import_as_the_same_text(ws, tmp_path, encoding):
    text = "Moderator: Qu’est-ce qui vous gêne ?\r\nParticipant 1: Les subventions 😩, honnêtement.\r\n"
    rows = "text,group,speaker\n\"Les subventions 😩, honnêtement.\",CSV,Participant 1\n"
    (tmp_path / "fg.txt").write_bytes(ENCODINGS[encoding](text))
    (tmp_path / "c.csv").write_bytes(ENCODINGS[encoding](rows))
    report = import_files(ws, [tmp_path / "fg.txt", tmp_path / "c.csv"])
    assert report.totals()["documents"] == 2
    assert ws.store.document("fg").text == text.replace("\r\n", "\n")
    assert [s.text for s in ws.store.segments(document="CSV")] == ["Les subventions 😩, honnêtement."]


def test_excel_unicode_text_a_tab_separated_utf16_file_imports(ws, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("text\tgroup\tcodes\tcoder\nWe run a choir, mostly.\tX\tBarrier\tann\n".encode("utf-16"))
    import_files(ws, [path])
    assert [s.text for s in ws.store.segments(document="X")] == ["We run a choir, mostly."]


UNDECODABLE = [
    ("no-bom.csv", "text,group\nhello,G\n".encode("utf-16-le"), "no-bom.csv:1: the file looks like UTF-16 text without"),
    ("no-bom.txt", "Participant 1: hi there\n".encode("utf-16-be"), "no-bom.txt:1: the file looks like UTF-16"),
    ("latin1.csv", "text\nok\ncaf\xe9\n".encode("latin-1"), "latin1.csv:3: not UTF-8 text"),
    ("odd.txt", "\ufeff".encode("utf-16-le") + "Participant 1: hi\nP2: x\n".encode("utf-16-le") + b"\x41",
     "odd.txt:3: not valid UTF-16 text (it starts with a UTF-16 byte-order mark)"),
    ("lone-surrogate.csv", "\ufeff".encode("utf-16-le") + "text\nab".encode("utf-16-le") + b"\x00\xd8" + b"c\x00",
     "lone-surrogate.csv:2: not valid UTF-16 text"),
]


@pytest.mark.parametrize("name,data,expected", UNDECODABLE, ids=[c[0] for c in UNDECODABLE])
def test_other_undecodable_text_is_one_line_with_its_line(ws_cli, tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    refused(ws_cli, path, expected, "UTF-8")


# --- nothing to import, nothing to code ------------------------------------------------------------

@pytest.mark.parametrize("content", ["text,codes,coder\n", "# a comment\nid,group,text\n\n", "\ufefftext\r\n"])
def test_a_header_only_csv_is_refused_as_nothing_to_import(ws_cli, tmp_path, content):
    path = tmp_path / "coded-fg9.csv"
    path.write_text(content, encoding="utf-8")
    refused(ws_cli, path, "coded-fg9.csv:", "header but no rows: nothing to import")


def test_a_moderator_only_transcript_is_named_as_nothing_to_code(tmp_path):
    path = tmp_path / "focus-group-9.txt"
    path.write_text("Moderator: Hello, is anyone there?\nModerator: Let's wait a minute.\n", encoding="utf-8")
    segs = transcript_segments(transcripts.read_transcript(path), SegmentationConfig())
    assert coding_warnings(path.name, segs) == [
        "focus-group-9.txt: no participant turns: nothing to code (every turn is a moderator's); check the speaker "
        "labels, or set code_moderator = true in autocode.toml to code the moderator's turns"]
    assert coding_warnings(path.name, transcript_segments(transcripts.read_transcript(path),
                                                          SegmentationConfig(code_moderator=True))) == []
    assert coding_warnings("a.txt", transcript_segments(transcripts.parse_turns(TRANSCRIPT, "a", "text"),
                                                        SegmentationConfig())) == []
    assert coding_warnings("empty source", []) == ["empty source: no text: nothing to code"]


def test_the_cli_says_a_moderator_only_transcript_has_nothing_to_code(ws_cli, tmp_path):
    cli, _ = ws_cli
    path = tmp_path / "focus-group-9.txt"
    path.write_text("Moderator: Hello, is anyone there?\nModerator: Let's wait a minute.\n", encoding="utf-8")
    r = cli("import", path)
    assert r.exit_code == 0
    assert "focus-group-9.txt: no participant turns: nothing to code" in " ".join(r.output.split())


# --- shapes that were tracebacks or misleading ------------------------------------------------------

def test_a_duplicated_column_is_refused(ws_cli, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("text,codes,coder,text\nhello,Barrier,ann,other\n", encoding="utf-8")
    refused(ws_cli, path, "dup.csv:1: the column 'text' appears 2 times")


def test_an_unbalanced_quote_that_swallows_the_file_says_so(ws_cli, tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('text,group\n"opened and never closed,G\n' + "more words, " * 20000 + "\n", encoding="utf-8")
    refused(ws_cli, path, "quote.csv:", "unbalanced quote")


@pytest.mark.parametrize("line", ["[" * 100_000 + "]" * 100_000, '{"text": ' + "9" * 5000 + "}"])
def test_jsonl_that_python_cannot_hold_is_one_line(ws_cli, tmp_path, line):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"text": "fine", "group": "J"}\n' + line + "\n", encoding="utf-8")
    refused(ws_cli, path, "deep.jsonl:2: not valid JSON")


def test_a_folder_named_like_a_transcript_is_one_line(ws_cli, tmp_path):
    path = tmp_path / "folder.txt"
    path.mkdir()
    refused(ws_cli, path, "folder.txt: this is a folder, not a file")


def test_a_cue_of_angle_brackets_is_read_in_linear_time(tmp_path):
    path = tmp_path / "fg.vtt"
    path.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nP1: " + "<" * 50_000 + "\n", encoding="utf-8")
    started = time.perf_counter()
    doc = transcripts.read_transcript(path)
    assert time.perf_counter() - started < 5 and len(doc.turns) == 1


def test_json_report_is_unchanged_for_good_files(ws_cli, tmp_path):
    cli, _ = ws_cli
    path = tmp_path / "fg2.txt"
    path.write_bytes(TRANSCRIPT.encode("utf-16"))
    r = cli("import", path, "--json")
    assert r.exit_code == 0 and json.loads(r.output)["totals"]["segments"] == 2
