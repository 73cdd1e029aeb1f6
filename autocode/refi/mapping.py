"""REFI-QDA projects (and Taguette projects) mapped to autocode's codebook, segments and coders.

Pure functions over :mod:`autocode.refi`'s in-memory model and :mod:`autocode.records`; the
app layer (:mod:`autocode.app.imports`, :mod:`autocode.app.exports`) reads and writes the store.

Import rule, in one place: a QDA suite codes *spans* of text; autocode codes *segments*
(speaker turns, or sentence windows of long turns). A coder's code is applied to a
segment when that coder's selections with that code
  * cover at least ``min_overlap`` (default 0.5) of the segment's characters, or
  * have at least ``min_overlap`` of one selection's characters inside the segment
    (a phrase coded inside a long turn codes that turn).
A coder who coded anything in a document is taken to have seen all its segments (a
segment they left alone counts as "no code" in agreement). Every selection is also kept
with its exact offsets, so exporting again loses nothing, including selections that
cross segment borders; a selection whose code the coder has since taken off a segment
it coded is not exported again (the segment-level codings that remain are).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from ..codebook import SEP, Code, Codebook, CodeGroup
from ..errors import InputError
from ..records import Coding, Document, Segment, Selection, model_coder, model_of
from .model import QdaCode, QdaCoding, QdaProject, QdaSelection, QdaSource, QdaUser
from .qdc import read_qdc, write_qdc

MIN_OVERLAP = 0.5
MODEL_USER_PREFIX = "autocode model "
IMPORTED_GROUP = "Codes"


def _guid(*parts: object) -> str:
    """Stable guids for things autocode made, so the same workspace exports the same file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "autocode:" + ":".join(map(str, parts))))


def _safe_name(name: str) -> str:
    cleaned = " ".join(name.replace(SEP, " - ").replace(";", ",").split())
    return cleaned or "(unnamed code)"


def codebook_from_codes(codes: list[QdaCode], name: str, existing: Codebook | None = None) -> tuple[Codebook, dict[str, str]]:
    """An autocode codebook from a REFI code forest; returns it and {code guid: path}."""
    book = Codebook(name=name)
    groups_of = {c.path: c.group for c in existing} if existing else {}
    paths: dict[str, str] = {}

    def add(code: QdaCode, parent: str | None) -> None:
        nm = _safe_name(code.name)
        path = f"{parent}{SEP}{nm}" if parent else nm
        while path in book.codes:  # two siblings with the same name in the suite: keep both
            nm += " (2)"
            path = f"{parent}{SEP}{nm}" if parent else nm
        group = groups_of.get(path) or (book.codes[parent].group if parent else IMPORTED_GROUP)
        if not any(g.name == group for g in book.groups):
            src = existing.group(group) if existing and any(g.name == group for g in existing.groups) else CodeGroup(group)
            book.add_group(src)
        attrs = {"refi_name": code.name} if nm != code.name else {}
        book.add_code(Code(name=nm, path=path, group=group, parent=parent, codable=code.is_codable,
                           description=(code.description or "").strip(), color=code.color, attrs=attrs, guid=code.guid))
        paths[code.guid] = path
        for child in code.children:
            add(child, path)

    for code in codes:
        add(code, None)
    return book, paths


def codebook_from_qdc(path: str | Path) -> Codebook:
    book, _ = codebook_from_codes(read_qdc(path), Path(path).stem)
    if not book.codes:
        raise InputError("the codebook has no codes", file=path)
    return book


def coder_name(user: QdaUser | None) -> str:
    """The autocode coder of a suite's user; a user autocode wrote for a model becomes ``model:NAME``."""
    if user is None:
        return "unknown coder"
    name = (user.name or user.id or user.guid).strip()
    if name.startswith(MODEL_USER_PREFIX):
        return model_coder(name[len(MODEL_USER_PREFIX):])
    return name


def user_name(coder: str) -> str:
    """The suite user autocode writes for a coder (a model coder: "autocode model NAME")."""
    model = model_of(coder)
    return MODEL_USER_PREFIX + model if model is not None else coder


def covers(ranges: list[tuple[int, int]], start: int, end: int, min_overlap: float) -> bool:
    """The import rule: selections cover ``min_overlap`` of the segment, or one selection lies mostly inside it."""
    length = max(end - start, 1)
    covered = 0
    for a, b in sorted(ranges):
        inside = max(0, min(b, end) - max(a, start))
        if inside and inside >= min_overlap * max(b - a, 1):
            return True
        covered += inside
    return covered >= min_overlap * length


def segment_codes(spans: dict[str, list[tuple[int, int]]], segments: Iterable[Segment],
                  min_overlap: float = MIN_OVERLAP) -> dict[int, list[str]]:
    """One coder's codes on each segment of a document, by the import rule, from their
    selections ``spans`` (code path -> ranges, codable codes only). Every segment is in the
    result: a segment they left alone has no code."""
    applied: dict[int, list[str]] = {}
    for s in segments:
        applied[s.id] = [code for code, ranges in spans.items() if covers(ranges, s.start, s.end, min_overlap)]
    return applied


