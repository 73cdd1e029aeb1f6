"""Agreement statistics for one yes/no question ("was this code applied?") over units.

Most functions take ``x``: a boolean array of shape (n_units, n_coders), True where
the coder applied the code. Library implementations are used where they exist:
Cohen's kappa from scikit-learn, Fleiss' kappa from statsmodels, Krippendorff's alpha
from the ``krippendorff`` package. Gwet's AC1 is written here (see :func:`gwet_ac1`).

A statistic that is undefined for the data (e.g. kappa when no coder applied the code,
so chance agreement is 100%) is returned as NaN; :func:`undefined_reason` says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

#: Landis & Koch (1977) bands, as (upper bound inclusive, label); below 0 is "poor".
LANDIS_KOCH: tuple[tuple[float, str], ...] = (
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.00, "almost perfect"),
)


#: The four cells of a 2x2 table (yes/yes, yes/no, no/yes, no/no) as two coders' decisions.
_FIRST = [True, True, False, False]
_SECOND = [True, False, True, False]
#: Above this many units, alpha uses :func:`_binary_alpha` (see :func:`krippendorff_alpha`).
LARGE = 50_000


def landis_koch(kappa: float) -> str:
    """The Landis & Koch label of a kappa: poor (<0), slight (<=0.20), fair, moderate,
    substantial, almost perfect (>0.80); "undefined" for NaN."""
    if kappa is None or not np.isfinite(kappa):
        return "undefined"
    if kappa < 0:
        return "poor"
    for upper, label in LANDIS_KOCH:
        if kappa <= upper:
            return label
    return "almost perfect"


def _as_matrix(x: np.ndarray | Sequence[Sequence[bool]]) -> np.ndarray:
    x = np.asarray(x, dtype=bool)
    if x.ndim != 2:
        raise ValueError(f"expected a (units, coders) array, got shape {x.shape}")
    return x


def yes_per_unit(x: np.ndarray) -> np.ndarray:
    """How many coders applied the code to each unit (column by column: fast on long arrays)."""
    x = _as_matrix(x)
    yes = np.zeros(x.shape[0], dtype=np.int64)
    for column in x.T:
        yes += column
    return yes


def yes_per_coder(x: np.ndarray) -> np.ndarray:
    """How many units each coder applied the code to."""
    x = _as_matrix(x)
    return np.array([np.count_nonzero(column) for column in x.T], dtype=np.int64)


def undefined_reason(x: np.ndarray) -> str | None:
    """Why chance-corrected figures (kappa, alpha, Fleiss) are undefined for ``x``, or None."""
    x = _as_matrix(x)
    if x.shape[0] == 0:
        return "no units to compare"
    if not x.any():
        return "no coder applied this code: kappa and alpha are undefined (chance agreement is 100%)"
    if x.all():
        return "every coder applied this code to every unit: kappa and alpha are undefined"
    return None


def percent_agreement(x: np.ndarray) -> float:
    """Percent of units on which two coders agree, averaged over all pairs of coders (0-100).

    For two coders this is plain percent agreement; for more it equals Fleiss' observed
    agreement (the share of agreeing coder pairs per unit).
    """
    x = _as_matrix(x)
    n, m = x.shape
    if n == 0:
        return float("nan")
    per_yes = np.bincount(yes_per_unit(x), minlength=m + 1)  # units by number of coders saying yes
    yes = np.arange(m + 1)
    agreeing_pairs = (yes * (yes - 1) + (m - yes) * (m - yes - 1)) / 2
    return float(100.0 * (per_yes * agreeing_pairs).sum() / (n * m * (m - 1) / 2))


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two coders' yes/no decisions (scikit-learn); NaN when undefined.

    scikit-learn gets the four cells of the 2x2 table as weighted samples, which gives
    the same kappa as passing every unit but costs the same for a million characters
    as for ten segments.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.size == 0 or undefined_reason(np.column_stack([a, b])) is not None:
        return float("nan")
    both, only_a, only_b = (np.count_nonzero(v) for v in (a & b, a & ~b, ~a & b))
    cells = [both, only_a, only_b, a.size - both - only_a - only_b]
    return float(cohen_kappa_score(_FIRST, _SECOND, labels=[False, True], sample_weight=cells))


def pairwise_kappas(x: np.ndarray) -> np.ndarray:
    """Cohen's kappa for every pair of coders (columns), in ``itertools.combinations`` order."""
    x = _as_matrix(x)
    return np.array([cohen_kappa(x[:, i], x[:, j]) for i, j in combinations(range(x.shape[1]), 2)])


