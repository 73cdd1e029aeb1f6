"""Position conventions: normalisation, conversion, word boundaries, detection."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autocode.refi.positions import (
    CODEPOINT,
    CODEPOINT_LF,
    CONVENTIONS,
    UTF16_CRLF_BOM,
    UTF16_LF,
    PositionMap,
    detect_convention,
    normalise_text,
    on_word_boundary,
)


def utf16_offset(stored: str, index: int) -> int:
    """What NVivo writes for code point ``index`` of the stored text."""
    return len(stored[:index].encode("utf-16-le")) // 2


def test_normalise_drops_bom_and_cr() -> None:
    assert normalise_text("\ufeffa\r\nb\rc\n") == "a\nb\nc\n"


def test_codepoint_offsets_skip_dropped_cr() -> None:
    pmap = PositionMap("ab\r\ncd")
    assert pmap.text == "ab\ncd"
    assert [pmap.to_text(i, CODEPOINT) for i in range(7)] == [0, 1, 2, 2, 3, 4, 5]
    assert pmap.to_text(7, CODEPOINT) is None


def test_utf16_offsets_count_surrogate_pairs_and_crlf() -> None:
    stored = "\ufeffa😩b\r\nc"
    pmap = PositionMap(stored)
    assert pmap.text == "a😩b\nc"
    # units after the BOM: a=0, 😩=1-2, b=3, CR=4, LF=5, c=6, end=7
    assert pmap.to_text(1, UTF16_CRLF_BOM) == 1
    assert pmap.to_text(2, UTF16_CRLF_BOM) is None  # inside the pair
    assert pmap.to_text(3, UTF16_CRLF_BOM) == 2
    assert pmap.to_text(6, UTF16_CRLF_BOM) == 4
    assert pmap.to_text(7, UTF16_CRLF_BOM) == 5
    assert pmap.to_text(8, UTF16_CRLF_BOM) is None
    assert pmap.to_text(6, UTF16_LF) == 5
    assert pmap.length(UTF16_LF) == 6 and pmap.length(CODEPOINT_LF) == 5


def test_word_boundaries_keep_accents_with_their_letter() -> None:
    text = "cafe\u0301 au lait"
    assert on_word_boundary(text, 0) and on_word_boundary(text, 5) and on_word_boundary(text, 6)
    assert not on_word_boundary(text, 4)  # between e and its combining accent
    assert not on_word_boundary(text, 2)


_ALPHABET = st.sampled_from(list("ab é\u0301\n\r") + ["\r\n", "😩", "👍🏽", "𝔘", "ß", "\t"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join), st.data())
def test_every_convention_inverts_its_own_count(stored: str, data: st.DataObject) -> None:
    """A code point of the stored text, written under each convention, reads back."""
    pmap = PositionMap(stored)
    index = data.draw(st.integers(0, len(stored)))
    splits_crlf = 0 < index < len(stored) and stored[index - 1 : index + 1] == "\r\n"
    expected = len(normalise_text(stored[:index])) - splits_crlf  # mid-CRLF: before the LF
    assert pmap.to_text(index, CODEPOINT) == expected
    assert pmap.to_text(utf16_offset(stored, index), UTF16_CRLF_BOM) == expected
    assert pmap.to_text(expected, CODEPOINT_LF) == expected
    assert pmap.to_text(utf16_offset(pmap.text, expected), UTF16_LF) == expected


def _word_spans(text: str, rng: random.Random, count: int) -> list[tuple[int, int]]:
    words = [(m, m + len(w)) for m, w in _word_starts(text)]
    spans = []
    for _ in range(count):
        i = rng.randrange(len(words))
        j = rng.randrange(i, min(i + 8, len(words)))
        spans.append((words[i][0], words[j][1]))
    return spans


def _word_starts(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for word in text.replace("\n", " ").split(" "):
        if word:
            out.append((pos, word))
        pos += len(word) + 1
    return out


def _corpus(rng: random.Random) -> str:
    vocab = ["szép", "oltás", "vaccine", "😩", "naïve", "über", "🇭🇺", "ok", "mondta:", "a", "the"]
    lines = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 12))) for _ in range(200)]
    return "\r\n".join(lines)


@pytest.mark.parametrize("convention", [CODEPOINT, UTF16_CRLF_BOM, CODEPOINT_LF, UTF16_LF])
def test_detection_finds_the_convention_a_file_uses(convention: str) -> None:
    rng = random.Random(7)
    stored = _corpus(rng)
    pmap = PositionMap(stored)
    written = []
    for start, end in _word_spans(stored, rng, 60):
        if convention == CODEPOINT:
            offsets = (start, end)
        elif convention == UTF16_CRLF_BOM:
            offsets = (utf16_offset(stored, start), utf16_offset(stored, end))
        else:
            a, b = len(normalise_text(stored[:start])), len(normalise_text(stored[:end]))
            lf = pmap.text
            offsets = (
                (a, b) if convention == CODEPOINT_LF else (utf16_offset(lf, a), utf16_offset(lf, b))
            )
        written.append((pmap, *offsets))
    report = detect_convention(written, origin="Some QDA tool 1.0")
    assert report.chosen == convention, report.summary()
    assert report.on_boundaries[convention] == 60
    assert set(report.on_boundaries) == set(CONVENTIONS)


def test_detection_ties_go_to_the_origin() -> None:
    pmap = PositionMap("plain ascii text\nwith no surprises")
    spans = [(pmap, 0, 5), (pmap, 6, 11)]
    assert detect_convention(spans, "NVivo for Windows 12.6").chosen == UTF16_CRLF_BOM
    assert detect_convention(spans, "QualCoder 3.5").chosen == CODEPOINT
    assert detect_convention([], None).chosen == CODEPOINT


def test_little_evidence_does_not_overrule_the_origin() -> None:
    """One selection that happens to fit UTF-16 better is not enough to switch."""
    pmap = PositionMap("a👍🏽a日本")
    assert detect_convention([(pmap, 0, 5)], "QualCoder 3.5").chosen == CODEPOINT
    report = detect_convention([(pmap, 0, 5)] * 40, "autocode 0.1.0")
    assert report.chosen == CODEPOINT and report.on_boundaries[UTF16_CRLF_BOM] == 40
