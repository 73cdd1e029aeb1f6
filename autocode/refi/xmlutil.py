"""Shared pieces for REFI-QDA files: XML parsing, namespaces, dates, guids, saving."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from autocode.errors import InputError

PROJECT_NS = "urn:QDA-XML:project:1.0"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
NS_PREFIX = "urn:QDA-XML:"

#: Namespace for the name-based (uuid5) guids autocode makes when one is missing.
GUID_NAMESPACE = uuid.UUID("6f1c3f0e-3b8a-5d1e-9a57-2c0b7e4f9a10")

_GUID = re.compile(
    r"^(\{)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?(1)\})$"
)
_RGB = re.compile(r"^#([A-Fa-f0-9]{6}|[A-Fa-f0-9]{3})$")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def parse_xml(data: bytes, where: str, hint: str) -> etree._Element:
    """Parse ``data`` safely (no network, no external entities) or raise InputError."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise InputError(f"malformed XML: {exc.msg}", file=where, line=line, hint=hint) from None


def split_tag(element: etree._Element) -> tuple[str, str]:
    """(namespace, local name) of an element; namespace '' when it has none."""
    qname = etree.QName(element)
    return qname.namespace or "", qname.localname


def children(element: etree._Element, local: str) -> list[etree._Element]:
    """Direct children with this local name, in the element's own namespace."""
    ns, _ = split_tag(element)
    tag = f"{{{ns}}}{local}" if ns else local
    return [child for child in element if child.tag == tag]


def child(element: etree._Element, local: str) -> etree._Element | None:
    """The first direct child with this local name, or None."""
    found = children(element, local)
    return found[0] if found else None


def child_text(element: etree._Element, local: str) -> str | None:
    """Text of the first child with this local name; None when absent or empty."""
    found = child(element, local)
    if found is None or not found.text:
        return None
    return found.text


def parse_datetime(value: str | None) -> datetime | None:
    """An xsd:dateTime as a datetime (aware when the value has a zone), or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def format_datetime(value: datetime) -> str:
    """A datetime as xsd:dateTime; UTC is written with ``Z``."""
    text = value.isoformat()
    if value.tzinfo is not None and value.utcoffset() == timezone.utc.utcoffset(None):
        text = text.removesuffix("+00:00") + "Z"
    return text


def is_guid(value: str | None) -> bool:
    """True when ``value`` matches REFI's GUIDType."""
    return bool(value) and bool(_GUID.match(value))  # type: ignore[arg-type]


def guid_key(value: str) -> str:
    """A guid in a form for comparing: no braces, lower case."""
    return value.strip().strip("{}").lower()


def derived_guid(*parts: object) -> str:
    """A stable guid made from ``parts`` (uuid5), for things that lack one."""
    return str(uuid.uuid5(GUID_NAMESPACE, "/".join(str(p) for p in parts)))


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (NUL, most C0 controls)."""
    return _NOT_XML.sub("", text)


def is_rgb(value: str | None) -> bool:
    """True when ``value`` is a REFI colour, ``#RRGGBB`` or ``#RGB``."""
    return bool(value) and bool(_RGB.match(value))  # type: ignore[arg-type]


class GuidMap:
    """Guids as written: valid ones kept, others replaced by stable derived ones.

    ``define`` gives the guid written for a thing's own guid, ``ref`` the guid
    written where something points at it; both agree. A guid that is not in
    REFI's form maps to a uuid5 of it; a missing one to a uuid5 of ``fallback``
    parts (with a counter should two collide), and references to "" go to the
    first thing defined without a guid.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._made: dict[str, str] = {}
        self._used: set[str] = set()

    def ref(self, guid: str) -> str:
        """The guid to write where something refers to ``guid``."""
        key = guid.strip()
        if is_guid(key):
            return key
        if key not in self._made:
            self._made[key] = derived_guid(self.kind, key)
        return self._made[key]

    def define(self, guid: str | None, *fallback: object) -> str:
        """The guid to write for a thing whose own guid is ``guid``."""
        if guid and guid.strip():
            return self.ref(guid)
        made = derived_guid(self.kind, "missing", *fallback)
        n = 1
        while made in self._used:
            n += 1
            made = derived_guid(self.kind, "missing", *fallback, n)
        self._used.add(made)
        self._made.setdefault("", made)
        return made


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
