"""Import Taguette projects: from its database's rows (read by :mod:`autocode.store.taguette_db`),
or from its highlights CSV export."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from autocode.errors import InputError
from autocode.refi.model import QdaCode, QdaCoding, QdaProject, QdaSelection, QdaSource, QdaUser
from autocode.refi.positions import normalise_text
from autocode.refi.taguette_html import HtmlText
from autocode.refi.xmlutil import derived_guid

#: ``QdaProject.position_convention`` of a Taguette database import.
TAGUETTE_BYTES = "taguette-utf8-html-text"
#: ``QdaProject.position_convention`` of a CSV import (text rebuilt from highlights).
TAGUETTE_CSV_REBUILT = "rebuilt-from-highlights"
_CSV_SEPARATOR = "\n\n"


def _utc(value: str | None) -> datetime | None:
    """A Taguette timestamp (naive, written with utcnow) as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class TaguetteTables:
    """The rows of one project in a Taguette database, as :mod:`autocode.store.taguette_db`
    reads them (the SQL lives in the store; this module only builds the project)."""

    project: tuple  # (id, name, description, created)
    commands: list[tuple]  # (date, user_login, payload) of the project's highlight_add commands, in order
    members: list[str]  # project_members.user_login, sorted
    tags: list[tuple]  # (id, path, description), by id
    documents: list[tuple]  # (id, name, description, created, contents), by id
    highlight_tags: list[tuple]  # (highlight_id, tag_id), by tag id
    highlights: list[tuple]  # (id, document_id, start_offset, end_offset), in document order


def _highlight_authors(commands: list[tuple]) -> dict[int, tuple[str, datetime | None]]:
    """Highlight id -> (login, date) of the last ``highlight_add`` command for it."""
    authors: dict[int, tuple[str, datetime | None]] = {}
    for date, login, payload in commands:
        try:
            data = json.loads(payload)
        except (TypeError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("type") != "highlight_add":
            continue
        highlight_id = data.get("highlight_id")
        if isinstance(highlight_id, int):
            authors[highlight_id] = (login, _utc(date))
    return authors


def project_from_tables(tables: TaguetteTables, path: str | Path) -> QdaProject:
    """A Taguette project from its database rows: documents, tags (with descriptions), highlights.

    Document HTML becomes plain LF text; highlight offsets (UTF-8 bytes of the
    HTML-free text) become code points. Who made each highlight, and when, comes
    from the last ``highlight_add`` command that names it.
    """
    path = Path(path)
    pid, name, description, created = tables.project
    base = ("taguette", name, created)
    project = QdaProject(
        name=name,
        origin="Taguette",
        description=description or None,
        created=_utc(created),
        position_convention=TAGUETTE_BYTES,
    )
    authors = _highlight_authors(tables.commands)
    logins = list(tables.members)
    for login, _ in sorted(authors.values(), key=lambda a: a[0]):
        if login not in logins:
            logins.append(login)
    user_guid = {login: derived_guid("taguette", "user", login) for login in logins}
    project.users = [QdaUser(user_guid[name], name, id=name) for name in logins]

    tag_guid: dict[int, str] = {}
    for tag_id, tag_path, tag_description in tables.tags:
        tag_guid[tag_id] = derived_guid(*base, "tag", tag_path)
        project.codes.append(QdaCode(tag_guid[tag_id], tag_path, description=tag_description or None))

    texts: dict[int, HtmlText] = {}
    doc_guid: dict[int, str] = {}
    for doc_id, doc_name, doc_description, doc_created, contents in tables.documents:
        texts[doc_id] = HtmlText(contents or "")
        doc_guid[doc_id] = derived_guid(*base, "document", doc_id)
        project.sources.append(
            QdaSource(
                guid=doc_guid[doc_id],
                name=doc_name,
                text=texts[doc_id].text,
                description=doc_description or None,
                created=_utc(doc_created),
            )
        )

    tags_of: dict[int, list[int]] = {}
    for highlight_id, tag_id in tables.highlight_tags:
        tags_of.setdefault(highlight_id, []).append(tag_id)
    unknown_author = untagged = 0
    for highlight_id, doc_id, start, end in tables.highlights:
        span = texts[doc_id].span(start, end)
        if span is None:
            raise InputError(
                f"offsets {start}-{end} do not fit document {doc_id} "
                f"({texts[doc_id].byte_length} bytes of text)",
                file=path,
                element=f"highlights id={highlight_id}",
                hint="the database may be damaged; export the project again from Taguette",
            )
        author = authors.get(highlight_id)
        coder = author[0] if author else None
        date = author[1] if author else None
        unknown_author += author is None
        untagged += highlight_id not in tags_of
        user = user_guid.get(coder) if coder else None
        project.selections.append(
            QdaSelection(
                guid=derived_guid(*base, "highlight", highlight_id),
                source_guid=doc_guid[doc_id],
                start=span[0],
                end=span[1],
                codings=[QdaCoding(tag_guid[t], user, date) for t in tags_of.get(highlight_id, [])],
                creating_user=user,
                created=date,
            )
        )
    project.notes.append(
        "Taguette counts highlight offsets in UTF-8 bytes of the document text without "
        "HTML tags; converted to code points of the plain text"
    )
    if untagged:
        project.notes.append(f"{untagged} highlights have no tag; kept as uncoded selections")
    if unknown_author:
        project.notes.append(
            f"{unknown_author} highlights have no highlight_add command: coder and date unknown"
        )
    return project


def _csv_rows(path: Path, required: tuple[str, ...], hint: str) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in required if c not in columns]
            if missing:
                raise InputError(
                    f"no {', '.join(repr(c) for c in missing)} column "
                    f"(columns: {', '.join(columns) or 'none'})",
                    file=path,
                    line=1,
                    hint=hint,
                )
            return [dict(row) for row in reader]
    except FileNotFoundError:
        raise InputError("no such file", file=path, hint="check the path") from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=path, hint="save the CSV as UTF-8") from None


