"""Read a REFI-QDA project (.qdpx: a zip holding project.qde and sources/)."""

from __future__ import annotations

import codecs
import lzma
import stat
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from lxml import etree

from autocode.errors import InputError
from autocode.refi.model import QdaCoding, QdaProject, QdaSelection, QdaSource, QdaUser
from autocode.refi.positions import CONVENTIONS, PositionMap, detect_convention
from autocode.refi.qdc import codes_from_xml, sets_from_xml
from autocode.refi.xmlutil import (
    NS_PREFIX,
    child,
    child_text,
    children,
    derived_guid,
    guid_key,
    parse_datetime,
    parse_xml,
    split_tag,
)

_REEXPORT = "export the project again from your QDA tool (REFI-QDA project, .qdpx)"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: The most one archive member (or one source file) may unpack to, by default.
MAX_MEMBER_BYTES = 200 * 2**20
#: A member over 1 MiB that unpacks to more than this many times its packed size is refused
#: (a zip bomb); text compresses about 3-10x.
MAX_RATIO = 200
_OUTSIDE_HINT = ("autocode reads a project's sources only from inside the .qdpx: export it again with its "
                 "sources included, or pass --sources-dir DIR to allow source files under DIR")
_SKIPPED_PARTS = ("Variables", "Cases", "Notes", "Links", "Graphs")
_OTHER_SOURCES = ("PictureSource", "PDFSource", "AudioSource", "VideoSource")


def decode_text_file(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a source file: a BOM decides, else it must be UTF-8.

    The BOM is dropped; raises UnicodeDecodeError when the bytes do not decode.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding), encoding + " with BOM"
    return data.decode("utf-8"), "utf-8"


def _element_label(element: etree._Element) -> str:
    _, local = split_tag(element)
    guid = element.get("guid")
    return f"{local} guid={guid}" if guid else local


@dataclass
class _RawSelection:
    """A selection as written in the file, before positions are converted."""

    element: etree._Element
    selection: QdaSelection
    pmap: PositionMap
    start: int
    end: int


