"""Suggestions for archives: files of rows read, coded and written a chunk at a time.

Memory stays flat whatever the input size: one chunk of rows, its suggestions, and a few
strings per group (the context rule's last moderator turn and previous turn, the row count
that numbers rows without an id) are held at a time. The output has the rows in input order
and the same columns and cells as :func:`.suggestions.write`; for a file whose groups are
contiguous it is the same file the in-memory path writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.rowstream import ROW_SUFFIXES, RowWriter, iter_chunks
from ..io.segmentation import SegmentationConfig
from ..records import Unit
from .models import load_model
from .suggestions import FORMATS, model_coders, output_columns, output_rows, predict
from .workspace import Workspace

CHUNK = 2000
HEAD = 12


@dataclass
class StreamResult:
    """How many suggestions were written, where, and the first few (for the terminal table)."""

    count: int
    out: Path
    head: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Group:
    rows: int = 0
    last_moderator: str = ""
    previous: str = ""


def streamable(inputs: Sequence[str]) -> bool:
    """Whether every input is named as a CSV, JSONL or Parquet file (what the streaming path reads)."""
    return bool(inputs) and all(Path(i).suffix.lower() in ROW_SUFFIXES for i in inputs)


def file_units(path: Path, seg_config: SegmentationConfig, group: str | None, chunk_size: int) -> Iterator[list[Unit]]:
    """The codable units of a file of rows, one chunk at a time, with the ids and contexts that
    :func:`.suggestions.units_from_file` gives them (the context rule applied row by row per group)."""
    groups: dict[str, _Group] = {}
    for chunk in iter_chunks(path, chunk_size):
        units = []
        for r in chunk:
            name = r.group or group or path.stem
            g = groups.setdefault(name, _Group())
            context = g.last_moderator or g.previous
            if seg_config.codable(r.speaker):
                units.append(Unit(r.id or f"{name}#{g.rows}", name, r.speaker, r.text, context))
            g.rows += 1
            g.previous = r.text
            if seg_config.role(r.speaker) == "moderator":
                g.last_moderator = r.text
        yield units


def stream_suggest(ws: Workspace, inputs: Sequence[str], out: Path, *, model: str | None = None,
                   group: str | None = None, top_k: int | None = None, fmt: str = "csv", chunk_size: int = CHUNK,
                   progress: Callable[[int], None] | None = None, precision: str | None = None) -> StreamResult:
    """Suggestions for every codable row of ``inputs`` (CSV, JSONL or Parquet files) written to
    ``out`` chunk by chunk; a bad row anywhere stops the run with nothing written."""
    if fmt not in FORMATS:
        raise InputError(f"unknown suggestions format {fmt!r}", hint="use csv, jsonl or parquet")
    if not streamable(inputs):
        raise InputError("chunked suggestions read CSV, JSONL or Parquet files only",
                         hint="give transcripts and workspace groups without --chunk-size")
    name = model or ws.default_model()
    clf = load_model(ws, name, embedder=ws.embedder(ws.suggest_precision(precision)))
    codable = {c.path for c in ws.store.codebook().codable()}
    coders = model_coders(ws, name, clf)
    seg_config = ws.segmentation()
    head: list[dict[str, Any]] = []
    with RowWriter(out, fmt, output_columns(fmt)) as writer:
        for item in inputs:
            for units in file_units(Path(item), seg_config, group if len(inputs) == 1 else None, chunk_size):
                records = predict(clf, units, codable=codable, top_k=top_k, coders=coders)
                writer.write(output_rows(records, fmt))
                head += records[:HEAD - len(head)]
                if progress:
                    progress(len(records))
        if not writer.count:
            raise InputError("no codable segments in the input", hint="moderator turns are not coded; check the file")
        writer.commit()
    return StreamResult(writer.count, out, head)
