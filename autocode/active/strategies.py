"""Query strategies: which unlabelled segments to ask the researcher about next.

Every strategy answers ``query(probas, X, labelled_mask, n, rng) -> indices``:

* ``probas``: ``(N, k)`` per-code probabilities from the current model over the whole
  pool, or ``None`` before there is a model (the *cold start*);
* ``X``: ``(N, d)`` features of the pool (embeddings, L2-normalised);
* ``labelled_mask``: ``(N,)`` bool, True where the researcher has already answered;
* ``n``: how many to return; ``rng``: a ``numpy.random.Generator``;
* keyword ``labels``: optionally the ``(N, k)`` 0/1 answers (rows valid where labelled).

It returns ``n`` distinct unlabelled row indices (fewer only if the pool runs out).
Probabilities are per code; when each row sums to one the codes are treated as
mutually exclusive, otherwise each column is a yes/no question and a segment is as
uncertain as its most uncertain code.

Writing a new one takes a few lines::

    @register("my_margin")
    class MyMargin(ScoreStrategy):
        def score(self, probas, X, labelled_mask, rng, labels=None):
            return uncertainty(probas, "margin")   # higher = ask sooner

Strategies are looked up by name with :func:`get_strategy`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.cluster import KMeans

__all__ = [
    "QueryStrategy",
    "ScoreStrategy",
    "register",
    "get_strategy",
    "available_strategies",
    "uncertainty",
    "representative_sample",
    "DEFAULT_STRATEGY",
]

_REGISTRY: dict[str, type["QueryStrategy"]] = {}

DEFAULT_STRATEGY = "discover"  # chosen by measurement: docs/benchmarks/active.md


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a strategy available to :func:`get_strategy` under ``name``."""

    def deco(cls: type) -> type:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def get_strategy(name: "str | QueryStrategy", **kwargs) -> "QueryStrategy":
    """A strategy instance by registered name (an instance is returned unchanged)."""
    if isinstance(name, QueryStrategy):
        return name
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown query strategy {name!r}; choose one of: {', '.join(available_strategies())}"
        ) from None
    return cls(**kwargs)


def available_strategies() -> list[str]:
    return sorted(_REGISTRY)


# ---------------------------------------------------------------------------
# helpers


def _is_exclusive_probas(probas: np.ndarray) -> bool:
    return probas.shape[1] > 1 and bool(np.allclose(probas.sum(axis=1), 1.0, atol=1e-4))


def uncertainty(
    probas: np.ndarray, measure: str = "margin", exclusive: bool | None = None, aggregate: str = "max"
) -> np.ndarray:
    """Per-segment uncertainty in [0, 1] (1 = most uncertain).

    Exclusive codes: ``least_confidence`` = 1 - max p, ``margin`` = 1 - (p1 - p2),
    ``entropy`` = H(p) / log k. Non-exclusive codes: the same measures on each code's
    yes/no probability, then ``aggregate`` (``max``: the most uncertain code; ``mean``).
    """
    P = np.clip(np.asarray(probas, dtype=np.float64), 1e-12, 1.0)
    if exclusive is None:
        exclusive = _is_exclusive_probas(P)
    if exclusive:
        k = P.shape[1]
        if measure == "least_confidence":
            return (1.0 - P.max(axis=1)) * k / (k - 1)
        if measure == "margin":
            top2 = -np.partition(-P, 1, axis=1)[:, :2]
            return 1.0 - (top2[:, 0] - top2[:, 1])
        if measure == "entropy":
            return -(P * np.log(P)).sum(axis=1) / np.log(k)
        raise ValueError(f"unknown uncertainty measure {measure!r}")
    Q = np.clip(1.0 - P, 1e-12, 1.0)
    if measure in ("least_confidence", "margin"):
        # for a yes/no question both reduce to 1 - |2p - 1| (up to scale)
        U = 1.0 - np.abs(P - Q)
    elif measure == "entropy":
        U = -(P * np.log2(P) + Q * np.log2(Q))
    else:
        raise ValueError(f"unknown uncertainty measure {measure!r}")
    return U.max(axis=1) if aggregate == "max" else U.mean(axis=1)


