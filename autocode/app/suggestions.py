"""Batch suggestions: codes with confidence and a reason for every codable segment.

``predict`` has no side effects; :func:`save_suggestions` is the separate step that stores
them as codings of the coder ``model:<name>`` (source = model), never touching a human's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..io import corpus, transcripts
from ..io.rowstream import RowWriter, iter_chunks
from ..io.segmentation import transcript_segments
from ..records import Unit, model_coder, preceding_contexts
from ..store import Store
from .imports import TRANSCRIPT_SUFFIXES, import_files
from .models import (ClassifierFactory, contexts_for, load_model, model_card, model_version, trained_coders,
                     training_data)
from .workspace import Workspace

BATCH = 256
N_LIKE = 2  # coded segments shown that carry a suggested code
#: who coded each training segment: training id (as text) -> coder -> code paths (closed upward)
Coders = Mapping[str, Mapping[str, Collection[str]]]


def units_from_store(store: Store, group: str | None = None, ids: set[int] | None = None) -> list[Unit]:
    segments = [s for s in store.segments(document=group, codable_only=True) if ids is None or s.id in ids]
    contexts = contexts_for(store, segments)
    return [Unit(s.ext_id or f"{s.document}#{s.position}", s.document, s.speaker, s.text, c, s.id)
            for s, c in zip(segments, contexts)]


def units_from_file(path: Path, ws: Workspace, group: str | None = None) -> list[Unit]:
    """Codable segments of a transcript or a CSV/JSONL file, read without storing them."""
    seg_config = ws.segmentation()
    if path.suffix.lower() in TRANSCRIPT_SUFFIXES:
        segs = transcript_segments(transcripts.read_transcript(path), seg_config)
        name = group or path.stem
        ctx = preceding_contexts([(s.turn, s.role == "moderator", s.text) for s in segs])
        return [Unit(f"{name}#{i}", name, s.speaker, s.text, c)
                for i, (s, c) in enumerate(zip(segs, ctx)) if s.codable]
    rows = [r for chunk in iter_chunks(path) for r in chunk] if path.suffix.lower() == ".parquet" else corpus.read_rows(path)
    by_group: dict[str, list[corpus.Row]] = {}
    for r in rows:
        by_group.setdefault(r.group or group or path.stem, []).append(r)
    out = []
    for name, items in by_group.items():
        ctx = preceding_contexts([(i, seg_config.role(r.speaker) == "moderator", r.text) for i, r in enumerate(items)])
        out += [Unit(r.id or f"{name}#{i}", name, r.speaker, r.text, c)
                for i, (r, c) in enumerate(zip(items, ctx)) if seg_config.codable(r.speaker)]
    return out


def predict(model: Any, units: Sequence[Unit], *, codable: set[str] | None = None, top_k: int | None = None,
            explain: bool = True, progress: Callable[[int], None] | None = None,
            coders: Coders | None = None) -> list[dict[str, Any]]:
    """One record per unit: suggested codes (path, probability and, with ``explain``, that code's
    evidence: see :func:`code_evidence`), every code's score, and the overall reasons.

    ``codable``: the codes that may be suggested (default: all the model's labels); a domain
    that only groups themes is implied by its themes and not suggested itself. ``coders``: who
    coded the model's training segments (:func:`training_coders`), named beside the evidence.
    """
    labels = list(model.labels_)
    records: list[dict[str, Any]] = []
    for start in range(0, len(units), BATCH):
        batch = list(units[start:start + BATCH])
        texts, contexts = [u.text for u in batch], [u.context for u in batch]
        P, D, why = model.predict_and_explain(texts, contexts, explain=explain, n_neighbours=3, n_words=12,
                                              n_like=N_LIKE)
        for u, p, d, w in zip(batch, P, D, why):
            chosen = sorted(((labels[j], float(p[j])) for j in np.flatnonzero(d)
                             if codable is None or labels[j] in codable), key=lambda x: -x[1])
            if top_k:
                chosen = chosen[:top_k]
            evidence = {e["code"]: e for e in w.get("evidence", [])}
            records.append({
                "id": u.id, "group": u.group, "speaker": u.speaker, "text": u.text, "segment_id": u.segment_id,
                "codes": [{"code": c, "probability": round(pr, 4),
                           **(code_evidence(evidence[c], coders) if c in evidence else {})} for c, pr in chosen],
                "scores": {labels[j]: round(float(p[j]), 4) for j in range(len(labels))},
                "top_code": w.get("top_code"),
                "similar": [{"text": n["text"], "codes": list(n["codes"]), "similarity": round(float(n["similarity"]), 3)}
                            for n in w.get("neighbours", [])],
                "words": content_words([word for word, _ in w.get("words", [])])[:5] if chosen else [],
            })
        if progress:
            progress(len(batch))
    return records


def code_evidence(evidence: dict[str, Any], coders: Coders | None = None) -> dict[str, Any]:
    """One suggested code's evidence as records carry it: ``words`` (up to 5 that pushed towards
    the code), ``like`` (the :data:`N_LIKE` most similar coded segments that carry it) and ``unlike``
    (the most similar one that does not, with its most specific codes; None when every training
    segment carries it). Each example has ``segment_id``, ``text``, ``coders`` (who applied the
    code, or for ``unlike`` who coded the segment without it; empty when unknown) and ``similarity``."""
    def example(x: dict[str, Any], carries: bool) -> dict[str, Any]:
        out = {"segment_id": x["id"], "text": x["text"], "coders": [], "similarity": round(float(x["similarity"]), 3)}
        if not carries:
            out["codes"] = [c["code"] for c in specific([{"code": p} for p in x["codes"]])]
        return out

    unlike = evidence.get("unlike")
    entry = {"code": evidence["code"], "words": content_words([word for word, _ in evidence.get("words", [])])[:5],
             "like": [example(x, True) for x in evidence.get("like", [])],
             "unlike": None if unlike is None else example(unlike, False)}
    name_coders(entry, coders)
    del entry["code"]
    return entry


def name_coders(entry: dict[str, Any], coders: Coders | None) -> None:
    """Fill in who coded each example of a code's evidence (``entry``: a record's code with its
    evidence): for ``like``, the coders who applied the code; for ``unlike``, those who coded the
    segment without it."""
    code = entry["code"]
    examples = [(x, True) for x in entry["like"]]
    if entry["unlike"] is not None:
        examples.append((entry["unlike"], False))
    for x, carries in examples:
        seen = (coders or {}).get(str(x["segment_id"]), {})
        x["coders"] = [name for name, codes in seen.items() if (code in codes) == carries]


def evidence_ids(records: Sequence[dict[str, Any]]) -> set[int]:
    """The training segments that the records' evidence shows."""
    return {x["segment_id"] for r in records for c in r["codes"] if "like" in c
            for x in c["like"] + ([c["unlike"]] if c["unlike"] else [])}


