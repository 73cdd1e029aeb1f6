"""REFI-QDA projects (and Taguette projects) in and out of the store.

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
from typing import Callable

from . import refi, transcripts
from .codebook import SEP, Code, Codebook, CodeGroup
from .errors import InputError
from .importer import ImportReport, add_transcript
from .segmentation import SegmentationConfig
from .store import Store

MIN_OVERLAP = 0.5
MODEL_USER_PREFIX = "autocode model "
IMPORTED_GROUP = "Codes"


def _guid(*parts: object) -> str:
    """Stable guids for things autocode made, so the same workspace exports the same file."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "autocode:" + ":".join(map(str, parts))))


def _safe_name(name: str) -> str:
    cleaned = " ".join(name.replace(SEP, " - ").replace(";", ",").split())
    return cleaned or "(unnamed code)"


def codebook_from_codes(codes: list[refi.QdaCode], name: str, existing: Codebook | None = None) -> tuple[Codebook, dict[str, str]]:
    """An autocode codebook from a REFI code forest; returns it and {code guid: path}."""
    book = Codebook(name=name)
    groups_of = {c.path: c.group for c in existing} if existing else {}
    paths: dict[str, str] = {}

    def add(code: refi.QdaCode, parent: str | None) -> None:
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
    book, _ = codebook_from_codes(refi.read_qdc(path), Path(path).stem)
    if not book.codes:
        raise InputError("the codebook has no codes", file=path)
    return book


def _coder_name(user: refi.QdaUser | None) -> str:
    if user is None:
        return "unknown coder"
    name = (user.name or user.id or user.guid).strip()
    if name.startswith(MODEL_USER_PREFIX):
        return "model:" + name[len(MODEL_USER_PREFIX):]
    return name


def read_project(path: Path, kind: str) -> refi.QdaProject:
    if kind == "qdpx":
        return refi.read_qdpx(path)
    if path.suffix.lower() == ".csv":
        return refi.read_taguette_csv(path)
    return refi.read_taguette_sqlite(path)


def plan_import(store: Store, path: Path, kind: str, *, seg_config: SegmentationConfig,
                coder: str | None = None, min_overlap: float = MIN_OVERLAP) -> Callable[[ImportReport], None]:
    """Read and check a project now; return the writer that maps it into the store."""
    project = read_project(path, kind)
    existing = store.codebook()
    book, code_paths = codebook_from_codes(project.codes, project.name, existing)
    users = project.user_by_guid()
    names = [s.name for s in project.sources]
    taken = set(store.document_names())
    clash = [n for n in names if n in taken]
    if clash:
        raise InputError(f"document {clash[0]!r} is already in the workspace", file=path,
                         hint="import the project into a new workspace, or rename the document in your QDA suite")
    parsed = {}
    for source in project.sources:
        doc = transcripts.parse_turns(source.text, source.name, "qdpx") if source.text.strip() else None
        parsed[source.guid] = doc

    def apply(report: ImportReport) -> None:
        store.set_codebook(book)
        code_ids = {g: store.code_id(p) for g, p in code_paths.items()}
        doc_ids: dict[str, int] = {}
        n_segments = 0
        for source in project.sources:
            doc = parsed[source.guid] or transcripts.Transcript(source.name, source.text, "qdpx", [])
            doc_id, n = add_transcript(store, doc, source.name, str(path), seg_config, guid=source.guid)
            doc_ids[source.guid] = doc_id
            n_segments += n
        # exact selections, then the segment-level codings they imply
        spans: dict[tuple[int, str, str], list[tuple[int, int]]] = defaultdict(list)
        coders_in_doc: dict[int, set[str]] = defaultdict(set)
        n_selections = 0
        for sel in project.selections:
            doc_id = doc_ids[sel.source_guid]
            for coding in sel.codings:
                who = coder or _coder_name(users.get(coding.user_guid) if coding.user_guid else None)
                kind_of = "model" if who.startswith("model:") else "human"
                coder_id = store.coder_id(who, kind_of)
                store.db.execute(
                    "INSERT INTO selections (document_id, code_id, coder_id, start, end, guid, name, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, code_ids[coding.code_guid], coder_id, sel.start, sel.end, sel.guid, sel.name,
                     coding.created.isoformat() if coding.created else None))
                spans[(doc_id, who, code_paths[coding.code_guid])].append((sel.start, sel.end))
                coders_in_doc[doc_id].add(who)
                n_selections += 1
        n_codings = 0
        for doc_id, who_set in coders_in_doc.items():
            segs = store.db.execute("SELECT id, start, end FROM segments WHERE document_id=? AND codable=1",
                                    (doc_id,)).fetchall()
            for who in sorted(who_set):
                applied: dict[int, list[str]] = {s["id"]: [] for s in segs}
                for (d, w, code_path), ranges in spans.items():
                    if d != doc_id or w != who or not book.codes[code_path].codable:
                        continue
                    for s in segs:
                        if covers(ranges, s["start"], s["end"], min_overlap):
                            applied[s["id"]].append(code_path)
                kind_of = "model" if who.startswith("model:") else "human"
                for seg_id, code_list in applied.items():
                    store.set_codes(seg_id, who, code_list, source="model" if kind_of == "model" else "human", kind=kind_of)
                    n_codings += len(code_list)
        report.add(file=str(path), kind=f"{kind} project ({project.origin or 'unknown origin'})",
                   coders=sorted({w for s in coders_in_doc.values() for w in s}), documents=len(doc_ids),
                   segments=n_segments, codings=n_codings, selections=n_selections,
                   positions=project.position_convention, notes=list(project.notes))

    return apply


