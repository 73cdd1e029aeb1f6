"""Fuzzing the importers: mutated CSV/JSONL corpora, transcripts (.txt .vtt .srt .docx) and .qdpx projects.

Every input is built here from small valid files (and from ../shared/data/refi-qda/minimal.qdpx
where it is present), then damaged: bytes flipped, inserted and cut, columns dropped and
duplicated, quotes unbalanced, other encodings, huge fields, zip header fields rewritten,
project.qde elements and attributes removed, copied and changed, sources re-encoded. For each,
``import_files`` into a fresh workspace must either succeed, leaving a store whose segments are
their documents' text, or raise autocode's InputError, one line naming the file, with the store
byte for byte as it was; never any other exception; and the import's Python allocations must
peak under MEMORY_LIMIT.

The default run is a few hundred examples, the same ones every run (``derandomize``). Thousands
of fresh ones: ``pytest -m slow tests/test_fuzz_inputs.py`` (AUTOCODE_FUZZ_EXAMPLES sets how
many per test; default 2,500).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import tempfile
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import note as hypothesis_note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from lxml import etree

from autocode.app.imports import ImportReport, import_files
from autocode.app.workspace import Workspace
from autocode.errors import InputError
from autocode.io.segmentation import _nlp
from conftest import SHARED_DATA, shared, store_digest

MEMORY_LIMIT = 40 * 2**20  # inputs here are at most a few hundred kB
SLOW_EXAMPLES = int(os.environ.get("AUTOCODE_FUZZ_EXAMPLES", "2500"))
COMMON = dict(deadline=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                     HealthCheck.large_base_example])


def default_run(n: int):
    return settings(max_examples=n, derandomize=True, database=None, **COMMON)


slow_run = settings(max_examples=SLOW_EXAMPLES, **COMMON)


#: Failures found by this fuzzing whose fix lies outside autocode/io (in app/imports.py or the store):
#: (exception type, text in its message). Each has a strict xfail test at the end of this file
#: that fails once it is fixed: then remove it here and there.
KNOWN: dict[str, tuple[type[BaseException], str]] = {
}


def note(text: str) -> None:
    """Shown with a failing example; a no-op outside one (the harness is also called directly)."""
    if currently_in_test_context():
        hypothesis_note(text)


# --- the harness: one fresh workspace per example --------------------------------------------------

class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template"
        Workspace.init(self.template).close()
        _nlp()  # spaCy's sentencizer, loaded once, outside the measured imports
        import docx  # noqa: F401  (python-docx's modules, likewise)

        self.outcomes: dict[str, int] = {}
        self.known: dict[str, int] = {}

    def attempt(self, files: dict[str, bytes], *, project: bool = False, memory_limit: int | None = MEMORY_LIMIT,
                **options) -> ImportReport | InputError:
        work = Path(tempfile.mkdtemp(dir=self.root))
        try:
            shutil.copytree(self.template, work / "ws")
            paths = []
            for name, data in files.items():
                (work / name).write_bytes(data)
                paths.append(work / name)
            ws = Workspace.find(work / "ws")
            db = ws.root / "annotations" / "autocode.sqlite3"
            try:
                before = store_digest(db)
                tracemalloc.start()
                try:
                    outcome: ImportReport | InputError = import_files(ws, paths, **options)
                except InputError as exc:
                    outcome = exc
                except Exception as exc:
                    known = next((k for k in KNOWN if isinstance(exc, KNOWN[k][0]) and KNOWN[k][1] in str(exc)), None)
                    if known is None:
                        raise
                    self.known[known] = self.known.get(known, 0) + 1
                    reject()  # a failure already reported, with its own xfail test below: not this run's finding
                finally:
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                note(f"outcome: {outcome if isinstance(outcome, InputError) else outcome.files}")
                assert memory_limit is None or peak < memory_limit, f"the import peaked at {peak / 2**20:.1f} MB"
                if isinstance(outcome, InputError):
                    message = str(outcome)
                    assert message.strip() and "\n" not in message
                    assert any(p.name in message for p in paths), message
                    assert store_digest(db) == before, "a refused import changed the store"
                    key = "refused: " + (outcome.message.split("(")[0].split(":")[0][:50])
                else:
                    check_store(ws, project=project)
                    key = "imported"
                self.outcomes[key] = self.outcomes.get(key, 0) + 1
                return outcome
            finally:
                ws.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)


def check_store(ws: Workspace, *, project: bool) -> None:
    """What a successful import leaves: segments that are their documents' text, selections inside
    it; a transcript or corpus stored at least one document, and no NUL character."""
    docs = {d.name: d for d in ws.store.documents()}
    assert docs or project, "an import that succeeded stored no document"  # a project may hold only codes
    for seg in ws.store.segments():
        assert docs[seg.document].text[seg.start:seg.end] == seg.text
    for sel in ws.store.selections():
        assert 0 <= sel.start <= sel.end <= len(docs[sel.document].text)
    if not project:  # a NUL in a project's source is the other reader's rule: see KNOWN
        assert not any("\x00" in d.text for d in docs.values())


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("fuzz"))
    yield h
    print(f"\noutcomes: {dict(sorted(h.outcomes.items(), key=lambda kv: -kv[1]))}; known failures met: {h.known}")


# --- byte-level damage ---------------------------------------------------------------------------------

SPECIAL = [b"\x00", b'"', b"\r", b"\n", b"\r\n", b",", b";", b"\t", b"#", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf",
           b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"<", b">", b"&", b"]]>", b"-->", b"PK\x03\x04"]
payloads = st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=6)


@st.composite
def damaged(draw, data: bytes, max_ops: int = 3) -> bytes:
    """``data`` with up to ``max_ops`` byte edits (none, often)."""
    buf = bytearray(data)
    n = draw(st.sampled_from([0, 0, 0, 1, 1, 2, max_ops]))  # half of the inputs keep their bytes
    ops = draw(st.lists(st.tuples(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]),
                                  st.integers(0, 2**31), payloads), min_size=n, max_size=n))
    for op, pos, payload in ops:
        at = pos % (len(buf) + 1)
        if op == "flip" and buf:
            buf[at % len(buf)] ^= 1 << (pos % 8)
        elif op == "set" and buf:
            buf[at % len(buf): at % len(buf) + len(payload)] = payload
        elif op == "insert":
            buf[at:at] = payload
        elif op == "delete":
            del buf[at: at + 1 + pos % 16]
        elif op == "truncate":
            del buf[at:]
        elif op == "repeat":
            buf[at:at] = bytes(buf[at: at + 64]) * (1 + pos % 4)
    return bytes(buf)


ENCODINGS = ["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"]


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


# --- coded corpora -----------------------------------------------------------------------------------

WORDS = ["We", "run", "a", "choir", "the", "money", "lasts", "a year", "😩", "café", "naïve", "—", "“quoted”", "don't"]
PIECES = WORDS + [", ", "\"", "\"\"", ";", ":", "\n", "\r\n", "\t", "#", " ", "\u2028", "\ufeff", "\x00", "\\", "<v P1>"]
cell_text = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=12).map("".join)
CODE_NAMES = ["Barrier", "Enabler", "Regional differences", "Not therapists", "Keeping activities free",
              "Barrier;Enabler", "Barier", "Capability", "Capability/Physical capability", " ;; ", ""]


@st.composite
def corpus_rows(draw) -> list[dict]:
    rows = draw(st.lists(st.fixed_dictionaries({
        "id": st.sampled_from(["1", "2", "3", "", "1 "]) | st.text(max_size=3),
        "group": st.sampled_from(["FG1", "FG2", "", " FG1 "]),
        "speaker": st.sampled_from(["Moderator", "Participant 1", "P2", "", "Facilitator"]),
        "coder": st.sampled_from(["ann", "bob", ""]),
        "codes": st.lists(st.sampled_from(CODE_NAMES), max_size=3).map(";".join),
        "text": cell_text | st.sampled_from(["We run a choir.", "The money only lasts a year, honestly."]),
    }), min_size=0, max_size=6))
    if rows and draw(st.integers(0, 9)) == 0:  # a huge field, around csv's 131,072-character limit
        rows[draw(st.integers(0, len(rows) - 1))]["text"] = "words, " * (draw(st.sampled_from([9_000, 18_725, 30_000])))
    return rows


@st.composite
def csv_files(draw) -> tuple[str, bytes]:
    rows = draw(corpus_rows())
    header = list(draw(st.permutations(["id", "group", "speaker", "coder", "codes", "text"])))
    for op in draw(st.lists(st.sampled_from(["drop", "duplicate", "extra", "rename", "case"]), max_size=2)):
        i = draw(st.integers(0, len(header) - 1)) if header else 0
        if op == "drop" and header:
            header.pop(i)
        elif op == "duplicate" and header:
            header.insert(draw(st.integers(0, len(header))), header[i])
        elif op == "extra":
            header.insert(i, draw(st.sampled_from(["notes", "", "Text ", "codes"])))
        elif op == "rename" and header:
            header[i] = draw(st.sampled_from(["txt", "segment", "code", "text"]))
        elif op == "case" and header:
            header[i] = header[i].upper()
    buf = io.StringIO()
    if draw(st.booleans()):
        buf.write("# exported for the fuzz test\n\n")
    delimiter = draw(st.sampled_from([",", ",", ",", "\t", ";"]))
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])),
                        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])))
    writer.writerow(header)
    for row in rows:
        cells = [row.get(h.strip().lower(), "") for h in header]
        cut = draw(st.sampled_from([0, 0, 0, 0, -1, 1]))  # a row with a field too few or too many
        writer.writerow(cells[:cut] if cut < 0 else cells + ["x"] * cut)
    text = buf.getvalue()
    if draw(st.integers(0, 5)) == 0:  # an unbalanced quote
        at = draw(st.integers(0, len(text)))
        text = text[:at] + '"' + text[at:]
    return "coded.csv", draw(damaged(encode(text, draw(st.sampled_from(ENCODINGS)))))


@st.composite
def jsonl_files(draw) -> tuple[str, bytes]:
    lines = []
    for row in draw(corpus_rows()):
        rec: object = {k: v for k, v in row.items() if v or draw(st.booleans())}
        kind = draw(st.integers(0, 11))
        if kind == 0:
            rec = [rec]
        elif kind == 1 and isinstance(rec, dict):
            rec["codes"] = draw(st.sampled_from([["Barrier", "Enabler"], [["Barrier"]], {"a": 1}, 7, None, True]))
        elif kind == 2 and isinstance(rec, dict):
            rec["text"] = draw(st.sampled_from([None, 12, 1.5e308, ["a"], {"t": "x"}, "", "\u0000"]))
        lines.append(json.dumps(rec, ensure_ascii=draw(st.booleans())))
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.sampled_from(["[" * 5000, '{"text": ' + "1" * 5000 + "}", "NaN", '{"text": NaN}', "{"])))
    return "coded.jsonl", draw(damaged(encode("\n".join(lines), draw(st.sampled_from(ENCODINGS)))))


def check_file(harness, case):
    """One mutated file (name, bytes) imported into a fresh workspace."""
    name, data = case
    note(f"{name}: {data[:3000]!r}")
    harness.attempt({name: data})


@default_run(200)
@given(case=st.one_of(csv_files(), csv_files(), jsonl_files()))
def test_mutated_corpora_import_whole_or_are_refused_in_one_line(harness, case):
    check_file(harness, case)


@pytest.mark.slow
@slow_run
@given(case=st.one_of(csv_files(), csv_files(), jsonl_files()))
def test_mutated_corpora_many(harness, case):
    check_file(harness, case)


# --- transcripts ----------------------------------------------------------------------------------------

SPEAKERS = ["Moderator", "Participant 1", "P2", "Facilitator", "INTERVIEWER", "Dr. Smith", "Ann O'Neil", "Mod", ""]
TIMESTAMPS = ["", "[00:12:31] ", "(00:12) ", "[1:02:03.500] ", "[99:99] "]


@st.composite
def turns(draw) -> list[tuple[str, str, str]]:
    out = draw(st.lists(st.tuples(st.sampled_from(SPEAKERS), st.sampled_from(TIMESTAMPS), cell_text), max_size=8))
    if out and draw(st.integers(0, 9)) == 0:  # a very long turn: cut into sentence windows
        i = draw(st.integers(0, len(out) - 1))
        out[i] = (out[i][0], out[i][1], "We met every week and talked. " * draw(st.sampled_from([200, 3_000])))
    return out


@st.composite
def text_transcripts(draw) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(["txt", "txt", "md", "vtt", "srt"]))
    parts = []
    if fmt == "vtt" and draw(st.integers(0, 7)):
        parts.append("WEBVTT\n")
    if fmt in {"txt", "md"} and draw(st.booleans()):
        parts.append("# Focus group 9, transcribed by hand\n#\n")
    for n, (speaker, ts, words) in enumerate(draw(turns()), 1):
        if fmt in {"txt", "md"}:
            parts.append(f"{ts}{speaker + ': ' if speaker else ''}{words}\n" + ("\n" if draw(st.booleans()) else ""))
        else:
            sep = "," if fmt == "srt" else "."
            timing = draw(st.sampled_from([f"00:00:{n:02d}{sep}000 --> 00:00:{n + 1:02d}{sep}500", "00:01 --> 00:02",
                                           "garbage --> x", "00:00:01.000 -> 00:00:02.000"]))
            voice = f"<v {speaker}>" if fmt == "vtt" and speaker and draw(st.booleans()) else (
                f"{speaker}: " if speaker else "")
            parts.append(f"{n if fmt == 'srt' else ''}\n{timing}\n{voice}{words}\n\n")
    text = "".join(parts).replace("\n", draw(st.sampled_from(["\n", "\n", "\r\n", "\r"])))
    return f"focus-group.{fmt}", draw(damaged(encode(text, draw(st.sampled_from(ENCODINGS)))))


_DOCX: dict[str, bytes] = {}


def base_docx() -> bytes:
    if "base" not in _DOCX:
        import docx

        d = docx.Document()
        d.add_paragraph("Moderator: What stops you from taking part?")
        d.add_paragraph("Participant 4: Honestly, the paperwork. And the bus.")
        d.add_paragraph("It only runs twice a day.")
        table = d.add_table(rows=2, cols=2)
        for r, (who, said) in enumerate([("Participant 5", "Same here."), ("Moderator", "Thank you.")]):
            table.cell(r, 0).text, table.cell(r, 1).text = who, said
        buf = io.BytesIO()
        d.save(buf)
        _DOCX["base"] = buf.getvalue()
    return _DOCX["base"]


def members_of(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(info.filename, z.read(info)) for info in z.infolist()]


def build_zip(members: list[tuple[str, bytes]], compression: int) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression=compression) as z:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": a duplicate is one of the mutations
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


COMPRESSIONS = [zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


@st.composite
def member_edits(draw, members: list[tuple[str, bytes]], xml_member: str) -> list[tuple[str, bytes]]:
    """Members removed, renamed, emptied or damaged; the XML one mutated as a tree."""
    out = list(members)
    for op in draw(st.lists(st.sampled_from(["xml", "xml", "bytes", "remove", "rename", "duplicate", "empty"]),
                            max_size=3)):
        if not out:
            break
        i = draw(st.integers(0, len(out) - 1))
        name, data = out[i]
        if op == "xml":
            j = next((k for k, (n, _) in enumerate(out) if n == xml_member), None)
            if j is not None:
                out[j] = (xml_member, draw(xml_edits(out[j][1])))
        elif op == "bytes":
            out[i] = (name, draw(damaged(data)))
        elif op == "remove":
            out.pop(i)
        elif op == "rename":
            out[i] = (draw(st.sampled_from([name.upper(), "../" + name, "/" + name, name.replace("/", "\\"),
                                            "nested/" + name, name + ".bak"])), data)
        elif op == "duplicate":
            out.append((name, draw(damaged(data))))
        elif op == "empty":
            out[i] = (name, b"")
    return out


ATTR_VALUES = ["", "-1", "0", "5", "99999999999999999999", "abc", "1e3", "{D7AA29DA-519B-4946-9B90-253B6DB8FD0A}",
               "d7aa29da-519b-4946-9b90-253b6db8fd0a", "internal://missing.txt", "relative://t.txt",
               "absolute:///etc/passwd", "file:///etc/passwd", "internal://../t.txt", "true", "false", "#GGGGGG",
               "2026-13-45T99:99:99", "\u202e", "😩"]


@st.composite
def xml_edits(draw, data: bytes) -> bytes:
    """An XML member with elements removed, copied, moved or re-attributed, or raw edits that break it."""
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError:
        return draw(damaged(data))
    for op in draw(st.lists(st.sampled_from(["remove", "copy", "attr", "drop-attr", "text", "move"]),
                            min_size=1, max_size=4)):
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        element = elements[draw(st.integers(0, len(elements) - 1))]
        parent = element.getparent()
        if op == "remove" and parent is not None:
            parent.remove(element)
        elif op == "copy" and parent is not None:
            parent.insert(draw(st.integers(0, len(parent))), etree.fromstring(etree.tostring(element)))
        elif op == "move" and parent is not None:
            target = elements[draw(st.integers(0, len(elements) - 1))]
            if element not in target.iterancestors() and target is not element:
                parent.remove(element)
                target.append(element)
        elif op == "attr":
            names = list(element.attrib) or ["guid"]
            element.set(draw(st.sampled_from(names + ["guid", "name", "startPosition", "endPosition", "plainTextPath",
                                                      "targetGUID", "creatingUser", "isCodable"])),
                        draw(st.sampled_from(ATTR_VALUES)))
        elif op == "drop-attr" and element.attrib:
            del element.attrib[draw(st.sampled_from(sorted(element.attrib)))]
        elif op == "text":
            element.text = draw(st.sampled_from(["", "Moderator: hi\nP1: the taxes ate my bonus", "x" * 70_000]))
    out = etree.tostring(root, xml_declaration=True, encoding=draw(st.sampled_from(["utf-8", "utf-8", "utf-16"])))
    raw = draw(st.sampled_from(["", "", "", "entities", "doctype-external", "bytes"]))
    if raw == "entities":  # an entity-expansion bomb in front of the document
        lol = '<!DOCTYPE Project [<!ENTITY a "aaaaaaaaaa">' + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefg", "bcdefgh")) + "]>"
        out = out.replace(b"?>", b"?>" + lol.encode(), 1).replace(b'name="', b'name="&h;', 1)
    elif raw == "doctype-external":
        out = out.replace(b"?>", b'?><!DOCTYPE Project SYSTEM "file:///etc/passwd">', 1)
    elif raw == "bytes":
        out = draw(damaged(out))
    return out


@st.composite
def docx_files(draw) -> tuple[str, bytes]:
    base = base_docx()
    how = draw(st.sampled_from(["bytes", "members", "members", "fields"]))
    if how == "bytes":
        data = draw(damaged(base))
    elif how == "fields":
        data = draw(zip_field_edits(base))
    else:
        data = build_zip(draw(member_edits(members_of(base), "word/document.xml")), draw(st.sampled_from(COMPRESSIONS)))
    return "focus-group.docx", data


@default_run(200)
@given(case=st.one_of(text_transcripts(), text_transcripts(), docx_files()))
def test_mutated_transcripts_import_whole_or_are_refused_in_one_line(harness, case):
    check_file(harness, case)


@pytest.mark.slow
@slow_run
@given(case=st.one_of(text_transcripts(), text_transcripts(), docx_files()))
def test_mutated_transcripts_many(harness, case):
    check_file(harness, case)


# --- .qdpx projects ---------------------------------------------------------------------------------------

USER, CODE, SOURCE = "0f5a2c9e-6b1d-4e7a-8c3b-1d2e3f4a5b6c", "d7aa29da-519b-4946-9b90-253b6db8fd0a", \
    "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
QDE = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="fuzz" origin="fuzz 1.0">
  <Users><User guid="{USER}" name="Coder A"/></Users>
  <CodeBook><Codes>
    <Code guid="5215cc69-b628-4e02-afb9-9beeaee55808" name="Topics" isCodable="false">
      <Code guid="{CODE}" name="Economy" isCodable="true" color="#FFFF00"><Description>jobs</Description></Code>
    </Code>
  </Codes></CodeBook>
  <Sources>
    <TextSource guid="{SOURCE}" name="Interview P1" plainTextPath="internal://t.txt">
      <PlainTextSelection guid="2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091" startPosition="20" endPosition="44"
                          creatingUser="{USER}">
        <Coding guid="6e7f8091-a2b3-4c4d-8e5f-60718293a4b5" creatingUser="{USER}"><CodeRef targetGUID="{CODE}"/></Coding>
      </PlainTextSelection>
    </TextSource>
    <TextSource guid="3c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f6" name="Inline">
      <PlainTextContent>Moderator: and you?
P2: the bus, mostly</PlainTextContent>
    </TextSource>
  </Sources>
</Project>
"""
SOURCE_TEXT = "Moderator: why?\nP1: the taxes ate my bonus 😩 honestly\n"