#: How an imported selection lies over the segments, as each import reports it.
MAPPINGS = ("within one segment", "across segments", "on turns not offered for coding", "outside every segment")


def selection_mapping(start: int, end: int, segments: Sequence[Segment]) -> str:
    """Which of :data:`MAPPINGS` a selection is: every one is kept and exported as it came;
    codes on a turn not offered for coding (a moderator's) are stored for that turn too."""
    touched = [s for s in segments if min(end, s.end) > max(start, s.start)]
    if not touched:
        return MAPPINGS[3]
    if not all(s.codable for s in touched):
        return MAPPINGS[2]
    return MAPPINGS[0] if len(touched) == 1 else MAPPINGS[1]


def still_coded(start: int, end: int, segments: Sequence[Segment], coded: set[int]) -> bool:
    """Whether an imported selection still stands: every segment it codes by the import rule
    still carries the code for that coder (a selection that codes no segment on its own
    stands while any segment it touches does; one outside every segment always stands)."""
    touched = [s for s in segments if min(end, s.end) > max(start, s.start)]
    implied = [s for s in touched if covers([(start, end)], s.start, s.end, MIN_OVERLAP)]
    if implied:
        return all(s.id in coded for s in implied)
    return not touched or any(s.id in coded for s in touched)


# ---------------------------------------------------------------------------- export

def project_from_records(book: Codebook, name: str, coders: Sequence[str], documents: Sequence[Document],
                         segments: dict[str, list[Segment]], codings: Sequence[Coding],
                         selections: Sequence[Selection]) -> QdaProject:
    """The workspace as a REFI-QDA project: each coder (and each model) a User. ``codings`` and
    ``selections`` are every coder's, in document order; only ``coders``' are exported."""
    users = [QdaUser(guid=_guid("user", c), name=user_name(c)) for c in coders]
    user_guid = {c: u.guid for c, u in zip(coders, users)}
    code_guid = {c.path: c.guid or _guid("code", c.path) for c in book}
    roots = qda_codes(book, code_guid)
    codings_of: dict[str, list[Coding]] = defaultdict(list)
    for row in codings:
        codings_of[row.document].append(row)
    selections_of: dict[str, list[Selection]] = defaultdict(list)
    for sel in selections:
        selections_of[sel.document].append(sel)
    sources, out = [], []
    for doc in documents:
        sguid = doc.guid or _guid("document", doc.name)
        sources.append(QdaSource(guid=sguid, name=doc.name, text=doc.text))
        kept: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        coded: dict[tuple[str, str], set[int]] = defaultdict(set)
        for row in codings_of[doc.name]:
            coded[(row.coder, row.code)].add(row.segment_id)
        for sel in selections_of[doc.name]:
            if sel.coder not in user_guid:
                continue
            if not still_coded(sel.start, sel.end, segments.get(doc.name, []), coded[(sel.coder, sel.code)]):
                continue  # the coder took this code off since: the segment-level codings below say what is left
            kept[(sel.coder, sel.code)].append((sel.start, sel.end))
            out.append(QdaSelection(
                guid=sel.guid or _guid("selection", sel.id), source_guid=sguid, start=sel.start, end=sel.end,
                name=sel.name, codings=[QdaCoding(code_guid[sel.code], user_guid[sel.coder], None)]))
        for row in codings_of[doc.name]:
            if row.coder not in user_guid:
                continue
            if covers(kept.get((row.coder, row.code), []), row.start, row.end, MIN_OVERLAP):
                continue  # already exported as the exact selection it came from
            out.append(QdaSelection(
                guid=_guid("coding", row.segment_id, row.code, row.coder), source_guid=sguid, start=row.start, end=row.end,
                codings=[QdaCoding(code_guid[row.code], user_guid[row.coder], None)]))
    return QdaProject(name=name, origin="autocode", users=users, codes=roots, sources=sources, selections=out)


def qda_codes(book: Codebook, code_guid: dict[str, str] | None = None) -> list[QdaCode]:
    """The codebook as a REFI code forest (guids kept, or made stable from the paths)."""
    def qda(code: Code) -> QdaCode:
        guid = code_guid[code.path] if code_guid else code.guid or _guid("code", code.path)
        return QdaCode(guid=guid, name=code.attrs.get("refi_name", code.name), is_codable=code.codable,
                       color=code.color, description=code.description or None,
                       children=[qda(k) for k in book.children(code.path)])

    return [qda(c) for c in book if c.parent is None]


def codebook_to_qdc(book: Codebook, out: str | Path) -> None:
    write_qdc(qda_codes(book), out, origin="autocode")