def _top_n(scores: np.ndarray, candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The ``n`` best-scoring candidates, ties broken at random."""
    if n >= len(candidates):
        return rng.permutation(candidates)
    s = scores[candidates]
    jitter = rng.random(len(candidates)) * 1e-9
    order = np.lexsort((jitter, -s))
    return candidates[order[:n]]


def representative_sample(
    X: np.ndarray, candidates: np.ndarray, n: int, rng: np.random.Generator, max_points: int = 20000
) -> np.ndarray:
    """``n`` candidates that cover the pool: the one nearest each of ``n`` k-means centroids.

    A cold start that asks about typical segments of every region of the pool instead
    of whatever a random draw happens to give.
    """
    if n >= len(candidates):
        return rng.permutation(candidates)
    pts = candidates
    if len(pts) > max_points:
        pts = rng.choice(pts, max_points, replace=False)
    km = KMeans(n_clusters=n, n_init=1, random_state=int(rng.integers(2**31 - 1)), max_iter=100)
    assign = km.fit_predict(X[pts])
    picked: list[int] = []
    for c in range(n):
        members = pts[assign == c]
        if len(members) == 0:
            continue
        d = ((X[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
        picked.append(int(members[np.argmin(d)]))
    picked_arr = np.array(picked, dtype=int)
    if len(picked_arr) < n:  # empty clusters: top up at random
        rest = np.setdiff1d(candidates, picked_arr)
        picked_arr = np.concatenate([picked_arr, rng.choice(rest, n - len(picked_arr), replace=False)])
    return picked_arr


# ---------------------------------------------------------------------------
# base classes


class QueryStrategy:
    """Base class. Override :meth:`query` (or use :class:`ScoreStrategy`)."""

    name = "base"
    #: how the first segments are chosen before there is a model: "random" or "representative"
    cold_start = "random"

    def query(
        self,
        probas: np.ndarray | None,
        X: np.ndarray,
        labelled_mask: np.ndarray,
        n: int,
        rng: np.random.Generator,
        *,
        labels: np.ndarray | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def prepare(self, X: np.ndarray, rng: np.random.Generator, prototypes: np.ndarray | None = None,
                parents: Sequence[int] | None = None, neighbours: np.ndarray | None = None) -> None:
        """Optional one-off work on the pool (clustering, densities) when a session starts;
        ``prototypes``: (k, d) embedded code names and descriptions, where the codebook has them;
        ``parents``: per code, the index of its parent code (a sub-theme's theme) or -1;
        ``neighbours``: (N, 2) the row before and the row after each row in its document, or -1
        (:func:`neighbour_rows`)."""

    def _start(self, probas, X, labelled_mask, n, rng):
        """(labelled mask, unlabelled candidates, how many to pick, done): ``done`` is the answer
        already when the pool is empty or there is no model yet (the cold start), else None."""
        labelled_mask = np.asarray(labelled_mask, dtype=bool)
        candidates = np.flatnonzero(~labelled_mask)
        n = min(int(n), len(candidates))
        if n <= 0:
            return labelled_mask, candidates, n, np.zeros(0, dtype=int)
        if probas is None:
            return labelled_mask, candidates, n, np.asarray(self.initial(X, candidates, n, rng), dtype=int)
        return labelled_mask, candidates, n, None

    def initial(self, X: np.ndarray, candidates: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """The cold start: segments to ask about before any model exists."""
        if self.cold_start == "representative":
            return representative_sample(X, candidates, n, rng)
        if n >= len(candidates):
            return rng.permutation(candidates)
        return rng.choice(candidates, n, replace=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class ScoreStrategy(QueryStrategy):
    """Scores every segment (higher = ask sooner) and returns the top ``n`` unlabelled ones.

    Subclasses implement :meth:`score`; the cold start (``probas is None``) is
    :meth:`QueryStrategy.initial`.
    """

    def score(
        self, probas: np.ndarray, X: np.ndarray, labelled_mask: np.ndarray, rng: np.random.Generator,
        labels: np.ndarray | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def query(self, probas, X, labelled_mask, n, rng, *, labels=None):
        labelled_mask, candidates, n, done = self._start(probas, X, labelled_mask, n, rng)
        if done is not None:
            return done
        return _top_n(self.score(probas, X, labelled_mask, rng, labels=labels), candidates, n, rng)


# ---------------------------------------------------------------------------
# the strategies


@register("random")
class RandomSampling(ScoreStrategy):
    """Uniformly at random: the baseline every other strategy must beat."""

    def score(self, probas, X, labelled_mask, rng, labels=None):
        return rng.random(len(labelled_mask))


@register("least_confidence")
class LeastConfidence(ScoreStrategy):
    def score(self, probas, X, labelled_mask, rng, labels=None):
        return uncertainty(probas, "least_confidence")


@register("margin")
class Margin(ScoreStrategy):
    """Smallest margin between the top two codes (breaking ties); per code: closest to 0.5."""

    def score(self, probas, X, labelled_mask, rng, labels=None):
        return uncertainty(probas, "margin")


@register("entropy")
class Entropy(ScoreStrategy):
    def score(self, probas, X, labelled_mask, rng, labels=None):
        return uncertainty(probas, "entropy")


@register("density_margin")
class DensityMargin(ScoreStrategy):
    """Information density (Settles & Craven 2008): margin x mean similarity to the pool,
    so that outliers and one-off segments are asked less. Representative cold start."""

    cold_start = "representative"

    def __init__(self, beta: float = 1.0, n_neighbours: int = 20) -> None:
        self.beta = beta
        self.n_neighbours = n_neighbours
        self._X: np.ndarray | None = None
        self._density: np.ndarray | None = None

    def prepare(self, X: np.ndarray, rng: np.random.Generator | None = None, prototypes: np.ndarray | None = None,
                parents: Sequence[int] | None = None, neighbours: np.ndarray | None = None) -> None:
        self._density = knn_density(X, self.n_neighbours)
        self._X = X

    def density(self, X: np.ndarray) -> np.ndarray:
        if self._X is not X:
            self.prepare(X)
        return self._density

    def score(self, probas, X, labelled_mask, rng, labels=None):
        return uncertainty(probas, "margin") * self.density(X) ** self.beta


def knn_density(X: np.ndarray, k: int = 20, block: int = 2048) -> np.ndarray:
    """Mean cosine similarity of each row to its ``k`` nearest rows, scaled to [0, 1]."""
    X = np.asarray(X, dtype=np.float32)
    N = len(X)
    k = max(1, min(k, N - 1))
    out = np.empty(N, dtype=np.float64)
    for s in range(0, N, block):
        S = X[s : s + block] @ X.T
        S[np.arange(S.shape[0]), np.arange(s, s + S.shape[0])] = -np.inf
        top = -np.partition(-S, k - 1, axis=1)[:, :k] if N > 1 else np.zeros((S.shape[0], 1))
        out[s : s + block] = top.mean(axis=1)
    lo, hi = out.min(), out.max()
    return (out - lo) / (hi - lo) if hi > lo else np.ones(N)


@register("diverse_margin")
class DiverseMargin(QueryStrategy):
    """Uncertainty x novelty, greedily: each pick maximises
    ``margin_uncertainty * (1 - max cosine similarity to anything labelled or already picked)``.

    It never asks about a near-copy of a segment already answered or already in the
    batch, and it works for ``n = 1`` (novelty is measured against the labelled set).
    Representative cold start.
    """

    cold_start = "representative"

    def __init__(self, measure: str = "margin", beta: float = 1.0) -> None:
        self.measure = measure
        self.beta = beta

    def query(self, probas, X, labelled_mask, n, rng, *, labels=None):
        labelled_mask, candidates, n, done = self._start(probas, X, labelled_mask, n, rng)
        if done is not None:
            return done
        u = uncertainty(probas, self.measure)[candidates]
        Xc = X[candidates]
        lab = np.flatnonzero(labelled_mask)
        max_sim = np.full(len(candidates), -1.0)
        for s in range(0, len(lab), 1024):
            max_sim = np.maximum(max_sim, (Xc @ X[lab[s : s + 1024]].T).max(axis=1))
        return _greedy_novelty(u, Xc, candidates, max_sim, n, self.beta, rng)


def _greedy_novelty(u, Xc, candidates, max_sim, n, beta, rng):
    picked: list[int] = []
    alive = np.ones(len(candidates), dtype=bool)
    jitter = rng.random(len(candidates)) * 1e-9
    for _ in range(n):
        novelty = np.clip(1.0 - max_sim, 0.0, None)
        s = u * novelty**beta + jitter
        s[~alive] = -np.inf
        j = int(np.argmax(s))
        picked.append(j)
        alive[j] = False
        max_sim = np.maximum(max_sim, Xc @ Xc[j])
    return candidates[np.array(picked, dtype=int)]


@register("cluster_margin")
class ClusterMargin(QueryStrategy):
    """Uncertainty within k-means clusters of the pool (the default strategy).

    The pool is clustered once (``n_clusters="auto"``: one cluster per ~10 segments, at
    most 200). Each pick goes to the cluster with the fewest answers relative to its
    size, and there to the segment the model is least sure of (``measure``). Coverage
    keeps it from asking about near-identical segments or one corner of the corpus;
    uncertainty makes each question count. Works the same for ``n = 1`` (a web session)
    and for batches. Representative cold start (k-means centroids)."""

    cold_start = "representative"

    def __init__(self, n_clusters: int | str = "auto", measure: str = "margin") -> None:
        self.n_clusters = n_clusters
        self.measure = measure
        self._X: np.ndarray | None = None
        self._assign: np.ndarray | None = None

    def prepare(self, X: np.ndarray, rng: np.random.Generator, prototypes: np.ndarray | None = None,
                parents: Sequence[int] | None = None, neighbours: np.ndarray | None = None) -> None:
        """Cluster the pool once (the Learner calls this when the session starts)."""
        if self.n_clusters == "auto":  # one cluster per ~10 segments, at most 200
            k = min(200, max(2, len(X) // 10))
        else:
            k = int(self.n_clusters)
        k = max(1, min(k, len(X)))
        km = KMeans(n_clusters=k, n_init=1, max_iter=100, random_state=int(rng.integers(2**31 - 1)))
        self._assign = km.fit_predict(X)
        self._X = X

    def clusters(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._X is not X:  # identity, not id(): a held reference cannot be recycled
            self.prepare(X, rng)
        return self._assign

    def query(self, probas, X, labelled_mask, n, rng, *, labels=None):
        labelled_mask, candidates, n, done = self._start(probas, X, labelled_mask, n, rng)
        if done is not None:
            return done
        assign = self.clusters(X, rng)
        u = uncertainty(probas, self.measure) + rng.random(len(X)) * 1e-9
        k = int(assign.max()) + 1
        size = np.bincount(assign, minlength=k).astype(float)
        taken = np.bincount(assign[labelled_mask], minlength=k).astype(float)
        avail = ~labelled_mask
        best = np.full(k, -np.inf)  # most uncertain unlabelled segment per cluster
        np.maximum.at(best, assign[avail], u[avail])
        picked: list[int] = []
        for _ in range(n):
            cover = np.where(best > -np.inf, taken / size, np.inf)
            tied = cover <= cover.min() + 1e-12
            c = int(np.argmax(np.where(tied, best, -np.inf)))  # ties: the most uncertain cluster
            members = np.flatnonzero(avail & (assign == c))
            j = int(members[np.argmax(u[members])])
            picked.append(j)
            avail[j] = False
            taken[c] += 1
            rest = members[members != j]
            best[c] = u[rest].max() if len(rest) else -np.inf
        return np.array(picked, dtype=int)


@register("badge")
class Badge(QueryStrategy):
    """BADGE (Ash et al. 2020) for a linear model: k-means++ seeding on the gradient
    embeddings ``(p - y_hat) (x) x``, mixing uncertainty (gradient norm) with diversity.
    Distances are computed from the two factors, never materialising ``k*d`` vectors."""

    def query(self, probas, X, labelled_mask, n, rng, *, labels=None):
        labelled_mask, candidates, n, done = self._start(probas, X, labelled_mask, n, rng)
        if done is not None:
            return done
        P = np.asarray(probas, dtype=np.float64)[candidates]
        if _is_exclusive_probas(P):
            Yhat = np.zeros_like(P)
            Yhat[np.arange(len(P)), P.argmax(axis=1)] = 1
        else:
            Yhat = (P >= 0.5).astype(float)
        A = P - Yhat
        Xc = np.asarray(X, dtype=np.float64)[candidates]
        sq = (A * A).sum(axis=1) * (Xc * Xc).sum(axis=1)
        first = int(np.argmax(sq))
        picked = [first]
        d2 = sq + sq[first] - 2 * (A @ A[first]) * (Xc @ Xc[first])
        d2 = np.clip(d2, 0, None)
        while len(picked) < n:
            total = d2.sum()
            if total <= 1e-12:
                rest = np.setdiff1d(np.arange(len(candidates)), picked)
                picked.extend(rng.choice(rest, n - len(picked), replace=False).tolist())
                break
            j = int(rng.choice(len(candidates), p=d2 / total))
            picked.append(j)
            dj = np.clip(sq + sq[j] - 2 * (A @ A[j]) * (Xc @ Xc[j]), 0, None)
            d2 = np.minimum(d2, dj)
            d2[j] = 0.0
        return candidates[np.array(picked, dtype=int)]


@register("rare_code")
class RareCode(ScoreStrategy):
    """Class balancing: ask about segments the model thinks carry the codes that have
    the fewest answers so far (weight ``1 / (1 + positives)``), blended with uncertainty,
    so rare codes are found and learnt early. Representative cold start."""

    cold_start = "representative"

    def __init__(self, mix: float = 0.5) -> None:
        self.mix = mix

    def score(self, probas, X, labelled_mask, rng, labels=None):
        P = np.asarray(probas, dtype=np.float64)
        if labels is None:
            counts = P[labelled_mask].sum(axis=0)
        else:
            counts = np.asarray(labels)[labelled_mask].sum(axis=0)
        w = 1.0 / (1.0 + counts)
        w = w / w.max()
        rare = (P * w).max(axis=1)
        return self.mix * rare + (1 - self.mix) * uncertainty(P, "margin")


@register("discover")
class Discover(QueryStrategy):
    """Find every code early, then learn (the default strategy).

    While some code has fewer than ``min_positives`` confirmed examples, the code with the
    fewest (rare-first) decides what to look for. Before it has a single example, the question
    is about the segment most similar to its embedded name and description (the codebook's
    prototypes; without them, the segment least like anything answered). Once it has some,
    the question is about the segment expected to bring the most of the examples still
    missing: the sum, over the codes that have some examples but too few, of each code's
    probability for the segment weighted by the share of its examples still missing (a
    segment likely to carry two such codes beats one likely to carry one).

    Where the codebook nests codes (``parents``, a sub-theme under its theme), a code's
    likelihood is read through its parent: its own score times the parent's probability
    times the chance that the segment is none of its siblings (one minus the most probable
    sibling). A few examples cannot tell sibling sub-themes apart, but the theme, with many
    more examples, is learnt early, and a segment of the theme that no sibling claims is
    likely the sibling still missing.

    ``beside=True`` reads the pool's reading order (``neighbours``): a segment next to an answered
    one that carries a code (in its document) gains, for that code, the rate at which answered
    neighbours share codes in the session (high where the researcher codes passages that the
    segments cut into sentences, low where each segment is a passage of its own). Off by default,
    by measurement (bench_active, 10 seeds, 2026-12-07 23:07 without it and 23:44 with it): on
    every Taguette sentence it needs 170 answers to find every code against 228 (0.41x random's
    against 0.55x; on 50 more seeds 210 and 195 against 237.5 and 252), on Taguette highlights 202
    against 165 (on 50 more seeds 166 and 171 against 166 and 193), on the demo 192 against 194;
    but on the demo (bench_estimate, 16 seeds) the random-check interval then held the true kappa
    at 88% / 80% of checkpoints (the uncoded rest / held-out groups) against 99% / 94% without it.

    A code whose questions keep missing loses priority (``patience`` examples' worth per miss
    in a row) and is set aside after ``give_up`` misses in a row, for ``rest`` answers, so one
    unfindable code cannot hold the session; it is tried again after that (the model has
    learnt more by then), with half its misses still counted. A question counts as aimed at
    the code that contributed most to its score. Once every code has its examples (or is set
    aside), the questions go to ``then`` (cluster margin: uncertainty spread over k-means
    clusters). Throughout, a share ``random_share`` of questions is drawn at random, which
    keeps the answers from skewing towards what the strategy looks for. The cold start takes,
    for half its questions, the segment nearest each code's prototype, and k-means typical
    segments for the rest.

    ``prior`` > 0 scores a code that has some examples by the model's rank plus ``prior`` times
    its description's rank (prototype similarity), over 1 + ``prior``, instead of the model's
    probability. Off by default, by measurement (10 seeds, as bench_active replays them, with
    the rule that aimed at one code at a time): on the demo corpus ``prior=1`` needed 211.5
    answers (median) to find every code against 217, but on Taguette's sentences 316 against
    238 (there the descriptions fit many sentences that carry no tag).

    Shaped on AnnoMI, Taguette and NHS comments, checked on the demo corpus and fresh
    seeds: docs/benchmarks/active.md.
    """

    cold_start = "representative"

    def __init__(self, min_positives: int = 5, random_share: float = 0.1, patience: float = 0.5,
                 give_up: int = 25, rest: int = 50, then: str = "cluster_margin", prior: float = 0.0,
                 beside: bool = False) -> None:
        self.min_positives = min_positives
        self.beside = beside
        self.prior = prior
        self.random_share = random_share
        self.patience = patience
        self.give_up = give_up
        self.rest = rest
        self.then = then
        self._wake: np.ndarray | None = None  # per code: the answer count at which a set-aside code is tried again
        self._seed = 0
        self._then: QueryStrategy | None = None
        self._similarity: np.ndarray | None = None  # (N, k) cosine to each code's prototype
        self._siblings: dict[int, tuple[int, np.ndarray]] = {}  # code -> (its parent, its siblings)
        self._neighbours: np.ndarray | None = None  # (N, 2): the rows before and after, or -1
        self._beside: tuple[np.ndarray, float] | None = None  # (N, k) a neighbour carries the code; the run rate
        self._misses: np.ndarray | None = None
        self._aimed: dict[int, int] = {}  # row asked about -> the code it was aimed at

    def prepare(self, X: np.ndarray, rng: np.random.Generator, prototypes: np.ndarray | None = None,
                parents: Sequence[int] | None = None, neighbours: np.ndarray | None = None) -> None:
        self._neighbours = None if neighbours is None or not self.beside else np.asarray(neighbours, dtype=int)
        self._then = get_strategy(self.then)
        self._then.prepare(X, rng)
        self._similarity = None
        if prototypes is not None and len(prototypes):
            P = np.asarray(prototypes, dtype=np.float32)
            P = P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-12)
            self._similarity = X.astype(np.float32, copy=False) @ P.T
        self._siblings = {}
        if parents is not None:
            up = np.asarray(parents, dtype=int)
            for c, t in enumerate(up):
                if t >= 0:
                    self._siblings[c] = (int(t), np.flatnonzero((up == t) & (np.arange(len(up)) != c)))
        self._misses = None
        self._wake = None
        self._seed = int(rng.integers(2**31 - 1))
        self._aimed = {}

    def initial(self, X, candidates, n, rng):
        if self._similarity is None:
            return representative_sample(X, candidates, n, rng)
        picked: list[int] = []
        sim = self._similarity[candidates]
        for c in rng.permutation(sim.shape[1])[: n // 2]:  # half: the segment nearest a code's description
            order = np.argsort(-sim[:, c])
            j = next((int(candidates[i]) for i in order if int(candidates[i]) not in picked), None)
            if j is not None:
                picked.append(j)
        rest = np.setdiff1d(candidates, picked)
        if n > len(picked) and len(rest):
            picked += [int(i) for i in representative_sample(X, rest, min(n - len(picked), len(rest)), rng)]
        return np.array(picked, dtype=int)

    def _record_misses(self, labels: np.ndarray, labelled_mask: np.ndarray, k: int, answered: int) -> None:
        if self._misses is None or len(self._misses) != k:
            self._misses = np.zeros(k, dtype=int)
            self._wake = np.zeros(k, dtype=int)
        for row, c in list(self._aimed.items()):
            if labelled_mask[row]:
                self._misses[c] = 0 if labels[row, c] else self._misses[c] + 1
                if self._misses[c] >= self.give_up:  # set aside for a while, then tried again
                    self._wake[c] = answered + self.rest
                    self._misses[c] = self.give_up // 2
                del self._aimed[row]

    def query(self, probas, X, labelled_mask, n, rng, *, labels=None):
        labelled_mask, candidates, n, done = self._start(probas, X, labelled_mask, n, rng)
        if done is not None:
            return done
        if self._then is None:
            self.prepare(X, rng)
        P = np.asarray(probas, dtype=np.float64)
        k = P.shape[1]
        if labels is None:  # no answers given: read them off the model (a weaker signal)
            labels = (P >= 0.5).astype(np.int8)
        labels = np.asarray(labels)
        answered = int(labelled_mask.sum())
        self._record_misses(labels, labelled_mask, k, answered)
        # the same answers give the same questions: asked twice (a page reloaded, a second coder),
        # the choice does not change until an answer arrives
        rng = np.random.default_rng([self._seed, answered])
        counts = labels[labelled_mask].sum(axis=0).astype(float)
        self._beside = None if self._neighbours is None else _beside(self._neighbours, labels, labelled_mask)
        taken = labelled_mask.copy()
        picked: list[int] = []
        novelty: np.ndarray | None = None
        gain: np.ndarray | None = None  # (N, codes with some examples but too few): expected examples
        while len(picked) < n:
            avail = np.flatnonzero(~taken)
            if not len(avail):
                break
            needy = (counts < self.min_positives) & (self._wake <= answered)
            if rng.random() < self.random_share or not needy.any():
                if not needy.any():  # every code found (or set aside): the learning phase
                    rest = self._then.query(P, X, taken, n - len(picked), rng, labels=labels)
                    picked += [int(i) for i in rest]
                    break
                j = int(rng.choice(avail))
            else:
                priority = np.where(needy, counts + self.patience * self._misses, np.inf)
                tied = np.flatnonzero(priority <= priority.min() + 1e-12)
                c = int(rng.choice(tied))
                jitter = rng.random(len(avail)) * 1e-9
                if counts[c] > 0:  # the segment expected to bring the most missing examples
                    if gain is None:
                        short = np.flatnonzero(needy & (counts > 0))
                        w = (self.min_positives - counts[short]) / self.min_positives
                        gain = np.column_stack([self.likelihood(d, P, avail, counts) for d in short]) * w
                        gain_codes = short
                    j = int(avail[np.argmax(gain[avail].sum(axis=1) + jitter)])
                    c = int(gain_codes[np.argmax(gain[j])])
                else:
                    score = self.likelihood(c, P, avail, counts)
                    if score is None:  # nothing known of the code: the segment least like anything answered
                        if novelty is None:
                            novelty = _novelty(X, taken)
                        score = novelty
                    j = int(avail[np.argmax(score[avail] + jitter)])
                self._aimed[j] = c
            picked.append(j)
            taken[j] = True
            if novelty is not None:
                novelty = np.minimum(novelty, 1.0 - X @ X[j])
        return np.array(picked, dtype=int)

    def likelihood(self, c: int, P: np.ndarray, avail: np.ndarray, counts: np.ndarray) -> np.ndarray | None:
        """How likely each segment is to carry code ``c`` (0..1, read at the ``avail`` rows): the
        model's probability once the code has examples, the similarity to its description before;
        under a parent code, times the parent's probability and one minus the most probable
        sibling's. ``None`` when nothing is known of the code (no example, no description)."""
        if counts[c] > 0 and self.prior and self._similarity is not None:
            score = np.zeros(len(P))
            score[avail] = (_ranks(P[avail, c]) + self.prior * _ranks(self._similarity[avail, c])) / (1 + self.prior)
        elif counts[c] > 0:
            score = P[:, c]
        elif self._similarity is not None:
            score = np.clip(self._similarity[:, c], 0.0, None)
        else:
            return None
        if c in self._siblings:
            parent, siblings = self._siblings[c]
            claimed = P[:, siblings].max(axis=1) if len(siblings) else 0.0
            score = score * P[:, parent] * (1.0 - claimed)
        if self._beside is not None and counts[c] > 0:
            beside, rate = self._beside
            score = score + rate * beside[:, c]
        return score


def neighbour_rows(documents: Sequence, positions: Sequence[float]) -> np.ndarray:
    """(N, 2): for each row, the row just before it and the row just after it in its document
    (by ``positions``), -1 at a document's ends."""
    docs = np.asarray([str(d) for d in documents])
    order = np.lexsort((np.asarray(positions, dtype=float), docs))
    out = np.full((len(docs), 2), -1, dtype=int)
    same = docs[order[1:]] == docs[order[:-1]]
    out[order[1:][same], 0] = order[:-1][same]
    out[order[:-1][same], 1] = order[1:][same]
    return out


def _beside(neighbours: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Which codes an answered neighbour of each row carries ((N, k) 0/1), and how often, among
    neighbours both answered, the one carries a code the other carries (over every code; a
    Beta(0.5, 0.5) start). Codes run across neighbouring segments where a passage is cut into
    sentences, much less where each segment is a passage of its own; the rate says which."""
    L = np.where(labelled_mask[:, None], np.asarray(labels) > 0, False)
    beside = np.zeros(L.shape, dtype=bool)
    for side in (0, 1):
        nb = neighbours[:, side]
        has = nb >= 0
        beside[has] |= L[nb[has]]
    after = neighbours[:, 1]
    pair = (after >= 0) & labelled_mask
    pair[pair] &= labelled_mask[after[pair]]
    a, b = L[pair], L[after[pair]]
    hits, trials = 2.0 * float((a & b).sum()), float(a.sum() + b.sum())
    return beside.astype(float), (hits + 0.5) / (trials + 1.0)


def _ranks(v: np.ndarray) -> np.ndarray:
    """Each value's rank among ``v``, scaled to 0..1 (ties broken by position)."""
    return (rankdata(v, method="ordinal") - 1) / max(len(v) - 1, 1)


def _novelty(X: np.ndarray, labelled_mask: np.ndarray, block: int = 1024) -> np.ndarray:
    """1 - the highest cosine similarity of each row to any labelled row."""
    lab = np.flatnonzero(labelled_mask)
    best = np.full(len(X), -1.0, dtype=np.float64)
    for s in range(0, len(lab), block):
        best = np.maximum(best, (X @ X[lab[s : s + block]].T).max(axis=1))
    return 1.0 - best
