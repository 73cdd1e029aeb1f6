"""From plain tables (units, seen, codings) to a units x coders x codes yes/no array.

Input contract (pandas DataFrames, so any source can feed it):

- ``units``: unit_id, group (focus group or document), length (characters); an
  optional ``text`` column is carried into the disagreement list.
- ``seen``: unit_id, coder - which units each coder saw, coded or deliberately left
  uncoded. A coding also counts as having seen its unit.
- ``codings``: unit_id, coder, code - one row per code applied. A row with an empty
  code only says the coder saw the unit.

Only units that every compared coder saw count. Codes are paths such as
"Capability/Developing skills/Not therapists" or flat names such as "Barrier"; they
are read with :func:`autocode.codebook.path_parts` and walked up with
:func:`autocode.codebook.path_ancestors`. A level is a depth of the hierarchy: it
keeps each path's ancestor at that depth, so coding a sub-theme implies its theme and
domain; a code with fewer parts than the level is dropped at that level. A one-part
code counts as a top-level code only if some path in the data (or in ``codes``)
starts with it; otherwise it is flat, belongs to no level, and is reported only at
level None ("all").

Levels are named by the codebook (``levels``: the names of depths 1, 2, ...; see
``Codebook.level_names()``, e.g. the study codebook's COM-B group names them domain,
theme, subtheme). A level is given by one of those names or by its depth (1, 2, ...);
None or "all" means codes as written. Without ``levels``, :data:`DEFAULT_LEVELS` name them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autocode.codebook import SEP, path_ancestors, path_parts
from autocode.errors import InputError

#: The level names used when the caller gives none (``levels=None``): the study
#: codebook's COM-B hierarchy, depth 1 = domain, 2 = theme, 3 = subtheme. Only a fallback:
#: callers with a codebook pass its own names (``Codebook.level_names()``).
DEFAULT_LEVELS: tuple[str, ...] = ("domain", "theme", "subtheme")

#: A level: a name from ``levels``, a depth (1 = top), or None/"all" for codes as written.
Level = str | int | None


@dataclass(frozen=True)
class CodingMatrix:
    """Who applied which code to which unit, for the units every coder saw.

    ``applied[u, c, k]`` is True when coder ``coders[c]`` applied ``codes[k]`` to unit
    ``unit_ids[u]``.
    """

    unit_ids: np.ndarray
    groups: np.ndarray
    lengths: np.ndarray
    coders: tuple[str, ...]
    codes: tuple[str, ...]
    applied: np.ndarray
    level: str | None = None
    texts: np.ndarray | None = None
    n_unseen: int = 0
    n_uncoded_dropped: int = 0

    def subset(self, mask: np.ndarray) -> CodingMatrix:
        """The same matrix restricted to the units where ``mask`` is True."""
        return CodingMatrix(
            unit_ids=self.unit_ids[mask], groups=self.groups[mask], lengths=self.lengths[mask],
            coders=self.coders, codes=self.codes, applied=self.applied[mask], level=self.level,
            texts=None if self.texts is None else self.texts[mask],
        )


def _key(name: str) -> str:
    """A level name as compared: case, spaces, hyphens and underscores ignored ("Sub-theme" = "subtheme")."""
    return name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")


def level_names(levels: Sequence[str] | None = None) -> tuple[str, ...]:
    """The level names by depth: ``levels`` checked, or :data:`DEFAULT_LEVELS` when None.
    An empty ``levels`` is a codebook that names no levels: only codes as written remain."""
    if levels is None:
        return DEFAULT_LEVELS
    if isinstance(levels, str):
        raise InputError(f"levels must be a list of level names, got the string {levels!r}",
                         hint=f"e.g. levels=[{levels!r}], the names of depths 1, 2, ... as the codebook gives them")
    names = tuple(str(name).strip() for name in levels)
    keys = [_key(name) for name in names]
    if not all(keys):
        raise InputError(f"levels {list(levels)!r} has an empty name",
                         hint="give the names of depths 1, 2, ... as the codebook gives them, "
                              "e.g. ['domain', 'theme', 'subtheme']")
    if "all" in keys:
        raise InputError("a level may not be named 'all'", hint="'all' means codes as written; rename that level")
    twice = [name for name, key in zip(names, keys) if keys.count(key) > 1]
    if twice:
        raise InputError(f"level {twice[0]!r} is named twice in levels {list(names)!r}",
                         hint="give each depth its own name")
    return names


def resolve_level(level: Level, levels: Sequence[str] | None = None) -> tuple[str, int] | None:
    """(name, depth) of a level, or None for codes as written (None or "all").

    ``level``: a name from ``levels`` (case, spaces, hyphens and underscores ignored) or
    a depth 1..len(levels); ``levels``: the names of depths 1, 2, ... (default
    :data:`DEFAULT_LEVELS`). Anything else raises InputError naming the known levels.
    """
    names = level_names(levels)
    if level is None or (isinstance(level, str) and _key(level) == "all"):
        return None
    if isinstance(level, (int, np.integer)) and not isinstance(level, bool):
        if 1 <= level <= len(names):
            return names[level - 1], int(level)
    elif isinstance(level, str):
        keys = [_key(name) for name in names]
        if _key(level) in keys:
            depth = keys.index(_key(level)) + 1
            return names[depth - 1], depth
    known = ", ".join(f"{name!r} (or {depth})" for depth, name in enumerate(names, start=1))
    raise InputError(
        f"unknown codebook level {level!r}; "
        + (f"the known levels are {known}" if names else "the codebook names no levels"),
        hint="give one of those level names or depths, or None/'all' for codes as written" if names
        else "use level=None ('all') for codes as written, or name the levels in the codebook",
    )


def code_parts(code: str) -> list[str]:
    """The parts of a code path (:func:`autocode.codebook.path_parts`); raises InputError
    on an empty part."""
    parts = path_parts(str(code))
    if any(not part for part in parts):
        raise InputError(
            f"code {code!r} has an empty part",
            hint="write hierarchical codes as 'Domain/Theme/Sub-theme' with no empty parts",
        )
    return parts


def hierarchy_roots(codes: Iterable[str]) -> set[str]:
    """The top-level codes of the hierarchical paths among ``codes`` (the farthest
    ancestor of each path with one): one-part codes with these names are top-level
    codes rather than flat ones."""
    roots = set()
    for code in codes:
        ancestors = path_ancestors(SEP.join(code_parts(code)))
        if ancestors:
            roots.add(ancestors[-1])
    return roots


def project_code(code: str, level: Level, roots: Collection[str] = frozenset(),
                 levels: Sequence[str] | None = None) -> str | None:
    """The code as seen at ``level``: its ancestor at that depth (itself at its own
    depth), or None when it has no such level. ``roots``: the top-level codes of the
    hierarchical paths (:func:`hierarchy_roots`; one-part codes that are top-level
    codes rather than flat). ``levels``: the level names (see :func:`resolve_level`)."""
    resolved = resolve_level(level, levels)
    return project_to_depth(code, None if resolved is None else resolved[1], roots)


def project_to_depth(code: str, depth: int | None, roots: Collection[str] = frozenset()) -> str | None:
    """:func:`project_code` for a level already resolved to its depth (None: codes as written)."""
    path = SEP.join(code_parts(code))
    if depth is None:
        return path
    lineage = [*reversed(path_ancestors(path)), path]  # top-level code first
    if len(lineage) < depth or (len(lineage) == 1 and path not in roots):
        return None
    return lineage[depth - 1]


def _require_frame(frame: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}",
                         hint=f"give a DataFrame with columns {', '.join(columns)}")
    missing = [col for col in columns if col not in frame.columns]
    if missing:
        raise InputError(
            f"the {name} table has no {', '.join(repr(c) for c in missing)} column",
            hint=f"give {name} the columns {', '.join(columns)} (it has {', '.join(map(str, frame.columns))})",
        )
    return frame


def _few(values: Iterable[object], limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def check_coders(coders: Sequence[str]) -> tuple[str, ...]:
    """Validate the list of compared coders: at least two distinct names."""
    if isinstance(coders, str) or coders is None:
        raise InputError(f"coders must be a list of names, got {coders!r}", hint="e.g. coders=['coder_a', 'coder_b']")
    names = tuple(str(c) for c in coders)
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise InputError(f"coder {duplicates[0]!r} is listed twice", hint="list each coder once")
    if len(names) < 2:
        raise InputError(f"agreement needs at least two coders, got {list(names)!r}",
                         hint="pass two or more coder names")
    return names


def _clean_units(units: pd.DataFrame) -> pd.DataFrame:
    units = _require_frame(units, "units", ["unit_id", "group", "length"]).copy()
    units["unit_id"] = units["unit_id"].astype(str)
    duplicated = units["unit_id"][units["unit_id"].duplicated()]
    if len(duplicated):
        raise InputError(f"unit_id {duplicated.iloc[0]!r} appears more than once in units",
                         hint="give each unit one row")
    if units["group"].isna().any():
        bad = units.loc[units["group"].isna(), "unit_id"].iloc[0]
        raise InputError(f"unit {bad!r} has no group", hint="give every unit its focus group or document")
    units["group"] = units["group"].astype(str)
    lengths = pd.to_numeric(units["length"], errors="coerce")
    bad = units["unit_id"][lengths.isna() | (lengths < 0) | (lengths != lengths.round())]
    if len(bad):
        value = units.loc[bad.index[0], "length"]
        value = value.item() if isinstance(value, np.generic) else value
        raise InputError(f"unit {bad.iloc[0]!r} has length {value!r}",
                         hint="length must be a whole number of characters, 0 or more")
    units["length"] = lengths.astype(np.int64)
    return units


def _check_known_units(frame: pd.DataFrame, name: str, known: set[str]) -> None:
    unknown = sorted(set(frame["unit_id"]) - known)
    if unknown:
        raise InputError(f"{name} names unit_id {_few(unknown)} not in the units table",
                         hint="add those units to units, or drop their rows")


def build_matrix(
    units: pd.DataFrame,
    seen: pd.DataFrame,
    codings: pd.DataFrame,
    coders: Sequence[str],
    *,
    level: Level = None,
    levels: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
    exclude_uncoded: bool = False,
) -> CodingMatrix:
    """Validate the three tables and build the :class:`CodingMatrix` for ``coders``.

    ``level``: a level name from ``levels`` or a depth, or None for codes as written;
    ``levels``: the codebook's level names by depth (default :data:`DEFAULT_LEVELS`).
    ``codes`` (default: every code the coders applied, at this level, sorted) fixes
    which codes are reported and in what order; a listed code no one applied is kept.
    ``exclude_uncoded`` drops units that no compared coder coded with any of the codes.
    """
    names = check_coders(coders)
    resolved = resolve_level(level, levels)
    name, depth = resolved if resolved is not None else (None, None)
    units = _clean_units(units)
    seen_all = _require_frame(seen, "seen", ["unit_id", "coder"])[["unit_id", "coder"]].astype(str)
    codings = _require_frame(codings, "codings", ["unit_id", "coder", "code"])[["unit_id", "coder", "code"]].copy()
    codings["unit_id"] = codings["unit_id"].astype(str)
    codings["coder"] = codings["coder"].astype(str)
    codings["code"] = codings["code"].map(lambda c: None if pd.isna(c) or not str(c).strip() else str(c).strip())

    known = set(units["unit_id"])
    seen = seen_all[seen_all["coder"].isin(names)]
    ours = codings[codings["coder"].isin(names)]
    _check_known_units(seen, "seen", known)
    _check_known_units(ours, "codings", known)

    # Units every coder saw (a coding implies the coder saw the unit).
    looked = pd.concat([seen, ours[["unit_id", "coder"]]]).drop_duplicates()
    saw = looked.groupby("coder")["unit_id"].agg(set).to_dict()
    for coder in names:
        if not saw.get(coder):
            present = seen_all_coders(seen_all, codings)
            raise InputError(f"coder {coder!r} saw no units",
                             hint=f"check the name; coders in the data: {_few(present, 10) or 'none'}")
    common = set.intersection(*(saw[c] for c in names))
    in_all = units["unit_id"].isin(common).to_numpy()
    n_unseen = int((~in_all).sum())
    kept = units[in_all].reset_index(drop=True)

    # Project codes to the level.
    written = [c for c in codings["code"].dropna().unique()] + list(codes or [])
    roots = hierarchy_roots(written)
    applied_rows = ours.dropna(subset=["code"]).copy()
    applied_rows["code"] = [project_to_depth(c, depth, roots) for c in applied_rows["code"]]
    applied_rows = applied_rows.dropna(subset=["code"])
    applied_rows = applied_rows[applied_rows["unit_id"].isin(common)].drop_duplicates()

    if codes is None:
        code_list = sorted(applied_rows["code"].unique())
    else:
        if isinstance(codes, str):
            raise InputError(f"codes must be a list of code names, got {codes!r}", hint=f"e.g. codes=[{codes!r}]")
        code_list = []
        for code in codes:
            projected = project_to_depth(str(code), depth, roots)
            if projected is None:
                raise InputError(f"code {code!r} has no {name} level",
                                 hint="list codes with at least as many path parts as the level, or use level=None")
            if projected not in code_list:
                code_list.append(projected)

    unit_index = pd.Index(kept["unit_id"])
    coder_index = pd.Index(names)
    code_index = pd.Index(code_list)
    applied = np.zeros((len(kept), len(names), len(code_list)), dtype=bool)
    rows = applied_rows[applied_rows["code"].isin(code_index)]
    applied[unit_index.get_indexer(rows["unit_id"]), coder_index.get_indexer(rows["coder"]),
            code_index.get_indexer(rows["code"])] = True

    n_dropped = 0
    if exclude_uncoded:
        coded = applied.any(axis=(1, 2))
        n_dropped = int((~coded).sum())
        kept = kept[coded].reset_index(drop=True)
        applied = applied[coded]

    return CodingMatrix(
        unit_ids=kept["unit_id"].to_numpy(dtype=object),
        groups=kept["group"].to_numpy(dtype=object),
        lengths=kept["length"].to_numpy(dtype=np.int64),
        coders=names,
        codes=tuple(code_list),
        applied=applied,
        level=name,
        texts=kept["text"].astype(str).to_numpy(dtype=object) if "text" in kept.columns else None,
        n_unseen=n_unseen,
        n_uncoded_dropped=n_dropped,
    )


def seen_all_coders(seen: pd.DataFrame, codings: pd.DataFrame) -> list[str]:
    """Every coder named in the seen and codings tables."""
    return sorted(set(seen["coder"].astype(str)) | set(codings["coder"].astype(str)))
