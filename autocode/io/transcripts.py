"""Reading transcripts into speaker turns: plain text, .docx, WebVTT and SRT.

Each reader returns a :class:`Transcript`: the document's full text and its turns, each
with exact character offsets into that text (so codings can go back to a QDA suite).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .textfile import decode_text, read_bytes

TIMESTAMP = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
# "[00:12:31] Participant 3: text", "Moderator: text", "P3 (00:12): text"
TURN_RE = re.compile(
    rf"^[ \t]*(?:[\[(](?P<ts>{TIMESTAMP})[\])][ \t]*)?"
    r"(?P<speaker>[A-Z][\w'’.\- ]{0,40}?(?: ?\d{1,3})?)"
    rf"(?:[ \t]*[\[(](?P<ts2>{TIMESTAMP})[\])])?[ \t]*:[ \t]+(?P<text>\S.*)$"
)


@dataclass
class Turn:
    speaker: str | None
    start: int  # offsets into Transcript.text of the spoken words, end exclusive
    end: int
    timestamp: str | None = None


@dataclass
class Transcript:
    name: str
    text: str
    format: str
    turns: list[Turn] = field(default_factory=list)

    def turn_text(self, turn: Turn) -> str:
        return self.text[turn.start : turn.end]


def read_text_file(path: Path) -> str:
    """Text with LF line ends: UTF-8 (BOM allowed) or UTF-16/UTF-32 with a BOM (see :mod:`.textfile`);
    other encodings and NUL characters are a clear error."""
    text = decode_text(read_bytes(path), path,
                       resave="re-save the file as UTF-8 (in Word: Save As > Plain Text > Unicode (UTF-8))")
    if not text.strip():
        raise InputError("the file is empty", file=path, hint="check that you exported the transcript")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_turns(text: str, name: str, fmt: str) -> Transcript:
    """Speaker turns from text: a ``Speaker: words`` line starts a turn.

    Leading ``#`` lines are comments. How unlabelled lines are read depends on the text:
    where most lines carry a speaker label (a typed focus-group transcript), an unlabelled
    line continues the turn above it; where most do not (a think-aloud log with the odd
    ``MODERATOR:`` line, a social-media export), every line is its own turn; text with
    no labels at all is cut into paragraphs at blank lines (or lines, if it has none).
    """
    doc = Transcript(name=name, text=text, format=fmt)
    lines: list[tuple[int, str, re.Match | None]] = []
    offset = 0
    in_header = True
    for line in text.split("\n"):
        line_start = offset
        offset += len(line) + 1
        stripped = line.strip()
        if in_header and (stripped.startswith("#") or not stripped):
            continue
        in_header = False
        m = TURN_RE.match(line)
        if m and stripped.lower().startswith(("http", "note")):
            m = None
        lines.append((line_start, line, m))
    labelled = sum(1 for _, ln, m in lines if m)
    unlabelled = sum(1 for _, ln, m in lines if not m and ln.strip())
    blank = any(not ln.strip() for _, ln, _ in lines)
    mode = "continue" if labelled >= unlabelled and labelled else ("paragraph" if not labelled and blank else "line")
    current: Turn | None = None
    for line_start, line, m in lines:
        stripped = line.strip()
        if m:
            current = Turn(speaker=" ".join(m.group("speaker").split()), start=line_start + m.start("text"),
                           end=line_start + len(line.rstrip()), timestamp=m.group("ts") or m.group("ts2"))
            doc.turns.append(current)
        elif not stripped:
            if mode == "paragraph" or (current is not None and current.speaker is None):
                current = None
        elif current is not None and (mode == "continue" or (mode == "paragraph" and current.speaker is None)):
            current.end = line_start + len(line.rstrip())
        else:
            current = Turn(speaker=None, start=line_start + (len(line) - len(line.lstrip())),
                           end=line_start + len(line.rstrip()))
            doc.turns.append(current)
            if mode == "line":
                current = None
    if not doc.turns:
        raise InputError("no text found", file=name, hint="a transcript needs lines like 'Participant 3: ...'")
    return doc


def read_plain(path: Path) -> Transcript:
    return parse_turns(read_text_file(path), str(path), "text")


#: The most a .docx may unpack to, all its parts together (python-docx holds them all in memory).
DOCX_MAX_BYTES = 200 * 2**20
#: A part over 1 MiB that unpacks to more than this many times its packed size is a zip bomb.
DOCX_MAX_RATIO = 200
_DOCX_HINT = ("open it in Word and save it again as a Word Document (.docx), "
              "or save the transcript as plain text (.txt) and import that")
_NOT_WORD = "not a readable Word document"
_OTHER_PACKAGES = (("xl/workbook.xml", "it is an Excel workbook"), ("ppt/presentation.xml", "it is a PowerPoint file"),
                   ("content.xml", "it is an OpenDocument file (LibreOffice, Google Docs' .odt)"))


def _docx_refusal(path: Path) -> InputError | None:
    """Why ``path`` cannot be read as a .docx, before python-docx is given it (None: try it)."""
    head = read_bytes(path, limit=8)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return InputError(f"{_NOT_WORD}: it is an old Word 97-2003 .doc (or another binary Office file)", file=path,
                          hint=_DOCX_HINT)
    if not zipfile.is_zipfile(path):
        return InputError(f"{_NOT_WORD}: not a zip archive, as every .docx is", file=path, hint=_DOCX_HINT)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError):
        return InputError(f"{_NOT_WORD}: the zip archive is damaged", file=path, hint=_DOCX_HINT)
    names = {info.filename.replace("\\", "/").lstrip("/").lower() for info in infos}
    if "word/document.xml" not in names:
        why = next((what for member, what in _OTHER_PACKAGES if member in names), "it holds no word/document.xml")
        return InputError(f"{_NOT_WORD}: {why}", file=path, hint=_DOCX_HINT)
    odd = next((info for info in infos if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)), None)
    if odd is not None:  # Open Packaging allows only these two; LZMA would allocate what its header asks for
        return InputError(f"{_NOT_WORD}: {odd.filename} is packed with a method Word does not use "
                          f"(zip method {odd.compress_type})", file=path, hint=_DOCX_HINT)
    on_disk = path.stat().st_size
    if any(info.header_offset + info.compress_size > on_disk for info in infos):  # zipfile would allocate that much
        return InputError(f"{_NOT_WORD}: the zip archive is damaged (a part is larger than the file)", file=path,
                          hint=_DOCX_HINT)
    total = sum(info.file_size for info in infos)
    if total > DOCX_MAX_BYTES:
        return InputError(f"{_NOT_WORD}: it unpacks to {total / 2**20:.0f} MB, over the limit of "
                          f"{DOCX_MAX_BYTES / 2**20:.0f} MB", file=path,
                          hint="save the transcript as plain text (.txt) and import that")
    for info in infos:
        if info.file_size > 2**20 and info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1):
            return InputError(f"{_NOT_WORD}: {info.filename} unpacks to "
                              f"{info.file_size / max(info.compress_size, 1):.0f} times its packed size (a zip bomb?)",
                              file=path, hint=_DOCX_HINT)
    return None


def read_docx(path: Path) -> Transcript:
    """Paragraphs (and speaker | text table rows) of a Word document; a file that is not one, or is
    damaged, is one line naming it."""
    refusal = _docx_refusal(path)
    if refusal is not None:
        raise refusal
    import docx  # python-docx

    try:
        document = docx.Document(str(path))
        paragraphs = [p.text for p in document.paragraphs]
        for table in document.tables:  # transcripts are sometimes laid out as a speaker | text table
            for row in table.rows:
                cells = [c.text.strip() for c in row.cells]
                if len(cells) >= 2 and cells[0] and cells[1]:
                    paragraphs.append(f"{cells[0]}: {cells[1]}")
    except Exception:  # python-docx and lxml raise many kinds (KeyError, AttributeError, XMLSyntaxError, ...)
        raise InputError(f"{_NOT_WORD}: it is damaged or not a Word document inside", file=path,
                         hint=_DOCX_HINT) from None
    text = "\n".join(paragraphs).replace("\r\n", "\n").replace("\r", "\n")  # XML holds no NUL
    if not text.strip():
        raise InputError("the document has no text", file=path)
    return parse_turns(text, str(path), "docx")


_CUE_TIME = re.compile(r"^(?P<start>[\d:.,]+)\s+-->\s+(?P<end>[\d:.,]+)")
_VOICE = re.compile(r"^<v(?:\.[\w.]+)?\s+(?P<speaker>[^>]+)>(?P<text>.*?)(?:</v>)?$", re.S)
_TAGS = re.compile(r"</?[^<>]+>")  # [^<>]: linear on "<<<<..."


def read_subtitles(path: Path) -> Transcript:
    """WebVTT or SRT cues; consecutive cues by the same speaker are one turn.

    Speakers come from ``<v Name>`` (WebVTT) or a ``Name:`` prefix in the cue text.
    The document text is written as ``[start] Speaker: words`` paragraphs.
    """
    raw = read_text_file(path)
    fmt = "vtt" if path.suffix.lower() == ".vtt" else "srt"
    if fmt == "vtt" and not raw.lstrip().startswith("WEBVTT"):
        raise InputError("not a WebVTT file (no WEBVTT header)", file=path, hint="check the export, or rename it .srt/.txt")
    cues: list[tuple[str, str | None, str]] = []
    block_line = 1
    for block in re.split(r"\n\s*\n", raw.strip()):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        idx = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if idx is None:
            block_line += block.count("\n") + 2
            continue
        m = _CUE_TIME.match(lines[idx].strip())
        if not m:
            raise InputError(f"bad cue timing {lines[idx].strip()!r}", file=path, line=block_line + idx,
                             hint="timings look like 00:01:02.500 --> 00:01:05.000")
        body = " ".join(ln.strip() for ln in lines[idx + 1 :])
        speaker = None
        v = _VOICE.match(body)
        if v:
            speaker, body = v.group("speaker").strip(), v.group("text")
        body = _TAGS.sub("", body).strip()
        if speaker is None:
            t = TURN_RE.match(body)
            if t:
                speaker, body = " ".join(t.group("speaker").split()), t.group("text").strip()
        start = m.group("start").replace(",", ".").split(".")[0]
        if body:
            cues.append((start, speaker, body))
        block_line += block.count("\n") + 2
    if not cues:
        raise InputError("no subtitle cues found", file=path, hint="check that this is a .vtt or .srt file")
    merged: list[list] = []
    for start, speaker, body in cues:
        if merged and merged[-1][1] == speaker and speaker is not None:
            merged[-1][2] += " " + body
        else:
            merged.append([start, speaker, body])
    parts, turns, pos = [], [], 0
    for start, speaker, body in merged:
        prefix = f"[{start}] {speaker}: " if speaker else f"[{start}] "
        turns.append(Turn(speaker, pos + len(prefix), pos + len(prefix) + len(body), start))
        parts.append(prefix + body)
        pos += len(prefix) + len(body) + 2
    return Transcript(name=str(path), text="\n\n".join(parts), format=fmt, turns=turns)


READERS = {".txt": read_plain, ".text": read_plain, ".md": read_plain, ".docx": read_docx,
           ".vtt": read_subtitles, ".srt": read_subtitles}


def read_transcript(path: str | Path) -> Transcript:
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        raise InputError(f"not a transcript format autocode reads ({p.suffix or 'no extension'})", file=p,
                         hint="use .txt, .docx, .vtt or .srt")
    return reader(p)