def training_coders(store: Store, model: Any, coders: Sequence[str] | None = None,
                    ids: Collection[Any] | None = None) -> dict[str, dict[str, list[str]]]:
    """Who coded each of ``model``'s training segments (or only those of ``ids``), and with which
    codes (closed upward): training id (as text) -> human coder -> code paths; ``coders`` limits it
    to those (the coders a model was trained on). A segment whose stored text is not the text the
    model learnt (a model trained elsewhere) is left out, so nobody is credited with it wrongly."""
    wanted = None if ids is None else {str(i) for i in ids}
    learnt = {int(str(i)): t for i, t in zip(getattr(model, "train_ids_", None) or [],
                                              getattr(model, "train_texts_", None) or [])
              if str(i).lstrip("-").isdigit() and (wanted is None or str(i) in wanted)}
    if not learnt:
        return {}
    book = store.codebook()
    return {str(seg): {name: book.close_upward(paths) for name, paths in who.items()}
            for seg, (text, who) in store.human_codings(learnt, coders).items() if text == learnt.get(seg)}


def model_coders(ws: Workspace, name: str, model: Any) -> dict[str, dict[str, list[str]]]:
    """:func:`training_coders` for a saved model: the coders its card says it learnt from."""
    trained = (model_card(ws, name).get("training_data") or {}).get("coders")
    return training_coders(ws.store, model, trained or None)


def content_words(words: list[str]) -> list[str]:
    """Words worth showing as evidence: no stop words, no punctuation."""
    from spacy.lang.en.stop_words import STOP_WORDS  # heavy: spaCy's import pulls in thinc and torch

    return [w for w in words if len(w) > 2 and any(ch.isalnum() for ch in w) and w.lower() not in STOP_WORDS]


