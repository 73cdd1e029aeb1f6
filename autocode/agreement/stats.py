"""Agreement statistics, and the one Cohen's kappa and macro-F1 of the package.

Most functions take ``x``: a boolean array of shape (n_units, n_coders), True where
the coder applied the code. Library implementations are used where they exist:
Fleiss' kappa from statsmodels, Krippendorff's alpha from the ``krippendorff``
package. Gwet's AC1 is written here (see :func:`gwet_ac1`).

Cohen's kappa is written once, on a confusion table (:func:`kappa_from_table`, the
arithmetic of scikit-learn's ``cohen_kappa_score``, so the figures equal it bit for
bit); :func:`cohen_kappa` (two label vectors) and :func:`kappa_from_counts` (2x2 counts,
vectorised for the bootstrap) build the table and call it. Macro-F1 over 0/1 code
matrices is :func:`macro_f1`. The active learner and the classifier's evaluation use
these; this package imports neither of them.

A statistic that is undefined for the data (e.g. kappa when no coder applied the code,
so chance agreement is 100%) is returned as NaN; :func:`undefined_reason` says why.
The kappa and F1 functions take the value to return instead (``undefined``, ``empty``)
for callers that read an undefined figure otherwise (the active learner counts two
identical constant codings as full agreement, 1.0).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import krippendorff
import numpy as np
import pandas as pd
from statsmodels.stats import inter_rater

#: Landis & Koch (1977) bands, as (upper bound inclusive, label); below 0 is "poor".
LANDIS_KOCH: tuple[tuple[float, str], ...] = (
    (0.20, "slight"),
    (0.40, "fair"),
    (0.60, "moderate"),
    (0.80, "substantial"),
    (1.00, "almost perfect"),
)


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


def kappa_from_table(table: np.ndarray, *, undefined: float = float("nan")) -> np.ndarray:
    """Cohen's kappa of confusion tables: ``table[..., i, j]`` counts the units coder a put
    in category i and coder b in category j (any leading axes are a batch).

    kappa = 1 - observed disagreement / disagreement expected by chance, the arithmetic
    of scikit-learn's ``cohen_kappa_score`` step for step (so the figures are equal to
    the last bit). ``undefined`` where kappa is undefined: no units, or chance
    disagreement 0 (both coders gave every unit the same one category).
    """
    table = np.asarray(table, dtype=float)
    k = table.shape[-1]
    if table.ndim < 2 or table.shape[-2] != k:
        raise ValueError(f"expected (..., k, k) confusion tables, got shape {table.shape}")
    b_totals = table.sum(axis=-2)  # per category, units coder b put there
    a_totals = table.sum(axis=-1)
    n = b_totals.sum(axis=-1)
    disagree = np.ones((k, k))
    np.fill_diagonal(disagree, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = b_totals[..., :, None] * a_totals[..., None, :] / n[..., None, None]
        chance = (disagree * expected).sum(axis=(-2, -1))
        kappa = 1 - (disagree * table).sum(axis=(-2, -1)) / chance
    return np.where((n == 0) | (chance == 0), undefined, kappa)


def kappa_from_counts(n_both: np.ndarray, n_a: np.ndarray, n_b: np.ndarray,
                      n: np.ndarray, *, undefined: float = float("nan")) -> np.ndarray:
    """Cohen's kappa of yes/no decisions from their 2x2 counts, vectorised (the bootstrap
    calls it once for all replicates, pairs and codes): :func:`kappa_from_table` of the
    tables the counts make.

    ``n_both``: units both coders coded, ``n_a``/``n_b``: units each coded, ``n``: units.
    ``undefined`` (NaN) where kappa is undefined (both coders constant and equal).
    """
    n_both, n_a, n_b, n = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (n_both, n_a, n_b, n)))
    # rows: coder a says no / yes; columns: coder b says no / yes
    table = np.stack([np.stack([n - n_a - n_b + n_both, n_b - n_both], axis=-1),
                      np.stack([n_a - n_both, n_both], axis=-1)], axis=-2)
    return kappa_from_table(table, undefined=undefined)


def cohen_kappa(a: np.ndarray | Sequence[object], b: np.ndarray | Sequence[object], *,
                undefined: float = float("nan")) -> float:
    """Cohen's kappa of two coders' labels for the same units: yes/no decisions (booleans)
    or any categories (e.g. class indices; the categories are those either coder used).

    ``undefined`` (NaN unless given) when kappa is undefined: no units, or both coders
    gave every unit the same one category (chance agreement is 100%). Boolean vectors
    are counted straight into a 2x2 table, so a million characters cost little more
    than ten segments.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"the two label vectors differ in shape: {a.shape} and {b.shape}")
    a, b = a.ravel(), b.ravel()
    if a.size == 0:
        return float(undefined)
    if a.dtype == bool and b.dtype == bool:
        both, n_a, n_b = (np.count_nonzero(v) for v in (a & b, a, b))
        return float(kappa_from_counts(both, n_a, n_b, a.size, undefined=undefined))
    categories, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    k = len(categories)
    table = np.bincount(index[:a.size] * k + index[a.size:], minlength=k * k).reshape(k, k)
    return float(kappa_from_table(table, undefined=undefined))


def f1_scores(Y_true: np.ndarray, Y_pred: np.ndarray, *, unused: float = float("nan")) -> np.ndarray:
    """F1 of each column's yes/no decisions, 2 TP / (2 TP + FP + FN), for 0/1 (or boolean)
    matrices with one column per code (a vector is one column). ``unused`` for a
    column that neither the truth nor the prediction uses (F1 is 0/0 there)."""
    Yt = _as_columns(Y_true).astype(bool)
    Yp = _as_columns(Y_pred).astype(bool)
    if Yt.shape != Yp.shape:
        raise ValueError(f"truth and prediction differ in shape: {Yt.shape} and {Yp.shape}")
    tp = (Yt & Yp).sum(axis=0)
    fp = (~Yt & Yp).sum(axis=0)
    fn = (Yt & ~Yp).sum(axis=0)
    scores = np.full(tp.shape, float(unused))
    used = (tp + fp + fn) > 0
    scores[used] = 2 * tp[used] / (2 * tp[used] + fp[used] + fn[used])
    return scores


def macro_f1(Y_true: np.ndarray, Y_pred: np.ndarray, *, over: str = "either", empty: float = 1.0) -> float:
    """Macro-averaged F1: the mean of :func:`f1_scores` over some of the columns.

    ``over="either"``: the columns the truth or the prediction uses (for one-hot rows
    this is scikit-learn's macro F1 over the labels present); ``over="truth"``: the
    columns with support in the truth (as a paper reports per-code means). ``empty``
    when no column qualifies.
    """
    if over not in ("either", "truth"):
        raise ValueError(f"over must be 'either' or 'truth', got {over!r}")
    scores = f1_scores(Y_true, Y_pred)
    keep = np.isfinite(scores) if over == "either" else _as_columns(Y_true).astype(bool).any(axis=0)
    if not keep.any():
        return float(empty)
    return float(np.mean(scores[keep]))


def _as_columns(Y: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y)
    return Y[:, None] if Y.ndim == 1 else Y


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
