"""The codebook: code groups, nested codes, and how to address them.

A codebook holds code *groups* (for example the COM-B tree and Valence). Each group
holds a forest of codes. A code is addressed by its unique name or by its path inside
its group (``Capability/Developing skills``). The files it is read from (autocode YAML, plain text, REFI-QDA ``.qdc``) are
:mod:`autocode.io.codebooks`' business; this module holds the types and their dict form.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import yaml

from .errors import InputError, UnknownCodeError

FORMAT = "autocode-codebook/1"
SEP = "/"
#: The group whose codes are a segment's valence (compared case-insensitively).
VALENCE_GROUP = "valence"


def path_parts(path: str) -> list[str]:
    """The parts of a code path: ``"A/B/C"`` -> ``["A", "B", "C"]`` (surrounding spaces dropped)."""
    return [part.strip() for part in path.split(SEP)]


def path_ancestors(path: str) -> list[str]:
    """The ancestor paths of a code path, nearest first: ``"A/B/C"`` -> ``["A/B", "A"]``.

    This is the one walker over the hierarchy written into paths; engines that see only
    paths (the classifier, agreement) use it, a :class:`Codebook` uses its parent links.
    """
    parts = path_parts(path)
    return [SEP.join(parts[:k]) for k in range(len(parts) - 1, 0, -1)]


def parent_columns(paths: Sequence[str]) -> list[int]:
    """For each code path, the position in ``paths`` of its nearest ancestor among them, or -1:
    ``["A", "A/B", "A/B/C", "D/E"]`` -> ``[-1, 0, 1, -1]``."""
    at = {p: i for i, p in enumerate(paths)}
    return [next((at[a] for a in path_ancestors(p) if a in at), -1) for p in paths]


@dataclass
class Code:
    """One code. ``path`` is unique across the codebook; ``parent`` is the parent's path."""

    name: str
    path: str
    group: str
    parent: str | None = None
    codable: bool = True
    description: str = ""
    color: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    guid: str | None = None

    @property
    def depth(self) -> int:
        return self.path.count(SEP) + 1


@dataclass
class CodeGroup:
    name: str
    description: str = ""
    exclusive: bool = False
    levels: list[str] = field(default_factory=list)


