"""Segment files read in chunks: CSV, JSONL or Parquet, one row per segment, in bounded memory.

The same columns and checks as :mod:`.corpus` (``text`` required; optional ``id``, ``group``,
``speaker``, ``coder``, ``codes``; one line naming the file and line for a bad row), but rows
come out ``chunk_size`` at a time and the file is never held whole. Parquet "lines" are row
numbers counted from 1 (the file has no lines).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Self

from ..errors import InputError
from .corpus import COLUMNS, Row, _csv_problem, _delimiter, _row
from .textfile import _BOMS, NUL_HINT, _looks_wide, line_of, read_bytes

ROW_SUFFIXES = {".csv", ".jsonl", ".ndjson", ".parquet"}
RESAVE = "save the file as UTF-8 (in Excel: Save As > CSV UTF-8)"


def iter_chunks(path: str | Path, chunk_size: int = 2000) -> Iterator[list[Row]]:
    """Rows of a CSV, JSONL or Parquet file, ``chunk_size`` at a time; InputError for a bad row."""
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, not {chunk_size}", hint="use --chunk-size 2000")
    p = Path(path)
    suffix = p.suffix.lower()
    rows = _parquet(p, chunk_size) if suffix == ".parquet" else _jsonl(p) if suffix in {".jsonl", ".ndjson"} else _csv(p)
    seen = _Seen(p)
    chunk: list[Row] = []
    for row in rows:
        seen.check(row)
        chunk.append(row)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
    if not seen.count:
        raise InputError("the file has no rows", file=p, hint="add the segments, or leave the file out")


class _Seen:
    """Duplicate ids (per group and coder), kept as 8-byte digests so memory stays small."""

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
        self.path, self.line = path, 0
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


def _csv(path: Path) -> Iterator[Row]:
    lines = _Lines(path)
    it = iter(lines)
    header_line = next((ln for ln in it if ln.strip() and not ln.lstrip().startswith("#")), None)
    if header_line is None:
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
    _check_header(header, path, skip + 1)
    reader.fieldnames = header
    has_codes = "codes" in header
    try:
        for rec in reader:
            line = skip + reader.line_num
            if None in rec:
                raise InputError(f"row has {len(header) + len(rec[None])} fields, the header has {len(header)}",
                                 file=path, line=line, hint="quote fields that contain commas")
            if rec.get("text") is None:
                raise InputError("row has too few fields", file=path, line=line, hint="check the commas on this line")
            yield _row(rec, line, has_codes, path)
    except csv.Error as exc:
        raise InputError(_csv_problem(exc), file=path, line=skip + reader.line_num, hint="check quoting") from None


def _check_header(header: list[str], path: Path, line: int) -> None:
    if "text" not in header:
        raise InputError(f"no 'text' column (columns: {', '.join(header) or 'none'})", file=path, line=line,
                         hint="name the column holding the segments 'text'")
    twice = next((h for h in COLUMNS if header.count(h) > 1), None)
    if twice:
        raise InputError(f"the column {twice!r} appears {header.count(twice)} times", file=path, line=line,
                         hint="keep one column of that name, or rename the others")


def _jsonl(path: Path) -> Iterator[Row]:
    lines = _Lines(path)
    for raw in lines:
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        rec = _json_object(raw, path, lines.line)
        yield _row(rec, lines.line, "codes" in rec, path)


def _json_object(raw: str, path: Path, line: int) -> dict[str, Any]:
    try:
        rec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", file=path, line=line, hint="one JSON object per line") from None
    except (ValueError, RecursionError):
        raise InputError("not valid JSON here", file=path, line=line, hint="one flat JSON object per line") from None
    if not isinstance(rec, dict):
        raise InputError("a line is not a JSON object", file=path, line=line, hint="write {\"text\": ..., \"codes\": ...}")
    rec = {str(k).lower(): v for k, v in rec.items()}
    if "text" not in rec:
        raise InputError("no 'text' field", file=path, line=line, hint="each object needs a 'text' field")
    return rec


def _parquet(path: Path, chunk_size: int) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    read_bytes(path, 0)  # a missing file or a folder: the same line as for CSV
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a Parquet file ({str(exc).splitlines()[0]})", file=path,
                         hint="write it again with pandas.DataFrame.to_parquet or pyarrow") from None
    header = [name.lower() for name in pf.schema_arrow.names]
    _check_header(header, path, 1)
    wanted = [n for n in pf.schema_arrow.names if n.lower() in COLUMNS]
    line = 0
    try:
        for batch in pf.iter_batches(batch_size=chunk_size, columns=wanted):
            for rec in batch.to_pylist():
                line += 1
                yield _row({k.lower(): v for k, v in rec.items()}, line, "codes" in header, path)
    except pa.ArrowException as exc:
        raise InputError(f"damaged Parquet data ({str(exc).splitlines()[0]})", file=path, line=line + 1,
                         hint="write the file again") from None



class RowWriter:
    """Dict rows appended chunk by chunk to CSV, JSONL or Parquet, as :func:`.corpus.write_rows` writes them.

    Rows go to a temporary file next to ``path``, renamed over it by :meth:`commit`; :meth:`close`
    without a commit (an error on the way) removes it, so a failed run writes nothing.
    """

    def __init__(self, path: str | Path, fmt: str, columns: list[str]) -> None:
        if fmt not in ("csv", "jsonl", "parquet"):
            raise InputError(f"unknown output format {fmt!r}", hint="use csv, jsonl or parquet")
        self.path, self.fmt, self.columns = Path(path), fmt, columns
        if not self.path.parent.is_dir():
            raise InputError("the output folder does not exist", file=self.path, hint="create it, or write elsewhere")
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self.count = 0
        self._fh: IO[str] | None = None
        self._csv: csv.DictWriter | None = None
        self._parquet: Any = None
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._schema = pa.schema([(c, pa.string()) for c in columns])
            self._parquet = pq.ParquetWriter(self.tmp, self._schema)
        else:
            self._fh = self.tmp.open("w", encoding="utf-8", newline="")
            if fmt == "csv":
                self._csv = csv.DictWriter(self._fh, fieldnames=columns, extrasaction="ignore")
                self._csv.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append one chunk of rows."""
        self.count += len(rows)
        if self.fmt == "jsonl":
            assert self._fh is not None
            self._fh.writelines(json.dumps({k: r.get(k) for k in self.columns if k in r}, ensure_ascii=False) + "\n"
                                for r in rows)
        elif self.fmt == "csv":
            assert self._csv is not None
            self._csv.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
        else:
            import pyarrow as pa

            table = pa.table({c: [None if r.get(c) is None else str(_cell(r[c])) for r in rows] for c in self.columns},
                             schema=self._schema)
            self._parquet.write_table(table)

    def commit(self) -> None:
        """Finish the file and move it to ``path``."""
        self._finish()
        os.replace(self.tmp, self.path)

    def close(self) -> None:
        """Remove the temporary file unless committed."""
        self._finish()
        self.tmp.unlink(missing_ok=True)

    def _finish(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(value: object) -> object:
    """A CSV cell: lists joined with ';', objects as JSON (the rule of :func:`.corpus.write_rows`)."""
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value
