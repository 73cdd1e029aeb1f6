"""Coded corpora as CSV or JSONL: one row per segment with ``text`` and ``codes``.

Columns: ``text`` (required); ``codes`` (``;``-separated code names or paths; empty means
the coder applied no code; a file without the column is a set of uncoded segments);
optional ``id``, ``group``, ``speaker``, ``coder``. Leading lines starting with ``#`` are
comments (the demo corpus says where it came from there). Files are read line by line
(:func:`csv_rows`, :func:`jsonl_rows`); :mod:`.rowstream` hands the same rows out in chunks.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from .textfile import _BOMS, NUL_HINT, _looks_wide, line_of, read_bytes

RESAVE = "save the file as UTF-8 (in Excel: Save As > CSV UTF-8)"

COLUMNS = ("id", "group", "speaker", "coder", "codes", "text")


@dataclass
class Row:
    """One segment as read from a file; ``codes`` is None when the file has no codes column."""

    text: str
    line: int
    id: str | None = None
    group: str | None = None
    speaker: str | None = None
    coder: str | None = None
    codes: list[str] | None = None


def split_codes(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [c.strip() for c in str(value).split(";") if c.strip()]


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _delimiter(header_line: str) -> str:
    """``,``; or a tab (Excel's "Unicode Text" is tab-separated UTF-16) or ``;`` (Excel in much of
    Europe) when only that splits the header into a ``text`` column."""
    for delimiter in (",", "\t", ";"):
        try:
            cells = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:
            continue
        if "text" in {c.strip().lower() for c in cells}:
            return delimiter
    return ","


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a field is over {csv.field_size_limit():,} characters (an unbalanced quote swallowing the rows below?)"
    return f"malformed CSV ({exc})"


def _row(rec: dict, line: int, has_codes: bool, path: Path) -> Row:
    if any("\x00" in v for v in _strings(rec)):  # a JSON "\u0000" (raw NUL bytes never get this far)
        raise InputError("the row holds a NUL character (\\x00)", file=path, line=line, hint=NUL_HINT)
    text = rec.get("text")
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text.strip():
        raise InputError("empty 'text'", file=path, line=line, hint="remove the row or fill in the segment")
    return Row(
        text=text.strip(), line=line, id=_clean(rec.get("id")), group=_clean(rec.get("group")),
        speaker=_clean(rec.get("speaker")), coder=_clean(rec.get("coder")),
        codes=split_codes(rec.get("codes")) if has_codes else None,
    )


def _strings(value: object) -> Iterable[str]:
    """Every string in a row as read, keys too (JSON nests lists and objects)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(map(str, item))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_TEXT_ENCODINGS = {"utf-8": "utf-8-sig", "utf-16-le": "utf-16", "utf-16-be": "utf-16",
                   "utf-32-le": "utf-32", "utf-32-be": "utf-32"}


def _encoding(path: Path) -> tuple[str, str | None]:
    """(Python codec, the BOM's label or None) for a text file; refused like :func:`.textfile.decode_text`."""
    head = read_bytes(path, 4)
    for mark, name, label in _BOMS:
        if head.startswith(mark):
            return _TEXT_ENCODINGS[name], label
    if _looks_wide(read_bytes(path, 4096)):
        raise InputError("the file looks like UTF-16 text without a byte-order mark, or is not text at all",
                         file=path, line=1, hint=RESAVE)
    return "utf-8", None


class _Lines:
    """Lines of a text file with their numbers; bytes that do not decode, or a NUL, are an InputError."""

    def __init__(self, path: Path) -> None:
        self.path, self.line, self.blank = path, 0, True  # blank: every line so far is whitespace
        self.encoding, self.bom = _encoding(path)

    def __iter__(self) -> Iterator[str]:
        with self.path.open("r", encoding=self.encoding, newline="") as fh:
            while True:
                try:
                    text = fh.readline()
                except UnicodeDecodeError:
                    what = f"not valid {self.bom} text (it starts with a {self.bom} byte-order mark)" if self.bom \
                        else "not UTF-8 text"
                    raise InputError(what, file=self.path, line=_bad_line(self.path, self.encoding),
                                     hint=RESAVE) from None
                if not text:
                    return
                self.line += 1
                self.blank = self.blank and not text.strip()
                if "\x00" in text:
                    raise InputError("the text holds a NUL character (\\x00)", file=self.path, line=self.line,
                                     hint=NUL_HINT)
                yield text