def read_taguette_csv(
    highlights_csv: str | Path, codebook_csv: str | Path | None = None
) -> QdaProject:
    """Read Taguette's highlights export (id, document, tag, content) and codebook.

    The export holds no document text, so each source is rebuilt from its
    highlights in export order, separated by blank lines; positions point into
    that rebuilt text. Rows sharing an id are one highlight with several tags.
    """
    path = Path(highlights_csv)
    rows = _csv_rows(
        path,
        ("document", "tag", "content"),
        "use Taguette's highlights export (all_tags_*.csv: id,document,tag,content)",
    )
    project = QdaProject(
        name=path.stem, origin="Taguette CSV export", position_convention=TAGUETTE_CSV_REBUILT
    )
    code_of: dict[str, QdaCode] = {}
    if codebook_csv is not None:
        for row in _csv_rows(
            Path(codebook_csv), ("tag",), "use Taguette's codebook export (tag,description,...)"
        ):
            tag = (row.get("tag") or "").strip()
            if tag and tag not in code_of:
                code_of[tag] = QdaCode(
                    derived_guid("taguette-csv", "tag", tag),
                    tag,
                    description=row.get("description") or None,
                )
    from_codebook = len(code_of)

    highlights: dict[str, tuple[str, str, list[str]]] = {}  # id -> (document, content, tags)
    for line, row in enumerate(rows, start=2):
        key = (row.get("id") or "").strip() or f"row {line}"
        document, content = row.get("document") or "", normalise_text(row.get("content") or "")
        tag = (row.get("tag") or "").strip()
        seen = highlights.setdefault(key, (document, content, []))
        if seen[:2] != (document, content):
            raise InputError(
                f"highlight id {key} appears with a different document or text than before",
                file=path,
                line=line,
                hint="use the CSV exactly as Taguette exported it",
            )
        if tag:
            if tag not in code_of:
                code_of[tag] = QdaCode(derived_guid("taguette-csv", "tag", tag), tag)
            if code_of[tag].guid not in seen[2]:
                seen[2].append(code_of[tag].guid)
    project.codes = list(code_of.values())

    parts: dict[str, list[str]] = {}
    sources: dict[str, QdaSource] = {}
    for key, (document, content, code_guids) in highlights.items():
        if document not in sources:
            sources[document] = QdaSource(
                derived_guid("taguette-csv", "document", document), document, ""
            )
            parts[document] = []
        pieces = parts[document]
        start = sum(len(p) for p in pieces) + len(_CSV_SEPARATOR) * len(pieces)
        pieces.append(content)
        project.selections.append(
            QdaSelection(
                guid=derived_guid("taguette-csv", "highlight", document, key),
                source_guid=sources[document].guid,
                start=start,
                end=start + len(content),
                codings=[QdaCoding(g, None, None) for g in code_guids],
            )
        )
    for document, source in sources.items():
        source.text = _CSV_SEPARATOR.join(parts[document])
    project.sources = list(sources.values())

    project.notes.append(
        "Taguette's CSV export holds no document text: each source was rebuilt from its "
        "highlights in export order, separated by blank lines; positions point into that "
        "rebuilt text, not the original transcript; coders and dates are not in the export"
    )
    extra = len(code_of) - from_codebook
    if codebook_csv is not None and extra:
        project.notes.append(f"{extra} tags used in highlights are missing from the codebook")
    return project
