"""Agreement and accuracy measures on 0/1 code matrices (one column per code).

The kappa and F1 arithmetic is :mod:`autocode.agreement.stats`' (one implementation
for the package); this module reads code matrices into it the active learner's way.
"""

from __future__ import annotations

import numpy as np

from autocode.agreement import stats


__all__ = ["macro_f1", "kappa", "agreement"]


def _as_matrix(Y: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y)
    return Y[:, None] if Y.ndim == 1 else Y


def macro_f1(Y_true: np.ndarray, Y_pred: np.ndarray, exclusive: bool) -> float:
    """Macro-averaged F1 over the codes that the truth or the prediction uses (1.0 when
    neither uses any): :func:`autocode.agreement.stats.macro_f1` with ``over="either"``.

    Exclusive codes: per-class F1 of each row's one code (as scikit-learn's macro F1 over
    the labels present); otherwise F1 of each code's yes/no decision. ``exclusive`` only
    documents the reading: on one-hot rows both are the same computation."""
    return stats.macro_f1(Y_true, Y_pred, over="either", empty=1.0)


def kappa(Y_a: np.ndarray, Y_b: np.ndarray, exclusive: bool) -> float:
    """Cohen's kappa between two codings of the same rows.

    Exclusive codes: kappa of the one code per row. Otherwise the mean over codes of the
    yes/no kappa, over codes that either coding uses. Where kappa is undefined (both
    codings give every row the same one label) they agree fully: 1.0."""
    A = _as_matrix(Y_a)
    B = _as_matrix(Y_b)
    if exclusive:
        return stats.cohen_kappa(A.argmax(axis=1), B.argmax(axis=1), undefined=1.0)
    used = A.any(axis=0) | B.any(axis=0)
    if not used.any():
        return 1.0
    return float(np.mean([stats.cohen_kappa(A[:, c], B[:, c], undefined=1.0) for c in np.flatnonzero(used)]))


def agreement(Y_a: np.ndarray, Y_b: np.ndarray, exclusive: bool) -> tuple[float, float]:
    """(kappa, share of rows whose codes are identical) between two predictions.

    For non-exclusive codes kappa is taken over all (row, code) yes/no decisions pooled,
    which stays defined when a rare code is never predicted; 1.0 where it is undefined."""
    A = _as_matrix(Y_a)
    B = _as_matrix(Y_b)
    same = float(np.mean(np.all(A == B, axis=1))) if len(A) else 1.0
    if exclusive:
        return stats.cohen_kappa(A.argmax(axis=1), B.argmax(axis=1), undefined=1.0), same
    return stats.cohen_kappa(A.ravel(), B.ravel(), undefined=1.0), same
