"""Character-level agreement, comparable with NVivo's coding comparison query.

Every character of every document is a unit: a yes/no question per code ("is this
character coded with it?"), so the figures are those of :func:`autocode.agreement.compare`
with characters as units and documents as groups. NVivo reports kappa per code and
document; here ``per_group`` holds those rows and ``per_code`` pools all documents.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

import numpy as np

from autocode.agreement.compare import agreement_from_matrix
from autocode.agreement.results import AgreementReport
from autocode.agreement.units import CodingMatrix, Level, check_coders, hierarchy_roots, project_to_depth, resolve_level
from autocode.errors import InputError

#: spans[coder][code][document] = [(start, end), ...], end exclusive.
Spans = Mapping[str, Mapping[str, Mapping[str, Sequence[tuple[int, int]]]]]


def character_matrix(
    lengths: Mapping[str, int],
    spans: Spans,
    coders: Sequence[str] | None = None,
    *,
    codes: Sequence[str] | None = None,
    level: Level = None,
    levels: Sequence[str] | None = None,
    seen: Mapping[str, Collection[str]] | None = None,
) -> CodingMatrix:
    """Per-character yes/no arrays for every coder and code, documents in ``lengths`` order
    (unit ids are character offsets within their document, groups the document names).

    ``lengths``: characters per document. ``spans[coder][code][document]``: coded
    (start, end) character offsets, end exclusive; overlapping spans are merged.
    A coder who coded nothing must still appear in ``spans`` (with ``{}``).
    ``seen[coder]``: the documents that coder read (default: all of them); only
    documents every coder read count, and a span in a document counts as reading it.
    ``level``: a level name from ``levels`` (the codebook's names by depth, default
    :data:`~autocode.agreement.units.DEFAULT_LEVELS`) or a depth; None for codes as written.
    """
    names = check_coders(list(spans) if coders is None else coders)
    for coder in names:
        if coder not in spans:
            raise InputError(f"coder {coder!r} has no entry in spans",
                             hint=f"coders in spans: {', '.join(map(repr, spans)) or 'none'}; "
                                  "give a coder who coded nothing as spans[coder] = {}")
    resolved = resolve_level(level, levels)
    name, depth = resolved if resolved is not None else (None, None)
    doc_names = [str(d) for d in lengths]
    sizes = []
    for doc, size in lengths.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise InputError(f"document {doc!r} has length {size!r}", hint="give each length as a whole number >= 0")
        sizes.append(int(size))
    size_of = dict(zip(doc_names, sizes))
    for coder in names:
        for code, by_doc in spans[coder].items():
            for doc in by_doc:
                if str(doc) not in size_of:
                    raise InputError(f"{coder!r} coded {code!r} in document {str(doc)!r}, which has no length",
                                     hint=f"add {str(doc)!r} to lengths")
    kept = _documents_all_read(doc_names, names, spans, seen)
    n_unseen = sum(size for doc, size in size_of.items() if doc not in kept)
    doc_names = [doc for doc in doc_names if doc in kept]
    sizes = [size_of[doc] for doc in doc_names]
    offsets = dict(zip(doc_names, (int(o) for o in np.cumsum([0, *sizes])[:-1])))

    written = [str(code) for coder in names for code in spans[coder]] + [str(c) for c in codes or []]
    roots = hierarchy_roots(written)
    projected = {c: project_to_depth(c, depth, roots) for c in written}
    if codes is None:
        code_list = sorted({p for p in projected.values() if p is not None})
    else:
        code_list = []
        for code in codes:
            target = projected[str(code)]
            if target is None:
                raise InputError(f"code {code!r} has no {name} level", hint="use level=None or a shorter level")
            if target not in code_list:
                code_list.append(target)
    code_index = {code: k for k, code in enumerate(code_list)}

    total = int(sum(sizes))
    applied = np.zeros((total, len(names), len(code_list)), dtype=bool)
    for c, coder in enumerate(names):
        for code, by_doc in spans[coder].items():
            target = projected[str(code)]
            k = None if target is None else code_index.get(target)
            for doc, doc_spans in by_doc.items():
                doc = str(doc)
                for span in doc_spans:
                    start, end = _check_span(span, size_of[doc], coder, code, doc)
                    if k is not None and doc in offsets:
                        applied[offsets[doc] + start:offsets[doc] + end, c, k] = True

    groups = np.repeat(np.array(doc_names, dtype=object), sizes)
    return CodingMatrix(
        unit_ids=np.concatenate([np.arange(size) for size in sizes]) if sizes else np.zeros(0, dtype=int),
        groups=groups, lengths=np.ones(total, dtype=np.int64), coders=names, codes=tuple(code_list),
        applied=applied, level=name, n_unseen=n_unseen,
    )


def compare_characters(
    lengths: Mapping[str, int],
    spans: Spans,
    coders: Sequence[str] | None = None,
    *,
    codes: Sequence[str] | None = None,
    level: Level = None,
    levels: Sequence[str] | None = None,
    seen: Mapping[str, Collection[str]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> AgreementReport:
    """Agreement with characters as units: the same figures as :func:`compare`, pooled
    over documents in ``per_code`` and for each code and document in ``per_group``
    (``group`` is the document). Confidence intervals resample whole documents, and
    only when there are at least five: single characters are not independent.
    ``seen[coder]`` lists the documents each coder read (default: all); ``level`` and
    ``levels`` as for :func:`character_matrix`.
    """
    matrix = character_matrix(lengths, spans, coders, codes=codes, level=level, levels=levels, seen=seen)
    return agreement_from_matrix(matrix, by_group=True, n_boot=n_boot, seed=seed, confidence=confidence,
                                 unit_name="character", resample_units=False)


def _documents_all_read(doc_names: list[str], coders: Sequence[str], spans: Spans,
                        seen: Mapping[str, Collection[str]] | None) -> set[str]:
    """Documents every coder read: listed in ``seen`` or coded in ``spans``."""
    if seen is None:
        return set(doc_names)
    read_by: list[set[str]] = []
    for coder in coders:
        listed = seen.get(coder, ())
        if isinstance(listed, str):
            raise InputError(f"seen[{coder!r}] is the string {listed!r}", hint="give a list of document names")
        unknown = sorted(set(map(str, listed)) - set(doc_names))
        if unknown:
            raise InputError(f"seen[{coder!r}] names document {unknown[0]!r}, which has no length",
                             hint=f"add {unknown[0]!r} to lengths")
        coded = {str(doc) for by_doc in spans[coder].values() for doc, doc_spans in by_doc.items() if doc_spans}
        read_by.append(set(map(str, listed)) | coded)
    return set.intersection(*read_by)


def _check_span(span: object, size: int, coder: str, code: str, doc: str) -> tuple[int, int]:
    try:
        first, last = cast(tuple[Any, Any], span)
        start, end = int(first), int(last)
    except (TypeError, ValueError):
        raise InputError(f"span {span!r} of {coder!r}/{code!r} in {doc!r} is not a (start, end) pair",
                         hint="give spans as (start, end) character offsets, end exclusive") from None
    if not 0 <= start <= end <= size:
        raise InputError(f"span {span!r} of {coder!r}/{code!r} in {doc!r} is outside 0..{size} or reversed",
                         hint="offsets count characters from 0, end exclusive, start <= end <= document length")
    return start, end
