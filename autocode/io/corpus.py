"""Coded corpora as CSV or JSONL: one row per segment with ``text`` and ``codes``.

Columns: ``text`` (required); ``codes`` (``;``-separated code names or paths; empty means
the coder applied no code; a file without the column is a set of uncoded segments);
optional ``id``, ``group``, ``speaker``, ``coder``. Leading lines starting with ``#`` are
comments (the demo corpus says where it came from there).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .textfile import NUL_HINT, decode_text, read_bytes

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


def _decode(path: Path) -> str:
    """UTF-8 (BOM allowed) or UTF-16/UTF-32 with a BOM, no NUL characters (see :mod:`.textfile`)."""
    text = decode_text(read_bytes(path), path, resave="save the file as UTF-8 (in Excel: Save As > CSV UTF-8)")
    if not text.strip():
        raise InputError("the file is empty", file=path, hint="export the coded segments again")
    return text


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


def read_csv(path: str | Path) -> list[Row]:
    p = Path(path)
    text = _decode(p)
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and (lines[skip].lstrip().startswith("#") or not lines[skip].strip()):
        skip += 1
    body = "".join(lines[skip:])
    if not body.strip():
        raise InputError("the file has no rows, only comments", file=p, hint="add a header row with a 'text' column")
    reader = csv.DictReader(io.StringIO(body, newline=""), delimiter=_delimiter(lines[skip]), strict=True)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError(_csv_problem(exc), file=p, line=skip + 1, hint="check quoting") from None
    if "text" not in header:
        raise InputError(f"no 'text' column (columns: {', '.join(header) or 'none'})", file=p, line=skip + 1,
                         hint="name the column holding the segments 'text'")
    twice = next((h for h in COLUMNS if header.count(h) > 1), None)
    if twice:
        raise InputError(f"the column {twice!r} appears {header.count(twice)} times", file=p, line=skip + 1,
                         hint="keep one column of that name, or rename the others")
    reader.fieldnames = header
    has_codes = "codes" in header
    rows: list[Row] = []
    try:
        for rec in reader:
            line = skip + reader.line_num
            if None in rec:
                raise InputError(f"row has {len(header) + len(rec[None])} fields, the header has {len(header)}",
                                 file=p, line=line, hint="quote fields that contain commas")
            text_value = rec.get("text")
            if text_value is None:
                raise InputError("row has too few fields", file=p, line=line, hint="check the commas on this line")
            rows.append(_row(rec, line, has_codes, p))
    except csv.Error as exc:
        raise InputError(_csv_problem(exc), file=p, line=skip + reader.line_num, hint="check quoting") from None
    if not rows:
        raise InputError("the file has a header but no rows: nothing to import", file=p, line=skip + 1,
                         hint="add the segments below the header, or leave the file out of the import")
    return _checked(rows, p)


def read_jsonl(path: str | Path) -> list[Row]:
    p = Path(path)
    text = _decode(p)
    rows: list[Row] = []
    has_codes = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON ({exc.msg})", file=p, line=lineno, hint="one JSON object per line") from None
        except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; nesting deeper than Python's stack
            problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raise InputError(f"not valid JSON here ({problem})", file=p, line=lineno,
                             hint="one flat JSON object per line") from None
        if not isinstance(rec, dict):
            raise InputError("a line is not a JSON object", file=p, line=lineno, hint="write {\"text\": ..., \"codes\": ...}")
        rec = {str(k).lower(): v for k, v in rec.items()}
        if "text" not in rec:
            raise InputError("no 'text' field", file=p, line=lineno, hint="each object needs a 'text' field")
        if has_codes is None:
            has_codes = "codes" in rec
        rows.append(_row(rec, lineno, "codes" in rec, p))
    if not rows:
        raise InputError("the file has no rows", file=p)
    return _checked(rows, p)


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


def _checked(rows: list[Row], path: Path) -> list[Row]:
    seen: dict[tuple[str | None, str, str | None], int] = {}
    for row in rows:
        if row.id is None:
            continue
        key = (row.group, row.id, row.coder)
        if key in seen:
            raise InputError(f"duplicate id {row.id!r} (first on line {seen[key]})", file=path, line=row.line,
                             hint="give every segment its own id")
        seen[key] = row.line
    return rows


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
