"""``autocode import``: transcripts and coded corpora into the store, all or nothing.

Every file is read and checked before anything is written; then all of them are written
in one transaction, so a bad file anywhere leaves the store exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import corpus, transcripts
from .codebook import Codebook
from .errors import InputError
from .segmentation import SegmentationConfig, split_turn
from .store import Store, now

TRANSCRIPT_SUFFIXES = {".txt", ".text", ".md", ".docx", ".vtt", ".srt"}
CORPUS_SUFFIXES = {".csv", ".jsonl", ".ndjson"}
FORMATS = ("auto", "text", "docx", "vtt", "srt", "csv", "jsonl", "qdpx", "taguette")


@dataclass
class ImportReport:
    files: list[dict[str, Any]] = field(default_factory=list)

    def add(self, **entry: Any) -> None:
        self.files.append(entry)

    def totals(self) -> dict[str, int]:
        keys = ("documents", "segments", "codings")
        return {k: sum(int(f.get(k, 0)) for f in self.files) for k in keys}


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}", file=path, hint=f"use one of {', '.join(FORMATS)}")
        return fmt
    suffix = path.suffix.lower()
    if suffix in {".txt", ".text", ".md"}:
        return "text"
    if suffix in {".docx", ".vtt", ".srt", ".qdpx"}:
        return suffix[1:]
    if suffix in {".csv"}:
        return "taguette" if _is_taguette_export(path) else "csv"
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    if suffix in {".sqlite3", ".sqlite", ".db"}:
        return "taguette"
    raise InputError(f"cannot tell the format of {path.name}", file=path,
                     hint="use .txt/.docx/.vtt/.srt transcripts, .csv/.jsonl coded corpora, .qdpx projects, or pass --format")


def _is_taguette_export(path: Path) -> bool:
    """Taguette's highlights export: columns id, document, tag, content (and no 'text')."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            header = next((line for line in fh if line.strip() and not line.lstrip().startswith("#")), "")
    except (UnicodeDecodeError, OSError):
        return False
    cols = {c.strip().strip('"').lower() for c in header.split(",")}
    return {"document", "tag", "content"} <= cols and "text" not in cols


