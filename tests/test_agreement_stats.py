"""Agreement statistics on one yes/no code: published and hand-worked examples."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from autocode.agreement import stats


def table_to_ratings(table: list[list[int]], categories: list[str]) -> np.ndarray:
    """Raw (units, 2 raters) ratings from a 2-rater contingency table (rows: rater 1)."""
    rows = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            rows += [(categories[i], categories[j])] * count
    return np.array(rows, dtype=object)


@pytest.mark.parametrize(
    ("kappa", "label"),
    [(-0.01, "poor"), (0.0, "slight"), (0.20, "slight"), (0.21, "fair"), (0.40, "fair"), (0.41, "moderate"),
     (0.60, "moderate"), (0.61, "substantial"), (0.80, "substantial"), (0.81, "almost perfect"),
     (1.0, "almost perfect"), (float("nan"), "undefined")],
)
def test_landis_koch_bands(kappa: float, label: str) -> None:
    assert stats.landis_koch(kappa) == label


def test_gwet_ac1_handbook_two_raters() -> None:
    # Gwet, Handbook of Inter-Rater Reliability (4th ed., 2014): 100 pregnant women
    # classified by two abstractors (Ectopic / AIU / NIU); published AC1 = 0.849.
    # By hand: pa = (13 + 20 + 56) / 100 = 0.89; rater-1 margins 13, 27, 60, rater-2
    # margins 13, 24, 63, so pi = (0.13, 0.255, 0.615) and
    # pe = (0.13*0.87 + 0.255*0.745 + 0.615*0.385) / 2 = 0.269925,
    # AC1 = (0.89 - 0.269925) / (1 - 0.269925) = 0.849331...
    ratings = table_to_ratings([[13, 0, 0], [0, 20, 7], [0, 4, 56]], ["Ectopic", "AIU", "NIU"])
    ac1 = stats.gwet_ac1(ratings)
    assert round(ac1, 3) == 0.849
    assert ac1 == pytest.approx((0.89 - 0.269925) / (1 - 0.269925), abs=1e-12)


def test_gwet_ac1_handbook_four_raters_with_missing_ratings() -> None:
    # Gwet (2014), Handbook, p. 120: 12 units, 4 raters, 5 categories, missing ratings;
    # published pa = 0.818, pe = 0.190, AC1 = 0.775.
    nan = None
    ratings = np.array([
        [1, 1, nan, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
        [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [nan, 5, 5, 5], [nan, nan, 1, 1], [nan, nan, 3, nan],
    ], dtype=object)
    assert round(stats.gwet_ac1(ratings, categories=[1, 2, 3, 4, 5]), 3) == 0.775


def test_gwet_ac1_binary_matches_two_rater_formula() -> None:
    # The kappa-paradox table (both yes 118, only rater 1 yes 5, only rater 2 yes 2, both
    # no 0), worked by hand: pa = 118/125 = 0.944; pi = (123/125 + 120/125) / 2 = 0.972;
    # pe = 2 * 0.972 * 0.028 = 0.054432; AC1 = 0.889568 / 0.945568 = 0.940776...
    x = table_to_ratings([[118, 5], [2, 0]], [True, False]).astype(bool)
    pa, pi = 118 / 125, (x[:, 0].mean() + x[:, 1].mean()) / 2
    pe = 2 * pi * (1 - pi)
    assert stats.gwet_ac1_binary(x) == pytest.approx((pa - pe) / (1 - pe), abs=1e-12)
    assert stats.gwet_ac1_binary(x) == pytest.approx(0.940776, abs=1e-6)
    # Kappa collapses on the same table (the paradox AC1 was designed for).
    assert stats.cohen_kappa(x[:, 0], x[:, 1]) < 0


def test_gwet_ac1_is_one_when_no_one_applied_the_code() -> None:
    assert stats.gwet_ac1_binary(np.zeros((10, 2), dtype=bool)) == 1.0


def test_kappa_from_counts_equals_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        a, b = rng.random(n) < rng.random(), rng.random(n) < rng.random()
        expected = stats.cohen_kappa(a, b)
        got = stats.kappa_from_counts((a & b).sum(), a.sum(), b.sum(), n)
        if math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == pytest.approx(cohen_kappa_score(a, b, labels=[False, True]), abs=1e-12)


def test_one_kappa_equals_scikit_learn_to_the_last_bit() -> None:
    # Label vectors (yes/no or categories) and 2x2 counts go through the one table formula,
    # which does scikit-learn's arithmetic: equal, not just close.
    rng = np.random.default_rng(3)
    for _ in range(200):
        n, k = int(rng.integers(2, 80)), int(rng.integers(2, 6))
        a = rng.integers(k, size=n)
        b = np.where(rng.random(n) < 0.6, a, rng.integers(k, size=n))
        if len(np.unique(np.r_[a, b])) > 1:
            assert stats.cohen_kappa(a, b) == cohen_kappa_score(a, b)
        yes_a, yes_b = a == 0, b == 0
        if (yes_a | yes_b).any() and not (yes_a & yes_b).all():
            expected = cohen_kappa_score(yes_a, yes_b, labels=[False, True])
            assert stats.cohen_kappa(yes_a, yes_b) == expected
            assert stats.kappa_from_counts((yes_a & yes_b).sum(), yes_a.sum(), yes_b.sum(), n) == expected


def test_kappa_undefined_value_is_the_callers() -> None:
    same = np.array([2, 2, 2])
    assert math.isnan(stats.cohen_kappa(same, same))
    assert stats.cohen_kappa(same, same, undefined=1.0) == 1.0
    assert stats.cohen_kappa([], [], undefined=1.0) == 1.0
    assert stats.cohen_kappa(np.ones(4, dtype=bool), np.ones(4, dtype=bool), undefined=1.0) == 1.0
    # Constant but different: defined, and no better than chance.
    assert stats.cohen_kappa(np.zeros(4, dtype=bool), np.ones(4, dtype=bool), undefined=1.0) == 0.0
    assert stats.cohen_kappa([0, 0, 0], [1, 1, 1], undefined=1.0) == 0.0
    assert stats.kappa_from_counts([0, 3, 1], [0, 3, 2], [0, 3, 1], [3, 3, 3], undefined=1.0).tolist() == [
        1.0, 1.0, cohen_kappa_score([1, 1, 0], [1, 0, 0])]


def test_macro_f1_over_either_or_truth() -> None:
    truth = np.array([[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 0, 0]])
    pred = np.array([[1, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
    # column 0: TP 1, FN 1 -> 2/3; column 1 unused; column 2: FP 1 -> 0
    assert stats.f1_scores(truth, pred)[[0, 2]].tolist() == [2 / 3, 0.0]
    assert math.isnan(stats.f1_scores(truth, pred)[1])
    assert stats.f1_scores(truth, pred, unused=0.0)[1] == 0.0
    assert stats.macro_f1(truth, pred) == np.mean([2 / 3, 0.0])  # codes either side uses
    assert stats.macro_f1(truth, pred, over="truth") == 2 / 3  # codes present in the truth
    nothing = np.zeros((3, 2))
    assert stats.macro_f1(nothing, nothing) == 1.0
    assert stats.macro_f1(nothing, nothing, over="truth", empty=0.0) == 0.0
    assert stats.macro_f1(truth[:, 0], truth[:, 0]) == 1.0  # a vector is one code
    # one-hot rows: scikit-learn's macro F1 over the labels present
    y, p = np.array([0, 1, 2, 0, 1]), np.array([0, 2, 2, 0, 0])
    eye = np.eye(4, dtype=int)
    assert stats.macro_f1(eye[y], eye[p]) == pytest.approx(f1_score(y, p, average="macro"), abs=1e-15)
    with pytest.raises(ValueError, match="over"):
        stats.macro_f1(truth, pred, over="all")


def test_undefined_figures_are_nan_with_a_reason() -> None:
    none = np.zeros((5, 2), dtype=bool)
    assert math.isnan(stats.cohen_kappa(none[:, 0], none[:, 1]))
    assert math.isnan(stats.krippendorff_alpha(none))
    assert math.isnan(stats.fleiss_kappa(np.zeros((5, 3), dtype=bool)))
    assert "no coder applied" in stats.undefined_reason(none)
    assert "every coder applied" in stats.undefined_reason(~none)
    assert stats.percent_agreement(none) == 100.0


def test_fleiss_alpha_and_agreement_match_the_libraries() -> None:
    rng = np.random.default_rng(7)
    x = rng.random((40, 4)) < 0.3
    table, _ = aggregate_raters(x.astype(int), n_cat=2)
    assert stats.fleiss_kappa(x) == pytest.approx(sm_fleiss(table))
    assert stats.krippendorff_alpha(x) == pytest.approx(
        krippendorff.alpha(reliability_data=x.T.astype(float), level_of_measurement="nominal"))
    pairs = [(x[:, i] == x[:, j]).mean() for i in range(4) for j in range(i + 1, 4)]
    assert stats.percent_agreement(x) == pytest.approx(100 * np.mean(pairs))


def test_cohen_kappa_from_weighted_cells_equals_per_unit_scikit_learn() -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(2, 60))
        a, b = rng.random(n) < 0.4, rng.random(n) < 0.3
        if a.any() or b.any():
            assert stats.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b, labels=[False, True]), abs=1e-12)


@pytest.mark.parametrize("n_coders", [2, 3, 5])
def test_large_input_alpha_closed_form_equals_the_package(monkeypatch: pytest.MonkeyPatch, n_coders: int) -> None:
    rng = np.random.default_rng(n_coders)
    x = rng.random((300, n_coders)) < 0.2
    x[:, 1] |= x[:, 0] & (rng.random(300) < 0.7)  # some real agreement
    expected = krippendorff.alpha(reliability_data=x.T.astype(float), level_of_measurement="nominal")
    assert stats.krippendorff_alpha(x) == pytest.approx(expected, abs=1e-12)  # package path
    monkeypatch.setattr(stats, "LARGE", 10)
    assert stats.krippendorff_alpha(x) == pytest.approx(expected, abs=1e-12)  # closed-form path


def test_binary_ac1_equals_the_general_formula() -> None:
    rng = np.random.default_rng(5)
    for m in (2, 3, 6):
        x = rng.random((80, m)) < 0.25
        assert stats.gwet_ac1_binary(x) == pytest.approx(stats.gwet_ac1(x, categories=[False, True]), abs=1e-12)
