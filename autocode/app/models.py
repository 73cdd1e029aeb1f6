"""Models of a workspace: training data from the store, the one classifier factory, training,
saving, loading and cross-validating (the API under ``train`` and ``evaluate``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..classifier import CodeClassifier
from ..classifier.evaluate import cross_validate as group_cross_validate
from ..classifier.evaluate import jsonable
from ..classifier.persist import load_model as load_from_disk
from ..classifier.persist import read_card, save_model, training_data_hash
from ..classifier.report import write_html_report
from ..codebook import Codebook
from ..embeddings import STOCK_ENCODER, Embedder, check_encoder
from ..errors import InputError, WorkspaceError
from ..records import HUMAN_SOURCES, Segment, TrainingData, preceding_contexts
from ..store import Store
from .workspace import Workspace

LEARNING_CURVE = (0.1, 0.25, 0.5, 1.0)


# ---------------------------------------------------------------------------- training data

def human_coders(store: Store) -> list[str]:
    return [c["name"] for c in store.coders() if c["kind"] == "human"]


def consensus_codes(store: Store, coders: Sequence[str]) -> tuple[dict[int, set[str]], set[int]]:
    """Codes per segment agreed by a strict majority of the coders who saw it; a tie goes to
    the coder who coded most segments (the primary coder). Returns (codes, segments seen)."""
    seen = {c: store.seen(c) for c in coders}
    codes = {c: store.codings(c, sources=HUMAN_SOURCES) for c in coders}
    primary = sorted(coders, key=lambda c: -len(seen[c]))
    out: dict[int, set[str]] = {}
    all_seen = set().union(*seen.values()) if seen else set()
    for seg in all_seen:
        who = [c for c in primary if seg in seen[c]]
        if len(who) == 1:
            out[seg] = set(codes[who[0]].get(seg, ()))
            continue
        votes = Counter(p for c in who for p in codes[c].get(seg, ()))
        majority = {p for p, v in votes.items() if 2 * v > len(who)}
        tied = {p for p, v in votes.items() if 2 * v == len(who)}
        out[seg] = majority | (tied & set(codes[who[0]].get(seg, ())))
    return out, all_seen


def contexts_for(store: Store, segments: Sequence[Segment]) -> list[str]:
    """The context (see :func:`autocode.records.preceding_contexts`) of each stored segment."""
    wanted = {s.id for s in segments}
    context: dict[int, str] = {}
    for doc in {s.document for s in segments}:
        all_segments = store.segments(document=doc)
        ctx = preceding_contexts([(s.turn, s.role == "moderator", s.text) for s in all_segments])
        context.update((s.id, c) for s, c in zip(all_segments, ctx) if s.id in wanted)
    return [context.get(s.id, "") for s in segments]


def training_data(store: Store, coder: str | None = None, *, group: str | None = None) -> TrainingData:
    """The segments ``coder`` coded (default: the consensus of all human coders), with their codes."""
    book = store.codebook()
    coders = [coder] if coder else human_coders(store)
    if coder:
        store.require_coders([coder])
    if not coders:
        raise InputError("no human codings in the workspace", hint="import a coded corpus first (autocode import coded.csv)")
    codes, seen = consensus_codes(store, coders)
    segments = [s for s in store.segments(document=group) if s.id in seen and s.codable]
    labels = [c.path for c in book.codable()]
    index = {p: j for j, p in enumerate(labels)}
    Y = np.zeros((len(segments), len(labels)), dtype=np.int8)
    for i, s in enumerate(segments):
        for p in book.close_upward(codes.get(s.id, ())):
            if p in index:
                Y[i, index[p]] = 1
    return TrainingData(
        segments=segments, texts=[s.text for s in segments], contexts=contexts_for(store, segments),
        groups=[s.document for s in segments], Y=Y, labels=labels, exclusive=book.exclusive_sets(), coders=coders,
        prototypes=book.prototypes())


def check_trainable(data: TrainingData) -> None:
    if len(data) < 10:
        raise InputError(f"only {len(data)} coded segments to learn from",
                         hint="code at least 10 segments (ideally a few focus groups) before training")
    if data.Y.sum() == 0:
        raise InputError("no segment carries a code", hint="import a coded corpus with codes")


# ---------------------------------------------------------------------------- the classifier factory

@dataclass
class ClassifierFactory:
    """Builds the classifier for every caller: training, evaluation, out-of-fold refits and
    annotation sessions (small-text's ``AbstractClassifierFactory.new()``)."""

    embedder: Embedder
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def like(cls, model: CodeClassifier, embedder: Embedder) -> "ClassifierFactory":
        """A factory of unfitted copies of ``model``'s settings."""
        return cls(embedder, {k: v for k, v in model.get_params().items() if k != "embedder"})

    def new(self) -> CodeClassifier:
        return CodeClassifier(**self.params, embedder=self.embedder)

    def fit(self, data: TrainingData, keep: Sequence[int] | None = None) -> CodeClassifier:
        """A new classifier fitted on ``data`` (or the rows ``keep`` of it)."""
        rows = list(range(len(data))) if keep is None else list(keep)
        return self.new().fit(
            [data.texts[i] for i in rows], data.Y[rows], data.labels, contexts=[data.contexts[i] for i in rows],
            groups=[data.groups[i] for i in rows], exclusive=data.exclusive, ids=[data.segments[i].id for i in rows],
            prototypes=data.prototypes)


def settings(book: Codebook, features: str = "embedding+word", context: bool = True,
             tuning: str | None = None, encoder: str = STOCK_ENCODER) -> dict[str, Any]:
    """The classifier parameters behind ``autocode train``'s options; the valence codes come from the codebook."""
    return {"features": features, "context": "embedding" if context else None, "tuning": tuning,
            "valence": book.valence(), "encoder": encoder}


# ---------------------------------------------------------------------------- saved models

#: models shipped with autocode: the repository's top-level models/ folder (scripts/train_shipped_model.py)
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "models"
#: the shipped model for the default codebook (the study's frame), trained on the demo corpus
SHIPPED_MODEL = "study-frame"


def _holds_model(folder: Path) -> bool:
    return (folder / "model.json").is_file()


def shipped_model(ws: Workspace, name: str) -> Path | None:
    """The shipped model that stands in for NAME, or None: only for the workspace's default model
    while it has not been trained, and only while the workspace codes with the very codebook the
    shipped model learnt (the untouched default frame); the first ``autocode train`` replaces it."""
    if name != ws.default_model() or _holds_model(ws.model_dir(name)):
        return None
    folder = SHIPPED_DIR / SHIPPED_MODEL
    if not _holds_model(folder) or read_card(folder).get("codebook_hash") != ws.store.codebook().hash():
        return None
    return folder


def model_folder(ws: Workspace, name: str) -> Path:
    """Where model NAME's files are: models/NAME of the workspace, or the shipped model that
    stands in for it (:func:`shipped_model`)."""
    return shipped_model(ws, name) or ws.model_dir(name)


def model_card(ws: Workspace, name: str) -> dict[str, Any]:
    """A saved model's card (empty when it has none)."""
    return read_card(model_folder(ws, name))


def model_version(ws: Workspace, name: str) -> str:
    """``NAME@date`` of a saved model, recorded with every suggestion and answer it gives
    (``NAME=study-frame@date`` while the shipped model stands in for it)."""
    card = model_card(ws, name)
    if not card:
        return name
    shipped = f"={card.get('name')}" if shipped_model(ws, name) else ""
    return f"{name}{shipped}@{card.get('date', '')}"


def trained_coders(ws: Workspace, name: str) -> str | None:
    """The one coder a saved model was trained on, or None (a consensus of several)."""
    coders = (model_card(ws, name).get("training_data") or {}).get("coders") or []
    return coders[0] if len(coders) == 1 else None


def load_model(ws: Workspace, name: str, embedder: Embedder | None = None) -> CodeClassifier:
    """A saved model of this workspace (weights and JSON only, never pickle); for an untrained
    default model, the shipped one that stands in for it (:func:`shipped_model`)."""
    folder = model_folder(ws, name)
    if not (folder / "model.json").exists() and not any(folder.glob("*.json")):
        # not models/.scratch, where an annotation session's refits pass between processes
        known = sorted(p.name for p in ws.models_dir.iterdir()
                       if p.is_dir() and not p.name.startswith(".")) if ws.models_dir.exists() else []
        raise WorkspaceError(f"no model named {name!r} in {ws.models_dir}; train one with `autocode train --name {name}`"
                             + (f" (models here: {', '.join(known)})" if known else ""))
    return load_from_disk(folder, embedder=embedder or ws.embedder())


# ---------------------------------------------------------------------------- train and evaluate

def cross_validate(data: TrainingData, factory: ClassifierFactory, *,
                   learning_curve: Sequence[float] | None = LEARNING_CURVE) -> dict[str, Any]:
    """Leave-one-focus-group-out; k=5 folds of whole groups when there are more than 10 groups."""
    n_groups = len(set(data.groups))
    if n_groups < 2:
        raise InputError(f"cross-validation needs at least two focus groups; the coded segments come from {n_groups}",
                         hint="code segments from another group, or skip with --no-evaluate")
    return group_cross_validate(factory.new, data.texts, data.Y, data.labels, data.groups, contexts=data.contexts,
                                exclusive=data.exclusive, n_splits=None if n_groups <= 10 else 5,
                                learning_curve=learning_curve, prototypes=data.prototypes)


def train(ws: Workspace, name: str | None = None, *, coder: str | None = None, features: str = "embedding+word",
          context: bool = True, tuning: str | None = None, evaluate: bool = True,
          encoder: str | None = None) -> dict[str, Any]:
    """Fit on the coded segments, cross-validate for the card, save under models/NAME; returns the card.
    ``encoder``: the sentence encoder (default the workspace's ``[model] encoder``)."""
    encoder = check_encoder(encoder, setting="--encoder") if encoder else ws.encoder()
    name = name or ws.default_model()
    folder = ws.model_dir(name)
    data = training_data(ws.store, coder)
    check_trainable(data)
    factory = ClassifierFactory(ws.embedder(), settings(ws.store.codebook(), features, context, tuning, encoder))
    metrics = (jsonable(cross_validate(data, factory, learning_curve=None))
               if evaluate and len(set(data.groups)) >= 2 else None)
    model = factory.fit(data)
    save_model(model, folder, name=name, codebook_hash=ws.store.codebook().hash(),
               training_data_hash=training_data_hash(data.texts, data.Y, data.labels), coders=data.coders,
               metrics=metrics)
    return read_card(folder)


def evaluate(ws: Workspace, name: str | None = None, *, coder: str | None = None,
             report: Path | None = None) -> dict[str, Any]:
    """Cross-validate a saved model's settings on the workspace's coded groups (and write a report)."""
    name = name or ws.default_model()
    embedder = ws.embedder()
    factory = ClassifierFactory.like(load_model(ws, name, embedder=embedder), embedder)
    data = training_data(ws.store, coder or trained_coders(ws, name))
    check_trainable(data)
    result = cross_validate(data, factory)
    if report:
        write_html_report(result, Path(report) / "index.html", title=f"autocode model {name}: cross-validation")
    out = jsonable(result)
    out["per_code"] = [{"code": code, **m} for code, m in result["per_code"].items()]
    return out