def base_projects() -> list[tuple[str, list[tuple[str, bytes]]]]:
    bases = [("made here", [("project.qde", QDE.encode()), ("sources/t.txt", SOURCE_TEXT.encode())])]
    minimal = SHARED_DATA / "refi-qda" / "minimal.qdpx"
    if minimal.exists():
        bases.append(("minimal.qdpx", members_of(minimal.read_bytes())))
    return bases


BASES = base_projects()

LOCAL = [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]
CENTRAL = [(4, 2), (6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (34, 2), (42, 4)]
END = [(4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]
FIELD_VALUES = [0, 1, 8, 9, 12, 14, 20, 99, 0x0001, 0x0041, 0x0800, 0x0808, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**20]


def zip_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, width) of the fields of every local header, central header and end record."""
    out = []
    for signature, fields in ((b"PK\x03\x04", LOCAL), (b"PK\x01\x02", CENTRAL), (b"PK\x05\x06", END)):
        at = data.find(signature)
        while at >= 0:
            out += [(at + off, width) for off, width in fields if at + off + width <= len(data)]
            at = data.find(signature, at + 1)
    return out


@st.composite
def zip_field_edits(draw, data: bytes) -> bytes:
    """A zip archive with header fields rewritten: flags, methods, sizes, CRCs, offsets, counts."""
    fields = zip_fields(data)
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        if not fields:
            break
        off, width = fields[draw(st.integers(0, len(fields) - 1))]
        value = draw(st.sampled_from(FIELD_VALUES) | st.integers(0, 2 ** (8 * width) - 1))
        if draw(st.booleans()):
            value = int.from_bytes(buf[off:off + width], "little") ^ (1 << draw(st.integers(0, 8 * width - 1)))
        buf[off:off + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    return bytes(buf)


@st.composite
def source_edits(draw, members: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Sources re-encoded (with and without BOM), holding NULs, or cut in the middle of a character."""
    out = []
    for name, data in members:
        if name.lower().startswith("sources/") and draw(st.booleans()):
            text = data.decode("utf-8", errors="replace")
            data = encode(text, draw(st.sampled_from(ENCODINGS)))
            if draw(st.integers(0, 3)) == 0:
                data = draw(damaged(data))
        out.append((name, data))
    return out


@st.composite
def qdpx_files(draw) -> tuple[str, bytes]:
    label, members = draw(st.sampled_from(BASES))
    note(f"base: {label}")
    how = draw(st.sampled_from(["xml", "xml", "sources", "members", "zip-bytes", "zip-fields", "zip-fields"]))
    if how == "xml":
        members = [(n, draw(xml_edits(d)) if n == "project.qde" else d) for n, d in members]
    elif how == "sources":
        members = draw(source_edits(members))
    elif how == "members":
        members = draw(member_edits(members, "project.qde"))
    data = build_zip(members, draw(st.sampled_from(COMPRESSIONS)))
    if how == "zip-bytes":
        data = draw(damaged(data))
    elif how == "zip-fields":
        data = draw(zip_field_edits(data))
    return "project.qdpx", data


def lzma_inside(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return any(info.compress_type == zipfile.ZIP_LZMA for info in z.infolist())
    except Exception:
        return False


def check_project(harness, case):
    name, data = case
    note(f"{name}: {len(data)} bytes")
    # A damaged zip directory can make zipfile allocate up to the member limit at once (see KNOWN's
    # test below), so projects are read here with a 4 MB limit: the bound then holds whatever the damage.
    harness.attempt({name: data}, project=True, max_member_mb=4)


@default_run(200)
@given(case=qdpx_files())
def test_mutated_qdpx_projects_import_whole_or_are_refused_in_one_line(harness, case):
    check_project(harness, case)


@pytest.mark.slow
@slow_run
@given(case=qdpx_files())
def test_mutated_qdpx_projects_many(harness, case):
    check_project(harness, case)


# --- the harness itself -------------------------------------------------------------------------------

def test_the_unmutated_inputs_import(harness):
    """The bases the mutations start from are good files: else the fuzzing tests only refusals."""
    for label, members in BASES:
        assert isinstance(harness.attempt({"project.qdpx": build_zip(members, zipfile.ZIP_DEFLATED)}), ImportReport), label
    assert isinstance(harness.attempt({"focus-group.docx": base_docx()}), ImportReport)
    csv_text = "id,group,speaker,coder,codes,text\n1,FG1,P1,ann,Barrier,We run a choir.\n"
    assert isinstance(harness.attempt({"coded.csv": csv_text.encode("utf-16")}), ImportReport)


def test_the_shared_minimal_project_is_among_the_bases(harness):
    """minimal.qdpx (../shared/data/refi-qda) is fuzzed too where present; this says so when it is absent."""
    path = shared("refi-qda", "minimal.qdpx")
    assert any(label == "minimal.qdpx" for label, _ in BASES)
    assert isinstance(harness.attempt({"minimal.qdpx": path.read_bytes()}, project=True), ImportReport)


def test_the_harness_catches_a_store_changed_by_a_refused_import(harness, monkeypatch):
    """An importer that wrote before refusing must fail the check (the store is compared, not trusted)."""
    real = import_files

    def leaky(ws, paths, **kw):
        ws.store.add_document("leaked", "text", "text")
        return real(ws, paths, **kw)

    monkeypatch.setattr(sys.modules[__name__], "import_files", leaky)
    with pytest.raises(AssertionError, match="changed the store"):
        harness.attempt({"bad.csv": b"no text column\n1\n"})


# --- what the fuzzing found and is fixed, kept as plain tests -----------------------------------------------

def test_found_a_member_flagged_encrypted_is_one_line_not_a_runtime_error(harness):
    data = bytearray(qdpx_bytes(QDE))
    central = data.rfind(b"PK\x01\x02")  # sources/t.txt's central header: flag bit 0, encrypted
    data[central + 8] |= 0x01
    outcome = harness.attempt({"locked.qdpx": bytes(data)}, project=True)
    assert isinstance(outcome, InputError) and "sources/t.txt is encrypted" in str(outcome)


@pytest.mark.parametrize("at,value", [(0, b"\xff"), (5, b"\x00\x00\x00\x00\x00\x00")], ids=["bad-options", "corrupt"])
def test_found_a_damaged_lzma_member_is_one_line_not_an_lzma_error(harness, at, value):
    data = bytearray(build_zip([("project.qde", QDE.encode()), ("sources/t.txt", SOURCE_TEXT.encode())],
                               zipfile.ZIP_LZMA))
    props = 30 + len("project.qde") + 4  # the LZMA properties of project.qde, then its stream
    data[props + at:props + at + len(value)] = value
    outcome = harness.attempt({"lzma.qdpx": bytes(data)}, project=True, memory_limit=None)
    assert isinstance(outcome, InputError) and "project.qde is packed with zip method 14" in str(outcome)


def test_found_a_member_whose_name_is_cut_to_nothing_is_one_line_not_an_index_error(harness):
    data = bytearray(qdpx_bytes(QDE))
    central = data.find(b"PK\x01\x02")  # project.qde's central header: file name length 0
    data[central + 28:central + 30] = b"\x00\x00"
    outcome = harness.attempt({"nameless.qdpx": bytes(data)}, project=True)
    assert isinstance(outcome, InputError) and "nameless.qdpx" in str(outcome)


# --- failures found here whose fix lies outside autocode/io (see KNOWN) ------------------------------------

def qdpx_bytes(qde: str) -> bytes:
    return build_zip([("project.qde", qde.encode()), ("sources/t.txt", SOURCE_TEXT.encode())], zipfile.ZIP_DEFLATED)


def test_a_project_with_two_sources_of_one_name_keeps_both_and_says_so(ws, tmp_path):
    path = tmp_path / "twins.qdpx"
    path.write_bytes(qdpx_bytes(QDE.replace('name="Inline"', 'name="Interview P1"')))
    report = import_files(ws, [path])
    assert set(ws.store.document_names()) >= {"Interview P1", "Interview P1 (2)"}
    assert any("Interview P1 (2)" in n for f in report.files for n in f.get("notes", []) + f.get("warnings", [])) \
        or "Interview P1 (2)" in str(report.files)


def test_a_two_coder_export_imports_into_a_new_workspace(ws, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("id,group,speaker,coder,codes,text\n1,FG1,,ann,Barrier,hello there\n1,FG1,,bob,Enabler,hello there\n"
                    "2,FG1,,ann,,and more\n2,FG1,,bob,Barrier,and more\n", encoding="utf-8")
    import_files(ws, [path])
    assert len(ws.store.segments(document="FG1")) == 2
    assert sorted(len(ws.store.codings(c)) for c in ("ann", "bob")) == [1, 2]


def test_known_a_damaged_directory_does_not_allocate_the_member_limit(ws, tmp_path):
    data = bytearray(qdpx_bytes(QDE))
    central = data.find(b"PK\x01\x02")  # the central header of project.qde: its packed size says 4 GB
    data[central + 20:central + 24] = (0xFFFFFFFF).to_bytes(4, "little")
    path = tmp_path / "damaged.qdpx"
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        try:
            import_files(ws, [path])  # zipfile reads to the end of the deflate stream: this one imports
        except InputError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MB"


def test_known_an_lzma_member_does_not_allocate_its_declared_dictionary(ws, tmp_path):
    data = bytearray(build_zip([("project.qde", QDE.encode()), ("sources/t.txt", SOURCE_TEXT.encode())],
                               zipfile.ZIP_LZMA))
    props = 30 + len("project.qde") + 4 + 1  # local header, name, LZMA version and size, lc/lp/pb
    data[props:props + 4] = (256 * 2**20).to_bytes(4, "little")  # a 256 MB dictionary
    path = tmp_path / "lzma.qdpx"
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        try:
            import_files(ws, [path])
        except InputError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MB"
