"""Exporting codings as a coded corpus (CSV / JSONL) that ``autocode import`` reads back."""

from __future__ import annotations

from pathlib import Path

from .corpus import write_rows
from .store import Store


def coded_rows(store: Store, coders: list[str] | None = None) -> list[dict]:
    """One row per (segment, coder) for every segment a coder has seen, in document order.

    Uncoded segments (no coder has seen them) are written once without a coder, so the
    file holds the whole transcript.
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


def export_rows(store: Store, out: str | Path, fmt: str = "csv", coders: list[str] | None = None) -> int:
    rows = coded_rows(store, coders)
    write_rows(rows, out, fmt=fmt)
    return len(rows)
