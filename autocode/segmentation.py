"""Cutting speaker turns into segments: one per turn, long turns into sentence windows.

Sentences come from spaCy's rule-based ``sentencizer`` on ``spacy.blank("en")``
(no model download).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class SegmentationConfig:
    """``max_words``: a turn longer than this is split into windows of whole sentences of
    about ``window_words`` words. ``code_moderator``: offer moderator turns for coding."""

    max_words: int = 120
    window_words: int = 60
    code_moderator: bool = False
    moderator_pattern: str | None = None


@lru_cache(maxsize=1)
def _nlp():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def split_turn(text: str, start: int, config: SegmentationConfig) -> list[tuple[int, int]]:
    """Character spans (absolute, end exclusive) of the segments of one turn."""
    if len(text.split()) <= config.max_words:
        return [(start, start + len(text))]
    doc = _nlp()(text)
    spans: list[tuple[int, int]] = []
    cur_start, cur_words = None, 0
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
