"""REFI-QDA codebooks (.qdc) and the code trees shared with project files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree

from autocode._version import __version__
from autocode.errors import InputError
from autocode.refi.model import QdaCode
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


def read_qdc(path: str | Path) -> list[QdaCode]:
    """Read a REFI-QDA codebook (.qdc); any ``urn:QDA-XML:codebook:*`` namespace."""
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
        return []
    return codes_from_xml(codes_el, where)


def codebook_xml(codes: list[QdaCode], origin: str | None = None) -> bytes:
    """The bytes of a .qdc file for ``codes`` (namespace urn:QDA-XML:codebook:1.0)."""
    if not codes:
        raise ValueError("a REFI-QDA codebook needs at least one code")
    root = etree.Element(f"{{{CODEBOOK_NS}}}CodeBook", nsmap={None: CODEBOOK_NS})
    root.set("origin", xml_safe(origin or f"autocode {__version__}"))
    codes_el = etree.SubElement(root, f"{{{CODEBOOK_NS}}}Codes")
    guids = GuidMap("code")
    written = {id(c): guids.define(c.guid, c.name) for root in codes for c in root.walk()}
    codes_to_xml(codes_el, codes, CODEBOOK_NS, lambda code: written[id(code)])
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8") + b"\n"


def write_qdc(codes: list[QdaCode], path: str | Path, origin: str | None = None) -> None:
    """Write ``codes`` as a REFI-QDA codebook (.qdc) at ``path``."""
    write_atomically(Path(path), codebook_xml(codes, origin))
