"""Exports: codings as a coded corpus (CSV / JSONL) that ``autocode import`` reads back,
a REFI-QDA project (.qdpx) for the QDA suites, and the codebook (.qdc or YAML)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..codebook import Codebook
from ..errors import InputError
from ..io import codebooks
from ..io.codebooks import to_csv
from ..io.corpus import write_rows
from ..records import model_coder
from ..refi.mapping import codebook_to_qdc, project_codes, project_from_records
from ..refi.model import QdaProject
from ..refi.qdpx_write import write_qdpx
from ..store import Store
from .workspace import Workspace

FORMATS = ("csv", "jsonl", "qdpx")


def coded_rows(store: Store, coders: list[str] | None = None) -> list[dict]:
    """One row per (segment, coder) for every segment a coder has seen, in document order.

    Without ``coders`` (every coder), segments nobody has seen are written once without a
    coder, so the file holds the whole transcript; naming coders gives only their rows.
    """
    wanted = coders or [c["name"] for c in store.coders()]
    per_coder = {c: store.codings(c) for c in wanted}
    seen = {c: store.seen(c) for c in wanted}
    rows = []
    for seg in store.segments():
        who = [c for c in wanted if seg.id in seen[c]]
        base = {"id": seg.ext_id or f"{seg.document}#{seg.position}", "group": seg.document,
                "speaker": seg.speaker or "", "text": seg.text}
        if not who:
            if coders is None:
                rows.append({**base, "coder": "", "codes": ""})
            continue
        for c in who:
            rows.append({**base, "coder": c, "codes": sorted(per_coder[c].get(seg.id, ()))})
    return rows


def codes_to_export(store: Store, book: Codebook | None = None) -> set[str]:
    """The codes the workspace's project has (see :func:`autocode.refi.mapping.project_codes`):
    never the unused default frame that ``autocode init`` installs."""
    book = book or store.codebook()
    default = {c.path for c in codebooks.default()}
    return project_codes(book, store.codes_in_use(), store.imported_codes(), default)


def project(store: Store, coders: list[str] | None = None) -> QdaProject:
    """The workspace as a REFI-QDA project (see :func:`autocode.refi.mapping.project_from_records`):
    named as the first project imported was (else after the codebook)."""
    wanted = coders or [c["name"] for c in store.coders()]
    store.require_coders(wanted)
    segments: dict[str, list] = defaultdict(list)
    for seg in store.segments():
        segments[seg.document].append(seg)
    book = store.codebook()
    name = store.meta("project_name") or store.meta("codebook_name") or "autocode project"
    return project_from_records(book, name, wanted, store.documents(), segments, store.coded_spans(),
                                store.selections(), users=store.users(), codes=codes_to_export(store, book),
                                sets=store.code_sets(), rich=store.rich_texts())


def export(ws: Workspace, out: str | Path, fmt: str = "csv", coders: list[str] | None = None,
           model: str | None = None) -> int:
    """Write the workspace's codings to ``out`` as csv, jsonl or qdpx: every coder's, or ``coders``'
    only; ``model`` adds that model's stored suggestions to the people's codings. Returns the rows
    (csv/jsonl) or codings (qdpx) written."""
    store = ws.store
    wanted = list(coders or [])
    if model:  # the model's suggestions beside the people's codings (every human coder's unless named)
        wanted = (wanted or [c["name"] for c in store.coders() if c["kind"] == "human"]) + [model_coder(model)]
    if fmt == "qdpx":
        proj = project(store, wanted or None)
        write_qdpx(proj, out, origin="autocode")
        return sum(len(s.codings) for s in proj.selections)
    if fmt in ("csv", "jsonl"):
        if wanted:
            store.require_coders(wanted)
        rows = coded_rows(store, wanted or None)
        write_rows(rows, out, fmt=fmt)
        return len(rows)
    raise InputError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")


def export_codebook(ws: Workspace, out: str | Path) -> Codebook:
    """The workspace's codebook, by the file's extension: REFI-QDA .qdc, a .csv tag list
    (tag,description: Taguette's codebook import) or autocode YAML; returns it. A .qdc holds the
    codes a project export would (the whole codebook while nothing but the default frame is
    there), with the code sets."""
    book = ws.store.codebook()
    suffix = Path(out).suffix.lower()
    if suffix == ".qdc":
        codebook_to_qdc(book, out, codes_to_export(ws.store, book) or None, ws.store.code_sets())
    elif suffix == ".csv":
        to_csv(book, out)
    else:
        Path(out).write_text(book.to_yaml(), encoding="utf-8")
    return book
