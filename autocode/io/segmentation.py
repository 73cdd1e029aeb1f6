"""Cutting speaker turns into segments: one per turn, long turns into sentence windows.

Sentences come from spaCy's rule-based ``sentencizer`` on ``spacy.blank("en")``
(no model download). The moderator rule lives here too: who is a moderator, and whether
their turns are offered for coding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from ..records import NewSegment
from .transcripts import Transcript

MODERATOR_RE = re.compile(r"^(moderator|facilitator|interviewer|researcher|mod|chair|host)\b", re.I)


def is_moderator(speaker: str | None, pattern: str | None = None) -> bool:
    """Whether ``speaker`` is a moderator (``pattern``: a regular expression; default: Moderator, ...)."""
    if not speaker:
        return False
    return bool((re.compile(pattern, re.I) if pattern else MODERATOR_RE).search(speaker.strip()))


@dataclass(frozen=True)
class SegmentationConfig:
    """``max_words``: a turn longer than this is split into windows of whole sentences of
    about ``window_words`` words. ``code_moderator``: offer moderator turns for coding."""

    max_words: int = 120
    window_words: int = 60
    code_moderator: bool = False
    moderator_pattern: str | None = None

    def role(self, speaker: str | None) -> str:
        """``"moderator"`` or ``"participant"``."""
        return "moderator" if is_moderator(speaker, self.moderator_pattern) else "participant"

    def codable(self, speaker: str | None) -> bool:
        """The one codable rule: every turn but a moderator's, unless moderators are coded too."""
        return self.code_moderator or not is_moderator(speaker, self.moderator_pattern)


@lru_cache(maxsize=1)
def _nlp():
    import spacy  # heavy: loaded only when a long turn has to be split

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def split_turn(text: str, start: int, config: SegmentationConfig) -> list[tuple[int, int]]:
    """Character spans (absolute, end exclusive) of the segments of one turn."""
    if len(text.split()) <= config.max_words:
        return [(start, start + len(text))]
    nlp = _nlp()
    nlp.max_length = max(nlp.max_length, len(text) + 1)  # the sentencizer needs no parser memory: any length
    doc = nlp(text)
    spans: list[tuple[int, int]] = []
    cur_start, cur_words, prev_end = None, 0, 0
    for sent in doc.sents:
        n = len(sent.text.split())
        if cur_start is not None and cur_words + n > config.window_words and cur_words > 0:
            spans.append((cur_start, prev_end))
            cur_start, cur_words = None, 0
        if cur_start is None:
            cur_start = sent.start_char
        cur_words += n
        prev_end = sent.end_char
    if cur_start is not None:
        spans.append((cur_start, prev_end))
    # strip trailing whitespace inside each span, keep offsets exact
    out = []
    for s, e in spans:
        piece = text[s:e]
        e -= len(piece) - len(piece.rstrip())
        s += len(piece) - len(piece.lstrip())
        if e > s:
            out.append((start + s, start + e))
    return out


def transcript_segments(doc: Transcript, config: SegmentationConfig) -> list[NewSegment]:
    """The segments of a transcript, not yet stored: text, offsets, speaker, role, turn, codable."""
    out: list[NewSegment] = []
    for turn_no, turn in enumerate(doc.turns):
        for start, end in split_turn(doc.turn_text(turn), turn.start, config):
            out.append(NewSegment(text=doc.text[start:end], start=start, end=end, speaker=turn.speaker,
                                  role=config.role(turn.speaker), turn=turn_no, codable=config.codable(turn.speaker),
                                  timestamp=turn.timestamp))
    return out


def coding_warnings(name: str, segments: Sequence[NewSegment]) -> list[str]:
    """What a researcher should hear about a document that imports but offers nothing to code:
    one line each, naming the document (``name``: its file or group)."""
    if not segments:
        return [f"{name}: no text: nothing to code"]
    if not any(s.codable for s in segments):
        return [f"{name}: no participant turns: nothing to code (every turn is a moderator's); check the speaker "
                "labels, or set code_moderator = true in autocode.toml to code the moderator's turns"]
    return []