def _still_coded(start: int, end: int, segments: list, coded: set[int]) -> bool:
    """Whether an imported selection still stands: every segment it codes by the import rule
    still carries the code for that coder (a selection that codes no segment on its own
    stands while any segment it touches does; one outside every segment always stands)."""
    touched = [s for s in segments if min(end, s["end"]) > max(start, s["start"])]
    implied = [s for s in touched if covers([(start, end)], s["start"], s["end"], MIN_OVERLAP)]
    if implied:
        return all(s["id"] in coded for s in implied)
    return not touched or any(s["id"] in coded for s in touched)


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


# ---------------------------------------------------------------------------- export

def project_from_store(store: Store, coders: list[str] | None = None) -> refi.QdaProject:
    """The workspace as a REFI-QDA project: each coder (and each model) a User."""
    book = store.codebook()
    wanted = coders or [c["name"] for c in store.coders()]
    coder_ids = {r["name"]: r["id"] for r in store.db.execute("SELECT id, name FROM coders")}
    unknown = [c for c in wanted if c not in coder_ids]
    if unknown:
        raise InputError(f"no coder named {unknown[0]!r} in the workspace",
                         hint=f"known coders: {', '.join(coder_ids) or 'none'}")
    users = []
    for name in wanted:
        shown = MODEL_USER_PREFIX + name[len("model:"):] if name.startswith("model:") else name
        users.append(refi.QdaUser(guid=_guid("user", name), name=shown))
    user_guid = {name: u.guid for name, u in zip(wanted, users)}
    code_guid = {c.path: c.guid or _guid("code", c.path) for c in book}

    def qda(code: Code) -> refi.QdaCode:
        return refi.QdaCode(guid=code_guid[code.path], name=code.attrs.get("refi_name", code.name),
                            is_codable=code.codable, color=code.color, description=code.description or None,
                            children=[qda(k) for k in book.children(code.path)])

    roots = [qda(c) for c in book if c.parent is None]
    sources, selections = [], []
    for doc in store.db.execute("SELECT * FROM documents ORDER BY id").fetchall():
        sguid = doc["guid"] or _guid("document", doc["name"])
        sources.append(refi.QdaSource(guid=sguid, name=doc["name"], text=doc["text"]))
        kept: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        segs = store.db.execute("SELECT id, start, end FROM segments WHERE document_id=? ORDER BY position",
                                (doc["id"],)).fetchall()
        codings = store.db.execute(
            "SELECT s.id, s.start, s.end, k.path, u.name AS coder FROM codings c JOIN segments s ON s.id = c.segment_id"
            " JOIN codes k ON k.id = c.code_id JOIN coders u ON u.id = c.coder_id WHERE s.document_id=?"
            " ORDER BY s.position, k.position, u.id", (doc["id"],)).fetchall()
        coded: dict[tuple[str, str], set[int]] = defaultdict(set)
        for row in codings:
            coded[(row["coder"], row["path"])].add(row["id"])
        for sel in store.db.execute(
                "SELECT s.*, k.path, u.name AS coder FROM selections s JOIN codes k ON k.id = s.code_id"
                " JOIN coders u ON u.id = s.coder_id WHERE s.document_id=? ORDER BY s.id", (doc["id"],)):
            if sel["coder"] not in user_guid:
                continue
            if not _still_coded(sel["start"], sel["end"], segs, coded[(sel["coder"], sel["path"])]):
                continue  # the coder took this code off since: the segment-level codings below say what is left
            kept[(sel["coder"], sel["path"])].append((sel["start"], sel["end"]))
            selections.append(refi.QdaSelection(
                guid=sel["guid"] or _guid("selection", sel["id"]), source_guid=sguid, start=sel["start"], end=sel["end"],
                name=sel["name"], codings=[refi.QdaCoding(code_guid[sel["path"]], user_guid[sel["coder"]], None)]))
        for row in codings:
            if row["coder"] not in user_guid:
                continue
            if covers(kept.get((row["coder"], row["path"]), []), row["start"], row["end"], MIN_OVERLAP):
                continue  # already exported as the exact selection it came from
            selections.append(refi.QdaSelection(
                guid=_guid("coding", row["id"], row["path"], row["coder"]), source_guid=sguid,
                start=row["start"], end=row["end"],
                codings=[refi.QdaCoding(code_guid[row["path"]], user_guid[row["coder"]], None)]))
    return refi.QdaProject(name=store.meta("codebook_name") or "autocode project", origin="autocode",
                           users=users, codes=roots, sources=sources, selections=selections)


def export_qdpx(store: Store, out: str | Path, coders: list[str] | None = None) -> int:
    project = project_from_store(store, coders)
    refi.write_qdpx(project, out, origin="autocode")
    return sum(len(s.codings) for s in project.selections)


def codebook_to_qdc(book: Codebook, out: str | Path) -> None:
    def qda(code: Code) -> refi.QdaCode:
        return refi.QdaCode(guid=code.guid or _guid("code", code.path), name=code.attrs.get("refi_name", code.name),
                            is_codable=code.codable, color=code.color, description=code.description or None,
                            children=[qda(k) for k in book.children(code.path)])

    refi.write_qdc([qda(c) for c in book if c.parent is None], out, origin="autocode")