class _Reader:
    """One read of one .qdpx file."""

    def __init__(self, path: Path, *, sources_dir: Path | None = None,
                 max_member_bytes: int = MAX_MEMBER_BYTES) -> None:
        self.path = path
        self.where = f"{path}[project.qde]"
        self.notes: list[str] = []
        self.sources_dir = Path(sources_dir).resolve() if sources_dir is not None else None
        self.max_bytes = max_member_bytes
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise InputError("no such file", file=path, hint="check the path") from None
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
            raise InputError(
                f"not a REFI-QDA project: the file is not a zip archive ({exc})",
                file=path,
                hint=_REEXPORT,
            ) from None
        self.members = {
            info.filename.replace("\\", "/").lstrip("/").lower(): info
            for info in self.zip.infolist()
            if info.filename and not info.is_dir()  # a damaged directory can give a name of length 0
        }

    def error(self, element: etree._Element | None, message: str, hint: str) -> InputError:
        return InputError(
            message,
            file=self.where,
            line=element.sourceline if element is not None else None,
            element=_element_label(element) if element is not None else None,
            hint=hint,
        )

    def _too_big(self, what: str, size: int) -> InputError:
        return InputError(
            f"{what} is {size / 2**20:.0f} MB, over the limit of {self.max_bytes / 2**20:.0f} MB",
            file=self.path,
            hint="pass --max-member-mb N to allow larger files, if you trust the project",
        )

    def read_member(self, info: zipfile.ZipInfo) -> bytes:
        """The bytes of one archive member, or InputError when the zip is damaged, when the
        member is over the size limit, or when it unpacks far beyond its packed size. Sizes are
        checked from the zip directory first, and the read itself stops at the limit."""
        if info.file_size > self.max_bytes:
            raise self._too_big(info.filename, info.file_size)
        if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise InputError(
                f"{info.filename} unpacks to {info.file_size / max(info.compress_size, 1):.0f} times its packed size "
                "(a zip bomb?)",
                file=self.path,
                hint=_REEXPORT,
            )
        if info.flag_bits & 0x1:  # zipfile would raise RuntimeError("... password required ...")
            raise InputError(f"{info.filename} is encrypted", file=self.path,
                             hint="export the project again without a password")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # REFI-QDA tools write stored or deflated members; an LZMA header makes liblzma
            # allocate the dictionary it declares (up to 4 GB) before a byte is read
            raise InputError(f"{info.filename} is packed with zip method {info.compress_type}, which REFI-QDA "
                             "tools do not write", file=self.path, hint=_REEXPORT)
        try:
            with self.zip.open(info) as fh:
                # in 1 MB reads: one read of the whole limit makes zipfile allocate that much at once
                # even for a tiny member whose directory entry is damaged
                chunks, size = [], 0
                while size <= self.max_bytes:
                    chunk = fh.read(min(2**20, self.max_bytes + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                data = b"".join(chunks)
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, NotImplementedError,
                RuntimeError) as exc:
            raise InputError(
                f"{info.filename} cannot be unpacked ({exc})", file=self.path, hint=_REEXPORT
            ) from None
        if len(data) > self.max_bytes:  # the directory understated the size
            raise self._too_big(info.filename, len(data))
        return data

    def member(self, name: str) -> zipfile.ZipInfo | None:
        """A zip member by path, ignoring case (NVivo writes Sources/, the spec sources/)."""
        name = name.replace("\\", "/").lstrip("/").lower()
        if name in self.members:
            return self.members[name]
        base = PurePosixPath(name).name
        matches = [info for key, info in self.members.items() if PurePosixPath(key).name == base]
        return matches[0] if len(matches) == 1 else None

    def read_root(self) -> etree._Element:
        info = self.members.get("project.qde")
        if info is None:
            nested = [k for k in self.members if k.endswith("/project.qde")]
            info = self.members[nested[0]] if len(nested) == 1 else None
        if info is None:
            raise InputError(
                "the archive holds no project.qde",
                file=self.path,
                hint="a .qdpx must hold project.qde at its top level; " + _REEXPORT,
            )
        root = parse_xml(self.read_member(info), self.where, hint=_REEXPORT)
        ns, local = split_tag(root)
        if local != "Project" or not (ns.startswith(NS_PREFIX) or ns == ""):
            raise InputError(
                f"not a REFI-QDA project: the root element is {local!r} in namespace {ns!r}",
                file=self.where,
                line=root.sourceline,
                element=local,
                hint='expected <Project xmlns="urn:QDA-XML:project:1.0">',
            )
        if ns == "":
            self.notes.append("project.qde has no namespace; read as urn:QDA-XML:project:1.0")
        return root

    def read_users(self, root: etree._Element) -> list[QdaUser]:
        users_el = child(root, "Users")
        users = []
        for element in children(users_el, "User") if users_el is not None else []:
            name = element.get("name") or ""
            guid = element.get("guid") or derived_guid("user", name, element.get("id"))
            users.append(QdaUser(guid=guid, name=name, id=element.get("id")))
        return users

    def source_text(self, element: etree._Element) -> str:
        inline = child(element, "PlainTextContent")
        if inline is not None:
            return inline.text or ""
        ref = element.get("plainTextPath")
        if not ref:
            has_rich = " (it has only a richTextPath)" if element.get("richTextPath") else ""
            raise self.error(
                element,
                f"text source {element.get('name')!r} has no plain text{has_rich}",
                "export the project again with plain-text sources",
            )
        data, shown = self.source_bytes(element, ref)
        try:
            text, encoding = decode_text_file(data)
        except UnicodeDecodeError:
            raise self.error(
                element,
                f"source file {shown} is not UTF-8 and has no byte-order mark",
                "save it as UTF-8 (or UTF-16 with BOM) and put it back in the archive",
            ) from None
        if not encoding.startswith("utf-8"):
            self.notes.append(f"source {shown} is {encoding}")
        return text

    def source_bytes(
        self, element: etree._Element, ref: str
    ) -> tuple[bytes, str]:
        scheme, _, rest = ref.partition("://")
        scheme = scheme.lower() if rest else ""
        if scheme == "internal":
            info = self.member(f"sources/{unquote(rest)}")
            if info is None:
                raise self.error(
                    element,
                    f"source file sources/{rest} (plainTextPath {ref}) is missing from the archive",
                    "export the project again with its sources included, "
                    f"or add sources/{rest} to the .qdpx",
                )
            return self.read_member(info), info.filename
        # A project file is data, never a path into the researcher's disk: a source outside
        # the archive is read only from a folder the user named, and only a regular file in it.
        name = element.get("name")
        if self.sources_dir is None:
            raise self.error(element, f"text source {name!r} points outside the project ({ref})", _OUTSIDE_HINT)
        if scheme == "relative":
            wanted = Path(unquote(rest))
        elif scheme == "file":
            wanted = Path(unquote(urlparse(ref).path))
        elif scheme == "absolute":
            wanted = Path(unquote(rest))
        else:
            wanted = Path(ref)
        if ".." in wanted.parts:
            raise self.error(element, f"text source {name!r} climbs out of its folder ({ref})", _OUTSIDE_HINT)
        candidate = wanted if wanted.is_absolute() else self.sources_dir / wanted
        try:
            resolved = candidate.resolve(strict=True)
            info = resolved.stat()
        except (OSError, RuntimeError):
            raise self.error(
                element,
                f"source file {candidate} (plainTextPath {ref}) cannot be read",
                f"put the file under {self.sources_dir}, or export the project again with its sources inside",
            ) from None
        if not resolved.is_relative_to(self.sources_dir):
            raise self.error(element, f"text source {name!r} is not under {self.sources_dir} ({ref})", _OUTSIDE_HINT)
        if not stat.S_ISREG(info.st_mode):
            raise self.error(element, f"text source {name!r} is not a regular file ({ref})", _OUTSIDE_HINT)
        if info.st_size > self.max_bytes:
            raise self._too_big(f"source file {resolved}", info.st_size)
        with resolved.open("rb") as fh:
            data = fh.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise self._too_big(f"source file {resolved}", len(data))
        return data, str(resolved)

    def rich_text(self, element: etree._Element) -> tuple[str | None, bytes | None]:
        """(member name, bytes) of a source's rich text (``richTextPath``, NVivo's .docx), carried
        as it is; (None, None) with a note when it is absent or outside the archive."""
        ref = element.get("richTextPath")
        if not ref:
            return None, None
        scheme, _, rest = ref.partition("://")
        info = self.member(f"sources/{unquote(rest)}") if scheme.lower() == "internal" and rest else None
        if info is None:
            self.notes.append(f"{_element_label(element)}: rich text {ref} not kept (not inside the archive)")
            return None, None
        try:
            data = self.read_member(info)  # the same limits as every member
        except InputError as exc:
            self.notes.append(f"{_element_label(element)}: rich text {ref} not kept ({exc.message})")
            return None, None
        return PurePosixPath(info.filename.replace("\\", "/")).name, data

    def user_ref(
        self, element: etree._Element, attr: str, users: dict[str, QdaUser], strict: bool
    ) -> str | None:
        guid = element.get(attr)
        if not guid:
            return None
        user = users.get(guid_key(guid))
        if user is not None:
            return user.guid
        if strict:
            raise self.error(
                element,
                f"{attr}={guid} names no user in <Users>",
                "add the user to <Users> or export the project again from your QDA tool",
            )
        self.notes.append(f"{_element_label(element)}: dropped {attr}={guid}, not in <Users>")
        return None

    def read_codings(
        self,
        parent: etree._Element,
        codes: dict[str, str],
        users: dict[str, QdaUser],
        fallback_user: str | None,
    ) -> list[QdaCoding]:
        codings = []
        for coding in children(parent, "Coding"):
            ref = child(coding, "CodeRef")
            target = ref.get("targetGUID") if ref is not None else None
            if not target:
                raise self.error(
                    coding, "Coding has no CodeRef targetGUID", "export the project again"
                )
            code_guid = codes.get(guid_key(target))
            if code_guid is None:
                raise self.error(
                    coding,
                    f"CodeRef targetGUID={target} names no code in the codebook",
                    "add the code to <CodeBook> or export the project again from your QDA tool",
                )
            user = self.user_ref(coding, "creatingUser", users, strict=True) or fallback_user
            created = parse_datetime(coding.get("creationDateTime"))
            codings.append(QdaCoding(code_guid, user, created, coding.get("guid") or None))
        return codings

    def read_selection(
        self,
        element: etree._Element,
        source: QdaSource,
        codes: dict[str, str],
        users: dict[str, QdaUser],
    ) -> tuple[QdaSelection, int, int]:
        positions = []
        for attr in ("startPosition", "endPosition"):
            value = element.get(attr)
            try:
                positions.append(int(value))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise self.error(
                    element,
                    f"{attr}={value!r} is not a whole number",
                    "export the project again from your QDA tool",
                ) from None
        creator = self.user_ref(element, "creatingUser", users, strict=True)
        selection = QdaSelection(
            guid=element.get("guid") or derived_guid("selection", source.guid, *positions),
            source_guid=source.guid,
            start=positions[0],
            end=positions[1],
            name=element.get("name") or None,
            codings=self.read_codings(element, codes, users, creator),
            description=child_text(element, "Description"),
            creating_user=creator,
            created=parse_datetime(element.get("creationDateTime")),
            modifying_user=self.user_ref(element, "modifyingUser", users, strict=False),
            modified=parse_datetime(element.get("modifiedDateTime")),
        )
        return selection, positions[0], positions[1]

    def read(self, convention: str | None) -> QdaProject:
        root = self.read_root()
        project = QdaProject(
            name=root.get("name") or self.path.stem,
            origin=root.get("origin"),
            description=child_text(root, "Description"),
            created=parse_datetime(root.get("creationDateTime")),
            modified=parse_datetime(root.get("modifiedDateTime")),
        )
        project.users = self.read_users(root)
        users = {guid_key(u.guid): u for u in project.users}
        project.creating_user = self.user_ref(root, "creatingUserGUID", users, strict=False)
        project.modifying_user = self.user_ref(root, "modifyingUserGUID", users, strict=False)
        codebook = child(root, "CodeBook")
        codes_el = child(codebook, "Codes") if codebook is not None else None
        project.codes = codes_from_xml(codes_el, self.where) if codes_el is not None else []
        codes = {guid_key(c.guid): c.guid for c in project.iter_codes()}
        sets_el = child(root, "Sets")
        if sets_el is not None:
            project.sets, dropped = sets_from_xml(sets_el, codes)
            if dropped:
                self.notes.append(f"code sets: {dropped} members that are not codes of the codebook not imported")

        raw: list[_RawSelection] = []
        skipped: Counter[str] = Counter()
        sources_el = child(root, "Sources")
        names: set[str] = set()
        for element in list(sources_el) if sources_el is not None else []:
            if not isinstance(element.tag, str):
                continue
            _, local = split_tag(element)
            if local != "TextSource":
                skipped[local] += 1
                continue
            source = QdaSource(
                guid=element.get("guid") or derived_guid("source", element.get("name")),
                name=element.get("name") or "",
                text="",
                description=child_text(element, "Description"),
                creating_user=self.user_ref(element, "creatingUser", users, strict=False),
                created=parse_datetime(element.get("creationDateTime")),
                modifying_user=self.user_ref(element, "modifyingUser", users, strict=False),
                modified=parse_datetime(element.get("modifiedDateTime")),
            )
            if source.name in names:  # a suite may repeat a name in another folder: keep both, say so
                base, n = source.name, 2
                while f"{base} ({n})" in names:
                    n += 1
                source.name = f"{base} ({n})"
                self.notes.append(f"two sources are named {base!r}: the second is imported as {source.name!r}")
            names.add(source.name)
            pmap = PositionMap(self.source_text(element))  # a basePath is data, never followed
            source.rich_text_path, source.rich_text = self.rich_text(element)
            source.text = pmap.text
            project.sources.append(source)
            for sel_el in children(element, "PlainTextSelection"):
                selection, start, end = self.read_selection(sel_el, source, codes, users)
                raw.append(_RawSelection(sel_el, selection, pmap, start, end))
            skipped["Coding on a whole TextSource"] += len(children(element, "Coding"))
        for part in _SKIPPED_PARTS:
            if child(root, part) is not None:
                skipped[part] += 1
        kept = {k: v for k, v in skipped.items() if v}
        if kept:
            listed = ", ".join(f"{count} {part}" for part, count in kept.items())
            self.notes.append(f"not imported (autocode keeps text sources, codes, users): {listed}")

        self.convert_positions(project, raw, convention)
        project.notes = self.notes
        return project

    def convert_positions(
        self, project: QdaProject, raw: list[_RawSelection], convention: str | None
    ) -> None:
        report = detect_convention([(r.pmap, r.start, r.end) for r in raw], project.origin)
        if convention is not None:
            if convention not in CONVENTIONS:
                raise ValueError(f"unknown position convention {convention!r}")
            report.chosen = convention
        project.position_convention = report.chosen
        project.convention_scores = dict(report.on_boundaries)
        if raw:
            self.notes.append(report.summary() + (" (set by caller)" if convention else ""))
        for item in raw:
            start = item.pmap.to_text(item.start, report.chosen)
            end = item.pmap.to_text(item.end, report.chosen)
            if start is None or end is None or end < start:
                size = item.pmap.length(report.chosen)
                source = project.source_by_guid()[item.selection.source_guid]
                raise self.error(
                    item.element,
                    f"selection {item.start}-{item.end} does not fit source {source.name!r} "
                    f"(length {size} counted as {report.chosen})",
                    "the selection points outside its text; export the project again, "
                    "or remove this selection",
                )
            item.selection.start, item.selection.end = start, end
            project.selections.append(item.selection)


def read_qdpx(path: str | Path, convention: str | None = None, *, sources_dir: str | Path | None = None,
              max_member_bytes: int = MAX_MEMBER_BYTES) -> QdaProject:
    """Read a .qdpx project into a QdaProject with code-point positions.

    The position convention is detected (see ``positions.detect_convention``)
    unless ``convention`` names one of ``positions.CONVENTIONS``. Sources are read from
    inside the archive; one that points outside it is refused unless ``sources_dir`` names
    the folder that holds it. Members and source files over ``max_member_bytes`` are
    refused. Raises ``InputError`` for anything that stops an import, naming file and element.
    """
    reader = _Reader(Path(path), sources_dir=sources_dir, max_member_bytes=max_member_bytes)
    with reader.zip:
        return reader.read(convention)
