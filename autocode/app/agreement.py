"""Agreement in a workspace: the store's codings as the plain tables :mod:`autocode.agreement`
compares, and :func:`measure`, the whole of ``autocode agreement``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import agreement as ag
from ..errors import InputError
from ..store import Store
from .suggestions import ensure_model_codings
from .workspace import Workspace


def frames(store: Store, coders: list[str], group: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(units, seen, codings) for segments offered for coding (optionally of one group)."""
    store.require_coders(coders)
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
    docs = store.documents() if group is None else store.documents(group)
    if group is not None and not docs:
        store.document(group)  # raises with the known names
    lengths = {d.name: len(d.text) for d in docs}
    spans: dict[str, dict[str, dict[str, list[tuple[int, int]]]]] = {c: defaultdict(lambda: defaultdict(list)) for c in coders}
    exact: set[tuple[str, str]] = set()
    for sel in store.selections(group):
        if sel.coder in spans:
            spans[sel.coder][sel.code][sel.document].append((sel.start, sel.end))
            exact.add((sel.coder, sel.document))
    for row in store.coded_spans(group):
        if row.coder in spans and (row.coder, row.document) not in exact:
            spans[row.coder][row.code][row.document].append((row.start, row.end))
    plain = {c: {code: dict(per_doc) for code, per_doc in by_code.items()} for c, by_code in spans.items()}
    order = [d.name for d in docs]
    read: dict[str, list[str]] = {}
    for c in coders:
        docs_read = store.documents_seen(c) | {d for (who, d) in exact if who == c}
        read[c] = [name for name in order if name in docs_read]
    return lengths, plain, read


@dataclass
class AgreementRun:
    """What ``autocode agreement`` measured: the report at the chosen level, every codebook
    level at once (segments only), and where the HTML report went."""

    coders: list[str]
    unit: str
    level: str | None
    result: Any
    levels: dict[str, Any] | None = None
    report: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        if self.levels:
            data["levels"] = {name: r.overall.__dict__ for name, r in self.levels.items()}
        return data


def measure_agreement(ws: Workspace, coders: list[str], *, model: str | None = None, unit: str = "segment",
            group: str | None = None, level: str | None = None, exclude_uncoded: bool = False,
            by_group: bool = True, n_boot: int = 1000, report: Path | None = None) -> AgreementRun:
    """Coder against coder, and a model against them (coded out of fold first when ``model`` is named)."""
    coders = list(dict.fromkeys(coders))
    if model:
        coders.append(ensure_model_codings(ws, model, reference_coder=coders[0], group=group))
    if len(coders) < 2:
        raise InputError("name two coders (--coder A --coder B), or one coder and --model")
    title = f"Inter-coder agreement: {' vs '.join(coders)}"
    levels = codebook_levels(ws)
    if unit == "character":
        lengths, spans, read = character_spans(ws.store, coders, group)
        result = ag.compare_characters(lengths, spans, coders, level=level, levels=levels, seen=read, n_boot=n_boot)
        index = ag.write_report(result, report, title=title) if report else None
        return AgreementRun(coders, unit, level, result, report=index)
    if unit != "segment":
        raise InputError(f"unknown unit {unit!r}", hint="use segment or character")
    units, seen, codings = frames(ws.store, coders, group)
    result = ag.compare(units, seen, codings, coders, level=level, levels=levels, exclude_uncoded=exclude_uncoded,
                        by_group=by_group, n_boot=n_boot)
    # every codebook level at once: a disagreement on a sub-theme may still agree on the theme
    by_level = ag.compare_levels(units, seen, codings, coders, levels=levels, exclude_uncoded=exclude_uncoded, n_boot=0)
    index = None
    if report:
        index = ag.write_report(
            result, report, levels=by_level, title=title,
            disagreements=ag.disagreement_list(units, seen, codings, coders, level=level, levels=levels),
            matrix=ag.disagreement_matrix(units, seen, codings, coders[0], coders[1], level=level, levels=levels))
    return AgreementRun(coders, unit, level, result, levels=by_level, report=index)


def codebook_levels(ws: Workspace) -> list[str] | None:
    """The level names the workspace's codebook gives its hierarchy (None: it names none, so
    the agreement package's default names apply)."""
    return ws.store.codebook().level_names() or None
