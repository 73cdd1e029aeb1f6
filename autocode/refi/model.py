"""In-memory model of a REFI-QDA project: users, codes, text sources, selections.

Positions in this model are always Unicode code points into ``QdaSource.text``,
which is LF-only and BOM-less; ``end`` is exclusive. Readers convert whatever a
file uses into this, and writers convert back out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


@dataclass
class QdaUser:
    """A person (or model) who created codes or codings."""

    guid: str
    name: str = ""
    id: str | None = None  # REFI's optional short user id (NVivo writes one)


@dataclass
class QdaCode:
    """A code in the codebook; ``children`` makes the codebook a forest."""

    guid: str
    name: str
    is_codable: bool = True
    color: str | None = None  # "#RRGGBB" or "#RGB"
    description: str | None = None
    children: list[QdaCode] = field(default_factory=list)

    def walk(self) -> Iterator[QdaCode]:
        """This code, then its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass
class QdaSource:
    """A text document; ``text`` is normalised to LF line ends with no BOM."""

    guid: str
    name: str
    text: str
    description: str | None = None
    creating_user: str | None = None
    created: datetime | None = None
    modifying_user: str | None = None
    modified: datetime | None = None
    #: the source's rich text (``richTextPath``: NVivo's .docx) as it was in the archive, and
    #: its member name there (without ``internal://`` or the folder); carried, never read
    rich_text: bytes | None = None
    rich_text_path: str | None = None


class QdaCoding(NamedTuple):
    """One code applied to a selection by one coder (``Coding@creatingUser``); ``guid`` is the
    Coding's own (None: the writer makes a stable one)."""

    code_guid: str
    user_guid: str | None
    created: datetime | None
    guid: str | None = None


@dataclass
class QdaSet:
    """A named set of codes (REFI ``<Set>`` with ``<MemberCode>``s; ATLAS.ti's code groups)."""

    guid: str
    name: str
    code_guids: list[str] = field(default_factory=list)
    description: str | None = None


@dataclass
class QdaSelection:
    """A span of a source, ``text[start:end]`` in code points, with its codings."""

    guid: str
    source_guid: str
    start: int
    end: int
    name: str | None = None
    codings: list[QdaCoding] = field(default_factory=list)
    description: str | None = None
    creating_user: str | None = None
    created: datetime | None = None
    modifying_user: str | None = None
    modified: datetime | None = None


@dataclass
class QdaProject:
    """A whole project as read from, or to be written to, an exchange file.

    ``position_convention`` says how the file that was read counted positions
    (see ``autocode.refi.positions.CONVENTIONS``); the selections here are already
    converted to code points. ``notes`` are human-readable remarks about the
    import (what was detected, what was skipped).
    """

    name: str
    origin: str | None = None
    users: list[QdaUser] = field(default_factory=list)
    codes: list[QdaCode] = field(default_factory=list)
    sources: list[QdaSource] = field(default_factory=list)
    selections: list[QdaSelection] = field(default_factory=list)
    sets: list[QdaSet] = field(default_factory=list)
    position_convention: str = "codepoint"
    notes: list[str] = field(default_factory=list)
    convention_scores: dict[str, int] = field(default_factory=dict)
    description: str | None = None
    creating_user: str | None = None
    created: datetime | None = None
    modifying_user: str | None = None
    modified: datetime | None = None

    def iter_codes(self) -> Iterator[QdaCode]:
        """Every code of the forest, depth first."""
        for code in self.codes:
            yield from code.walk()

    def code_by_guid(self) -> dict[str, QdaCode]:
        """Codes keyed by guid."""
        return {code.guid: code for code in self.iter_codes()}

    def source_by_guid(self) -> dict[str, QdaSource]:
        """Sources keyed by guid."""
        return {source.guid: source for source in self.sources}

    def user_by_guid(self) -> dict[str, QdaUser]:
        """Users keyed by guid."""
        return {user.guid: user for user in self.users}

    def selections_of(self, source_guid: str) -> list[QdaSelection]:
        """The selections of one source, in project order."""
        return [s for s in self.selections if s.source_guid == source_guid]

    def selected_text(self, selection: QdaSelection) -> str:
        """The text a selection covers."""
        source = self.source_by_guid()[selection.source_guid]
        return source.text[selection.start : selection.end]
