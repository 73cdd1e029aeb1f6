"""``autocode import``: transcripts and coded corpora into the store, all or nothing.

Every file is read and checked before anything is written; then all of them are written
in one transaction, so a bad file anywhere leaves the store exactly as it was.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..codebook import Codebook
from ..errors import InputError
from ..io import codebooks, corpus, transcripts
from ..io.segmentation import SegmentationConfig, coding_warnings, transcript_segments
from ..records import NewSegment, coder_kind
from ..refi.mapping import (MAPPINGS, MIN_OVERLAP, codebook_and_sets_from_qdc, codebook_from_codes, code_sets_of,
                            coder_name, segment_codes, selection_mapping, split_sets)
from ..refi.model import QdaProject
from ..refi.qdpx_read import MAX_MEMBER_BYTES, read_qdpx
from ..refi.taguette import read_taguette_csv
from ..store.taguette_db import read_taguette_sqlite
from ..store import Store
from .workspace import Workspace

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


def import_files(ws: Workspace, paths: Sequence[str | Path], *, group: str | None = None, coder: str | None = None,
                 fmt: str = "auto", segmentation: SegmentationConfig | None = None,
                 sources_dir: str | Path | None = None, max_member_mb: float = MAX_MEMBER_BYTES / 2**20) -> ImportReport:
    """Import ``paths`` into the workspace in one transaction; raises InputError and writes nothing
    on bad input. ``segmentation`` overrides the workspace's settings. A project's sources are
    read from inside its archive only, unless ``sources_dir`` names the folder of sources it
    points to; archive members over ``max_member_mb`` are refused."""
    if sources_dir is not None and not Path(sources_dir).is_dir():
        raise InputError("no such folder", file=sources_dir, hint="--sources-dir names the folder that holds the sources")
    limit = int(max_member_mb * 2**20)
    store = ws.store
    seg_config = segmentation or ws.segmentation()
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
            plans.append(_plan_project(store, path, kind, seg_config=seg_config, coder=coder,
                                       sources_dir=Path(sources_dir) if sources_dir else None, max_member_bytes=limit))
    report = ImportReport()
    with store.transaction():
        for plan in plans:
            plan(report)
    return report


def import_codebook(ws: Workspace, path: str | Path) -> dict[str, list[str]]:
    """Merge a codebook file (.yaml, .qdc, .txt) into the workspace's; returns the codes added and updated.
    A .qdc's code sets are kept; every code of the file counts as the project's (an export writes it)."""
    store = ws.store
    if Path(path).suffix.lower() == ".qdc":
        if not Path(path).exists():
            raise InputError("no such file", file=path, hint="check the path")
        book, sets = codebook_and_sets_from_qdc(path, store.codebook())
    else:
        book, sets = codebooks.load(path), []
    with store.transaction():
        report = store.set_codebook(book)
        store.mark_codes_imported(c.path for c in book)
        store.add_code_sets(sets)
    return report


def default_codebook_untouched(store: Store) -> bool:
    """Whether the workspace's codebook is still the default study frame ``autocode init`` installs,
    with nothing referring to it: then the first project imported brings its own codebook instead."""
    return not store.codebook_in_use() and store.codebook().hash() == codebooks.default().hash()


def _iso(when: Any) -> str | None:
    return when.isoformat() if when is not None else None


def _read_as(path: Path, kind: str) -> transcripts.Transcript:
    if kind == "docx":
        return transcripts.read_docx(path)
    if kind in {"vtt", "srt"}:
        return transcripts.read_subtitles(path)
    return transcripts.read_plain(path)


def add_transcript(store: Store, doc: transcripts.Transcript, name: str, source: str | None,
                   seg_config: SegmentationConfig, guid: str | None = None) -> tuple[int, int]:
    """Store a transcript as a document with its segments; returns (document id, segment count)."""
    doc_id = store.add_document(name, doc.text, doc.format, source, guid)
    return doc_id, len(store.add_segments(doc_id, transcript_segments(doc, seg_config)))


def _warnings(path: Path, doc: transcripts.Transcript, seg_config: SegmentationConfig) -> list[str]:
    return coding_warnings(path.name, transcript_segments(doc, seg_config))


def _plan_transcript(store: Store, doc: transcripts.Transcript, name: str, path: Path,
                     seg_config: SegmentationConfig) -> Callable[[ImportReport], None]:
    def apply(report: ImportReport) -> None:
        if store.has_document(name):
            raise InputError(f"a group named {name!r} is already in the workspace", file=path,
                             hint="pass --group with another name, or remove the old one")
        _, n = add_transcript(store, doc, name, str(path), seg_config)
        report.add(file=str(path), kind="transcript", group=name, documents=1, segments=n, codings=0,
                   warnings=_warnings(path, doc, seg_config))

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
            if store.has_document(name):
                segs = _match_rows(store, name, items, path)
            else:
                segs = _create_from_rows(store, name, items, path, seg_config)
                n_docs += 1
                n_segs += len(segs)
            for (row, paths), (seg_id, codable) in zip(items, segs):
                if paths is None:
                    continue
                if not paths and not codable:
                    continue  # a moderator turn the coder left alone
                who = row.coder or coder
                coders.add(who)
                store.set_codes(seg_id, who, paths, source="human")
                n_codings += len(paths)
        report.add(file=str(path), kind="coded corpus" if any(p is not None for p in resolved) else "segments",
                   groups=list(by_group), coders=sorted(coders), documents=n_docs, segments=n_segs, codings=n_codings)

    return apply


def _create_from_rows(store: Store, name: str, items: list, path: Path,
                      seg_config: SegmentationConfig) -> list[tuple[int, bool]]:
    """A new document from a corpus' rows, one segment per row, or per id when rows share one
    (a file with a row per segment and coder, as `autocode export` writes it); returns
    (segment id, codable) per row."""
    parts, pos = [], 0
    segments: list[NewSegment] = []
    index_of: dict[str, int] = {}  # an id's segment, by its place in ``segments``
    row_segment: list[int] = []
    for row, _ in items:
        if row.id is not None and row.id in index_of:
            first = segments[index_of[row.id]]
            if " ".join(first.text.split()) != " ".join(row.text.split()):
                raise InputError(f"id {row.id!r} of group {name!r} is given twice with different texts", file=path,
                                 line=row.line, hint="an id names one segment: give each segment its own id")
            row_segment.append(index_of[row.id])
            continue
        prefix = f"{row.speaker}: " if row.speaker else ""
        start = pos + len(prefix)
        if row.id is not None:
            index_of[row.id] = len(segments)
        row_segment.append(len(segments))
        segments.append(NewSegment(text=row.text, start=start, end=start + len(row.text), speaker=row.speaker,
                                   role=seg_config.role(row.speaker), turn=len(segments),
                                   codable=seg_config.codable(row.speaker), ext_id=row.id))
        parts.append(prefix + row.text)
        pos += len(prefix) + len(row.text) + 2
    doc_id = store.add_document(name, "\n\n".join(parts), "corpus", str(path))
    created = list(zip(store.add_segments(doc_id, segments), (s.codable for s in segments)))
    return [created[i] for i in row_segment]


def _match_rows(store: Store, name: str, items: list, path: Path) -> list[tuple[int, bool]]:
    """Existing segments for rows of a group already in the store (another coder's file)."""
    stored = store.segments(document=name)
    by_ext = {s.ext_id: s for s in stored if s.ext_id is not None}
    by_pos = {s.position: s for s in stored}
    out = []
    for i, (row, _) in enumerate(items):
        if row.id is not None and row.id in by_ext:
            seg = by_ext[row.id]
            if " ".join(seg.text.split()) != " ".join(row.text.split()):
                raise InputError(f"id {row.id!r} of group {name!r} is already in the workspace with another text",
                                 file=path, line=row.line, hint="ids must name the same segment in every coder's file")
        elif row.id is None and i in by_pos and " ".join(by_pos[i].text.split()) == " ".join(row.text.split()):
            seg = by_pos[i]
        else:
            raise InputError(f"row does not match any segment of group {name!r}, which is already in the workspace",
                             file=path, line=row.line,
                             hint="use the same ids (or the same order and text) as the first import, or another group name")
        out.append((seg.id, seg.codable))
    return out


def read_project(path: Path, kind: str, *, sources_dir: Path | None = None,
                 max_member_bytes: int = MAX_MEMBER_BYTES) -> QdaProject:
    """A .qdpx project (``kind`` "qdpx"; see :func:`autocode.refi.qdpx_read.read_qdpx` for the
    limits), or a Taguette database or highlights CSV."""
    if kind == "qdpx":
        return read_qdpx(path, sources_dir=sources_dir, max_member_bytes=max_member_bytes)
    if path.suffix.lower() == ".csv":
        return read_taguette_csv(path)
    return read_taguette_sqlite(path)


def _plan_project(store: Store, path: Path, kind: str, *, seg_config: SegmentationConfig,
                  coder: str | None = None, min_overlap: float = MIN_OVERLAP, sources_dir: Path | None = None,
                  max_member_bytes: int = MAX_MEMBER_BYTES) -> Callable[[ImportReport], None]:
    """Read and check a REFI-QDA or Taguette project now; return the writer that maps it into the store
    (the rule is :mod:`autocode.refi.mapping`'s)."""
    project = read_project(path, kind, sources_dir=sources_dir, max_member_bytes=max_member_bytes)
    groups, group_descriptions, own_sets = split_sets(project.sets)
    book, code_paths = codebook_from_codes(project.codes, project.name, store.codebook(), groups, group_descriptions)
    users = project.user_by_guid()

    def check_no_clash() -> None:
        clash = [s.name for s in project.sources if store.has_document(s.name)]
        if clash:
            raise InputError(f"document {clash[0]!r} is already in the workspace", file=path,
                             hint="import the project into a new workspace, or rename the document in your QDA suite")

    check_no_clash()  # now, to fail fast; and again under the write lock, where another import may have won
    parsed = {s.guid: transcripts.parse_turns(s.text, s.name, "qdpx") if s.text.strip()
              else transcripts.Transcript(s.name, s.text, "qdpx", []) for s in project.sources}

    cache: dict[str, list] = {}

    def segments_of(name: str) -> list:
        if name not in cache:
            cache[name] = store.segments(document=name)
        return cache[name]

    def person(guid: str | None) -> str | None:
        return None if guid is None else (coder or coder_name(users.get(guid)))

    def apply(report: ImportReport) -> None:
        check_no_clash()
        notes = list(project.notes)
        if book.codes and default_codebook_untouched(store):
            store.replace_codebook(book)
            notes.append(f"the workspace's codebook was the untouched default study codebook: it is replaced by "
                         f"this project's ({len(book.codes)} codes)")
        else:
            store.set_codebook(book)
        store.mark_codes_imported(code_paths.values())
        store.add_code_sets(code_sets_of(own_sets, code_paths))
        if not store.meta("project_name"):
            store.set_meta("project_name", project.name)
        if coder is None:  # every user of the project is a coder, under the GUID the suite gave them
            for u in project.users:
                name = coder_name(u)
                store.add_user(name, coder_kind(name), guid=u.guid, refi_id=u.id)
        doc_ids: dict[str, int] = {}
        n_segments = 0
        for source in project.sources:
            doc_id, n = add_transcript(store, parsed[source.guid], source.name, str(path), seg_config, guid=source.guid)
            doc_ids[source.guid] = doc_id
            n_segments += n
            if source.rich_text is not None:
                store.set_rich_text(doc_id, source.rich_text_path or f"{source.guid}.docx", source.rich_text)
        # exact selections, then the segment-level codings they imply
        spans: dict[str, dict[str, dict[str, list[tuple[int, int]]]]] = defaultdict(lambda: defaultdict(dict))
        n_selections = 0
        for sel in project.selections:
            for coding in sel.codings:
                who = person(coding.user_guid) or coder or coder_name(None)
                code = code_paths[coding.code_guid]
                store.add_selection(doc_ids[sel.source_guid], code, who, sel.start, sel.end, guid=sel.guid,
                                    name=sel.name, created_at=_iso(coding.created),
                                    coding_guid=coding.guid, description=sel.description,
                                    creator=person(sel.creating_user), selected_at=_iso(sel.created),
                                    modifier=person(sel.modifying_user), modified_at=_iso(sel.modified))
                per_code = spans[sel.source_guid][who]
                if book.codes[code].codable:
                    per_code.setdefault(code, []).append((sel.start, sel.end))
                n_selections += 1
        n_codings = 0
        mapped: Counter[str] = Counter()
        by_source = {s.guid: s.name for s in project.sources}
        for sel in project.selections:
            mapped[selection_mapping(sel.start, sel.end, segments_of(by_source[sel.source_guid]))] += len(sel.codings)
        for source in project.sources:
            if source.guid not in spans:
                continue
            segs = segments_of(source.name)
            codable = {s.id for s in segs if s.codable}
            for who in sorted(spans[source.guid]):
                kind_of = coder_kind(who)
                for seg_id, codes in segment_codes(spans[source.guid][who], segs, min_overlap).items():
                    if seg_id not in codable and not codes:
                        continue  # a turn not offered for coding that this coder left alone
                    store.set_codes(seg_id, who, codes, source="model" if kind_of == "model" else "human", kind=kind_of)
                    n_codings += len(codes)
        report.add(file=str(path), kind=f"{kind} project ({project.origin or 'unknown origin'})",
                   coders=sorted({w for per_doc in spans.values() for w in per_doc}),
                   users=[coder_name(u) for u in project.users] if coder is None else [coder], documents=len(doc_ids),
                   segments=n_segments, codings=n_codings, selections=n_selections,
                   selections_mapped={k: mapped[k] for k in MAPPINGS if mapped[k]},
                   positions=project.position_convention, notes=notes)

    return apply
