"""Models for the active-learning loop, and how their probabilities become codes.

The loop only needs an object with ``fit(X, Y)`` and ``predict_proba(X)``, made by a
*model factory* (any zero-argument callable). ``Y`` is always an ``(n, k)`` 0/1 matrix,
one column per code; ``predict_proba`` returns ``(n, k)`` per-code probabilities.

The default, :class:`FastLogistic`, is a multi-label (one sigmoid per code) or, for
mutually exclusive codes, multinomial logistic regression fitted jointly with
L-BFGS in numpy, so that a refit on a few hundred labels takes milliseconds. It
warm-starts from its previous weights when refitted, and weighs codes so that rare
ones are not drowned (``class_weight="balanced"``).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Protocol, runtime_checkable

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController
from scipy.special import expit, log_expit, log_softmax

__all__ = [
    "single_blas_thread",
    "ActiveModel",
    "ModelFactory",
    "FastLogistic",
    "default_model_factory",
    "is_exclusive",
    "predict_labels",
]


_CONTROLLER = None


def single_blas_thread():
    """Context manager: BLAS on one thread.

    The matrices here are small; a multi-threaded BLAS spin-waiting on a busy machine
    (a web server, a second process) made a 300-label fit 30x slower in measurement."""
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception:  # threadpoolctl confused: run as is
        return contextlib.nullcontext()


@runtime_checkable
class ActiveModel(Protocol):
    """What the loop needs from a model."""

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "ActiveModel": ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


ModelFactory = Callable[[], ActiveModel]


def is_exclusive(Y: np.ndarray) -> bool:
    """True when every row carries exactly one code (codes are mutually exclusive)."""
    Y = np.asarray(Y)
    return Y.ndim == 2 and Y.shape[1] > 1 and bool(np.all(Y.sum(axis=1) == 1))


def predict_labels(
    probas: np.ndarray, exclusive: bool, threshold: float = 0.5, at_least_one: bool = False
) -> np.ndarray:
    """0/1 code matrix from probabilities: the arg-max code when codes are exclusive,
    else every code at or above ``threshold`` (the top code if none is and ``at_least_one``)."""
    probas = np.asarray(probas)
    out = np.zeros(probas.shape, dtype=np.int8)
    if probas.size == 0:
        return out
    if exclusive:
        out[np.arange(len(probas)), probas.argmax(axis=1)] = 1
        return out
    out[probas >= threshold] = 1
    if at_least_one:
        empty = out.sum(axis=1) == 0
        out[np.flatnonzero(empty), probas[empty].argmax(axis=1)] = 1
    return out


class FastLogistic:
    """Joint L2-regularised logistic regression for all codes at once.

    ``exclusive=None`` decides at fit time: softmax when every training row has exactly
    one code, otherwise one sigmoid per code. ``C`` is the inverse regularisation
    strength as in scikit-learn (loss summed over rows, penalty ``||W||^2 / 2C``).
    With ``warm_start`` a refit starts from the last weights (same codes, same width),
    which makes refits after one more answer take a handful of iterations.
    """

    def __init__(
        self,
        C: float = 4.0,
        class_weight: str | None = "balanced",
        exclusive: bool | None = None,
        warm_start: bool = True,
        max_iter: int = 300,
        tol: float = 1e-5,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.exclusive = exclusive
        self.warm_start = warm_start
        self.max_iter = max_iter
        self.tol = tol
        self.coef_: np.ndarray | None = None  # (d, k)
        self.intercept_: np.ndarray | None = None  # (k,)
        self.exclusive_: bool | None = None
        self.n_iter_ = 0

    # -- weights ---------------------------------------------------------------
    def _weights(self, Y: np.ndarray, exclusive: bool) -> np.ndarray:
        n, k = Y.shape
        if self.class_weight != "balanced":
            return np.ones((n, 1) if exclusive else (n, k))
        if exclusive:
            counts = Y.sum(axis=0)
            present = max(int((counts > 0).sum()), 1)
            per_class = np.where(counts > 0, n / (present * np.maximum(counts, 1)), 0.0)
            return (Y @ per_class)[:, None]
        pos = Y.sum(axis=0)
        neg = n - pos
        w_pos = np.where(pos > 0, n / (2.0 * np.maximum(pos, 1)), 1.0)
        w_neg = np.where(neg > 0, n / (2.0 * np.maximum(neg, 1)), 1.0)
        # A code seen once should not outweigh everything else: cap the up-weighting.
        w_pos = np.minimum(w_pos, 50.0)
        return np.where(Y > 0, w_pos, w_neg)

    # -- fitting ---------------------------------------------------------------
    def fit(self, X: np.ndarray, Y: np.ndarray) -> "FastLogistic":
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        n, d = X.shape
        k = Y.shape[1]
        exclusive = is_exclusive(Y) if self.exclusive is None else bool(self.exclusive)
        W8 = self._weights(Y, exclusive)
        lam = 1.0 / self.C

        def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W = theta[: d * k].reshape(d, k)
            b = theta[d * k :]
            Z = X @ W + b
            if exclusive:
                logp = log_softmax(Z, axis=1)
                loss = -float(np.sum(W8 * Y * logp))
                R = W8 * (np.exp(logp) - Y)
            else:
                # log sigmoid(-z) = log sigmoid(z) - z: one log_expit instead of two (the costliest step)
                loss = -float(np.sum(W8 * (log_expit(Z) - (1 - Y) * Z)))
                R = W8 * (expit(Z) - Y)
            loss += 0.5 * lam * float(np.sum(W * W))
            gW = X.T @ R + lam * W
            gb = R.sum(axis=0)
            return loss, np.concatenate([gW.ravel(), gb])

        theta0 = np.zeros(d * k + k)
        if (
            self.warm_start
            and self.coef_ is not None
            and self.coef_.shape == (d, k)
            and self.exclusive_ == exclusive
        ):
            theta0 = np.concatenate([self.coef_.ravel(), self.intercept_])
        with single_blas_thread():
            res = minimize(
                loss_grad, theta0, jac=True, method="L-BFGS-B",
                options={"maxiter": self.max_iter, "gtol": self.tol},
            )
        self.coef_ = res.x[: d * k].reshape(d, k)
        self.intercept_ = res.x[d * k :].copy()
        self.exclusive_ = exclusive
        self.n_iter_ = int(res.nit)
        return self

    def partial_fit(self, X: np.ndarray, Y: np.ndarray, max_iter: int = 15) -> "FastLogistic":
        """Refit with at most ``max_iter`` L-BFGS iterations from the current weights: after one
        more answer the optimum moves little, so a few iterations follow it, and refit after
        refit the weights keep converging. A full :meth:`fit` when there are no weights yet (or
        the codes changed)."""
        Y2 = np.asarray(Y)
        Y2 = Y2[:, None] if Y2.ndim == 1 else Y2
        if self.coef_ is None or self.coef_.shape != (np.shape(X)[1], Y2.shape[1]):
            return self.fit(X, Y)
        full, warm = self.max_iter, self.warm_start
        self.max_iter, self.warm_start = int(max_iter), True
        try:
            return self.fit(X, Y)
        finally:
            self.max_iter, self.warm_start = full, warm

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        if self.coef_ is None:
            raise RuntimeError("FastLogistic is not fitted yet")
        return np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with single_blas_thread():
            Z = self.decision_function(X)
        if self.exclusive_:
            return np.exp(log_softmax(Z, axis=1))
        return expit(Z)


def default_model_factory(**kwargs) -> ModelFactory:
    """A factory of :class:`FastLogistic` models; keyword arguments go to its constructor.
    It pickles (a ``functools.partial``), so work can be sent to another process."""
    return functools.partial(FastLogistic, **kwargs)
