"""From the store to a trained model and back: training data, contexts, saving and loading."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .codebook import Codebook
from .errors import InputError, WorkspaceError
from .store import Segment, Store
from .workspace import Workspace

HUMAN_SOURCES = ("human", "accepted", "corrected")


@dataclass
class TrainingData:
    """Coded segments as arrays: ``Y[i, j]`` is 1 when segment i carries ``labels[j]`` (closed upward)."""

    segments: list[Segment]
    texts: list[str]
    contexts: list[str]
    groups: list[str]
    Y: np.ndarray
    labels: list[str]
    exclusive: list[list[str]]
    coders: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def preceding_contexts(turns: Sequence[tuple[Any, bool, str]]) -> list[str]:
    """For (turn id, is moderator, text) in document order: the moderator's most recent turn
    before each item (the question being answered), else the turn just before it, else ""."""
    out: list[str] = []
    last_moderator, previous = "", ""
    parts: list[str] = []
    current, current_is_mod = object(), False
    for turn, is_mod, text in turns:
        if turn != current:
            if parts:
                previous = " ".join(parts)
                if current_is_mod:
                    last_moderator = previous
            parts, current, current_is_mod = [], turn, is_mod
        out.append(last_moderator or previous)
        parts.append(text)
    return out


def contexts_for(store: Store, segments: Sequence[Segment]) -> list[str]:
    """The context (see :func:`preceding_contexts`) of each stored segment."""
    wanted = {s.id for s in segments}
    context: dict[int, str] = {}
    for doc in {s.document for s in segments}:
        all_segments = store.segments(document=doc)
        ctx = preceding_contexts([(s.turn, s.role == "moderator", s.text) for s in all_segments])
        context.update((s.id, c) for s, c in zip(all_segments, ctx) if s.id in wanted)
    return [context.get(s.id, "") for s in segments]


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


def training_data(store: Store, coder: str | None = None, *, group: str | None = None) -> TrainingData:
    """The segments ``coder`` coded (default: the consensus of all human coders), with their codes."""
    book = store.codebook()
    coders = [coder] if coder else human_coders(store)
    if coder and coder not in {c["name"] for c in store.coders()}:
        raise InputError(f"no coder named {coder!r} in the workspace",
                         hint=f"known coders: {', '.join(human_coders(store)) or 'none yet: import coded segments'}")
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
        groups=[s.document for s in segments], Y=Y, labels=labels, exclusive=book.exclusive_sets(), coders=coders)


def valence_labels(book: Codebook) -> list[str]:
    """Codes of flat, non-exclusive groups other than the first hierarchy (e.g. Barrier/Enabler)."""
    return [c.path for c in book if c.group.lower() == "valence" and c.codable]


def model_dir(ws: Workspace, name: str) -> Path:
    if not name or any(ch in name for ch in "/\\") or name.startswith("."):
        raise InputError(f"bad model name {name!r}", hint="use letters, digits, '-' and '_'")
    return ws.models_dir / name


def load_model(ws: Workspace, name: str, embedder=None) -> Any:
    """A saved model of this workspace (weights and JSON only, never pickle)."""
    from .classifier.persist import load_model as _load

    folder = model_dir(ws, name)
    if not (folder / "model.json").exists() and not any(folder.glob("*.json")):
        known = sorted(p.name for p in ws.models_dir.iterdir() if p.is_dir()) if ws.models_dir.exists() else []
        raise WorkspaceError(f"no model named {name!r} in {ws.models_dir}; train one with `autocode train --name {name}`"
                             + (f" (models here: {', '.join(known)})" if known else ""))
    return _load(folder, embedder=embedder)


def embedder_for(ws: Workspace):
    from .embeddings import Embedder

    return Embedder(ws.embedding_cache)
