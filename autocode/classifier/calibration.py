"""Calibration (Platt scaling, vector scaling) and per-code thresholds, fitted on
out-of-fold scores so that neither sees a segment's own fit."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, softmax

from ..agreement.stats import macro_f1


def platt_fit(z: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(a, c) with p = sigmoid(a z + c), by Newton on Platt's smoothed targets."""
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    if n_pos == 0 or n_neg == 0:
        return 1.0, 0.0
    t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, c = 1.0, 0.0
    lam = 1e-3  # a little ridge towards (1, 0) keeps tiny folds sane
    for _ in range(iters):
        p = expit(a * z + c)
        r = p - t
        g = np.array([(r * z).sum() + lam * (a - 1), r.sum() + lam * c])
        w = p * (1 - p)
        H = np.array([[(w * z * z).sum() + lam, (w * z).sum()], [(w * z).sum(), w.sum() + lam]])
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        a, c = a - step[0], c - step[1]
        if np.abs(step).max() < 1e-8:
            break
    if not np.isfinite(a) or a <= 0:  # never flip the model's ranking
        return 1.0, 0.0
    return float(a), float(c)


def vector_scaling_fit(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(a, c) with p = softmax(a Z + c): one temperature and a bias per class."""
    m = Z.shape[1]
    oh = np.eye(m)[y]
    lam = 1e-3

    def f(theta):
        a, c = theta[0], theta[1:]
        ls = log_softmax(a * Z + c, axis=1)
        loss = -(oh * ls).sum() + 0.5 * lam * ((a - 1) ** 2 + (c * c).sum())
        r = np.exp(ls) - oh
        ga = (r * Z).sum() + lam * (a - 1)
        gc = r.sum(0) + lam * c
        return loss, np.concatenate([[ga], gc])

    res = minimize(f, np.concatenate([[1.0], np.zeros(m)]), jac=True, method="L-BFGS-B",
                   bounds=[(1e-3, None)] + [(None, None)] * m)
    return float(res.x[0]), res.x[1:]


def apply_vector_scaling(Z: np.ndarray, a: float, c: np.ndarray) -> np.ndarray:
    return softmax(a * Z + c, axis=1)


def best_f1_threshold(p: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 0.95) -> float:
    """The probability cut that maximises F1 on (p, y), halfway between neighbours."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        return 0.5
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    f1 = 2 * tp / (k + n_pos)
    # only cut between distinct values
    valid = np.r_[ps[1:] < ps[:-1], True]
    f1 = np.where(valid, f1, -1)
    i = int(np.argmax(f1))
    t = ps[i] if i == len(ps) - 1 else 0.5 * (ps[i] + ps[i + 1])
    return float(np.clip(t, lo, hi))


def _macro_f1(y: np.ndarray, pred: np.ndarray, classes: int) -> float:
    """Macro-F1 of class indices over the classes present in ``y`` (the one macro-F1, as one-hot)."""
    members = np.arange(classes)
    return macro_f1(y[:, None] == members, pred[:, None] == members, over="truth", empty=0.0)


def class_scales(P: np.ndarray, y: np.ndarray, members: int, rounds: int = 2) -> np.ndarray:
    """Per-class multipliers s for the decision ``argmax(P * s)`` of an exclusive set,
    chosen by coordinate ascent on the out-of-fold macro-F1 of its member codes.

    The probabilities stay calibrated; only the decision is tuned, as a per-code
    threshold is for one-vs-rest codes. Column ``members`` (if present) is "none"
    and keeps scale 1."""
    m = P.shape[1]
    logs = np.zeros(m)
    grid = np.linspace(-1.5, 1.5, 13)
    logP = np.log(np.clip(P, 1e-12, None))
    best = _macro_f1(y, (logP + logs).argmax(1), members)
    for _ in range(rounds):
        for c in range(members):
            keep = logs[c]
            for g in grid:
                logs[c] = g
                f = _macro_f1(y, (logP + logs).argmax(1), members)
                if f > best + 1e-9:
                    best, keep = f, g
            logs[c] = keep
    return np.exp(logs)