def import_files(store: Store, paths: list[str | Path], *, group: str | None = None, coder: str | None = None,
                 fmt: str = "auto", segmentation: SegmentationConfig | None = None) -> ImportReport:
    """Import ``paths`` into ``store`` in one transaction; raises InputError and writes nothing on bad input."""
    seg_config = segmentation or SegmentationConfig()
    if not paths:
        raise InputError("no files to import", hint="name one or more transcript or corpus files")
    book = store.codebook()
    plans: list[Callable[[ImportReport], None]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise InputError("no such file", file=path, hint="check the path")
        kind = detect_format(path, fmt)
        if kind in {"text", "docx", "vtt", "srt"}:
            doc = transcripts.read_transcript(path) if fmt == "auto" else _read_as(path, kind)
            name = group if (group and len(paths) == 1) else path.stem
            if group and len(paths) > 1:
                raise InputError("--group names one document, but several transcripts were given", file=path,
                                 hint="import transcripts one at a time with --group, or leave --group out to use file names")
            plans.append(_plan_transcript(store, doc, name, path, seg_config))
        elif kind in {"csv", "jsonl"}:
            rows = corpus.read_jsonl(path) if kind == "jsonl" else corpus.read_csv(path)
            plans.append(_plan_rows(store, book, rows, path, group=group, coder=coder, seg_config=seg_config))
        elif kind in {"qdpx", "taguette"}:
            from . import refi_bridge

            plans.append(refi_bridge.plan_import(store, path, kind, seg_config=seg_config, coder=coder))
    report = ImportReport()
    with store.transaction():
        for plan in plans:
            plan(report)
    return report


def _read_as(path: Path, kind: str) -> transcripts.Transcript:
    if kind == "docx":
        return transcripts.read_docx(path)
    if kind in {"vtt", "srt"}:
        return transcripts.read_subtitles(path)
    return transcripts.read_plain(path)


def add_document(store: Store, name: str, text: str, fmt: str, source_path: str | None, guid: str | None = None) -> int:
    return store.db.execute(
        "INSERT INTO documents (name, source_path, format, text, guid, imported_at) VALUES (?, ?, ?, ?, ?, ?)",
        (name, source_path, fmt, text, guid, now())).lastrowid


def speaker_id(store: Store, doc_id: int, speaker: str | None, seg_config: SegmentationConfig,
               cache: dict[str | None, int | None]) -> int | None:
    if speaker not in cache:
        if speaker is None:
            cache[speaker] = None
        else:
            role = "moderator" if transcripts.is_moderator(speaker, seg_config.moderator_pattern) else "participant"
            cache[speaker] = store.db.execute(
                "INSERT INTO speakers (document_id, name, role) VALUES (?, ?, ?)", (doc_id, speaker, role)).lastrowid
    return cache[speaker]


def add_segment(store: Store, doc_id: int, *, position: int, turn: int, speaker: int | None, text: str,
                start: int, end: int, codable: bool, ext_id: str | None = None, timestamp: str | None = None) -> int:
    return store.db.execute(
        "INSERT INTO segments (document_id, ext_id, position, turn, speaker_id, text, start, end, timestamp, codable)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (doc_id, ext_id, position, turn, speaker, text, start, end, timestamp, int(codable))).lastrowid


def transcript_segments(doc: transcripts.Transcript, seg_config: SegmentationConfig) -> list[dict[str, Any]]:
    """The segments of a transcript (not yet stored): text, offsets, speaker, role, turn, codable."""
    out: list[dict[str, Any]] = []
    for turn_no, turn in enumerate(doc.turns):
        moderator = transcripts.is_moderator(turn.speaker, seg_config.moderator_pattern)
        for start, end in split_turn(doc.turn_text(turn), turn.start, seg_config):
            out.append({"text": doc.text[start:end], "start": start, "end": end, "speaker": turn.speaker,
                        "role": "moderator" if moderator else "participant", "turn": turn_no,
                        "codable": seg_config.code_moderator or not moderator, "timestamp": turn.timestamp})
    return out


def add_transcript(store: Store, doc: transcripts.Transcript, name: str, source: str | None,
                   seg_config: SegmentationConfig, guid: str | None = None) -> tuple[int, int]:
    """Insert a transcript as a document with its segments; returns (document id, segment count)."""
    doc_id = add_document(store, name, doc.text, doc.format, source, guid)
    speakers: dict[str | None, int | None] = {}
    segments = transcript_segments(doc, seg_config)
    for position, seg in enumerate(segments):
        add_segment(store, doc_id, position=position, turn=seg["turn"],
                    speaker=speaker_id(store, doc_id, seg["speaker"], seg_config, speakers), text=seg["text"],
                    start=seg["start"], end=seg["end"], codable=seg["codable"], timestamp=seg["timestamp"])
    return doc_id, len(segments)


def _plan_transcript(store: Store, doc: transcripts.Transcript, name: str, path: Path,
                     seg_config: SegmentationConfig) -> Callable[[ImportReport], None]:
    def apply(report: ImportReport) -> None:
        if store.db.execute("SELECT 1 FROM documents WHERE name=?", (name,)).fetchone():
            raise InputError(f"a group named {name!r} is already in the workspace", file=path,
                             hint="pass --group with another name, or remove the old one")
        _, n = add_transcript(store, doc, name, str(path), seg_config)
        report.add(file=str(path), kind="transcript", group=name, documents=1, segments=n, codings=0)

    return apply


def _plan_rows(store: Store, book: Codebook, rows: list[corpus.Row], path: Path, *, group: str | None,
               coder: str | None, seg_config: SegmentationConfig) -> Callable[[ImportReport], None]:
    """Check a coded corpus (codes resolved, coder known) and return its writer."""
    resolved: list[list[str] | None] = []
    for row in rows:
        if row.codes is not None and row.coder is None and coder is None:
            raise InputError("coded rows but no coder", file=path, line=row.line,
                             hint="add a 'coder' column or pass --coder NAME")
        resolved.append(None if row.codes is None else
                        list(dict.fromkeys(book.resolve(c, file=path, line=row.line).path for c in row.codes)))
    for row, paths in zip(rows, resolved):
        for p in paths or []:
            if not book.codes[p].codable:
                raise InputError(f"code {p!r} is not codable (it groups other codes)", file=path, line=row.line,
                                 hint="apply one of its sub-codes instead")
        if paths and len(paths) > 1:
            for ex in book.exclusive_sets():
                both = [p for p in paths if p in ex]
                if len(both) > 1:
                    raise InputError(f"codes {both} are mutually exclusive", file=path, line=row.line,
                                     hint="apply one code of an exclusive group per segment")
    by_group: dict[str, list[tuple[corpus.Row, list[str] | None]]] = {}
    for row, paths in zip(rows, resolved):
        by_group.setdefault(row.group or group or path.stem, []).append((row, paths))

    def apply(report: ImportReport) -> None:
        n_docs = n_segs = n_codings = 0
        coders: set[str] = set()
        for name, items in by_group.items():
            existing = store.db.execute("SELECT id FROM documents WHERE name=?", (name,)).fetchone()
            if existing is None:
                seg_ids = _create_from_rows(store, name, items, path, seg_config)
                n_docs += 1
                n_segs += len(seg_ids)
            else:
                seg_ids = _match_rows(store, existing[0], name, items, path)
            for (row, paths), seg_id in zip(items, seg_ids):
                if paths is None:
                    continue
                codable = store.db.execute("SELECT codable FROM segments WHERE id=?", (seg_id,)).fetchone()[0]
                if not paths and not codable:
                    continue  # a moderator turn the coder left alone
                who = row.coder or coder
                coders.add(who)
                store.set_codes(seg_id, who, paths, source="human")
                n_codings += len(paths)
        report.add(file=str(path), kind="coded corpus" if any(p is not None for p in resolved) else "segments",
                   groups=list(by_group), coders=sorted(coders), documents=n_docs, segments=n_segs, codings=n_codings)

    return apply


def _create_from_rows(store: Store, name: str, items: list, path: Path, seg_config: SegmentationConfig) -> list[int]:
    parts, pos = [], 0
    spans = []
    for row, _ in items:
        prefix = f"{row.speaker}: " if row.speaker else ""
        spans.append((pos + len(prefix), pos + len(prefix) + len(row.text)))
        parts.append(prefix + row.text)
        pos += len(prefix) + len(row.text) + 2
    doc_id = add_document(store, name, "\n\n".join(parts), "corpus", str(path))
    speakers: dict[str | None, int | None] = {}
    ids = []
    for i, ((row, _), (start, end)) in enumerate(zip(items, spans)):
        sid = speaker_id(store, doc_id, row.speaker, seg_config, speakers)
        moderator = transcripts.is_moderator(row.speaker, seg_config.moderator_pattern)
        ids.append(add_segment(store, doc_id, position=i, turn=i, speaker=sid, text=row.text, start=start, end=end,
                               codable=seg_config.code_moderator or not moderator, ext_id=row.id))
    return ids


def _match_rows(store: Store, doc_id: int, name: str, items: list, path: Path) -> list[int]:
    """Existing segments for rows of a group already in the store (another coder's file)."""
    by_ext = {r["ext_id"]: r for r in store.db.execute(
        "SELECT id, ext_id, text FROM segments WHERE document_id=? AND ext_id IS NOT NULL", (doc_id,))}
    by_pos = {r["position"]: r for r in store.db.execute(
        "SELECT id, position, text FROM segments WHERE document_id=?", (doc_id,))}
    ids = []
    for i, (row, _) in enumerate(items):
        if row.id is not None and row.id in by_ext:
            seg = by_ext[row.id]
            if " ".join(seg["text"].split()) != " ".join(row.text.split()):
                raise InputError(f"id {row.id!r} of group {name!r} is already in the workspace with another text",
                                 file=path, line=row.line, hint="ids must name the same segment in every coder's file")
        elif row.id is None and i in by_pos and " ".join(by_pos[i]["text"].split()) == " ".join(row.text.split()):
            seg = by_pos[i]
        else:
            raise InputError(f"row does not match any segment of group {name!r}, which is already in the workspace",
                             file=path, line=row.line,
                             hint="use the same ids (or the same order and text) as the first import, or another group name")
        ids.append(seg["id"])
    return ids
