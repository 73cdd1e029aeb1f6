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
from itertools import combinations
from typing import Sequence

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
    yes = x.sum(axis=1)
    agreeing_pairs = yes * (yes - 1) / 2 + (m - yes) * (m - yes - 1) / 2
    return float(100.0 * agreeing_pairs.mean() / (m * (m - 1) / 2))


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two coders' yes/no decisions (scikit-learn); NaN when undefined."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.size == 0 or undefined_reason(np.column_stack([a, b])) is not None:
        return float("nan")
    return float(cohen_kappa_score(a, b, labels=[False, True]))


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
    """Krippendorff's alpha, nominal, over all coders (``krippendorff`` package); NaN when undefined."""
    x = _as_matrix(x)
    if undefined_reason(x) is not None:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = krippendorff.alpha(
            reliability_data=x.T.astype(float), level_of_measurement="nominal", value_domain=[0.0, 1.0]
        )
    return float(value)


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
    frame = pd.DataFrame(ratings)
    if categories is None:
        values = pd.unique(frame.stack().dropna())
        categories = sorted(values, key=lambda v: (str(type(v)), v))
    categories = list(categories)
    q = len(categories)
    if q < 2:
        return float("nan")
    counts = np.column_stack([(frame == cat).sum(axis=1).to_numpy() for cat in categories]).astype(float)
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
    if x.shape[0] == 0:
        return float("nan")
    return gwet_ac1(x, categories=[False, True])


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