def specific(codes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The most specific suggested codes (a sub-theme implies its theme and domain)."""
    paths = [c["code"] for c in codes]
    return [c for c in codes if not any(p.startswith(c["code"] + "/") for p in paths)]


def _quote(text: str, n: int = 60) -> str:
    return f"\"{text[:n]}{'…' if len(text) > n else ''}\""


def _short(paths: Sequence[str]) -> str:
    """Code paths by their last part."""
    return "; ".join(p.split("/")[-1] for p in paths)


def code_reason(entry: dict[str, Any]) -> str:
    """One suggested code's evidence in a line (a REFI-QDA note, a part of a CSV cell):
    ``words: grant, year | like "..." (anna), "..." (ben) | not like "..." (Enabler; anna)``."""
    parts = []
    if entry.get("words"):
        parts.append("words: " + ", ".join(entry["words"]))
    if entry.get("like"):
        parts.append("like " + ", ".join(_quote(x["text"]) + (f" ({', '.join(x['coders'])})" if x["coders"] else "")
                                         for x in entry["like"]))
    if entry.get("unlike"):
        u = entry["unlike"]
        about = [_short(u["codes"]) or "no code"] + ([", ".join(u["coders"])] if u["coders"] else [])
        parts.append(f"not like {_quote(u['text'])} ({'; '.join(about)})")
    return " | ".join(parts)


def reason(record: dict[str, Any]) -> str:
    """A one-line reason for a CSV cell or a terminal table: each most specific suggested
    code's evidence (``Code: words ... | like ... | not like ...``, codes apart by `` || ``);
    without a suggested code, the words and the most similar coded segment overall."""
    explained = [c for c in specific(record["codes"]) if "like" in c]
    if explained:
        return " || ".join(f"{c['code'].split('/')[-1]}: {code_reason(c)}" for c in explained)
    parts = [] if record["codes"] else ["no code reached its threshold"]
    if record["words"]:
        parts.append("words: " + ", ".join(record["words"][:5]))
    if record["similar"]:
        s = record["similar"][0]
        codes = _short([c["code"] for c in specific([{"code": c} for c in s["codes"]])]) or "no code"
        parts.append(f"like {_quote(s['text'])} ({codes})")
    return " | ".join(parts)


JSONL_COLUMNS = ["id", "group", "speaker", "text", "codes", "scores", "top_code", "similar", "words"]
CSV_COLUMNS = ["id", "group", "speaker", "text", "codes", "probabilities", "reason"]
FORMATS = ("csv", "jsonl", "parquet")


def output_columns(fmt: str) -> list[str]:
    """The columns of a suggestions file: JSONL keeps every score, CSV and Parquet one reason cell."""
    return JSONL_COLUMNS if fmt == "jsonl" else CSV_COLUMNS


def output_rows(records: Sequence[dict[str, Any]], fmt: str) -> list[dict[str, Any]]:
    """The rows written for ``records``: as they are for JSONL, flattened for CSV and Parquet."""
    if fmt == "jsonl":
        return list(records)
    return [{"id": r["id"], "group": r["group"], "speaker": r["speaker"] or "", "text": r["text"],
             "codes": [c["code"] for c in r["codes"]],
             "probabilities": [f"{c['probability']:.2f}" for c in r["codes"]], "reason": reason(r)} for r in records]


def write(records: Sequence[dict[str, Any]], out: Path, fmt: str) -> None:
    """Write suggestions to ``out`` (through a temporary file: nothing is left on an error)."""
    with RowWriter(out, fmt, output_columns(fmt)) as writer:
        writer.write(output_rows(records, fmt))
        writer.commit()


def save_suggestions(store: Store, records: list[dict[str, Any]], model_name: str, model_version: str) -> int:
    """Store suggestions as codings of ``model:<name>`` (source = model), one transaction."""
    coder = model_coder(model_name)
    n = 0
    with store.transaction():
        for r in records:
            if r["segment_id"] is None:
                continue
            codes = [c["code"] for c in r["codes"]]
            # kept for export, where a reviewer sees it: each code's own evidence
            why = reason(r) if r.get("words") or r.get("similar") else None
            notes = {c["code"]: code_reason(c) if "like" in c else why for c in r["codes"]}
            store.set_codes(r["segment_id"], coder, codes, source="model", kind="model", model_version=model_version,
                            probabilities={c["code"]: c["probability"] for c in r["codes"]},
                            notes={c: n for c, n in notes.items() if n} or None)
            n += 1
    return n


def resolve_inputs(ws: Workspace, inputs: Sequence[str], group: str | None, save: bool) -> list[Unit]:
    """Units for each INPUT: a file (stored first when ``save``), or a group already in the store."""
    units: list[Unit] = []
    names = set(ws.store.document_names())
    for item in inputs:
        path = Path(item)
        if item in names and not path.exists():
            units += units_from_store(ws.store, item)
        elif path.exists():
            if save:
                report = import_files(ws, [path], group=group if len(inputs) == 1 else None)
                groups = report.files[0].get("groups") or [report.files[0].get("group")]
                for g in groups:
                    units += units_from_store(ws.store, g)
            else:
                units += units_from_file(path, ws, group if len(inputs) == 1 else None)
        else:
            raise InputError(f"{item!r} is neither a file nor a group in the workspace",
                             hint=f"groups here: {', '.join(sorted(names)[:8]) or 'none'}")
    if not units:
        raise InputError("no codable segments in the input", hint="moderator turns are not coded; check the file")
    return units


def ensure_model_codings(ws: Workspace, model_name: str, reference_coder: str, group: str | None = None) -> str:
    """Make sure the model has coded every unit ``reference_coder`` coded; returns its coder name.

    A model must not be judged on segments it learned from: for units in its own training
    groups, the codes come from refits that leave that whole focus group out (the saved
    model's settings, trained on the same coders' codes); other units use the saved model.
    """
    coder = model_coder(model_name)
    store = ws.store
    store.require_coders([reference_coder])
    wanted = store.seen(reference_coder) - store.seen(coder)
    if not wanted:
        return coder
    embedder = ws.embedder()
    model = load_model(ws, model_name, embedder=embedder)
    codable = {c.path for c in store.codebook().codable()}
    version = model_version(ws, model_name)
    units = units_from_store(store, group, ids=wanted)
    trained_on = {int(i) for i in (getattr(model, "train_ids_", None) or []) if str(i).lstrip("-").isdigit()}
    inside = [u for u in units if u.segment_id in trained_on]
    records = predict(model, [u for u in units if u.segment_id not in trained_on], codable=codable,
                      coders=model_coders(ws, model_name, model))
    save_suggestions(store, records, model_name, version)
    if inside:
        data = training_data(store, trained_coders(ws, model_name))
        factory = ClassifierFactory.like(model, embedder)
        for g in sorted({u.group for u in inside}):
            refit = factory.fit(data, keep=[i for i, s in enumerate(data.segments) if s.document != g])
            held_out = predict(refit, [u for u in inside if u.group == g], codable=codable,
                               coders=training_coders(store, refit, data.coders))
            save_suggestions(store, held_out, model_name, f"{version} (refit without {g})")
    return coder


def suggest(ws: Workspace, inputs: Sequence[str], *, model: str | None = None, group: str | None = None,
            save: bool = False, top_k: int | None = None, out: Path | None = None, fmt: str = "csv",
            progress: Callable[[int, int], None] | None = None, precision: str | None = None) -> list[dict[str, Any]]:
    """Suggestions for every codable segment of ``inputs`` (files, or groups in the workspace):
    stored as coder ``model:NAME`` with ``save``, written to ``out`` when given. ``precision``:
    the encoder's (default: the workspace's ``[suggest] precision``, see :meth:`Workspace.suggest_precision`)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown suggestions format {fmt!r}", hint="use csv, jsonl or parquet")
    name = model or ws.default_model()
    clf = load_model(ws, name, embedder=ws.embedder(ws.suggest_precision(precision)))
    units = resolve_inputs(ws, inputs, group, save)
    records = predict(clf, units, codable={c.path for c in ws.store.codebook().codable()}, top_k=top_k,
                      coders=model_coders(ws, name, clf),
                      progress=(lambda n: progress(n, len(units))) if progress else None)
    if save:
        save_suggestions(ws.store, records, name, model_version(ws, name))
    if out:
        write(records, out, fmt)
    return records