def fleiss_kappa(x: np.ndarray) -> float:
    """Fleiss' kappa over all coders (statsmodels); NaN when undefined."""
    x = _as_matrix(x)
    if undefined_reason(x) is not None:
        return float("nan")
    table, _ = inter_rater.aggregate_raters(x.astype(int), n_cat=2)
    return float(inter_rater.fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(x: np.ndarray) -> float:
    """Krippendorff's alpha, nominal, over all coders; NaN when undefined.

    Computed by the ``krippendorff`` package (given its ``value_counts`` input: coders
    saying no / yes per unit). Above :data:`LARGE` units (character-level data, where
    the package takes seconds per call) the same alpha comes from :func:`_binary_alpha`,
    a closed form on counts that tests check equals the package.
    """
    x = _as_matrix(x)
    if undefined_reason(x) is not None:
        return float("nan")
    yes = yes_per_unit(x)
    if x.shape[0] > LARGE:
        return _binary_alpha(yes, x.shape[1])
    value_counts = np.column_stack([x.shape[1] - yes, yes])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal")
    return float(value)


def _binary_alpha(yes: np.ndarray, n_coders: int) -> float:
    """Nominal alpha when every unit has ``n_coders`` yes/no values, ``yes[u]`` of them yes.

    With n = units x coders values, n_1 yes and n_0 no, and o_01 = sum_u yes_u (m - yes_u)
    / (m - 1) the off-diagonal coincidences, alpha = 1 - (n - 1) o_01 / (n_0 n_1)
    (Krippendorff 2011, "Computing Krippendorff's alpha-reliability").
    """
    m = n_coders
    counts = np.bincount(np.asarray(yes, dtype=np.int64), minlength=m + 1).astype(float)
    s = np.arange(m + 1, dtype=float)
    n_yes = float((counts * s).sum())
    n = float(counts.sum() * m)
    n_no = n - n_yes
    if n_yes == 0 or n_no == 0:
        return float("nan")
    off_diagonal = float((counts * s * (m - s)).sum() / (m - 1))
    return 1.0 - (n - 1) * off_diagonal / (n_no * n_yes)


def gwet_ac1(ratings: np.ndarray | pd.DataFrame | Sequence[Sequence[object]],
             categories: Sequence[object] | None = None) -> float:
    """Gwet's AC1 for nominal ratings by two or more raters, missing ratings allowed.

    ``ratings`` has one row per unit and one column per rater; None/NaN is a missing
    rating. ``categories`` lists every category raters could use (default: those used).

    Hand-written because irrCAC, the reference implementation, could not be installed
    (it pins scipy==1.12, which conflicts with the numpy 2 that pyarrow/datasets need).
    Formulas from Gwet (2008, BJMSP 61:29-48; Handbook of Inter-Rater Reliability,
    4th ed., 2014), with r_ik the raters who put unit i in category k and r_i = sum_k r_ik:

        pa = mean over units with r_i >= 2 of  sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))
        pi_k = mean over units with r_i >= 1 of  r_ik / r_i
        pe = sum_k pi_k (1 - pi_k) / (q - 1)          (q categories)
        AC1 = (pa - pe) / (1 - pe)

    For two raters and a yes/no code, pe = 2 pi (1 - pi), pi the mean of the two raters'
    prevalences. Unlike kappa, AC1 is defined when no one applied a code (it is then 1).
    """
    values = np.asarray(ratings.to_numpy() if isinstance(ratings, pd.DataFrame) else ratings, dtype=object)
    if values.ndim != 2:
        raise ValueError(f"expected a (units, raters) table, got shape {values.shape}")
    missing = pd.isna(values)
    if categories is None:
        used = pd.unique(values[~missing])
        categories = sorted(used, key=lambda v: (str(type(v)), v))
    categories = list(categories)
    q = len(categories)
    if q < 2:
        return float("nan")
    counts = np.stack([((values == cat) & ~missing).sum(axis=1) for cat in categories], axis=1)
    return _ac1_from_counts(counts)


def _ac1_from_counts(counts: np.ndarray) -> float:
    """AC1 from r_ik, the raters who put unit i in category k (units x categories)."""
    counts = np.asarray(counts, dtype=float)
    q = counts.shape[1]
    per_unit = counts.sum(axis=1)
    rated = per_unit >= 1
    paired = per_unit >= 2
    if not paired.any():
        return float("nan")
    agree = (counts[paired] * (counts[paired] - 1)).sum(axis=1) / (per_unit[paired] * (per_unit[paired] - 1))
    pa = agree.mean()
    pi = (counts[rated] / per_unit[rated, None]).mean(axis=0)
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    if np.isclose(pe, 1.0):
        return float("nan")
    return float((pa - pe) / (1 - pe))


def gwet_ac1_binary(x: np.ndarray) -> float:
    """Gwet's AC1 of yes/no decisions ``x`` (units, coders); see :func:`gwet_ac1`."""
    x = _as_matrix(x)
    n, m = x.shape
    if n == 0:
        return float("nan")
    # Units with the same number of yes decisions contribute alike: group them.
    per_yes = np.bincount(yes_per_unit(x), minlength=m + 1).astype(float)
    yes = np.arange(m + 1, dtype=float)
    pa = float((per_yes * (yes * (yes - 1) + (m - yes) * (m - yes - 1))).sum() / (m * (m - 1) * n))
    pi = float((per_yes * yes).sum() / (m * n))
    pe = 2 * pi * (1 - pi)  # sum over the two categories of pi_k (1 - pi_k), q - 1 = 1
    return (pa - pe) / (1 - pe)


def kappa_from_counts(n_both: np.ndarray, n_a: np.ndarray, n_b: np.ndarray,
                      n: np.ndarray) -> np.ndarray:
    """Cohen's kappa from 2x2 counts, vectorised (for the bootstrap, where calling
    scikit-learn per replicate would be too slow); tests check it equals scikit-learn.

    ``n_both``: units both coders coded, ``n_a``/``n_b``: units each coded, ``n``: units.
    NaN where kappa is undefined (both coders constant and equal).
    """
    n_both, n_a, n_b, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (n_both, n_a, n_b, n)))
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (n - n_a - n_b + 2 * n_both) / n
        expected = (n_a * n_b + (n - n_a) * (n - n_b)) / (n * n)
        kappa = (observed - expected) / (1 - expected)
    undefined = (n == 0) | ((n_a == n_b) & ((n_a == 0) | (n_a == n)))
    return np.where(undefined, np.nan, kappa)
