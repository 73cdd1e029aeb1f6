"""REFI-QDA codebooks (.qdc) and the code trees shared with project files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree

from autocode._version import __version__
from autocode.errors import InputError
from autocode.refi.model import QdaCode, QdaSet
from autocode.refi.xmlutil import (
    CODEBOOK_NS,
    NS_PREFIX,
    GuidMap,
    child,
    child_text,
    children,
    derived_guid,
    guid_key,
    is_rgb,
    parse_xml,
    split_tag,
    write_atomically,
    xml_safe,
)

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def _parse_bool(value: str | None, default: bool = True) -> bool:
    if value is None:
        return default
    value = value.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def codes_from_xml(codes_el: etree._Element, where: str) -> list[QdaCode]:
    """Read the ``<Code>`` children of a ``<Codes>`` element into a code forest.

    A code without a guid gets one derived from its path of names; two codes that
    share a guid are an error (a CodeRef to them would be ambiguous).
    """
    seen: dict[str, etree._Element] = {}

    def read(element: etree._Element, path: tuple[str, ...]) -> QdaCode:
        name = element.get("name") or ""
        guid = (element.get("guid") or "").strip() or derived_guid("code", *path, name)
        key = guid_key(guid)
        if key in seen:
            raise InputError(
                f"guid {guid} is used by two codes ({seen[key].get('name')!r} and {name!r})",
                file=where,
                line=element.sourceline,
                element=f"Code guid={guid}",
                hint="give each code its own guid in the tool that exported it and export again",
            )
        seen[key] = element
        color = element.get("color")
        return QdaCode(
            guid=guid,
            name=name,
            is_codable=_parse_bool(element.get("isCodable")),
            color=color if is_rgb(color) else None,
            description=child_text(element, "Description"),
            children=[read(sub, (*path, name)) for sub in children(element, "Code")],
        )

    return [read(element, ()) for element in children(codes_el, "Code")]


def codes_to_xml(
    parent: etree._Element,
    codes: list[QdaCode],
    ns: str,
    guid_of: Callable[[QdaCode], str],
) -> None:
    """Append ``<Code>`` elements for a code forest under ``parent`` (schema order)."""
    for code in codes:
        element = etree.SubElement(parent, f"{{{ns}}}Code")
        element.set("guid", guid_of(code))
        element.set("name", xml_safe(code.name))
        element.set("isCodable", "true" if code.is_codable else "false")
        if is_rgb(code.color):
            element.set("color", code.color)  # type: ignore[arg-type]
        if code.description:
            etree.SubElement(element, f"{{{ns}}}Description").text = xml_safe(code.description)
        codes_to_xml(element, code.children, ns, guid_of)


def sets_from_xml(sets_el: etree._Element, codes: dict[str, str]) -> tuple[list[QdaSet], int]:
    """The ``<Set>`` children of a ``<Sets>`` element as code sets, and how many members were
    dropped: a member source or note, or a MemberCode naming no code of ``codes`` (guid_key ->
    guid). MemberCode points with ``guid`` in a codebook, ``targetGUID`` in a project; either
    is read in both. A set with members but no code among them is not a code set: left out."""
    sets: list[QdaSet] = []
    dropped = 0
    for element in children(sets_el, "Set"):
        name = element.get("name") or ""
        members = []
        for member in children(element, "MemberCode"):
            ref = member.get("guid") or member.get("targetGUID") or ""
            code = codes.get(guid_key(ref)) if ref else None
            if code is None:
                dropped += 1
            elif code not in members:
                members.append(code)
        others = len(children(element, "MemberSource")) + len(children(element, "MemberNote"))
        dropped += others
        if others and not members:
            continue
        guid = (element.get("guid") or "").strip() or derived_guid("set", name)
        sets.append(QdaSet(guid=guid, name=name, code_guids=members, description=child_text(element, "Description")))
    return sets, dropped


def sets_to_xml(parent: etree._Element, sets: list[QdaSet], ns: str, code_guid_of: Callable[[str], str],
                member_attr: str) -> None:
    """Append ``<Set>`` elements under ``parent`` (a ``<Sets>``); ``member_attr`` is ``guid`` in
    a codebook, ``targetGUID`` in a project. Raises ValueError for a member that is no code."""
    guids = GuidMap("set")
    for code_set in sets:
        element = etree.SubElement(parent, f"{{{ns}}}Set")
        element.set("guid", guids.define(code_set.guid, code_set.name))
        element.set("name", xml_safe(code_set.name))
        if code_set.description:
            etree.SubElement(element, f"{{{ns}}}Description").text = xml_safe(code_set.description)
        for member in code_set.code_guids:
            etree.SubElement(element, f"{{{ns}}}MemberCode").set(member_attr, code_guid_of(member))


def read_qdc(path: str | Path) -> list[QdaCode]:
    """Read a REFI-QDA codebook (.qdc); any ``urn:QDA-XML:codebook:*`` namespace."""
    return read_qdc_book(path)[0]


def read_qdc_book(path: str | Path) -> tuple[list[QdaCode], list[QdaSet]]:
    """Read a REFI-QDA codebook (.qdc): its code forest and its code sets (``<Sets>``)."""
    path = Path(path)
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the codebook: {exc.strerror}", file=where) from None
    root = parse_xml(data, where, hint="export the codebook again from your QDA tool")
    ns, local = split_tag(root)
    if local != "CodeBook" or not (ns.startswith(NS_PREFIX) or ns == ""):
        raise InputError(
            f"not a REFI-QDA codebook: the root element is {local!r} in namespace {ns!r}",
            file=where,
            line=root.sourceline,
            element=local,
            hint='expected <CodeBook xmlns="urn:QDA-XML:codebook:1.0">',
        )
    codes_el = child(root, "Codes")
    if codes_el is None:
        return [], []
    codes = codes_from_xml(codes_el, where)
    sets_el = child(root, "Sets")
    if sets_el is None:
        return codes, []
    known = {guid_key(c.guid): c.guid for top in codes for c in top.walk()}
    return codes, sets_from_xml(sets_el, known)[0]


def codebook_xml(codes: list[QdaCode], origin: str | None = None, sets: list[QdaSet] | None = None) -> bytes:
    """The bytes of a .qdc file for ``codes`` and their ``sets`` (namespace urn:QDA-XML:codebook:1.0)."""
    if not codes:
        raise ValueError("a REFI-QDA codebook needs at least one code")
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS})
    root.set("origin", xml_safe(origin or f"autocode {__version__}"))
    codes_el = etree.SubElement(root, f"{{{CODEBOOK_NS}}}Codes")
    guids = GuidMap("code")
    all_codes = [c for top in codes for c in top.walk()]
    written = {id(c): guids.define(c.guid, c.name) for c in all_codes}
    codes_to_xml(codes_el, codes, CODEBOOK_NS, lambda code: written[id(code)])
    if sets:
        by_guid = {c.guid: written[id(c)] for c in all_codes}

        def member(guid: str) -> str:
            if guid not in by_guid:
                raise ValueError(f"a code set names code {guid}, which is not in the codebook")
            return by_guid[guid]

        sets_to_xml(etree.SubElement(root, f"{{{CODEBOOK_NS}}}Sets"), sets, CODEBOOK_NS, member, "guid")
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8") + b"\n"


def write_qdc(codes: list[QdaCode], path: str | Path, origin: str | None = None,
              sets: list[QdaSet] | None = None) -> None:
    """Write ``codes`` (and their code ``sets``) as a REFI-QDA codebook (.qdc) at ``path``."""
    write_atomically(Path(path), codebook_xml(codes, origin, sets))
