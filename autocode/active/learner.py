"""The active-learning loop a coding session drives: ask, answer, refit, ask again.

::

    learner = Learner(X, codes=["question", "reflection", ...], ids=segment_ids)
    for seg in learner.next_ids(1):          # the segment to show the researcher
        ...
    decision = learner.teach_ids([seg], [["reflection"]])   # their answer; refits
    decision.message    # "keep going: ..." / "predictions have stabilised: ..."
    learner.forget_ids([seg])                # undo
    learner.status()                         # the stopping signal now
    learner.estimate()                       # agreement on the random checks, per code

A share of the questions (``check_share``, 1 in 10 by default) are *random checks*: a
segment drawn uniformly from those not yet coded, whatever the strategy would have asked.
:meth:`is_check` says which rows those are (the session records it with the answer).
Agreement between the researcher's answers to them and the model's out-of-fold
predictions is an unbiased estimate of how the model codes the rest
(:mod:`.estimate`); it, not a cross-validation over the strategy's picks, drives the
stopping signal.

Every :meth:`Learner.teach` refits the fast model synchronously (a warm-started
logistic regression) and rescores the pool, so the next :meth:`next` already reflects
the answer. With ``refit_max_iter`` the refit is a bounded continuation from the last
weights (``partial_fit``), which keeps its cost flat as the codebook and the answers
grow. Slower work never blocks an answer: the out-of-fold predictions behind the random-check
estimate (one warm-started model per fold of the answers), and, if a ``heavy_model_factory`` is given, a heavier model fitted on a
snapshot of the answers that is swapped in for choosing segments when it finishes
(while it is at most ``heavy_max_lag`` answers behind the fast model). It is run by
one background thread, in this process or, given an ``executor`` (a process pool),
in another process so that it does not take the answering thread's CPU.
"""

from __future__ import annotations

import threading
from concurrent.futures import Executor
from typing import Any, Hashable, Sequence

import numpy as np

from autocode.codebook import parent_columns

from .estimate import CheckEstimate, code_kappas, code_progress
from .models import ModelFactory, default_model_factory, is_exclusive, predict_labels, single_blas_thread
from .stopping import StabilizingPredictions, StopDecision
from .strategies import DEFAULT_STRATEGY, QueryStrategy, get_strategy, neighbour_rows

__all__ = ["Learner"]


