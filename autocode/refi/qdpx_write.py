"""Write a REFI-QDA project (.qdpx) that validates against Project.xsd.

Output is deterministic: the same QdaProject gives the same bytes. Sources are
written as LF-only, BOM-less UTF-8 under ``sources/<guid>.txt`` and positions
are code points into those files, as the spec says; a source's rich text (its
``richTextPath`` member, NVivo's .docx) is written back byte for byte under its
own name in ``sources/``. No dates are invented: the zip entries carry the fixed
1980-01-01 zip epoch, the XML only dates it was given.
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path, PurePosixPath

from lxml import etree

from autocode._version import __version__
from autocode.refi.model import QdaProject, QdaSelection, QdaSource
from autocode.refi.positions import CODEPOINT, PositionMap, normalise_text
from autocode.refi.qdc import codes_to_xml, sets_to_xml
from autocode.refi.xmlutil import (
    PROJECT_NS,
    GuidMap,
    derived_guid,
    format_datetime,
    write_atomically,
    xml_safe,
)

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _q(local: str) -> str:
    return f"{{{PROJECT_NS}}}{local}"


def _set_optional(element: etree._Element, attr: str, value: str | datetime | None) -> None:
    if value is None:
        return
    element.set(attr, format_datetime(value) if isinstance(value, datetime) else xml_safe(value))


def _add_description(element: etree._Element, text: str | None) -> None:
    if text:
        etree.SubElement(element, _q("Description")).text = xml_safe(text)


class _Writer:
    """One export of one project; holds the guid maps so references agree."""

    def __init__(self, project: QdaProject) -> None:
        self.project = project
        self.users = GuidMap("user")
        self.codes = GuidMap("code")
        self.sources = GuidMap("source")
        self.selections = GuidMap("selection")
        self.codings = GuidMap("coding")
        codes = list(project.iter_codes())
        for kind, things in (("user", project.users), ("code", codes), ("source", project.sources)):
            guids = [t.guid for t in things if t.guid]
            if len(guids) != len(set(guids)):
                raise ValueError(f"two {kind}s share a guid")
        self.known_users = {u.guid for u in project.users}
        self.known_codes = {c.guid for c in codes}
        # own guids first, so that references to them agree
        self.user_out = [self.users.define(u.guid, u.name) for u in project.users]
        self.code_out = {id(c): self.codes.define(c.guid, c.name) for c in codes}

    def user_attr(self, guid: str | None) -> str | None:
        """The written guid of a user, or None when there is no such user."""
        if guid is None or guid not in self.known_users:
            return None
        return self.users.ref(guid)

    def texts_and_spans(self) -> tuple[dict[str, str], dict[int, tuple[int, int]]]:
        """Normalised text per source guid, and each selection's code-point span in it."""
        texts: dict[str, str] = {}
        maps: dict[str, PositionMap | None] = {}
        for source in self.project.sources:
            if source.guid in texts:
                raise ValueError(f"two sources share guid {source.guid}")
            text = normalise_text(source.text)
            texts[source.guid] = text
            maps[source.guid] = None if text == source.text else PositionMap(source.text)
        self.source_text = {source.guid: source.text for source in self.project.sources}
        spans: dict[int, tuple[int, int]] = {}
        for selection in self.project.selections:
            if selection.source_guid not in texts:
                raise ValueError(
                    f"selection {selection.guid} names source {selection.source_guid}, "
                    "which the project does not hold"
                )
            pmap = maps[selection.source_guid]
            start: int | None = selection.start
            end: int | None = selection.end
            if pmap is not None:  # text had CR or a BOM: carry positions over
                bom = 1 if pmap.stored != self.source_text[selection.source_guid] else 0
                start, end = (
                    pmap.to_text(max(selection.start - bom, 0), CODEPOINT),
                    pmap.to_text(max(selection.end - bom, 0), CODEPOINT),
                )
            size = len(texts[selection.source_guid])
            if start is None or end is None or not 0 <= start <= end <= size:
                raise ValueError(
                    f"selection {selection.guid} ({selection.start}-{selection.end}) "
                    f"does not fit its source ({size} characters)"
                )
            for coding in selection.codings:
                if coding.code_guid not in self.known_codes:
                    raise ValueError(
                        f"selection {selection.guid} is coded with {coding.code_guid}, "
                        "which is not in the codebook"
                    )
                if coding.user_guid is not None and coding.user_guid not in self.known_users:
                    raise ValueError(
                        f"selection {selection.guid} is coded by user {coding.user_guid}, "
                        "who is not in project.users"
                    )
            spans[id(selection)] = (start, end)
        return texts, spans

    def selection_xml(
        self, parent: etree._Element, selection: QdaSelection, span: tuple[int, int]
    ) -> None:
        sel_guid = self.selections.define(selection.guid, selection.source_guid, *span)
        element = etree.SubElement(parent, _q("PlainTextSelection"))
        element.set("guid", sel_guid)
        _set_optional(element, "name", selection.name)
        element.set("startPosition", str(span[0]))
        element.set("endPosition", str(span[1]))
        _set_optional(element, "creatingUser", self.user_attr(selection.creating_user))
        _set_optional(element, "creationDateTime", selection.created)
        _set_optional(element, "modifyingUser", self.user_attr(selection.modifying_user))
        _set_optional(element, "modifiedDateTime", selection.modified)
        _add_description(element, selection.description)
        for index, coding in enumerate(selection.codings):
            code_guid = self.codes.ref(coding.code_guid)
            user_guid = self.user_attr(coding.user_guid)
            coding_el = etree.SubElement(element, _q("Coding"))
            own = self.codings.ref(coding.guid) if coding.guid and coding.guid.strip() else None
            coding_el.set("guid", own or derived_guid("coding", sel_guid, index, code_guid, user_guid))
            _set_optional(coding_el, "creatingUser", user_guid)
            _set_optional(coding_el, "creationDateTime", coding.created)
            etree.SubElement(coding_el, _q("CodeRef")).set("targetGUID", code_guid)

    def source_xml(
        self,
        parent: etree._Element,
        source: QdaSource,
        index: int,
        spans: dict[int, tuple[int, int]],
        rich_name: str | None,
    ) -> str:
        guid = self.sources.define(source.guid, source.name, index)
        element = etree.SubElement(parent, _q("TextSource"))
        element.set("guid", guid)
        element.set("name", xml_safe(source.name))
        if rich_name is not None:
            element.set("richTextPath", f"internal://{rich_name}")
        element.set("plainTextPath", f"internal://{guid}.txt")
        _set_optional(element, "creatingUser", self.user_attr(source.creating_user))
        _set_optional(element, "creationDateTime", source.created)
        _set_optional(element, "modifyingUser", self.user_attr(source.modifying_user))
        _set_optional(element, "modifiedDateTime", source.modified)
        _add_description(element, source.description)
        for selection in self.project.selections:
            if selection.source_guid == source.guid:
                self.selection_xml(element, selection, spans[id(selection)])
        return guid

    def rich_names(self) -> dict[int, str]:
        """The member name in ``sources/`` of each source's rich text, by source index: its own
        name when that is a plain file name no other member takes, else one made from its guid."""
        taken = {f"{self.sources.ref(s.guid) if s.guid and s.guid.strip() else ''}.txt".lower()
                 for s in self.project.sources}
        names: dict[int, str] = {}
        for index, source in enumerate(self.project.sources):
            if source.rich_text is None:
                continue
            own = PurePosixPath((source.rich_text_path or "").replace("\\", "/")).name
            suffix = PurePosixPath(own).suffix if own else ".docx"
            name = own if own and own not in (".", "..") and own.lower() not in taken else ""
            n = 0
            while not name or name.lower() in taken:
                n += 1
                name = f"{derived_guid('rich text', source.guid, source.name, index, n)}{suffix}"
            taken.add(name.lower())
            names[index] = name
        return names

    def build(self, origin: str | None) -> list[tuple[str, bytes]]:
        """The archive's members, in order: project.qde, then one file per source."""
        project = self.project
        texts, spans = self.texts_and_spans()
        root = etree.Element(_q("Project"), nsmap={None: PROJECT_NS})
        root.set("name", xml_safe(project.name))
        root.set("origin", xml_safe(origin or f"autocode {__version__}"))
        _set_optional(root, "creatingUserGUID", self.user_attr(project.creating_user))
        _set_optional(root, "creationDateTime", project.created)
        _set_optional(root, "modifyingUserGUID", self.user_attr(project.modifying_user))
        _set_optional(root, "modifiedDateTime", project.modified)
        if project.users:
            users_el = etree.SubElement(root, _q("Users"))
            for user, guid in zip(project.users, self.user_out, strict=True):
                user_el = etree.SubElement(users_el, _q("User"))
                user_el.set("guid", guid)
                if user.name:
                    user_el.set("name", xml_safe(user.name))
                _set_optional(user_el, "id", user.id)
        if project.codes:
            codes_el = etree.SubElement(etree.SubElement(root, _q("CodeBook")), _q("Codes"))
            codes_to_xml(codes_el, project.codes, PROJECT_NS, lambda c: self.code_out[id(c)])
        files: list[tuple[str, bytes]] = []
        if project.sources:
            sources_el = etree.SubElement(root, _q("Sources"))
            rich_names = self.rich_names()
            for index, source in enumerate(project.sources):
                rich = rich_names.get(index)
                guid = self.source_xml(sources_el, source, index, spans, rich)
                files.append((f"sources/{guid}.txt", texts[source.guid].encode("utf-8")))
                if rich is not None:
                    files.append((f"sources/{rich}", source.rich_text))  # type: ignore[arg-type]
        if project.sets:
            def member(code_guid: str) -> str:
                if code_guid not in self.known_codes:
                    raise ValueError(f"a code set names code {code_guid}, which is not in the codebook")
                return self.codes.ref(code_guid)

            sets_to_xml(etree.SubElement(root, _q("Sets")), project.sets, PROJECT_NS, member, "targetGUID")
        _add_description(root, project.description)
        etree.indent(root, space="  ")
        qde = etree.tostring(root, xml_declaration=True, encoding="utf-8") + b"\n"
        return [("project.qde", qde), *files]


def qdpx_bytes(project: QdaProject, origin: str | None = None) -> bytes:
    """The bytes of a .qdpx for ``project``; ``origin`` defaults to autocode's name.

    Raises ValueError when the project is inconsistent (a selection outside its
    text, a coding whose code or coder the project does not hold).
    """
    members = _Writer(project).build(origin)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def write_qdpx(project: QdaProject, path: str | Path, origin: str | None = None) -> None:
    """Write ``project`` as a REFI-QDA project file (.qdpx) at ``path``."""
    write_atomically(Path(path), qdpx_bytes(project, origin))
