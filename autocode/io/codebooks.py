"""Codebook files: autocode YAML, plain text (one code path per line), REFI-QDA ``.qdc``.

* autocode's YAML (``format: autocode-codebook/1``), see ``annotations/study-codebook.yaml``;
* plain text, one code path per line (``Capability/Developing skills``), with an optional
  ``[Group name]`` line starting a group (``[Group name] exclusive`` for one code per segment);
* REFI-QDA ``.qdc`` (via :mod:`autocode.refi`);
* a tag list as CSV with ``tag`` and ``description`` columns (Taguette's codebook export and
  import); a tag ``A/B`` is code B under A.
"""

from __future__ import annotations

import copy
import csv
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..codebook import SEP, Code, Codebook, CodeGroup, from_dict
from ..errors import InputError
from ..refi.mapping import codebook_from_qdc


def from_yaml(path: str | Path) -> Codebook:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=path, hint="save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', exc)})", file=path,
                         line=(mark.line + 1) if mark else None, hint="fix the YAML syntax") from None
    return from_dict(data, file=path)


#: The group a CSV tag list's codes go in (Taguette has no groups).
TAGS_GROUP = "Tags"


def from_csv(path: str | Path) -> Codebook:
    """A tag list: ``tag`` (a code path) and ``description`` columns, as Taguette exports its
    codebook. A parent that is not itself a tag only groups codes (not codable)."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if "tag" not in (reader.fieldnames or []):
                raise InputError(f"no 'tag' column (columns: {', '.join(reader.fieldnames or []) or 'none'})",
                                 file=path, line=1, hint="a codebook CSV has columns tag,description")
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=path, hint="save the file as UTF-8") from None
    book = Codebook(name=Path(path).stem)
    book.add_group(CodeGroup(name=TAGS_GROUP))
    tags = {}
    for line, row in rows:
        parts = [" ".join(p.split()) for p in (row.get("tag") or "").split(SEP)]
        if not any(parts):
            continue
        if any(not p for p in parts) or any(";" in p for p in parts):
            raise InputError(f"bad tag {row.get('tag')!r}", file=path, line=line,
                             hint="a tag is a code name, or a path like 'Theme/Sub-theme', without ';'")
        tags[SEP.join(parts)] = (parts, " ".join((row.get("description") or "").split()))
    for path_, (parts, description) in tags.items():
        for depth in range(1, len(parts) + 1):
            p = SEP.join(parts[:depth])
            if p not in book.codes:
                book.add_code(Code(name=parts[depth - 1], path=p, group=TAGS_GROUP,
                                   parent=SEP.join(parts[: depth - 1]) or None, codable=p in tags))
        book.codes[path_].description = description
    if not book.codes:
        raise InputError("the codebook file has no tags", file=path, hint="write one tag per row under a 'tag' header")
    return book


def to_csv(book: Codebook, path: str | Path) -> None:
    """The codebook's codable codes as a tag list (``tag`` = the code's path, ``description``)."""
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tag", "description"])
        writer.writerows([c.path, c.description] for c in book.codable())


def from_text(path: str | Path) -> Codebook:
    """One code path per line; ``[Group]`` lines start a group; ``#`` lines are comments."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=path, hint="save the file as UTF-8") from None
    book = Codebook(name=Path(path).stem)
    group: CodeGroup | None = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and "]" in line:
            name, rest = line[1:].split("]", 1)
            group = book.add_group(CodeGroup(name=name.strip(), exclusive="exclusive" in rest.lower()))
            continue
        if group is None:
            group = book.add_group(CodeGroup(name="Codes"))
        parts = [" ".join(p.split()) for p in line.split(SEP)]
        if any(not p for p in parts) or ";" in line:
            raise InputError(f"bad code path {line!r}", file=path, line=lineno, hint="write one path per line like 'Capability/Developing skills'")
        for depth in range(1, len(parts) + 1):
            p = SEP.join(parts[:depth])
            if p not in book.codes:
                book.add_code(Code(name=parts[depth - 1], path=p, group=group.name,
                                   parent=SEP.join(parts[: depth - 1]) or None))
    if not book.codes:
        raise InputError("the codebook file has no codes", file=path, hint="write one code path per line")
    return book


def load(path: str | Path) -> Codebook:
    """Read a codebook file by its extension: .yaml/.yml, .qdc (REFI-QDA), .csv (tags) or .txt."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", file=p, hint="check the path")
    suffix = p.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        return from_yaml(p)
    if suffix == ".qdc":
        return codebook_from_qdc(p)
    if suffix in {".txt", ".text", ""}:
        return from_text(p)
    if suffix == ".csv":
        return from_csv(p)
    raise InputError(f"unknown codebook format {suffix!r}", file=p,
                     hint="use .yaml, .qdc, .csv (tag,description) or .txt (one code path per line)")


def default_codebook_path() -> Path:
    return Path(__file__).parent.parent / "data" / "study_codebook.yaml"


@lru_cache(maxsize=1)
def _default_data() -> Any:
    return yaml.safe_load(default_codebook_path().read_text(encoding="utf-8"))


def default() -> Codebook:
    """The study's coding frame (Baxter & Fancourt 2020): a new Codebook each call, the YAML parsed once
    (every import of a project compares the workspace's codebook with it)."""
    return from_dict(copy.deepcopy(_default_data()), file=default_codebook_path())
