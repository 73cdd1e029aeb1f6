"""Codebook files: autocode YAML, plain text (one code path per line), REFI-QDA ``.qdc``.

* autocode's YAML (``format: autocode-codebook/1``), see ``annotations/study-codebook.yaml``;
* plain text, one code path per line (``Capability/Developing skills``), with an optional
  ``[Group name]`` line starting a group (``[Group name] exclusive`` for one code per segment);
* REFI-QDA ``.qdc`` (via :mod:`autocode.refi`).
"""

from __future__ import annotations

from pathlib import Path

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
    """Read a codebook file by its extension: .yaml/.yml, .qdc (REFI-QDA) or .txt."""
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
    raise InputError(f"unknown codebook format {suffix!r}", file=p, hint="use .yaml, .qdc or .txt (one code path per line)")


def default_codebook_path() -> Path:
    return Path(__file__).parent.parent / "data" / "study_codebook.yaml"


def default() -> Codebook:
    """The study's coding frame (Baxter & Fancourt 2020)."""
    return from_yaml(default_codebook_path())
