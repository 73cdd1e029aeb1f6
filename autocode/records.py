"""The shared vocabulary: the records every layer passes around, and the rules that belong to them.

Plain dataclasses and pure functions only; this module imports nothing of autocode but
:mod:`autocode.errors`, so engines, the store and the app layer can all speak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

#: Where a coding came from: a person's own coding, a model's suggestion, or a session
#: answer that accepted the suggestion as it was or corrected it.
SOURCES = ("human", "model", "accepted", "corrected")
#: The sources that are a person's decision (what a model trains on and is judged against).
HUMAN_SOURCES = ("human", "accepted", "corrected")

#: A model coder's name is this prefix plus the model's name: ``model:default``.
MODEL_CODER_PREFIX = "model:"


def model_coder(model_name: str) -> str:
    """The coder under which a model's suggestions are stored: ``model:NAME``."""
    return MODEL_CODER_PREFIX + model_name


def model_of(coder: str) -> str | None:
    """The model's name when ``coder`` is a model coder, else None."""
    return coder[len(MODEL_CODER_PREFIX):] if coder.startswith(MODEL_CODER_PREFIX) else None


def coder_kind(coder: str) -> str:
    """``"model"`` for a model coder, ``"human"`` otherwise."""
    return "model" if model_of(coder) is not None else "human"


@dataclass
class Document:
    """A stored document (a focus group, an interview, a project source)."""

    id: int
    name: str
    text: str
    format: str
    source_path: str | None = None
    guid: str | None = None


@dataclass
class NewSegment:
    """A segment cut from a document, not yet stored (offsets into the document's text)."""

    text: str
    start: int
    end: int
    speaker: str | None
    role: str
    turn: int
    codable: bool
    timestamp: str | None = None
    ext_id: str | None = None


@dataclass
class Segment:
    """A stored segment: what is coded, with its place in its document."""

    id: int
    document: str
    ext_id: str | None
    position: int
    turn: int
    speaker: str | None
    role: str | None
    text: str
    start: int
    end: int
    codable: bool
    timestamp: str | None = None


@dataclass
class Selection:
    """An exact coded span (a REFI-QDA selection) with one coding on it, kept so that export loses
    nothing. ``coder`` applied ``code`` (``Coding@creatingUser``) at ``created_at``; ``creator``
    made the span (``PlainTextSelection@creatingUser``, None: the coder) at ``selected_at``. Rows
    that share a ``guid`` are one selection with several codings."""

    id: int
    document: str
    code: str
    coder: str
    start: int
    end: int
    guid: str | None = None
    name: str | None = None
    created_at: str | None = None
    coding_guid: str | None = None
    description: str | None = None
    creator: str | None = None
    selected_at: str | None = None
    modifier: str | None = None
    modified_at: str | None = None


@dataclass
class Coding:
    """One code applied to one stored segment by one coder, with the segment's span and the
    coding's provenance (``source``, and for a model's suggestion its probability and version)."""

    id: int
    segment_id: int
    document: str
    start: int
    end: int
    code: str
    coder: str
    created_at: str | None = None
    source: str | None = None
    probability: float | None = None
    model_version: str | None = None
    note: str | None = None  # a model's reason for this code: its words, coded segments with and without it


@dataclass
class Coder:
    """A coder of the workspace, with the identity a QDA suite gave them (REFI ``User``)."""

    name: str
    kind: str
    guid: str | None = None
    refi_id: str | None = None


@dataclass
class CodeSet:
    """A named set of codes (REFI ``<Set>``, ATLAS.ti's code groups), kept as imported."""

    guid: str
    name: str
    codes: list[str]
    description: str | None = None


@dataclass
class Unit:
    """A segment to suggest codes for; ``segment_id`` is set when it is in the store."""

    id: str
    group: str
    speaker: str | None
    text: str
    context: str
    segment_id: int | None = None


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
    #: "name: description" of the codebook's described codes, by path: learnt as a prior
    prototypes: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


def preceding_contexts(turns: Sequence[tuple[Any, bool, str]]) -> list[str]:
    """The context rule. For (turn id, is moderator, text) in document order: the moderator's
    most recent turn before each item (the question being answered), else the turn just
    before it, else ""."""
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
