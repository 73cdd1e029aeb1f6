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

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


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
        self._sparse_T: sp.csr_matrix | None = None

    @property
    def shape(self) -> tuple[int, int]:
        n = self.dense.shape[0] if self.dense is not None else self.sparse.shape[0]
        return n, self.n_dense + self.n_sparse

    def __getitem__(self, rows) -> "Design":
        return Design(None if self.dense is None else self.dense[rows],
                      None if self.sparse is None else self.sparse[rows])

    @property
    def sparse_T(self) -> sp.csr_matrix:
        """The sparse block transposed (CSR), made once."""
        if self._sparse_T is None:
            self._sparse_T = self.sparse.T.tocsr()
        return self._sparse_T

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
            parts.append(np.asarray(self.sparse_T @ G))
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
    binary columns; ``ygroups[g]``: class index per segment, ``wgroups[g]``: weights.

    The optimiser is torch's L-BFGS (strong Wolfe line search) over a loss whose gradient
    is written out here, in float32. scipy's L-BFGS-B spent 40 ms a step in its Fortran
    bookkeeping alone on the 810,000 weights of a 10,000-segment model with 45 codes, more than
    the loss itself (torch's autograd through the sparse product was slower still); here a whole
    step, loss and line search included, takes about 40 ms on one thread, and with the
    preconditioner below far fewer steps are needed (scripts/bench_speed.py). It stops after
    ``max_iter`` steps, when the largest gradient entry falls below ``tol * n``, or when the loss
    stops changing.
    """
    import torch  # heavy: only where a model is fitted

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
    reg = 1.0 / C
    threads = torch.get_num_threads()
    # small products: one thread is faster, and much faster on a busy machine; a large model
    # (10,000 segments x 45 codes: 2 threads fit it in 0.6x the time) takes the threads the
    # process allows (the annotation session's worker allows one)
    torch.set_num_threads(threads if n * k * max(X.n_dense, 1) >= 50_000_000 else 1)
    try:
        with torch.no_grad():
            Xd = None if X.dense is None else torch.from_numpy(X.dense)
            Xs = XsT = None
            if X.sparse is not None:
                Xs = _torch_csr(X.sparse)
                XsT = _torch_csr(X.sparse_T)
            nb = heads.n_binary
            Ybt = torch.from_numpy(np.asarray(Yb, dtype=np.float32).reshape(n, nb))
            Wbt = torch.from_numpy(np.asarray(Wb, dtype=np.float32).reshape(n, nb))
            groups = [(s, torch.from_numpy(np.asarray(y, dtype=np.int64)), torch.from_numpy(np.asarray(w, dtype=np.float32)))
                      for s, y, w in zip(slices, ygroups, wgroups)]
            nd = X.n_dense
            # diagonal preconditioning: the weights are W = V * P, with P = D^-0.15 and D the loss's
            # Hessian diagonal bound (0.25 * sum_i w_ic x_ij^2 + 1/C), so that a rare n-gram's weight
            # and a frequent one's, a rare code's and a common one's, move on closer scales. The
            # optimum is the same problem's; L-BFGS reaches it in fewer steps (on 10,000 NHS and
            # AnnoMI segments, 40 steps get as close as 75 without it). The exponent was measured:
            # 0.1-0.2 are best there, 0.5 (plain Jacobi) is slower than none.
            rowW = np.zeros((n, k), dtype=np.float32)
            rowW[:, :nb] = np.asarray(Wb, dtype=np.float32).reshape(n, nb)
            for s, _, w in groups:
                rowW[:, s] = w.numpy()[:, None]
            rowWt = torch.from_numpy(rowW)
            H = torch.empty(d, k)
            if Xd is not None:
                torch.mm(Xd.T.pow(2), rowWt, out=H[:nd])
            if XsT is not None:
                H[nd:] = torch.sparse.mm(_torch_csr(X.sparse_T.power(2)), rowWt)
            P = (0.25 * H + reg).pow_(-0.15)
            Pb = (0.25 * rowWt.sum(0) + 1e-3).pow_(-0.15)
            V = torch.tensor(np.asarray(W0), dtype=torch.float32) / P
            c = torch.tensor(np.asarray(b0), dtype=torch.float32) / Pb

            def closure() -> torch.Tensor:
                W = V * P
                Z = (c * Pb).expand(n, k).clone()
                if Xd is not None:
                    Z.addmm_(Xd, W[:nd])
                if Xs is not None:
                    Z += torch.sparse.mm(Xs, W[nd:])
                G = torch.empty_like(Z)
                loss = 0.5 * reg * W.pow(2).sum(dtype=torch.float64)
                if nb:
                    zb = Z[:, :nb]
                    # log(1 + e^z) - y z, stably
                    loss = loss + (Wbt * (torch.nn.functional.softplus(zb) - Ybt * zb)).sum(dtype=torch.float64)
                    G[:, :nb] = Wbt * (torch.sigmoid(zb) - Ybt)
                for s, y, w in groups:
                    ls = torch.log_softmax(Z[:, s], dim=1)
                    loss = loss - (w * ls.gather(1, y[:, None])[:, 0]).sum(dtype=torch.float64)
                    g = ls.exp()
                    g[torch.arange(n), y] -= 1.0
                    G[:, s] = w[:, None] * g
                gW = torch.empty_like(W)
                if Xd is not None:
                    torch.mm(Xd.T, G, out=gW[:nd])
                if XsT is not None:
                    gW[nd:] = torch.sparse.mm(XsT, G)
                gW.add_(W, alpha=reg)
                V.grad, c.grad = gW.mul_(P), G.sum(0).mul_(Pb)
                return loss.float()

            opt = torch.optim.LBFGS([V, c], lr=1.0, max_iter=max_iter, history_size=5, line_search_fn="strong_wolfe",
                                    tolerance_grad=tol * n, tolerance_change=1e-9)
            with torch.enable_grad():  # LBFGS.step runs its closure under enable_grad; ours makes no graph
                opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    return (V * P).numpy().astype(np.float64), (c * Pb).numpy().astype(np.float64)


def _torch_csr(m: sp.csr_matrix):
    import torch

    m = sp.csr_matrix(m, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"; scipy built these arrays
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64)),
                                       torch.from_numpy(m.data), size=m.shape)


def logits(X: Design, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return X.dot(W) + b