@dataclass
class Codebook:
    """An ordered collection of groups and codes (parents always before children)."""

    name: str = "codebook"
    groups: list[CodeGroup] = field(default_factory=list)
    codes: dict[str, Code] = field(default_factory=dict)

    # ---------------------------------------------------------------- building
    def add_group(self, group: CodeGroup) -> CodeGroup:
        if any(g.name == group.name for g in self.groups):
            raise InputError(f"code group {group.name!r} is declared twice", hint="give each group a unique name")
        self.groups.append(group)
        return group

    def add_code(self, code: Code) -> Code:
        if code.path in self.codes:
            raise InputError(f"code {code.path!r} is declared twice", hint="give each code a unique path")
        if code.parent is not None and code.parent not in self.codes:
            raise InputError(f"code {code.path!r} has unknown parent {code.parent!r}")
        self.codes[code.path] = code
        return code

    # ---------------------------------------------------------------- lookups
    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes.values())

    def __len__(self) -> int:
        return len(self.codes)

    def group(self, name: str) -> CodeGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise InputError(f"unknown code group {name!r}", hint=f"known groups: {', '.join(g.name for g in self.groups)}")

    def resolve(self, ref: str, *, file: str | Path | None = None, line: int | None = None) -> Code:
        """The code named ``ref`` (a unique name or a path); unknown names list the nearest known codes."""
        ref = " ".join(ref.strip().split())
        ref = SEP.join(part.strip() for part in ref.split(SEP))
        if ref in self.codes:
            return self.codes[ref]
        by_name = [c for c in self.codes.values() if c.name == ref]
        if not by_name:
            folded = ref.casefold()
            by_name = [c for c in self.codes.values() if c.name.casefold() == folded or c.path.casefold() == folded]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            raise UnknownCodeError(
                f"code name {ref!r} is ambiguous", file=file, line=line,
                hint=f"use its path: {' or '.join(c.path for c in by_name)}",
            )
        candidates = list(self.codes) + [c.name for c in self.codes.values()]
        near = difflib.get_close_matches(ref, candidates, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(n) for n in near)}?" if near else "see `autocode codebook show`"
        raise UnknownCodeError(f"unknown code {ref!r}", file=file, line=line, hint=hint)

    def children(self, path: str | None) -> list[Code]:
        return [c for c in self.codes.values() if c.parent == path]

    def ancestors(self, path: str) -> list[Code]:
        """Parents of ``path``, nearest first."""
        out = []
        code = self.codes[path]
        while code.parent is not None:
            code = self.codes[code.parent]
            out.append(code)
        return out

    def descendants(self, path: str) -> list[Code]:
        prefix = path + SEP
        return [c for c in self.codes.values() if c.path.startswith(prefix)]

    def close_upward(self, paths: Iterable[str]) -> list[str]:
        """``paths`` plus all their ancestors, in codebook order (a sub-theme implies its theme)."""
        wanted = set()
        for p in paths:
            wanted.add(p)
            wanted.update(a.path for a in self.ancestors(p))
        return [p for p in self.codes if p in wanted]

    def codable(self) -> list[Code]:
        return [c for c in self.codes.values() if c.codable]

    def prototypes(self) -> dict[str, str]:
        """"name: description" of every code that has a description, by path: what the model
        learns of a code from the codebook alone (``CodeClassifier.fit(prototypes=...)``)."""
        return {c.path: f"{c.name}: {c.description}" for c in self.codes.values() if c.description.strip()}

    def level_name(self, code: Code) -> str | None:
        levels = self.group(code.group).levels
        return levels[code.depth - 1] if code.depth <= len(levels) else None

    def valence(self) -> list[str]:
        """The codable codes of the valence group (a group named "Valence", e.g. Barrier/Enabler):
        they sit beside the hierarchy, and a segment may carry several."""
        return [c.path for c in self.codes.values() if c.group.casefold() == VALENCE_GROUP and c.codable]

    def level_names(self) -> list[str]:
        """The names of the hierarchy's levels by depth (the first group that names them), e.g.
        domain, theme, subtheme; empty when no group names its levels."""
        return next((list(g.levels) for g in self.groups if g.levels), [])

    def exclusive_sets(self) -> list[list[str]]:
        """For exclusive groups: the codable code paths of which a segment takes at most one."""
        return [[c.path for c in self.codes.values() if c.group == g.name and c.codable] for g in self.groups if g.exclusive]

    # ---------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        def node(code: Code) -> dict[str, Any]:
            d: dict[str, Any] = {"name": code.name}
            if not code.codable:
                d["codable"] = False
            if code.description:
                d["description"] = code.description
            if code.color:
                d["color"] = code.color
            if code.guid:
                d["guid"] = code.guid
            d.update(code.attrs)
            kids = self.children(code.path)
            if kids:
                d["children"] = [node(k) for k in kids]
            return d

        groups = []
        for g in self.groups:
            gd: dict[str, Any] = {"name": g.name}
            if g.description:
                gd["description"] = g.description
            if g.levels:
                gd["levels"] = list(g.levels)
            gd["exclusive"] = g.exclusive
            gd["codes"] = [node(c) for c in self.codes.values() if c.group == g.name and c.parent is None]
            groups.append(gd)
        return {"name": self.name, "format": FORMAT, "groups": groups}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def hash(self) -> str:
        """A short content hash: two workspaces with the same codebook share it."""
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    def tree_lines(self) -> list[str]:
        """The codebook as indented text lines, for ``autocode codebook show``."""
        lines = [self.name]
        for g in self.groups:
            flag = " (exclusive: one code per segment)" if g.exclusive else ""
            lines.append(f"[{g.name}]{flag}")

            def walk(parent: str | None, indent: int) -> None:
                for c in self.children(parent) if parent else [c for c in self.codes.values() if c.group == g.name and c.parent is None]:
                    mark = "" if c.codable else "  (not codable)"
                    lines.append("  " * indent + f"- {c.name}{mark}")
                    walk(c.path, indent + 1)

            walk(None, 1)
        return lines


# -------------------------------------------------------------------- reading

_KNOWN_KEYS = {"name", "codable", "description", "color", "guid", "children"}


def from_dict(data: Any, *, file: str | Path = "<codebook>") -> Codebook:
    """Build a codebook from the YAML structure; errors name the file and the code."""
    if not isinstance(data, dict) or "groups" not in data:
        raise InputError("not an autocode codebook: no 'groups' list", file=file, hint=f"start the file with 'format: {FORMAT}' and a 'groups:' list")
    book = Codebook(name=str(data.get("name") or Path(str(file)).stem))
    for gd in data["groups"] or []:
        if not isinstance(gd, dict) or not gd.get("name"):
            raise InputError("a group without a name", file=file, hint="each group needs 'name:' and 'codes:'")
        group = book.add_group(CodeGroup(
            name=str(gd["name"]), description=str(gd.get("description") or ""),
            exclusive=bool(gd.get("exclusive", False)), levels=[str(x) for x in gd.get("levels") or []],
        ))

        def add(node: Any, parent: Code | None) -> None:
            if isinstance(node, str):
                node = {"name": node}
            if not isinstance(node, dict) or not str(node.get("name") or "").strip():
                raise InputError(f"a code without a name under {parent.path if parent else group.name!r}", file=file)
            name = " ".join(str(node["name"]).split())
            if SEP in name or ";" in name:
                raise InputError(f"code name {name!r} contains '/' or ';'", file=file, hint="these separate paths and codes; rename the code")
            path = f"{parent.path}{SEP}{name}" if parent else name
            code = book.add_code(Code(
                name=name, path=path, group=group.name, parent=parent.path if parent else None,
                codable=bool(node.get("codable", True)), description=str(node.get("description") or "").strip(),
                color=node.get("color"), guid=node.get("guid"),
                attrs={k: v for k, v in node.items() if k not in _KNOWN_KEYS},
            ))
            for child in node.get("children") or []:
                add(child, code)

        for node in gd.get("codes") or []:
            add(node, None)
    if not book.codes:
        raise InputError("the codebook has no codes", file=file, hint="add codes under a group's 'codes:'")
    return book
