"""The store's codings as the plain tables :mod:`autocode.agreement` compares."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from .errors import InputError
from .store import Store


def frames(store: Store, coders: list[str], group: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(units, seen, codings) for segments offered for coding (optionally of one group)."""
    known = {c["name"] for c in store.coders()}
    missing = [c for c in coders if c not in known]
    if missing:
        raise InputError(f"no coder named {missing[0]!r} in the workspace",
                         hint=f"known coders: {', '.join(sorted(known)) or 'none yet'}")
    segments = store.segments(document=group, codable_only=True)
    if group is not None and not segments:
        store.document(group)  # raises with the known names
    ids = {s.id for s in segments}
    units = pd.DataFrame({"unit_id": [str(s.id) for s in segments], "group": [s.document for s in segments],
                          "length": [len(s.text) for s in segments], "text": [s.text for s in segments]})
    seen_rows, coding_rows = [], []
    for coder in coders:
        seen_rows += [(str(i), coder) for i in store.seen(coder) if i in ids]
        for seg, paths in store.codings(coder).items():
            if seg in ids:
                coding_rows += [(str(seg), coder, p) for p in sorted(paths)]
    seen = pd.DataFrame(seen_rows, columns=["unit_id", "coder"])
    codings = pd.DataFrame(coding_rows, columns=["unit_id", "coder", "code"])
    return units, seen, codings


def character_spans(store: Store, coders: list[str], group: str | None = None
                    ) -> tuple[dict[str, int], dict[str, dict[str, dict[str, list[tuple[int, int]]]]], dict[str, list[str]]]:
    """Document lengths, spans[coder][code][document] and seen[coder] (documents each coder read),
    for character-level agreement.

    Where a coder has exact selections in a document (a REFI-QDA import), those are used
    as they are; elsewhere a coding made on a segment counts the segment's characters.
    """
    docs = [d for d in store.db.execute("SELECT id, name, text FROM documents ORDER BY id")
            if group is None or d["name"] == group]
    if group is not None and not docs:
        store.document(group)
    lengths = {d["name"]: len(d["text"]) for d in docs}
    doc_ids = {d["id"]: d["name"] for d in docs}
    spans: dict[str, dict[str, dict[str, list[tuple[int, int]]]]] = {c: defaultdict(lambda: defaultdict(list)) for c in coders}
    exact: set[tuple[str, int]] = set()
    for row in store.db.execute(
            "SELECT s.document_id, s.start, s.end, k.path, u.name FROM selections s JOIN codes k ON k.id = s.code_id"
            " JOIN coders u ON u.id = s.coder_id"):
        if row["name"] in spans and row["document_id"] in doc_ids:
            spans[row["name"]][row["path"]][doc_ids[row["document_id"]]].append((row["start"], row["end"]))
            exact.add((row["name"], row["document_id"]))
    for row in store.db.execute(
            "SELECT s.document_id, s.start, s.end, k.path, u.name FROM codings c JOIN segments s ON s.id = c.segment_id"
            " JOIN codes k ON k.id = c.code_id JOIN coders u ON u.id = c.coder_id"):
        if row["name"] in spans and row["document_id"] in doc_ids and (row["name"], row["document_id"]) not in exact:
            spans[row["name"]][row["path"]][doc_ids[row["document_id"]]].append((row["start"], row["end"]))
    plain = {c: {code: dict(per_doc) for code, per_doc in by_code.items()} for c, by_code in spans.items()}
    read: dict[str, list[str]] = {}
    for c in coders:
        docs_read = {r[0] for r in store.db.execute(
            "SELECT DISTINCT s.document_id FROM seen x JOIN segments s ON s.id = x.segment_id JOIN coders u"
            " ON u.id = x.coder_id WHERE u.name = ?", (c,))}
        docs_read |= {d for (who, d) in exact if who == c}
        read[c] = [doc_ids[d] for d in sorted(docs_read) if d in doc_ids]
    return lengths, plain, read
