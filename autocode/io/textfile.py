"""Decoding a researcher's text file, one rule for transcripts, subtitles and coded corpora.

Accepted: UTF-8 with or without a byte-order mark, and UTF-16 or UTF-32 with one (what
Notepad and Excel write as "Unicode"; the same rule as for sources inside a .qdpx). Refused,
with one line naming the file and line and what to do: bytes that do not decode, UTF-16
without a byte-order mark, and any NUL character (a NUL is never spoken text: it is a damaged
file or a binary one, and stored it would reach every export).
"""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import InputError

_BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
NUL_HINT = "the file is damaged or is not plain text: remove the NUL characters, or export it again, and re-import"


def read_bytes(path: str | Path, limit: int = -1) -> bytes:
    """The bytes of a file (the first ``limit`` of them), or InputError for a folder or an unreadable file."""
    p = Path(path)
    if p.is_dir():
        raise InputError("this is a folder, not a file", file=p, hint="name the files inside it")
    try:
        with p.open("rb") as fh:
            return fh.read(limit)
    except FileNotFoundError:
        raise InputError("no such file", file=p, hint="check the path") from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc.__class__.__name__})", file=p,
                         hint="check that it exists and that you may read it") from None


def line_of(prefix: str) -> int:
    """The 1-based line on which the text after ``prefix`` starts (LF, CRLF and CR line ends)."""
    return prefix.count("\n") + prefix.count("\r") - prefix.count("\r\n") + 1


def _looks_wide(data: bytes) -> bool:
    """UTF-16 or UTF-32 without a byte-order mark: mostly-ASCII text has a NUL in every other byte."""
    return len(data) >= 4 and data.count(0) * 3 >= len(data)


def decode_text(data: bytes, path: str | Path, *, resave: str) -> str:
    """The text of a file's bytes, its BOM dropped; InputError naming ``path`` and the line otherwise.

    ``resave`` is the hint that says how to save the file as UTF-8 in the program it came from.
    """
    encoding, label, body, bom = "utf-8", "UTF-8", data, False
    for mark, name, shown in _BOMS:
        if data.startswith(mark):
            encoding, label, body, bom = name, shown, data[len(mark):], True
            break
    if not bom and _looks_wide(data):
        raise InputError("the file looks like UTF-16 text without a byte-order mark, or is not text at all",
                         file=path, line=1, hint=resave)
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = line_of(body[: exc.start].decode(encoding, errors="replace"))
        what = f"not valid {label} text (it starts with a {label} byte-order mark)" if bom else "not UTF-8 text"
        raise InputError(what, file=path, line=line, hint=resave) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise InputError("the text holds a NUL character (\\x00)", file=path, line=line_of(text[:nul]), hint=NUL_HINT)
    return text
