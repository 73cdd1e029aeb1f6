"""Where coders differ: a unit-by-unit list for a consensus meeting, and a code-by-code matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from autocode.agreement.units import CodingMatrix, Level, build_matrix
from autocode.errors import InputError

#: Row/column of the disagreement matrix for "applied nothing the other did not".
NO_CODE = "(no code)"
#: Separator between codes in the disagreement list's cells.
JOIN = "; "


def disagreement_list(
    units: pd.DataFrame,
    seen: pd.DataFrame,
    codings: pd.DataFrame,
    coders: Sequence[str],
    *,
    level: Level = None,
    levels: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Units where the coders applied different codes, each coder's codes side by side.

    Columns: unit_id, group, text (when ``units`` has one), one column per coder with
    the codes it applied joined by "; ", and ``disputed``: the codes applied by some
    coders but not all. Write it with ``DataFrame.to_csv(path, index=False)``.
    ``level``/``levels`` as for :func:`~autocode.agreement.units.build_matrix`.
    """
    matrix = build_matrix(units, seen, codings, coders, level=level, levels=levels, codes=codes)
    return disagreements_from_matrix(matrix)


def disagreements_from_matrix(matrix: CodingMatrix) -> pd.DataFrame:
    """:func:`disagreement_list` of a prepared :class:`CodingMatrix`."""
    fixed = ["unit_id", "group"] + (["text"] if matrix.texts is not None else []) + ["disputed"]
    clash = [c for c in matrix.coders if c in fixed]
    if clash:
        raise InputError(f"coder name {clash[0]!r} clashes with a column of the disagreement list",
                         hint=f"rename the coder; {', '.join(fixed)} are taken")
    applied = matrix.applied
    codes = np.array(matrix.codes, dtype=object)
    differ = (applied != applied[:, :1, :]).any(axis=(1, 2))
    rows = []
    for u in np.flatnonzero(differ):
        row: dict[str, object] = {"unit_id": matrix.unit_ids[u], "group": matrix.groups[u]}
        if matrix.texts is not None:
            row["text"] = matrix.texts[u]
        for c, coder in enumerate(matrix.coders):
            row[coder] = JOIN.join(codes[applied[u, c]])
        some = applied[u].any(axis=0) & ~applied[u].all(axis=0)
        row["disputed"] = JOIN.join(codes[some])
        rows.append(row)
    columns = fixed[:-1] + list(matrix.coders) + ["disputed"]
    return pd.DataFrame(rows, columns=columns)


def disagreement_matrix(
    units: pd.DataFrame,
    seen: pd.DataFrame,
    codings: pd.DataFrame,
    coder_1: str,
    coder_2: str,
    *,
    level: Level = None,
    levels: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """How often ``coder_1`` applied code a where ``coder_2`` applied code b instead.

    On each unit, every code only coder 1 applied is paired with every code only
    coder 2 applied; when one side applied nothing extra, its partner is "(no code)".
    Rows: coder 1's codes, columns: coder 2's, both ending with "(no code)"; the
    diagonal is 0 (a shared code is not a disagreement). ``level``/``levels`` as for
    :func:`~autocode.agreement.units.build_matrix`.
    """
    matrix = build_matrix(units, seen, codings, [coder_1, coder_2], level=level, levels=levels, codes=codes)
    return matrix_from_matrix(matrix, 0, 1)


def matrix_from_matrix(matrix: CodingMatrix, first: int = 0, second: int = 1) -> pd.DataFrame:
    """:func:`disagreement_matrix` of coders ``first`` and ``second`` in a prepared matrix."""
    a = matrix.applied[:, first, :]
    b = matrix.applied[:, second, :]
    only_a, only_b = a & ~b, b & ~a
    has_a, has_b = only_a.any(axis=1), only_b.any(axis=1)
    k = len(matrix.codes)
    counts = np.zeros((k + 1, k + 1), dtype=np.int64)
    swapped = has_a & has_b
    counts[:k, :k] = only_a[swapped].T.astype(np.int64) @ only_b[swapped].astype(np.int64)
    counts[:k, k] = only_a[has_a & ~has_b].sum(axis=0)
    counts[k, :k] = only_b[has_b & ~has_a].sum(axis=0)
    labels = [*matrix.codes, NO_CODE]
    return pd.DataFrame(
        counts,
        index=pd.Index(labels, name=f"{matrix.coders[first]} applied"),
        columns=pd.Index(labels, name=f"{matrix.coders[second]} applied instead"),
    )
