"""Segment files read in chunks: CSV, JSONL or Parquet, one row per segment, in bounded memory.

The same columns, readers and checks as :mod:`.corpus` (``text`` required; optional ``id``,
``group``, ``speaker``, ``coder``, ``codes``; one line naming the file and line for a bad row), but
rows come out ``chunk_size`` at a time and the file is never held whole. Parquet "lines" are row
numbers counted from 1 (the file has no lines).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Self

from ..errors import InputError
from .corpus import COLUMNS, IdCheck, Row, _row, check_header, csv_rows, jsonl_rows
from .textfile import read_bytes

ROW_SUFFIXES = {".csv", ".jsonl", ".ndjson", ".parquet"}


def iter_chunks(path: str | Path, chunk_size: int = 2000) -> Iterator[list[Row]]:
    """Rows of a CSV, JSONL or Parquet file, ``chunk_size`` at a time; InputError for a bad row."""
    if chunk_size < 1:
        raise InputError(f"chunk size must be at least 1, not {chunk_size}", hint="use --chunk-size 2000")
    p = Path(path)
    suffix = p.suffix.lower()
    rows = _parquet(p, chunk_size) if suffix == ".parquet" else jsonl_rows(p) if suffix in {".jsonl", ".ndjson"} else csv_rows(p)
    seen = IdCheck(p)
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
    check_header(header, path, 1)
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