def _bad_line(path: Path, encoding: str) -> int:
    """The line of the first byte that does not decode, found reading the file block by block."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with path.open("rb") as fh:
        while block := fh.read(1 << 16):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                text = exc.object[:exc.start].decode(encoding, errors="replace")
                return line + line_of(text) - 1
            line += line_of(text) - 1
    return line


def csv_rows(path: Path) -> Iterator[Row]:
    """The rows of a CSV file (comment lines above the header skipped), read line by line."""
    lines = _Lines(path)
    it = iter(lines)
    header_line = next((ln for ln in it if ln.strip() and not ln.lstrip().startswith("#")), None)
    if header_line is None:
        if lines.blank:
            raise InputError("the file is empty", file=path, hint="export the coded segments again")
        raise InputError("the file has no rows, only comments", file=path, hint="add a header row with a 'text' column")
    skip = lines.line - 1

    def body() -> Iterator[str]:
        yield header_line
        yield from it

    reader = csv.DictReader(body(), delimiter=_delimiter(header_line), strict=True)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError(_csv_problem(exc), file=path, line=skip + 1, hint="check quoting") from None
    check_header(header, path, skip + 1)
    reader.fieldnames = header
    has_codes = "codes" in header
    n = 0
    try:
        for n, rec in enumerate(reader, 1):
            line = skip + reader.line_num
            if None in rec:
                raise InputError(f"row has {len(header) + len(rec[None])} fields, the header has {len(header)}",
                                 file=path, line=line, hint="quote fields that contain commas")
            if rec.get("text") is None:
                raise InputError("row has too few fields", file=path, line=line, hint="check the commas on this line")
            yield _row(rec, line, has_codes, path)
    except csv.Error as exc:
        raise InputError(_csv_problem(exc), file=path, line=skip + reader.line_num, hint="check quoting") from None
    if not n:
        raise InputError("the file has a header but no rows: nothing to import", file=path, line=skip + 1,
                         hint="add the segments below the header, or leave the file out of the import")


def check_header(header: list[str], path: Path, line: int) -> None:
    if "text" not in header:
        raise InputError(f"no 'text' column (columns: {', '.join(header) or 'none'})", file=path, line=line,
                         hint="name the column holding the segments 'text'")
    twice = next((h for h in COLUMNS if header.count(h) > 1), None)
    if twice:
        raise InputError(f"the column {twice!r} appears {header.count(twice)} times", file=path, line=line,
                         hint="keep one column of that name, or rename the others")


def jsonl_rows(path: Path) -> Iterator[Row]:
    """The rows of a JSONL file, one object a line (blank and ``#`` lines skipped), read line by line."""
    lines = _Lines(path)
    n = 0
    for raw in lines:
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        rec = _json_object(raw, path, lines.line)
        n += 1
        yield _row(rec, lines.line, "codes" in rec, path)
    if not n:
        raise InputError("the file has no rows", file=path, hint="add the segments, or leave the file out")


def _json_object(raw: str, path: Path, line: int) -> dict[str, Any]:
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", file=path, line=line, hint="one JSON object per line") from None
    except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; nesting deeper than Python's stack
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise InputError(f"not valid JSON here ({problem})", file=path, line=line,
                         hint="one flat JSON object per line") from None
    if not isinstance(rec, dict):
        raise InputError("a line is not a JSON object", file=path, line=line, hint="write {\"text\": ..., \"codes\": ...}")
    rec = {str(k).lower(): v for k, v in rec.items()}
    if "text" not in rec:
        raise InputError("no 'text' field", file=path, line=line, hint="each object needs a 'text' field")
    return rec


def read_csv(path: str | Path) -> list[Row]:
    """Every row of a CSV file (:func:`csv_rows`), ids checked."""
    return _ids_checked(csv_rows(Path(path)), Path(path))


def read_jsonl(path: str | Path) -> list[Row]:
    """Every row of a JSONL file (:func:`jsonl_rows`), ids checked."""
    return _ids_checked(jsonl_rows(Path(path)), Path(path))


def _ids_checked(rows: Iterable[Row], path: Path) -> list[Row]:
    check = IdCheck(path)
    out = []
    for row in rows:
        check.check(row)
        out.append(row)
    return out


class IdCheck:
    """Duplicate ids (per group and coder), kept as 8-byte digests so memory stays small; ``count``: rows seen."""

    def __init__(self, path: Path) -> None:
        self.path, self.count = path, 0
        self.first: dict[int, int] = {}

    def check(self, row: Row) -> None:
        self.count += 1
        if row.id is None:
            return
        key = json.dumps([row.group, row.id, row.coder]).encode()
        digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")
        if digest in self.first:
            raise InputError(f"duplicate id {row.id!r} (first on line {self.first[digest]})", file=self.path,
                             line=row.line, hint="give every segment its own id")
        self.first[digest] = row.line


def read_rows(path: str | Path) -> list[Row]:
    p = Path(path)
    if p.suffix.lower() in {".jsonl", ".ndjson"}:
        return read_jsonl(p)
    return read_csv(p)


def write_rows(rows: Iterable[dict], path: str | Path, fmt: str = "csv", columns: Iterable[str] = COLUMNS) -> None:
    """Write dict rows; ``codes`` may be a list (joined with ';' in CSV)."""
    cols = list(columns)
    p = Path(path)
    with p.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "jsonl":
            for r in rows:
                fh.write(json.dumps({k: r.get(k) for k in cols if k in r}, ensure_ascii=False) + "\n")
            return
        writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            out = dict(r)
            for k, v in out.items():
                if isinstance(v, (list, tuple)):
                    out[k] = ";".join(map(str, v))
                elif isinstance(v, dict):
                    out[k] = json.dumps(v, ensure_ascii=False)
            writer.writerow(out)
