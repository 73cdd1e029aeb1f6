"""From plain tables (units, seen, codings) to a units x coders x codes yes/no array.

Input contract (pandas DataFrames, so any source can feed it):

- ``units``: unit_id, group (focus group or document), length (characters); an
  optional ``text`` column is carried into the disagreement list.
- ``seen``: unit_id, coder - which units each coder saw, coded or deliberately left
  uncoded. A coding also counts as having seen its unit.
- ``codings``: unit_id, coder, code - one row per code applied. A row with an empty
  code only says the coder saw the unit.

Only units that every compared coder saw count. Codes are paths such as
"Capability/Developing skills/Not therapists" (domain/theme/sub-theme) or flat names
such as "Barrier". A level keeps the first k parts of each path (domain=1, theme=2,
subtheme=3), so coding a sub-theme implies its theme and domain; a code with fewer
parts than the level is dropped at that level. A one-part code counts as a domain
only if some path in the data (or in ``codes``) starts with it; otherwise it is flat,
belongs to no level, and is reported only at level None ("all").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from autocode.errors import InputError

#: Codebook levels and how many path parts each keeps.
LEVELS: dict[str, int] = {"domain": 1, "theme": 2, "subtheme": 3}
SEPARATOR = "/"

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


def level_name(level: Level) -> str | None:
    """Normalise a level: None/"all" -> None; 1/2/3 or a name -> "domain"/"theme"/"subtheme"."""
    if level is None or (isinstance(level, str) and level.strip().lower() == "all"):
        return None
    if isinstance(level, (int, np.integer)) and not isinstance(level, bool):
        for name, depth in LEVELS.items():
            if depth == level:
                return name
    elif isinstance(level, str):
        key = level.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        if key in LEVELS:
            return key
    raise InputError(
        f"unknown codebook level {level!r}",
        hint="use 'domain' (or 1), 'theme' (or 2), 'subtheme' (or 3), or None/'all' for codes as written",
    )


def split_code(code: str) -> list[str]:
    """The parts of a code path, stripped; raises InputError on an empty part."""
    parts = [part.strip() for part in str(code).split(SEPARATOR)]
    if any(not part for part in parts):
        raise InputError(
            f"code {code!r} has an empty part",
            hint="write hierarchical codes as 'Domain/Theme/Sub-theme' with no empty parts",
        )
    return parts


def project_code(code: str, level: Level, roots: Collection[str] = frozenset()) -> str | None:
    """The code as seen at ``level``: its first k path parts, or None when it has no
    such level. ``roots``: first parts of the hierarchical paths (one-part codes that
    are domains rather than flat codes)."""
    parts = split_code(code)
    name = level_name(level)
    if name is None:
        return SEPARATOR.join(parts)
    depth = LEVELS[name]
    if len(parts) < depth or (len(parts) == 1 and parts[0] not in roots):
        return None
    return SEPARATOR.join(parts[:depth])


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
    codes: Sequence[str] | None = None,
    exclude_uncoded: bool = False,
) -> CodingMatrix:
    """Validate the three tables and build the :class:`CodingMatrix` for ``coders``.

    ``codes`` (default: every code the coders applied, at this level, sorted) fixes
    which codes are reported and in what order; a listed code no one applied is kept.
    ``exclude_uncoded`` drops units that no compared coder coded with any of the codes.
    """
    names = check_coders(coders)
    name = level_name(level)
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
    roots = {split_code(c)[0] for c in written if len(split_code(c)) > 1}
    applied_rows = ours.dropna(subset=["code"]).copy()
    applied_rows["code"] = [project_code(c, name, roots) for c in applied_rows["code"]]
    applied_rows = applied_rows.dropna(subset=["code"])
    applied_rows = applied_rows[applied_rows["unit_id"].isin(common)].drop_duplicates()

    if codes is None:
        code_list = sorted(applied_rows["code"].unique())
    else:
        if isinstance(codes, str):
            raise InputError(f"codes must be a list of code names, got {codes!r}", hint=f"e.g. codes=[{codes!r}]")
        code_list = []
        for code in codes:
            projected = project_code(str(code), name, roots)
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
