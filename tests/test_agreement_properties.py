"""Properties that must hold for any coding: self-agreement, symmetry, code-name invariance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autocode.agreement import compare

CODES = ["Capability/Developing skills/Not therapists", "Opportunity/Partnerships/Peer support", "Barrier", "Enabler"]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def codings(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(applied[units, 2 coders, codes], group per unit, length per unit)."""
    n_units = draw(st.integers(1, 25))
    n_codes = draw(st.integers(1, len(CODES)))
    applied = draw(arrays(bool, (n_units, 2, n_codes)))
    groups = draw(arrays(np.int64, n_units, elements=st.integers(0, 6)))
    lengths = draw(arrays(np.int64, n_units, elements=st.integers(1, 500)))
    return applied, groups, lengths


def tables(applied: np.ndarray, groups: np.ndarray, lengths: np.ndarray, coders: list[str],
           codes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    unit_ids = [f"u{i:03d}" for i in range(len(applied))]
    units = pd.DataFrame({"unit_id": unit_ids, "group": [f"Focus Group {g}" for g in groups], "length": lengths})
    seen = pd.DataFrame([(u, c) for u in unit_ids for c in coders], columns=["unit_id", "coder"])
    rows = [(unit_ids[u], coders[c], codes[k]) for u, c, k in zip(*np.nonzero(applied))]
    return units, seen, pd.DataFrame(rows, columns=["unit_id", "coder", "code"])


def run(applied: np.ndarray, groups: np.ndarray, lengths: np.ndarray, coders: list[str], codes: list[str],
        order: list[str] | None = None, by_group: bool = False):
    return compare(*tables(applied, groups, lengths, coders, codes), order or coders, codes=codes,
                   by_group=by_group, n_boot=30, seed=1)


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


@FAST
@given(codings())
def test_a_coder_agrees_perfectly_with_itself(data) -> None:
    applied, groups, lengths = data
    codes = CODES[: applied.shape[2]]
    twin = np.repeat(applied[:, :1], 2, axis=1)
    report = run(twin, groups, lengths, ["a", "a_again"], codes)
    table = report.per_code
    assert (table["percent_agreement"] == 100.0).all()
    varies = table["n_coded"].between(1, table["n_units"] - 1)
    assert (table.loc[varies, "kappa"] == 1.0).all()
    assert np.allclose(table.loc[varies, "alpha"], 1.0)
    assert table.loc[~varies, "kappa"].isna().all()
    assert (table["ac1"] == 1.0).all()
    assert report.overall.exact_match == 100.0


@FAST
@given(codings())
def test_swapping_the_coders_changes_nothing(data) -> None:
    applied, groups, lengths = data
    codes = CODES[: applied.shape[2]]
    forward = run(applied, groups, lengths, ["a", "b"], codes, by_group=True)
    backward = run(applied, groups, lengths, ["a", "b"], codes, order=["b", "a"], by_group=True)
    pd.testing.assert_frame_equal(forward.per_code, backward.per_code, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(forward.per_group, backward.per_group, check_exact=False, rtol=1e-9)
    for key, value in vars(forward.overall).items():
        assert same(value, getattr(backward.overall, key)), key
    swapped = backward.pairwise.rename(columns={"coder_1": "coder_2", "coder_2": "coder_1", "n_1": "n_2", "n_2": "n_1"})
    columns = [c for c in forward.pairwise.columns if c != "note"]
    pd.testing.assert_frame_equal(forward.pairwise[columns], swapped[columns], check_exact=False, rtol=1e-9)


@FAST
@given(codings(), st.permutations(range(len(CODES))))
def test_renaming_codes_changes_nothing(data, permutation) -> None:
    applied, groups, lengths = data
    codes = CODES[: applied.shape[2]]
    # New names sort in another order than the old ones.
    renamed = [f"Theme {permutation[k]}/code {k}" for k in range(len(codes))]
    original = run(applied, groups, lengths, ["a", "b"], codes)
    report = run(applied, groups, lengths, ["a", "b"], renamed)
    before = original.per_code.set_index("code")
    after = report.per_code.set_index("code").rename(index=dict(zip(renamed, codes)))
    pd.testing.assert_frame_equal(before.loc[codes], after.loc[codes], check_exact=False, rtol=1e-9)
    for key, value in vars(original.overall).items():
        assert same(value, getattr(report.overall, key)), key
