"""Text normalisation and the conventions tools use to count selection positions.

The REFI-QDA spec counts ``PlainTextSelection`` positions in Unicode code points.
Real exports differ: NVivo 12 counts UTF-16 code units over the text as stored,
CRLF as two, not counting the BOM. autocode keeps every text LF-only and BOM-less
and every position in code points of that text; this module converts.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass, field

CODEPOINT = "codepoint"
CODEPOINT_LF = "codepoint-lf"
UTF16_CRLF_BOM = "utf16-crlf-bom"
UTF16_LF = "utf16-lf"

#: Every convention a reader can detect, with what it means.
CONVENTIONS: dict[str, str] = {
    CODEPOINT: "Unicode code points of the text as stored (the REFI-QDA spec)",
    CODEPOINT_LF: "Unicode code points after CRLF/CR are turned into LF",
    UTF16_CRLF_BOM: "UTF-16 code units of the text as stored, CRLF as 2, BOM not counted (NVivo)",
    UTF16_LF: "UTF-16 code units after CRLF/CR are turned into LF",
}

_BOM = "\ufeff"
_CRLF = re.compile("\r\n")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def strip_bom(text: str) -> str:
    """``text`` without a leading byte-order mark."""
    return text[1:] if text.startswith(_BOM) else text


def normalise_text(text: str) -> str:
    """LF-only, BOM-less text: CRLF and lone CR become LF."""
    return strip_bom(text).replace("\r\n", "\n").replace("\r", "\n")


def _astral_unit_starts(text: str) -> list[int]:
    """UTF-16 unit offset of each astral (surrogate-pair) character, in order."""
    starts = []
    for k, match in enumerate(_ASTRAL.finditer(text)):
        starts.append(match.start() + k)  # k earlier astral chars each add one unit
    return starts


def _units_to_codepoints(unit: int, astral_starts: list[int]) -> int | None:
    """Code-point offset of a UTF-16 unit offset; None inside a surrogate pair."""
    before = bisect_left(astral_starts, unit - 1)  # pairs that end at or before unit
    if before < len(astral_starts) and astral_starts[before] == unit - 1:
        return None
    return unit - before


class PositionMap:
    """Converts offsets into one stored text, under any convention, to code
    points of its normalised text (and back, for code points)."""

    def __init__(self, stored: str) -> None:
        self.stored = strip_bom(stored)
        self.text = normalise_text(self.stored)
        self._dropped_cr = [m.start() for m in _CRLF.finditer(self.stored)]
        self._astral_stored = _astral_unit_starts(self.stored)
        self._astral_text = _astral_unit_starts(self.text)

    def length(self, convention: str) -> int:
        """How long the text is, counted under ``convention``."""
        if convention == CODEPOINT:
            return len(self.stored)
        if convention == CODEPOINT_LF:
            return len(self.text)
        if convention == UTF16_CRLF_BOM:
            return len(self.stored) + len(self._astral_stored)
        if convention == UTF16_LF:
            return len(self.text) + len(self._astral_text)
        raise ValueError(f"unknown position convention {convention!r}")

    def _stored_to_text(self, index: int) -> int:
        """Code point in the stored text -> code point in the normalised text."""
        return index - bisect_left(self._dropped_cr, index)

    def to_text(self, offset: int, convention: str) -> int | None:
        """``offset`` under ``convention`` as a code point of ``self.text``.

        None when the offset is negative, past the end, or splits a surrogate pair.
        An offset between CR and LF lands before the LF.
        """
        if offset < 0 or offset > self.length(convention):
            return None
        if convention == CODEPOINT:
            return self._stored_to_text(offset)
        if convention == CODEPOINT_LF:
            return offset
        if convention == UTF16_CRLF_BOM:
            index = _units_to_codepoints(offset, self._astral_stored)
            return None if index is None else self._stored_to_text(index)
        if convention == UTF16_LF:
            return _units_to_codepoints(offset, self._astral_text)
        raise ValueError(f"unknown position convention {convention!r}")


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_" or unicodedata.category(char).startswith("M")


def on_word_boundary(text: str, index: int) -> bool:
    """True when ``index`` does not cut a word (or a letter and its accents) in two."""
    if index <= 0 or index >= len(text):
        return True
    return not (_is_word_char(text[index - 1]) and _is_word_char(text[index]))


def prior_order(origin: str | None) -> list[str]:
    """Conventions in the order to prefer them when the evidence ties."""
    if origin and "nvivo" in origin.lower():
        return [UTF16_CRLF_BOM, CODEPOINT, CODEPOINT_LF, UTF16_LF]
    return [CODEPOINT, CODEPOINT_LF, UTF16_CRLF_BOM, UTF16_LF]


def trusted_origin(origin: str | None) -> bool:
    """True for files whose convention is known for certain (autocode's own: code points)."""
    return bool(origin) and origin.lower().startswith("autocode")  # type: ignore[union-attr]


def required_margin(total: int) -> int:
    """How many more selections on word boundaries it takes to overrule the origin's convention."""
    return max(3, -(-total // 20))  # at least 3, or 5% of the selections


@dataclass
class ConventionReport:
    """What detection found: the chosen convention and the evidence per candidate."""

    chosen: str
    total: int  # selections scored
    on_boundaries: dict[str, int] = field(default_factory=dict)  # both ends on word boundaries
    invalid: dict[str, int] = field(default_factory=dict)  # out of range or inside a pair

    def summary(self) -> str:
        """One line for ``QdaProject.notes``."""
        parts = [
            f"{name} {self.on_boundaries[name]}"
            + (f" ({self.invalid[name]} do not fit the text)" if self.invalid[name] else "")
            for name in self.on_boundaries
        ]
        return (
            f"positions read as {self.chosen}: {CONVENTIONS[self.chosen]}; "
            f"selections with both ends on word boundaries, of {self.total}: " + ", ".join(parts)
        )


def detect_convention(
    spans: list[tuple[PositionMap, int, int]], origin: str | None = None
) -> ConventionReport:
    """Pick the convention under which the most selections land on word boundaries.

    ``spans`` holds (map of the source text, start, end) as written in the file.
    Only the candidates that put the fewest selections outside their text stay
    in the running. The origin's usual convention (NVivo: UTF-16 units; anything
    else: the spec's code points) is kept unless another lands at least
    ``required_margin`` more selections with both ends on word boundaries.
    Files autocode wrote are always read as code points.
    """
    order = prior_order(origin)
    report = ConventionReport(chosen=order[0], total=len(spans))
    for name in order:
        good = bad = 0
        for pmap, start, end in spans:
            a, b = pmap.to_text(start, name), pmap.to_text(end, name)
            if a is None or b is None or b < a:
                bad += 1
            elif on_word_boundary(pmap.text, a) and on_word_boundary(pmap.text, b):
                good += 1
        report.on_boundaries[name] = good
        report.invalid[name] = bad
    if trusted_origin(origin):
        return report
    fewest = min(report.invalid.values())
    running = [name for name in order if report.invalid[name] == fewest]
    default = running[0]
    best = max(running, key=lambda n: (report.on_boundaries[n], -order.index(n)))
    gain = report.on_boundaries[best] - report.on_boundaries[default]
    report.chosen = best if gain >= required_margin(len(spans)) else default
    return report
