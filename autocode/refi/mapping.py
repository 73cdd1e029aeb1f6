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

Export rule, in one place: every coder (and each model, as user "autocode model NAME") is a
User under the GUID the suite gave them (a stable one for autocode's own coders); every
PlainTextSelection and Coding says who made it, and when wherever that is known (a suite's file,
an annotation session, a model's suggestion; not a coded CSV's rows). A kept selection is written as it
came (its guid, name, description, maker and modifier, each Coding's guid); a segment-level
coding no selection stands for becomes a selection spanning the segment, by that coder, and a
model's suggestion carries its probability and model version in the selection's description.
The codebook written is the codes the project has (see :func:`project_codes`), with the kept
code sets and one set per autocode code group (:func:`export_sets`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Collection, Iterable, Sequence

from ..codebook import SEP, Code, Codebook, CodeGroup
from ..errors import InputError
from ..records import Coder, CodeSet, Coding, Document, Segment, Selection, model_coder, model_of
from .model import QdaCode, QdaCoding, QdaProject, QdaSelection, QdaSet, QdaSource, QdaUser
from .qdc import read_qdc_book, write_qdc
from .xmlutil import guid_key, parse_datetime

MIN_OVERLAP = 0.5
#: Sources of codings made in autocode, whose stored date is when they were made; a coding
#: imported from a coded file ("human") is dated only by its import, which is not written.
DATED_SOURCES = ("model", "accepted", "corrected")
MODEL_USER_PREFIX = "autocode model "
IMPORTED_GROUP = "Codes"


def _guid(*parts: object) -> str:
    """Stable guids for things autocode made, so the same workspace exports the same file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "autocode:" + ":".join(map(str, parts))))


def _safe_name(name: str) -> str:
    cleaned = " ".join(name.replace(SEP, " - ").replace(";", ",").split())
    return cleaned or "(unnamed code)"


def group_set_guid(group: str) -> str:
    """The guid of the code set autocode writes for one of its code groups."""
    return _guid("group", group)


def split_sets(sets: Sequence[QdaSet]) -> tuple[dict[str, str], dict[str, str | None], list[QdaSet]]:
    """Code sets as read: those autocode wrote for its code groups become ({code guid: group},
    {group: description}); the others (a suite's own sets) are returned to be kept."""
    groups: dict[str, str] = {}
    descriptions: dict[str, str | None] = {}
    kept = []
    for code_set in sets:
        if guid_key(code_set.guid) == guid_key(group_set_guid(code_set.name)):
            descriptions[code_set.name] = code_set.description
            for guid in code_set.code_guids:
                groups.setdefault(guid, code_set.name)
        else:
            kept.append(code_set)
    return groups, descriptions, kept


def code_sets_of(sets: Sequence[QdaSet], paths: dict[str, str]) -> list[CodeSet]:
    """A project's own code sets as the store keeps them (member code paths, by ``paths``)."""
    return [CodeSet(s.guid, s.name, [paths[g] for g in s.code_guids if g in paths], s.description) for s in sets]


def codebook_from_codes(codes: list[QdaCode], name: str, existing: Codebook | None = None,
                        groups: dict[str, str] | None = None,
                        group_descriptions: dict[str, str | None] | None = None) -> tuple[Codebook, dict[str, str]]:
    """An autocode codebook from a REFI code forest; returns it and {code guid: path}.

    A code takes its group from ``existing`` (a code already there), else from ``groups``
    (code guid -> the group whose set autocode wrote, see :func:`split_sets`), else from its
    parent, else the imported-codes group; what autocode alone knows of a code already in
    ``existing`` (its attributes: valence, TDF domains) is kept."""
    book = Codebook(name=name)
    groups_of = {c.path: c.group for c in existing} if existing else {}
    attrs_of = {c.path: c.attrs for c in existing} if existing else {}
    known_groups = {g.name for g in existing.groups} if existing else set()
    paths: dict[str, str] = {}

    def add(code: QdaCode, parent: str | None) -> None:
        nm = _safe_name(code.name)
        path = f"{parent}{SEP}{nm}" if parent else nm
        while path in book.codes:  # two siblings with the same name in the suite: keep both
            nm += " (2)"
            path = f"{parent}{SEP}{nm}" if parent else nm
        group = (groups_of.get(path) or (groups or {}).get(code.guid)
                 or (book.codes[parent].group if parent else IMPORTED_GROUP))
        if not any(g.name == group for g in book.groups):
            described = (group_descriptions or {}).get(group) or ""
            src = existing.group(group) if existing and group in known_groups else CodeGroup(group, described)
            book.add_group(src)
        attrs = {k: v for k, v in attrs_of.get(path, {}).items() if k != "refi_name"}
        if nm != code.name:
            attrs["refi_name"] = code.name
        book.add_code(Code(name=nm, path=path, group=group, parent=parent, codable=code.is_codable,
                           description=(code.description or "").strip(), color=code.color, attrs=attrs, guid=code.guid))
        paths[code.guid] = path
        for child in code.children:
            add(child, path)

    for code in codes:
        add(code, None)
    return book, paths


def codebook_from_qdc(path: str | Path, existing: Codebook | None = None) -> Codebook:
    return codebook_and_sets_from_qdc(path, existing)[0]


def codebook_and_sets_from_qdc(path: str | Path, existing: Codebook | None = None) -> tuple[Codebook, list[CodeSet]]:
    """A .qdc as an autocode codebook (groups from the sets autocode wrote for them) and the
    file's own code sets."""
    codes, sets = read_qdc_book(path)
    groups, descriptions, kept = split_sets(sets)
    book, paths = codebook_from_codes(codes, Path(path).stem, existing, groups, descriptions)
    if not book.codes:
        raise InputError("the codebook has no codes", file=path)
    return book, code_sets_of(kept, paths)


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

def project_codes(book: Codebook, used: Collection[str], imported: Collection[str],
                  default_frame: Collection[str]) -> set[str]:
    """The codes a project has: those used (by a coding or a kept selection), those that came
    from an import, and those of the workspace's own frame, with every parent; only the
    default frame ``autocode init`` installs (``default_frame``) is left out while unused."""
    keep = {c.path for c in book if c.path in used or c.path in imported or c.path not in default_frame}
    for path in list(keep):
        keep.update(a.path for a in book.ancestors(path))
    return keep


def when(stamp: str | None) -> datetime | None:
    """A stored ISO date as a datetime (None when absent or unreadable)."""
    return parse_datetime(stamp)


def suggestion_note(row: Coding) -> str | None:
    """What a model's stored suggestion says about itself, for the Description a reviewer sees
    in the suite: ``autocode model default@DATE: probability 0.83; words: funding, march | like "..." (Barrier)``."""
    model = model_of(row.coder)
    if model is None or row.source not in (None, "model"):
        return None
    note = f"autocode model {row.model_version or model}"
    note += f": probability {row.probability:.2f}" if row.probability is not None else ""
    return note + (f"; {row.note}" if row.note else "")


def project_from_records(book: Codebook, name: str, coders: Sequence[str], documents: Sequence[Document],
                         segments: dict[str, list[Segment]], codings: Sequence[Coding],
                         selections: Sequence[Selection], *, users: Sequence[Coder] = (),
                         codes: Collection[str] | None = None, sets: Sequence[CodeSet] = (),
                         rich: dict[str, tuple[str, bytes]] | None = None) -> QdaProject:
    """The workspace as a REFI-QDA project (the export rule is the module's). ``codings`` and
    ``selections`` are every coder's, in document order; only ``coders``' are exported, and
    the Users are those coders and whoever made or modified an exported selection. ``users``
    gives the workspace's coders in order with their suite identity, ``codes`` the code paths
    to write (default: all), ``sets`` the kept code sets, ``rich`` each document's rich text."""
    identity = {u.name: u for u in users}
    owner: dict[str, str] = {}  # a suite guid is one coder's: a second coder under it gets a guid of their own
    for u in users:
        if u.guid:
            owner.setdefault(guid_key(u.guid), u.name)
    wanted = set(coders)
    people: dict[str, None] = dict.fromkeys(coders)

    def user(coder: str) -> str:
        people.setdefault(coder, None)
        known = identity.get(coder)
        if known is not None and known.guid and owner.get(guid_key(known.guid)) == coder:
            return known.guid
        return _guid("user", coder)

    code_guid = {c.path: c.guid or _guid("code", c.path) for c in book}
    keep = set(code_guid) if codes is None else set(codes)
    roots = qda_codes(book, code_guid, keep)
    codings_of: dict[str, list[Coding]] = defaultdict(list)
    for row in codings:
        codings_of[row.document].append(row)
    selections_of: dict[str, list[Selection]] = defaultdict(list)
    for sel in selections:
        selections_of[sel.document].append(sel)
    sources, out = [], []
    source_guids: set[str] = set()
    for doc in documents:
        sguid = doc.guid if doc.guid and guid_key(doc.guid) not in source_guids else _guid("document", doc.name)
        source_guids.add(guid_key(sguid))  # two projects' sources under one guid: the second gets its own
        rich_path, rich_data = (rich or {}).get(doc.name, (None, None))
        sources.append(QdaSource(guid=sguid, name=doc.name, text=doc.text, rich_text=rich_data, rich_text_path=rich_path))
        kept: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        coded: dict[tuple[str, str], set[int]] = defaultdict(set)
        for row in codings_of[doc.name]:
            coded[(row.coder, row.code)].add(row.segment_id)
        grouped: dict[tuple, QdaSelection] = {}
        for sel in selections_of[doc.name]:
            if sel.coder not in wanted:
                continue
            if not still_coded(sel.start, sel.end, segments.get(doc.name, []), coded[(sel.coder, sel.code)]):
                continue  # the coder took this code off since: the segment-level codings below say what is left
            kept[(sel.coder, sel.code)].append((sel.start, sel.end))
            coding = QdaCoding(code_guid[sel.code], user(sel.coder), when(sel.created_at), sel.coding_guid)
            key = (sel.guid, sel.start, sel.end) if sel.guid else ("", sel.id)
            if key in grouped:  # one selection, several codings
                grouped[key].codings.append(coding)
                continue
            grouped[key] = QdaSelection(
                guid=sel.guid or _guid("selection", sel.id), source_guid=sguid, start=sel.start, end=sel.end,
                name=sel.name, codings=[coding], description=sel.description,
                creating_user=user(sel.creator or sel.coder), created=when(sel.selected_at or sel.created_at),
                modifying_user=user(sel.modifier) if sel.modifier else None, modified=when(sel.modified_at))
            out.append(grouped[key])
        for row in codings_of[doc.name]:
            if row.coder not in wanted:
                continue
            if covers(kept.get((row.coder, row.code), []), row.start, row.end, MIN_OVERLAP):
                continue  # already exported as the exact selection it came from
            who, created = user(row.coder), when(row.created_at) if row.source in DATED_SOURCES else None
            out.append(QdaSelection(
                guid=_guid("coding", row.segment_id, row.code, row.coder), source_guid=sguid, start=row.start,
                end=row.end, codings=[QdaCoding(code_guid[row.code], who, created)], description=suggestion_note(row),
                creating_user=who, created=created))
    order = [u.name for u in users if u.name in people] + [p for p in people if p not in identity]
    qda_users = [QdaUser(guid=user(p), name=user_name(p), id=identity[p].refi_id if p in identity else None)
                 for p in order]
    return QdaProject(name=name, origin="autocode", users=qda_users, codes=roots, sources=sources, selections=out,
                      sets=export_sets(book, roots, code_guid, sets, catch_all=False))


def qda_codes(book: Codebook, code_guid: dict[str, str] | None = None,
              keep: Collection[str] | None = None) -> list[QdaCode]:
    """The codebook as a REFI code forest (guids kept, or made stable from the paths); with
    ``keep``, only those codes (a kept code's parents must be kept too)."""
    def qda(code: Code) -> QdaCode:
        guid = code_guid[code.path] if code_guid else code.guid or _guid("code", code.path)
        return QdaCode(guid=guid, name=code.attrs.get("refi_name", code.name), is_codable=code.codable,
                       color=code.color, description=code.description or None,
                       children=[qda(k) for k in book.children(code.path) if keep is None or k.path in keep])

    return [qda(c) for c in book if c.parent is None and (keep is None or c.path in keep)]


def export_sets(book: Codebook, roots: list[QdaCode], code_guid: dict[str, str], kept: Sequence[CodeSet],
                catch_all: bool) -> list[QdaSet]:
    """The code sets to write with the codes ``roots``: the kept sets (members among those codes),
    then one set per autocode code group, in the order the groups first appear in the forest,
    holding that group's codes (not for a group a kept set already stands for, and not for the
    group of imported codes unless ``catch_all``)."""
    path_of = {guid: path for path, guid in code_guid.items()}
    written = [path_of[c.guid] for top in roots for c in top.walk()]
    present = set(written)
    out = [QdaSet(cs.guid, cs.name, [code_guid[p] for p in cs.codes if p in present], cs.description) for cs in kept]
    have = {guid_key(cs.guid) for cs in kept}
    groups: dict[str, list[str]] = {}
    for path in written:
        groups.setdefault(book.codes[path].group, []).append(code_guid[path])
    described = {g.name: g.description for g in book.groups}
    for group, members in groups.items():
        if (group == IMPORTED_GROUP and not catch_all) or guid_key(group_set_guid(group)) in have:
            continue
        out.append(QdaSet(group_set_guid(group), group, members, described.get(group) or None))
    return out


def codebook_to_qdc(book: Codebook, out: str | Path, codes: Collection[str] | None = None,
                    sets: Sequence[CodeSet] = ()) -> None:
    """Write ``codes`` of the codebook (default: all) as a .qdc with their code sets; a codebook
    file always holds at least one set (portableQDA cannot read one without ``<Sets>``)."""
    code_guid = {c.path: c.guid or _guid("code", c.path) for c in book}
    roots = qda_codes(book, code_guid, codes)
    written = export_sets(book, roots, code_guid, sets, catch_all=False) or \
        export_sets(book, roots, code_guid, sets, catch_all=True)
    write_qdc(roots, out, origin="autocode", sets=written)