class Learner:
    """Pool, answers, strategy and model of one active-learning session.

    ``X``: (N, d) features of the pool (embeddings). ``codes``: the code names, or how
    many codes there are. ``ids``: optional segment ids (one per row) for the ``*_ids``
    methods. ``strategy``: a registered name or a :class:`QueryStrategy`.
    ``model_factory``: zero-argument callable returning a model with ``fit`` and
    ``predict_proba`` (default :class:`~autocode.active.models.FastLogistic`); the same
    instance is refitted after each answer, so a warm-starting model gets faster.
    ``exclusive``: True when each segment takes exactly one code; None infers it from
    the answers. ``initial``: how many segments the cold start asks about (chosen by the
    strategy before any model exists). ``background``: run the random-check estimate and
    the heavy model on a background thread (False: only when :meth:`estimate` is asked
    for; simulations use False). ``check_share``: the share of questions that are random
    checks (0 turns them off). ``estimate_every``: refresh the estimate every this many
    answers; ``folds``: the out-of-fold models behind it. ``prototypes``: (k, d) embedded
    code descriptions, handed to the strategy (codebook-seeded discovery). ``parents``: per
    code, the index of its parent code (a sub-theme's theme) or -1, handed to the strategy too;
    None reads them off code names that are paths (``"Theme/Sub-theme"``). ``places``: per row,
    its document and its position in it (the strategy learns whether codes run across
    neighbouring segments); None: the reading order is not known.
    ``target_kappa`` / ``min_positives``: what a code's progress is measured against.
    ``executor``: where that thread sends the work (a one-process pool: the work and the
    factories must pickle); None runs it on the thread. ``refit_max_iter``: bound the refit
    after each answer to this many iterations from the last weights (models with
    ``partial_fit``); None refits to convergence.
    """

    def __init__(
        self,
        X: np.ndarray,
        codes: Sequence[str] | int,
        *,
        ids: Sequence[Hashable] | None = None,
        strategy: str | QueryStrategy = DEFAULT_STRATEGY,
        model_factory: ModelFactory | None = None,
        heavy_model_factory: ModelFactory | None = None,
        exclusive: bool | None = None,
        initial: int = 10,
        stopping: StabilizingPredictions | None = None,
        seed: int | None = 0,
        background: bool = True,
        estimate_every: int = 10,
        folds: int = 5,
        heavy_max_lag: int = 20,
        stop_set_size: int = 2000,
        executor: Executor | None = None,
        refit_max_iter: int | None = None,
        check_share: float = 0.1,
        prototypes: np.ndarray | None = None,
        parents: Sequence[int] | None = None,
        places: Sequence[tuple[Hashable, float]] | None = None,
        target_kappa: float = 0.6,
        min_positives: int = 5,
    ) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        if self.X.ndim != 2:
            raise ValueError("X must be a 2-D array (segments x features)")
        self.N = len(self.X)
        self.codes = [str(c) for c in codes] if not isinstance(codes, int) else [str(i) for i in range(codes)]
        self.k = len(self.codes)
        if self.k < 1:
            raise ValueError("need at least one code")
        self._code_index = {c: i for i, c in enumerate(self.codes)}
        self.ids = list(ids) if ids is not None else None
        if self.ids is not None:
            if len(self.ids) != self.N:
                raise ValueError(f"{len(self.ids)} ids for {self.N} segments")
            self._index_of = {sid: i for i, sid in enumerate(self.ids)}
            if len(self._index_of) != self.N:
                raise ValueError("segment ids are not unique")
        self.strategy = get_strategy(strategy)
        self.model_factory = model_factory or default_model_factory()
        self.heavy_model_factory = heavy_model_factory
        self.exclusive = exclusive
        self.initial = max(0, int(initial))
        self.rng = np.random.default_rng(seed)
        self.background = background
        self.estimate_every = estimate_every
        self.folds = max(2, int(folds))
        if not 0.0 <= check_share < 1.0:
            raise ValueError(f"check_share must be in [0, 1), not {check_share!r}")
        self.check_share = float(check_share)
        self.target_kappa = float(target_kappa)
        self.min_positives = int(min_positives)
        self.heavy_max_lag = heavy_max_lag
        self.executor = executor
        self.refit_max_iter = refit_max_iter

        self.labelled_mask = np.zeros(self.N, dtype=bool)
        self.labels = np.zeros((self.N, self.k), dtype=np.int8)  # valid where labelled_mask
        self.model: Any = None  # the fast model, fitted on every answer so far
        self.probas: np.ndarray | None = None  # fast model's pool probabilities
        self.last_error: str | None = None
        self.version = 0  # bumped on every teach

        self.stopping = stopping or StabilizingPredictions(exclusive=exclusive)
        if self.check_share == 0:
            self.stopping.min_checks = 0
        # random checks: rows answered as one, rows offered as one and not answered yet
        self.check_mask = np.zeros(self.N, dtype=bool)
        self._held_checks: list[int] = []
        self._since_check = 0
        # out-of-fold models: each random check's fold, fixed when it is answered (-1: not a check)
        self._fold = np.full(self.N, -1, dtype=np.int64)
        self._n_folded = 0
        self._fold_models: list[Any] = [None] * self.folds
        # each answer's prediction before it was given, and the order answers came in
        self._prior = np.zeros((self.N, self.k), dtype=np.int8)
        self._prior_known = np.zeros(self.N, dtype=bool)
        self._answer_order: list[int] = []
        self._estimate: CheckEstimate | None = None
        self._estimate_version = -1
        self._stop_rows = self.rng.permutation(self.N)[: min(stop_set_size, self.N)]
        self._decision = self.stopping.decision()
        self._cold_queue: list[int] | None = None

        self._lock = threading.RLock()
        self._heavy: dict | None = None  # {"model", "probas", "n_labels", "version"}
        self._bg_thread: threading.Thread | None = None
        self._bg_wake = threading.Condition(self._lock)
        self._bg_pending = False
        self._bg_busy = False
        self._bg_last_estimate_n = 0
        self._closed = False
        if parents is None:
            parents = parent_columns(self.codes)
        elif len(parents) != self.k:
            raise ValueError(f"{len(parents)} parents for {self.k} codes")
        neighbours = None
        if places is not None:
            if len(places) != self.N:
                raise ValueError(f"{len(places)} places for {self.N} segments")
            neighbours = neighbour_rows([d for d, _ in places], [p for _, p in places])
        self.strategy.prepare(self.X, self.rng, prototypes=prototypes, parents=parents, neighbours=neighbours)

    # -- asking ------------------------------------------------------------------
    @property
    def n_labelled(self) -> int:
        return int(self.labelled_mask.sum())

    def labelled(self) -> np.ndarray:
        """Indices of the answered segments."""
        return np.flatnonzero(self.labelled_mask)

    def _effective_exclusive(self) -> bool:
        if self.exclusive is not None:
            return bool(self.exclusive)
        lab = self.labels[self.labelled_mask]
        return len(lab) > 0 and is_exclusive(lab)

    def _query_probas(self) -> np.ndarray | None:
        heavy = self._heavy
        if heavy is not None and self.n_labelled - heavy["n_labels"] <= self.heavy_max_lag:
            return heavy["probas"]
        return self.probas

    def next(self, n: int = 1, exclude: Sequence[int] = ()) -> np.ndarray:
        """Indices of the next ``n`` segments to ask about (fewer if the pool runs out), never
        one of ``exclude`` (e.g. segments the researcher skipped). Every ``1 / check_share``-th
        question is a random check (:meth:`is_check`), offered until it is answered."""
        with self._lock:
            excluded = np.zeros(self.N, dtype=bool)
            excluded[np.asarray(list(exclude), dtype=int)] = True
            open_rows = ~self.labelled_mask & ~excluded
            n = min(int(n), int(open_rows.sum()))
            if n <= 0:
                return np.zeros(0, dtype=int)
            slots = self._check_slots(n)
            checks = self._checks(len(slots), open_rows)
            rest = n - len(checks)
            picked: list[int] = []
            if rest:
                busy = set(checks)
                # enough candidates that ``rest`` remain once skipped rows and checks are left out
                want = min(rest + int(excluded.sum()) + len(busy), int((~self.labelled_mask).sum()))
                probas = self._query_probas()
                if probas is None or self.n_labelled < self.initial:
                    ranked = self._cold_start(want)
                else:
                    labels = self.labels  # rows outside labelled_mask are zero
                    ranked = self.strategy.query(probas, self.X, self.labelled_mask, want, self.rng, labels=labels)
                picked = [int(i) for i in ranked if open_rows[i] and int(i) not in busy][:rest]
                if len(picked) < rest:  # the strategy ran short of allowed rows: top up at random
                    spare = np.setdiff1d(np.flatnonzero(open_rows), picked + checks)
                    picked += [int(i) for i in self.rng.choice(spare, min(rest - len(picked), len(spare)), replace=False)]
            out = list(picked)
            for slot, row in zip(slots, checks):
                out.insert(min(slot, len(out)), row)
            return np.array(out, dtype=int)

    def _check_slots(self, n: int) -> list[int]:
        """Positions among the next ``n`` questions that are random checks."""
        if self.check_share <= 0:
            return []
        period = max(2, int(round(1.0 / self.check_share)))
        slots, since = [], self._since_check
        for i in range(n):
            if since >= period - 1:
                slots.append(i)
                since = 0
            else:
                since += 1
        return slots

    def _checks(self, m: int, open_rows: np.ndarray) -> list[int]:
        """``m`` random checks: those already offered and still open first, then fresh uniform draws."""
        self._held_checks = [i for i in self._held_checks if not self.labelled_mask[i]]
        out = [i for i in self._held_checks if open_rows[i]][:m]
        if len(out) < m:
            spare = np.setdiff1d(np.flatnonzero(open_rows), out)
            fresh = [int(i) for i in self.rng.choice(spare, min(m - len(out), len(spare)), replace=False)]
            self._held_checks += fresh
            out += fresh
        return out

    def is_check(self, row: int) -> bool:
        """True when pool row ``row`` is a random check (offered as one, or answered as one)."""
        return bool(self.check_mask[row]) or int(row) in self._held_checks

    def _cold_start(self, n: int) -> np.ndarray:
        """Serve the strategy's cold-start choice in order, topped up if more is asked."""
        if self._cold_queue is None:
            size = max(self.initial, n)
            candidates = np.flatnonzero(~self.labelled_mask)
            self._cold_queue = [int(i) for i in self.strategy.initial(self.X, candidates, min(size, len(candidates)), self.rng)]
        out = [i for i in self._cold_queue if not self.labelled_mask[i]][:n]
        if len(out) < n:
            rest = np.setdiff1d(np.flatnonzero(~self.labelled_mask), out)
            out += [int(i) for i in self.rng.choice(rest, n - len(out), replace=False)]
        return np.array(out, dtype=int)

    def next_ids(self, n: int = 1, exclude: Sequence[Hashable] = ()) -> list:
        """Segment ids of the next ``n`` segments to ask about, never one of ``exclude``."""
        if self.ids is None:
            raise ValueError("this learner was made without ids")
        return [self.ids[i] for i in self.next(n, exclude=self.rows(exclude))]

    # -- answering ---------------------------------------------------------------
    def _label_matrix(self, labels: Any, m: int) -> np.ndarray:
        if isinstance(labels, np.ndarray) and labels.ndim == 2:
            Y = labels
        else:
            labels = list(labels)
            if len(labels) != m:
                raise ValueError(f"{len(labels)} answers for {m} segments")
            Y = np.zeros((m, self.k), dtype=np.int8)
            for r, ans in enumerate(labels):
                if isinstance(ans, (int, np.integer)) and not isinstance(ans, bool):
                    Y[r, int(ans)] = 1  # a class index (exclusive codes)
                elif isinstance(ans, str):
                    Y[r, self._code(ans)] = 1
                else:
                    ans = list(ans)
                    if ans and all(isinstance(a, str) for a in ans):
                        for a in ans:
                            Y[r, self._code(a)] = 1
                    elif len(ans) == self.k:
                        Y[r] = np.asarray(ans, dtype=np.int8)
                    elif ans:
                        raise ValueError(f"answer {ans!r}: give code names or a 0/1 row of {self.k}")
        Y = np.asarray(Y, dtype=np.int8)
        if Y.shape != (m, self.k):
            raise ValueError(f"answers have shape {Y.shape}, expected ({m}, {self.k})")
        return Y

    def _code(self, name: str) -> int:
        try:
            return self._code_index[name]
        except KeyError:
            raise ValueError(f"unknown code {name!r}") from None

    def teach(self, indices: Sequence[int], labels: Any, *, checks: Sequence[bool] | None = None,
              before: Any = None) -> StopDecision:
        """Record answers for pool rows ``indices`` and refit (answers to answered rows
        replace the old ones: corrections). ``labels``: an (m, k) 0/1 matrix, or per
        segment a code name, a list of code names, a class index, or a 0/1 row.
        ``checks``: which of them answer random checks (default: those :meth:`next` offered
        as one; a resumed session passes what the store recorded). ``before``: what the
        researcher was shown before answering (same forms as ``labels``; a row of None: no
        suggestion was shown), the model's prediction for the learning curve; default: the
        learner's own prediction at this moment.
        Returns the stopping signal after the refit."""
        idx = np.atleast_1d(np.asarray(indices, dtype=int))
        if len(idx) and (idx.min() < 0 or idx.max() >= self.N):
            raise IndexError("segment index outside the pool")
        Y = self._label_matrix(labels, len(idx))
        shown: np.ndarray | None = None
        if before is not None:
            before = list(before) if not isinstance(before, np.ndarray) else before
            known = np.array([b is not None for b in before], dtype=bool)
            shown = self._label_matrix([b if b is not None else [] for b in before], len(idx))
        with self._lock:
            if checks is None:
                held = set(self._held_checks)
                flags = np.array([int(i) in held for i in idx], dtype=bool)
            else:
                flags = np.asarray(checks, dtype=bool)
                if flags.shape != idx.shape:
                    raise ValueError(f"{len(flags)} check flags for {len(idx)} answers")
            for row, flag in zip(idx, flags):
                if flag:
                    self._since_check = 0
                elif not self.labelled_mask[row]:
                    self._since_check += 1
            self.check_mask[idx] = flags | (self.check_mask[idx] & self.labelled_mask[idx])
            self._held_checks = [i for i in self._held_checks if i not in set(idx.tolist())]
            # a new check joins the next fold, round-robin (other answers are in every fold's training)
            new = idx[(self._fold[idx] < 0) & flags]
            self._fold[new] = (self._n_folded + np.arange(len(new))) % self.folds
            self._n_folded += len(new)
            # what the model said of each new answer before it was given (None before any model)
            is_new = np.array([not self.labelled_mask[i] and not self._prior_known[i] for i in idx], dtype=bool)
            if shown is not None:
                use = is_new & known
                self._prior[idx[use]] = shown[use]
                self._prior_known[idx[use]] = True
            elif is_new.any() and self.probas is not None:
                fresh = idx[is_new]
                self._prior[fresh] = predict_labels(self.probas[fresh], self._effective_exclusive(),
                                                    at_least_one=self._at_least_one())
                self._prior_known[fresh] = True
            self._answer_order += [int(i) for i in idx[is_new] if self._prior_known[i]]
            return self._update(idx, Y, answered=True)

    def _update(self, idx: np.ndarray, Y: np.ndarray | int, answered: bool) -> StopDecision:
        """Record (or take back) answers for rows ``idx``, refit, and return the stopping signal."""
        with self._lock:
            self.labels[idx] = Y
            self.labelled_mask[idx] = answered
            if not answered:  # taken back: no longer a check, its old prediction forgotten
                self.check_mask[idx] = False
                self._fold[idx] = -1
                self._prior_known[idx] = False
                gone = set(idx.tolist())
                self._answer_order = [i for i in self._answer_order if i not in gone]
            self.version += 1
            self._refit()
            if self.background:
                self._schedule()
            elif self._estimate_due(self.n_labelled):  # no background thread: the same work, here
                self._refresh_estimate(*self._snapshot())
            return self._decision

    def rows(self, ids: Sequence[Hashable]) -> list[int]:
        """Pool rows of segment ids."""
        if self.ids is None:
            raise ValueError("this learner was made without ids")
        try:
            idx = [self._index_of[i] for i in ids]
        except KeyError as e:
            raise ValueError(f"unknown segment id {e.args[0]!r}") from None
        return idx

    def teach_ids(self, ids: Sequence[Hashable], labels: Any, **kwargs: Any) -> StopDecision:
        """:meth:`teach` by segment ids (``checks``, ``before`` as there)."""
        return self.teach(self.rows(ids), labels, **kwargs)

    def forget(self, indices: Sequence[int]) -> StopDecision:
        """Take answers back (undo): the rows return to the pool and the model is refitted."""
        return self._update(np.atleast_1d(np.asarray(indices, dtype=int)), 0, answered=False)

    def forget_ids(self, ids: Sequence[Hashable]) -> StopDecision:
        return self.forget(self.rows(ids))

    def _refit(self) -> None:
        lab = self.labelled_mask
        if not lab.any():  # everything taken back: no model until the next answer
            self.model, self.probas = None, None
            return
        if self.model is None:
            self.model = self.model_factory()
            if self.exclusive is not None and getattr(self.model, "exclusive", False) is None:
                self.model.exclusive = bool(self.exclusive)  # tell a model that would guess
        try:
            with single_blas_thread():
                if self.refit_max_iter and hasattr(self.model, "partial_fit"):
                    self.model.partial_fit(self.X[lab], self.labels[lab], max_iter=self.refit_max_iter)
                else:
                    self.model.fit(self.X[lab], self.labels[lab])
                self.probas = np.asarray(self.model.predict_proba(self.X), dtype=np.float64)
            self.last_error = None
        except Exception as e:  # e.g. a model that needs two classes: stay in cold start
            self.last_error = f"{type(e).__name__}: {e}"
            self.model, self.probas = None, None
            return
        pred = predict_labels(self.probas[self._stop_rows], self._effective_exclusive(), at_least_one=self._at_least_one())
        self._decision = self.stopping.update(pred, self.n_labelled)

    def _at_least_one(self) -> bool:
        lab = self.labels[self.labelled_mask]
        return len(lab) > 0 and bool(np.all(lab.sum(axis=1) >= 1))

    # -- predictions and status ----------------------------------------------------
    def predict_proba(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Per-code probabilities of the fast model for pool rows (all by default)."""
        with self._lock:
            if self.probas is None:
                raise RuntimeError("no model yet: teach some answers first")
            return self.probas if indices is None else self.probas[np.asarray(indices, dtype=int)]

    def predict(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """0/1 code matrix the current model gives pool rows."""
        P = self.predict_proba(indices)
        return predict_labels(P, self._effective_exclusive(), at_least_one=self._at_least_one())

    def status(self) -> StopDecision:
        """The stopping signal ("keep going" / "predictions have stabilised"), with the
        latest random-check estimate from the background thread."""
        with self._lock:
            self._decision = self.stopping.decision()
            return self._decision

    @property
    def heavy_model(self) -> Any:
        heavy = self._heavy
        return None if heavy is None else heavy["model"]

    # -- the random-check estimate ---------------------------------------------------
    def estimate(self, refresh: bool = False) -> CheckEstimate | None:
        """Agreement on the random checks and every code's progress (:mod:`.estimate`), as of
        the last refresh (every ``estimate_every`` answers). ``refresh``: recompute now if
        answers changed since."""
        if refresh:
            with self._lock:
                stale = self._estimate_version != self.version
                snapshot = self._snapshot() if stale else None
            if snapshot is not None:
                self._refresh_estimate(*snapshot)
        with self._lock:
            return self._estimate

    def _snapshot(self) -> tuple:
        lab = np.flatnonzero(self.labelled_mask)
        return (lab, self.labels[lab].copy(), self._fold[lab].copy(), self.version,
                self._effective_exclusive(), self._at_least_one(), int((~self.labelled_mask).sum()))

    def _learning_curves(self, window: int = 100, step: int = 20) -> tuple[np.ndarray | None, list]:
        """(per-code recent kappa, per-code learning curves) from what the model said of each
        answer before it was given: kappa over the ``window`` answers up to each ``step``-th
        answer (the curve's x: answers in all at that point). None before 10 such answers."""
        rows = [i for i in self._answer_order if self.labelled_mask[i] and self._prior_known[i]]
        if len(rows) < 10:
            return None, [[] for _ in range(self.k)]
        before = self.n_labelled - len(rows)  # answers taught without a prediction (the start)
        ends = list(range(min(step, len(rows)), len(rows) + 1, step))
        if ends[-1] != len(rows):
            ends.append(len(rows))
        points = []
        for end in ends:
            sl = rows[max(0, end - window):end]
            points.append((before + end, code_kappas(self.labels[sl], self._prior[sl])))
        curves = [[(n, float(k[j])) for n, k in points] for j in range(self.k)]
        return points[-1][1], curves

    def _refresh_estimate(self, lab, Yl, fold, version, exclusive, at_least_one, remaining) -> None:
        """Out-of-fold predictions for the random checks (one warm-started model per fold of
        the checks), then the estimate; runs on the background thread (or inline)."""
        if len(lab) < 2 * self.folds or Yl.sum() == 0:
            return
        models, pred = self._run(_out_of_fold, self.model_factory, list(self._fold_models), self.X[lab], Yl, fold,
                                 exclusive, at_least_one, self.refit_max_iter)
        checks = fold >= 0
        with self._lock:
            self._fold_models = models
            recent, curves = self._learning_curves()
            est = code_progress(self.codes, Yl.sum(axis=0), Yl[checks], pred[checks], n_labels=len(lab),
                                exclusive=exclusive, recent=recent, curves=curves, target=self.target_kappa,
                                min_positives=self.min_positives, remaining=remaining)
            if self._estimate_version <= version:
                self._estimate, self._estimate_version = est, version
                self.stopping.set_estimate(est.kappa, est.low, est.high, est.n_checks)
                self._decision = self.stopping.decision()
            self._bg_last_estimate_n = len(lab)

    # -- background work -----------------------------------------------------------
    def _estimate_due(self, n: int) -> bool:
        """First as soon as there are 2 x folds answers, then every ``estimate_every`` answers."""
        if self.estimate_every <= 0 or n < 2 * self.folds:
            return False
        return self._bg_last_estimate_n == 0 or abs(n - self._bg_last_estimate_n) >= self.estimate_every

    def _schedule(self) -> None:
        if not (self._estimate_due(self.n_labelled) or self.heavy_model_factory is not None):
            return
        self._bg_pending = True
        if self._bg_thread is None or not self._bg_thread.is_alive():
            self._bg_thread = threading.Thread(target=self._bg_loop, name="autocode-active-bg", daemon=True)
            self._bg_thread.start()
        self._bg_wake.notify_all()

    def _bg_loop(self) -> None:
        while True:
            with self._lock:
                while not self._bg_pending and not self._closed:
                    self._bg_wake.wait()
                if self._closed:
                    return
                self._bg_pending = False
                self._bg_busy = True
                snapshot = self._snapshot()
                lab, Yl, version = snapshot[0], snapshot[1], snapshot[3]
                n = len(lab)
                due = self._estimate_due(n)
            try:
                if self.heavy_model_factory is not None:
                    heavy, probas = self._run(_fit_heavy, self.heavy_model_factory, self.X[lab], Yl, self.X)
                    with self._lock:
                        if self._heavy is None or self._heavy["version"] < version:
                            self._heavy = {"model": heavy, "probas": probas, "n_labels": n, "version": version}
                if due:
                    self._refresh_estimate(*snapshot)
            except Exception as e:  # never let the thread die silently with the lock held
                with self._lock:
                    self.last_error = f"background: {type(e).__name__}: {e}"
            finally:
                with self._lock:
                    self._bg_busy = False
                    self._bg_wake.notify_all()

    def _run(self, fn, *args):
        """``fn(*args)`` on the executor when there is one, else here."""
        if self.executor is None:
            return fn(*args)
        return self.executor.submit(fn, *args).result()

    def wait_idle(self, timeout: float | None = 10.0) -> bool:
        """Block until background work is done (for tests and scripts). True if idle."""
        with self._lock:
            return self._bg_wake.wait_for(lambda: not self._bg_pending and not self._bg_busy, timeout)

    def close(self) -> None:
        """Stop the background thread."""
        with self._lock:
            self._closed = True
            self._bg_wake.notify_all()
        if self._bg_thread is not None:
            self._bg_thread.join(timeout=5)

    def __enter__(self) -> "Learner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fit_heavy(factory: ModelFactory, X: np.ndarray, Y: np.ndarray, X_pool: np.ndarray) -> tuple[Any, np.ndarray]:
    """The heavy model fitted on a snapshot of the answers, and its pool probabilities."""
    with single_blas_thread():
        heavy = factory()
        heavy.fit(X, Y)
        return heavy, np.asarray(heavy.predict_proba(X_pool), dtype=np.float64)


def _out_of_fold(factory: ModelFactory, models: list, X: np.ndarray, Y: np.ndarray, fold: np.ndarray,
                 exclusive: bool, at_least_one: bool, max_iter: int | None) -> tuple[list, np.ndarray]:
    """Refit each fold's model on every answer but that fold's random checks (``fold``: -1 for
    an answer that is not a check), warm-started from its last weights (which never saw the
    fold either: a check's fold is fixed when it is answered), and predict the fold.
    Returns the models and the (n, k) predictions (zero outside the checks)."""
    pred = np.zeros(Y.shape, dtype=np.int8)
    out = []
    with single_blas_thread():
        for f, model in enumerate(models):
            test = fold == f
            train = ~test
            if not test.any() or Y[train].sum() == 0:
                out.append(model)
                continue
            if model is None:
                model = factory()
                if getattr(model, "exclusive", False) is None:
                    model.exclusive = exclusive
            if max_iter and hasattr(model, "partial_fit"):
                model.partial_fit(X[train], Y[train], max_iter=max(30, 5 * max_iter))
            else:
                model.fit(X[train], Y[train])
            pred[test] = predict_labels(model.predict_proba(X[test]), exclusive, at_least_one=at_least_one)
            out.append(model)
    return out, pred
