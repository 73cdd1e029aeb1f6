"""One L2-regularised logistic model for all heads at once, fitted with L-BFGS.

Every one-vs-rest code and every exclusive (multinomial) set shares the feature
matrix, so the whole model is one convex problem with a single matrix product per
iteration: ``Z = X @ W + b``. Binary columns use the logistic loss, each exclusive
set a softmax cross-entropy (with an extra "none of them" column when some training
segments carry none of its codes). The penalty follows scikit-learn's convention,
``C * sum(loss) + ||W||^2 / 2`` (intercepts unpenalised), so ``C`` means what it
means in ``LogisticRegression``. Fitting a few thousand segments takes well under a
second, which is what lets active learning refit after every answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, log_softmax
from threadpoolctl import threadpool_limits


@dataclass
class Heads:
    """Layout of the output columns: ``binary`` columns, then each softmax group."""

    n_binary: int
    groups: list[int]  # width of each softmax group (members + optional none)

    @property
    def width(self) -> int:
        return self.n_binary + sum(self.groups)

    def slices(self) -> list[slice]:
        out, start = [], self.n_binary
        for w in self.groups:
            out.append(slice(start, start + w))
            start += w
        return out


class Design:
    """A feature matrix kept as a dense block (embeddings) beside a sparse block
    (TF-IDF): dense products go to BLAS instead of through a sparse format."""

    def __init__(self, dense: np.ndarray | None, sparse: sp.csr_matrix | None):
        # float32 products: twice the BLAS speed, and ample precision for L-BFGS here
        self.dense = None if dense is None or dense.shape[1] == 0 else np.ascontiguousarray(dense, dtype=np.float32)
        self.sparse = None if sparse is None or sparse.shape[1] == 0 else sp.csr_matrix(sparse, dtype=np.float32)
        if self.dense is None and self.sparse is None:
            raise ValueError("empty design")
        self.n_dense = 0 if self.dense is None else self.dense.shape[1]
        self.n_sparse = 0 if self.sparse is None else self.sparse.shape[1]
        self._sparse_T = None

    @property
    def shape(self) -> tuple[int, int]:
        n = self.dense.shape[0] if self.dense is not None else self.sparse.shape[0]
        return n, self.n_dense + self.n_sparse

    def __getitem__(self, rows) -> "Design":
        return Design(None if self.dense is None else self.dense[rows],
                      None if self.sparse is None else self.sparse[rows])

    def dot(self, W: np.ndarray) -> np.ndarray:
        W = W.astype(np.float32)
        out = 0.0
        if self.dense is not None:
            out = self.dense @ W[: self.n_dense]
        if self.sparse is not None:
            out = out + np.asarray(self.sparse @ W[self.n_dense :])
        return np.asarray(out, dtype=np.float64)

    def tdot(self, G: np.ndarray) -> np.ndarray:
        G = G.astype(np.float32)
        parts = []
        if self.dense is not None:
            parts.append(self.dense.T @ G)
        if self.sparse is not None:
            if self._sparse_T is None:
                self._sparse_T = self.sparse.T.tocsr()
            parts.append(np.asarray(self._sparse_T @ G))
        return np.asarray(np.vstack(parts) if len(parts) > 1 else parts[0], dtype=np.float64)


def fit_linear(
    X: Design,
    heads: Heads,
    Yb: np.ndarray,
    Wb: np.ndarray,
    ygroups: list[np.ndarray],
    wgroups: list[np.ndarray],
    C: float = 1.0,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 300,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Fits (W, b). ``Yb``/``Wb``: (n, n_binary) targets and sample weights of the
    binary columns; ``ygroups[g]``: class index per segment, ``wgroups[g]``: weights."""
    n, d = X.shape
    k = heads.width
    slices = heads.slices()
    if init is None:
        W0 = np.zeros((d, k))
        b0 = np.zeros(k)
        # start the intercepts at the log-odds of each column
        if heads.n_binary:
            pos = np.clip((Yb * Wb).sum(0) / np.maximum(Wb.sum(0), 1e-12), 1e-4, 1 - 1e-4)
            b0[: heads.n_binary] = np.log(pos / (1 - pos))
        for s, y in zip(slices, ygroups):
            cnt = np.bincount(y, minlength=s.stop - s.start) + 1.0
            b0[s] = np.log(cnt / cnt.sum())
    else:
        W0, b0 = init
    onehots = [np.eye(s.stop - s.start)[y] for s, y in zip(slices, ygroups)]
    reg = 1.0 / C

    def f(theta):
        W = theta[: d * k].reshape(d, k)
        b = theta[d * k :]
        Z = X.dot(W) + b
        G = np.zeros_like(Z)
        loss = 0.0
        if heads.n_binary:
            zb = Z[:, : heads.n_binary]
            # log(1 + e^z) - y z, stably
            loss += float((Wb * (np.logaddexp(0.0, zb) - Yb * zb)).sum())
            G[:, : heads.n_binary] = Wb * (expit(zb) - Yb)
        for s, oh, w in zip(slices, onehots, wgroups):
            ls = log_softmax(Z[:, s], axis=1)
            loss -= float((w[:, None] * oh * ls).sum())
            G[:, s] = w[:, None] * (np.exp(ls) - oh)
        gW = X.tdot(G) + reg * W
        loss += 0.5 * reg * float((W * W).sum())
        return loss, np.concatenate([gW.ravel(), G.sum(0)])

    theta0 = np.concatenate([W0.ravel(), b0])
    # small products: one BLAS thread is faster, and much faster on a busy machine
    with threadpool_limits(1):
        res = minimize(f, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": tol * n, "maxcor": 5})
    theta = res.x
    return theta[: d * k].reshape(d, k), theta[d * k :]


def logits(X: Design, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return X.dot(W) + b
