"""Replay active learning on a corpus that is already coded, with the coder as oracle.

For each seed the documents (``groups``: transcript, document, focus group) are split
into a pool and held-out documents, never individual segments, so that a model is
never tested on the transcript it learnt from. Each strategy starts from ``initial``
answers (chosen by its cold start) and asks ``batch`` segments at a time, refitting
after each batch (``batch=1``, the default, is what a coding session does: the model
is refitted after every answer). Every ``step`` answers, up to ``budget``, the model
is scored on the held-out documents: macro-F1 and Cohen's kappa against the coder,
plus where the stopping signal would have said stop.
A model trained on the whole pool gives the ceiling the curves are compared with.

Discovery is measured too: the answers until every code has ``min_positives`` confirmed
examples (``labels_to_min_positives``; codes with fewer examples than that in the
seed's whole pool cannot get there and are left out) and until 90% of those codes have
(``labels_to_share``). The learner takes ``check_share`` of its questions as random
checks; at every checkpoint its random-check estimate (kappa with a 95% interval) is
recorded beside the model's true kappa on the held-out documents and on the pool's
uncoded rest, so that the estimate's coverage can be checked (:meth:`SimulationResult.coverage`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
from scipy.stats import bootstrap

from .estimate import MIN_CHECKS, code_kappas, overall_kappa
from .metrics import kappa, macro_f1
from .models import ModelFactory, default_model_factory, is_exclusive, predict_labels
from .learner import Learner
from .stopping import StabilizingPredictions
from .strategies import QueryStrategy, get_strategy

__all__ = ["simulate", "SimulationResult", "StrategyCurve", "group_split", "estimate_coverage"]


@dataclass
class StrategyCurve:
    """Learning curve of one strategy: one list per seed, aligned with ``n_labels``."""

    strategy: str
    f1: list[list[float]] = field(default_factory=list)
    kappa: list[list[float]] = field(default_factory=list)
    stop_at: list[int | None] = field(default_factory=list)  # labels when the stopping signal fired
    stability: list[list[float | None]] = field(default_factory=list)  # stopping signal's kappa per point
    seconds: float = 0.0  # total time spent (fits + queries + evaluation), all seeds
    # per seed: answers until every findable code (90% of them) had min_positives examples; None: not within budget
    labels_to_min_positives: list[int | None] = field(default_factory=list)
    labels_to_share: list[int | None] = field(default_factory=list)
    # per seed, per point: the random-check estimate and the true kappas it estimates
    estimates: list[list[dict]] = field(default_factory=list)
    # per seed, per point, per code: held-out yes/no kappa (None where undefined)
    code_kappa: list[list[list[float | None]]] = field(default_factory=list)

    def mean(self, metric: str = "f1") -> list[float]:
        return np.mean(np.asarray(getattr(self, metric)), axis=0).tolist()


@dataclass
class SimulationResult:
    n_labels: list[int]
    seeds: list[int]
    curves: dict[str, StrategyCurve]
    reference_f1: list[float]  # per seed: model trained on the whole pool
    reference_kappa: list[float]
    pool_size: list[int]
    test_size: list[int]
    n_codes: int
    exclusive: bool
    codes: list[str] | None = None
    settings: dict = field(default_factory=dict)

    def labels_to_reach(self, strategy: str, fraction: float = 0.95, metric: str = "f1") -> dict:
        """Answers needed before held-out ``metric`` reaches ``fraction`` of the whole-pool model.

        ``mean_curve``: on the seed-averaged curve against the averaged ceiling;
        ``per_seed``: each seed against its own ceiling. None = not reached within budget."""
        ref = np.asarray(self.reference_f1 if metric == "f1" else self.reference_kappa)
        curves = np.asarray(getattr(self.curves[strategy], metric))
        per_seed: list[int | None] = []
        for s in range(len(self.seeds)):
            hit = np.flatnonzero(curves[s] >= fraction * ref[s])
            per_seed.append(int(self.n_labels[hit[0]]) if len(hit) else None)
        return {
            "fraction": fraction,
            "target": float(fraction * ref.mean()),
            "mean_curve": mean_curve_crossing(curves, ref, self.n_labels, fraction),
            "per_seed": per_seed,
        }

    def summary(self, fraction: float = 0.95) -> list[dict]:
        """One row per strategy: labels to reach the target, area under the F1 curve, stop point."""
        rows = []
        for name, curve in self.curves.items():
            reach = self.labels_to_reach(name, fraction)
            stops = [s for s in curve.stop_at if s is not None]
            rows.append(
                {
                    "strategy": name,
                    "labels_to_target": reach["mean_curve"],
                    "labels_to_target_per_seed": reach["per_seed"],
                    "mean_f1": float(np.mean(curve.f1)),  # normalised area under the curve
                    "final_f1": float(np.mean(np.asarray(curve.f1)[:, -1])),
                    "final_kappa": float(np.mean(np.asarray(curve.kappa)[:, -1])),
                    "stop_at": stops,
                    "labels_to_min_positives": curve.labels_to_min_positives,
                    "labels_to_share": curve.labels_to_share,
                    "labels_to_code_kappa": self.labels_to_code_kappa(name) if curve.code_kappa else None,
                    "seconds": round(curve.seconds, 2),
                    **({"vs_random": self.paired_difference(name)} if name != "random" and "random" in self.curves else {}),
                }
            )
        return rows

    def paired_difference(self, strategy: str, baseline: str = "random", n_boot: int = 2000, seed: int = 0) -> dict:
        """Mean macro-F1 over the curve, ``strategy`` minus ``baseline``, paired by seed, with a
        95% bootstrap interval over the seeds (``low``/``high`` None with a single seed: one
        replay says nothing of the spread between seeds); and the same for the labels to
        ``min_positives`` (as a ratio of medians, seeds where either did not get there within
        budget left out)."""
        a = np.asarray(self.curves[strategy].f1).mean(axis=1)
        b = np.asarray(self.curves[baseline].f1).mean(axis=1)
        d = a - b
        lo = hi = None
        if len(d) >= 2:
            rng = np.random.default_rng(seed)
            boot = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
            lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
        out = {"mean_f1_difference": float(d.mean()), "low": lo, "high": hi,
               "per_seed": [float(x) for x in d]}
        for key in ("labels_to_min_positives", "labels_to_share"):
            pairs = [(x, y) for x, y in zip(getattr(self.curves[strategy], key), getattr(self.curves[baseline], key))
                     if x is not None and y is not None]
            out[f"{key}_ratio"] = (float(np.median([x for x, _ in pairs]) / np.median([y for _, y in pairs]))
                                   if pairs else None)
        return out

    def labels_to_code_kappa(self, strategy: str, target: float = 0.6) -> list[int | None]:
        """Per code: answers until its held-out kappa, averaged over the seeds where it is
        defined, first reaches ``target``; None where it does not within the budget."""
        K = np.array([[[np.nan if v is None else v for v in point] for point in seed]
                      for seed in self.curves[strategy].code_kappa], dtype=float)  # seeds x points x codes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a code undefined at every seed: NaN
            mean = np.nanmean(K, axis=0)
        out: list[int | None] = []
        for j in range(mean.shape[1]):
            hit = np.flatnonzero(mean[:, j] >= target)
            out.append(int(self.n_labels[hit[0]]) if len(hit) else None)
        return out

    def coverage(self, strategy: str, against: str = "test") -> dict:
        """:func:`estimate_coverage` of ``strategy``'s recorded estimates."""
        return estimate_coverage(self.curves[strategy].estimates, against)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["curves"] = {
            name: {**asdict(c), "mean_f1": c.mean("f1"), "mean_kappa": c.mean("kappa")}
            for name, c in self.curves.items()
        }
        out["summary"] = self.summary()
        return out


def estimate_coverage(estimates: Sequence[Sequence[dict]], against: str = "test", *,
                      confidence: float = 0.95, min_checks: int = MIN_CHECKS) -> dict:
    """How often the random-check estimate's interval held the true kappa (``against``: "test",
    the held-out documents, or "rest", the pool's uncoded segments), over the checkpoints (per
    session, per point, as :class:`StrategyCurve` records them per seed) where a session gives an
    estimate (``min_checks`` random checks or more: by default ``MIN_CHECKS``).

    A session's checkpoints share its checks (those at 400 answers include those at 120), so
    they are not independent draws: ``low``/``high`` is a ``confidence`` interval for the share
    that resamples whole sessions (percentile bootstrap of held / checkpoints over the sessions
    drawn; when every checkpoint held, or none did, resampling cannot spread and the interval is
    the exact Clopper-Pearson one for that many sessions out of as many). With a handful of
    sessions it is wide: a share read from few sessions can miss its target by chance.
    ``low``/``high`` are None with fewer than 2 sessions that give an estimate."""
    hits, n, err, per_session = 0, 0, [], []
    for seed_points in estimates:
        h = m = 0
        for e in seed_points:
            if e.get("low") is None or e.get(against) is None or e.get("n_checks", 0) < min_checks:
                continue
            m += 1
            h += e["low"] <= e[against] <= e["high"]
            err.append(e["kappa"] - e[against])
        if m:
            per_session.append((h, m))
        hits, n = hits + h, n + m
    low = high = None
    if len(per_session) >= 2:
        tail = (1 - confidence) / 2
        if hits == n:
            low, high = tail ** (1 / len(per_session)), 1.0
        elif hits == 0:
            low, high = 0.0, 1 - tail ** (1 / len(per_session))
        else:
            held, total = (np.array(v, dtype=float) for v in zip(*per_session))
            res = bootstrap((held, total), lambda a, b: a.sum() / b.sum(), paired=True, vectorized=False,
                            n_resamples=2000, confidence_level=confidence, method="percentile", random_state=0)
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"checkpoints": n, "covered": hits, "coverage": hits / n if n else None,
            "low": low, "high": high, "sessions": len(per_session),
            "mean_error": float(np.mean(err)) if err else None}


def mean_curve_crossing(curves: np.ndarray, ref: np.ndarray, n_labels: Sequence[int], fraction: float = 0.95) -> int | None:
    """First label count where the seed-averaged curve (``curves``: seeds x points) reaches
    ``fraction`` of the seed-averaged ceiling ``ref``; None if it never does."""
    hit = np.flatnonzero(np.asarray(curves).mean(axis=0) >= fraction * np.asarray(ref).mean())
    return int(n_labels[hit[0]]) if len(hit) else None


def group_split(groups: Sequence, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (pool, test) with whole groups on each side, about ``test_size`` of rows in test."""
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise ValueError("need at least two groups (documents) to hold one out")
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq)
    sizes = {g: int(np.sum(groups == g)) for g in uniq}
    target = test_size * len(groups)
    test_groups, n = [], 0
    for g in order:
        if n >= target or len(test_groups) == len(uniq) - 1:
            break
        test_groups.append(g)
        n += sizes[g]
    is_test = np.isin(groups, test_groups)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def simulate(
    X: np.ndarray,
    Y: np.ndarray,
    groups: Sequence,
    strategies: Sequence[str | QueryStrategy] = ("random", "margin"),
    *,
    budget: int = 500,
    step: int = 20,
    batch: int = 1,
    seeds: Sequence[int] = (0, 1, 2),
    initial: int = 20,
    test_size: float = 0.25,
    model_factory: ModelFactory | None = None,
    exclusive: bool | None = None,
    codes: Sequence[str] | None = None,
    stopping: Callable[[], StabilizingPredictions] | None = None,
    stop_set_size: int = 1000,
    progress: Callable[[str], None] | None = None,
    min_positives: int = 5,
    share: float = 0.9,
    check_share: float = 0.1,
    prototypes: np.ndarray | None = None,
    refit_max_iter: int | None = None,
    positions: Sequence[float] | None = None,
) -> SimulationResult:
    """Replay active learning for each strategy and seed; see the module docstring.

    ``X``: (n, d) features; ``Y``: (n, k) 0/1 codes (or (n,) class ids for exclusive
    codes); ``groups``: the document of each row. ``strategies``: registered names or
    instances (an instance is reused across seeds: pass names for a fresh one each run).
    Curves are sampled at ``initial, initial + step, ...`` up to ``budget`` answers
    (capped at the pool size); ``batch`` answers are asked between refits.
    ``prototypes``: (k, d) embedded code descriptions for strategies that use them;
    ``refit_max_iter``: bound each refit as a session does (None: refit to convergence);
    ``positions``: each row's position in its document (``groups``), which strategies may use
    (a segment next to one that carries a code); None: the reading order is not known.
    """
    if batch < 1 or step < 1:
        raise ValueError(f"simulate: batch ({batch}) and step ({step}) must be at least 1")
    X = np.asarray(X, dtype=np.float32)
    Y = np.asarray(Y)
    if Y.ndim == 1:  # class ids -> one-hot
        classes = np.unique(Y)
        Y = (Y[:, None] == classes[None, :]).astype(np.int8)
        if codes is None:
            codes = [str(c) for c in classes]
    Y = Y.astype(np.int8)
    if exclusive is None:
        exclusive = is_exclusive(Y)
    at_least_one = bool(np.all(Y.sum(axis=1) >= 1))
    factory = model_factory or default_model_factory()
    make_stop = stopping or (lambda: StabilizingPredictions(exclusive=exclusive))
    names = [s if isinstance(s, str) else s.name for s in strategies]
    curves = {name: StrategyCurve(name) for name in names}
    ref_f1, ref_kappa, pool_sizes, test_sizes = [], [], [], []
    n_list: list[int] | None = None

    def predict(model, Xs):
        return predict_labels(model.predict_proba(Xs), exclusive, at_least_one=at_least_one)

    def evaluate(model, Xt, Yt) -> tuple[float, float]:
        pred = predict(model, Xt)
        return macro_f1(Yt, pred, exclusive), kappa(Yt, pred, exclusive)

    for seed in seeds:
        pool, test = group_split(groups, test_size, seed)
        Xp, Yp, Xt, Yt = X[pool], Y[pool], X[test], Y[test]
        pool_sizes.append(len(pool))
        test_sizes.append(len(test))
        full = factory().fit(Xp, Yp)
        f, k = evaluate(full, Xt, Yt)
        ref_f1.append(f)
        ref_kappa.append(k)
        cap = min(budget, len(pool))
        seed_n = list(range(initial, cap + 1, step))
        n_list = seed_n if n_list is None else [n for n in n_list if n in set(seed_n)]
        findable = Yp.sum(axis=0) >= min_positives
        if progress:
            progress(f"seed {seed}: pool {len(pool)}, test {len(test)}, whole-pool macro-F1 {f:.3f}, "
                     f"{int(findable.sum())} of {Y.shape[1]} codes with {min_positives}+ examples in the pool")

        for spec, name in zip(strategies, names):
            t0 = time.perf_counter()
            learner = Learner(
                Xp, list(codes) if codes is not None else Y.shape[1], strategy=get_strategy(spec), model_factory=factory,
                exclusive=exclusive, initial=initial, stopping=make_stop(), seed=seed,
                background=False, stop_set_size=stop_set_size, check_share=check_share,
                prototypes=prototypes, refit_max_iter=refit_max_iter, min_positives=min_positives,
                places=None if positions is None else [(groups[i], positions[i]) for i in pool],
                estimate_every=step if check_share > 0 else 0,
            )
            f1s, kappas, stab, points, codes_k, stop_at = [], [], [], [], [], None
            found = np.zeros(Y.shape[1], dtype=int)
            to_all = labels_to_share = None
            for target in seed_n:
                while (need := min(batch, target - learner.n_labelled)) > 0:
                    q = learner.next(need)
                    if len(q) != need or learner.labelled_mask[q].any() or len(np.unique(q)) != len(q):
                        raise RuntimeError(f"strategy {name!r} returned invalid indices")
                    decision = learner.teach(q, Yp[q])
                    found += Yp[q].sum(axis=0)
                    reached = (found >= min_positives)[findable]
                    if to_all is None and reached.all():
                        to_all = learner.n_labelled
                    if labels_to_share is None and reached.mean() >= share:
                        labels_to_share = learner.n_labelled
                    if decision.stop and stop_at is None:
                        stop_at = learner.n_labelled
                if learner.model is None:
                    raise RuntimeError(f"the model could not be fitted: {learner.last_error}")
                pred = predict(learner.model, Xt)  # the held-out rows, once for every measure
                f1s.append(macro_f1(Yt, pred, exclusive))
                kappas.append(kappa(Yt, pred, exclusive))
                codes_k.append([float(v) if np.isfinite(v) else None for v in code_kappas(Yt, pred)])
                stab.append(learner.status().agreement)
                est = learner.estimate(refresh=True) if check_share > 0 else None
                point = {"n_labels": learner.n_labelled, "test": overall_kappa(Yt, pred, exclusive)}
                rest = ~learner.labelled_mask
                point["rest"] = overall_kappa(Yp[rest], predict(learner.model, Xp[rest]), exclusive) if rest.any() else None
                if est is not None and est.ready:
                    point.update(kappa=est.kappa, low=est.low, high=est.high, n_checks=est.n_checks)
                points.append({key: (None if isinstance(v, float) and not np.isfinite(v) else v)
                               for key, v in point.items()})
            curves[name].f1.append(f1s)
            curves[name].stability.append(stab)
            curves[name].kappa.append(kappas)
            curves[name].stop_at.append(stop_at)
            curves[name].labels_to_min_positives.append(to_all)
            curves[name].labels_to_share.append(labels_to_share)
            curves[name].estimates.append(points)
            curves[name].code_kappa.append(codes_k)
            curves[name].seconds += time.perf_counter() - t0
            if progress:
                progress(f"  {name:<18} F1 {f1s[0]:.3f} -> {f1s[-1]:.3f}, every code {min_positives}+ at "
                         f"{to_all or '>' + str(cap)}, {share:.0%} of codes at {labels_to_share or '>' + str(cap)} "
                         f"({time.perf_counter() - t0:.1f}s)")

    assert n_list is not None
    for c in curves.values():  # align seeds on the common label counts
        c.f1 = [row[: len(n_list)] for row in c.f1]
        c.kappa = [row[: len(n_list)] for row in c.kappa]
        c.stability = [row[: len(n_list)] for row in c.stability]
        c.estimates = [row[: len(n_list)] for row in c.estimates]
        c.code_kappa = [row[: len(n_list)] for row in c.code_kappa]
    return SimulationResult(
        n_labels=n_list,
        seeds=list(seeds),
        curves=curves,
        reference_f1=ref_f1,
        reference_kappa=ref_kappa,
        pool_size=pool_sizes,
        test_size=test_sizes,
        n_codes=int(Y.shape[1]),
        exclusive=bool(exclusive),
        codes=list(codes) if codes is not None else None,
        settings={
            "budget": budget, "step": step, "batch": batch, "initial": initial, "test_size": test_size,
            "stop_set_size": stop_set_size, "min_positives": min_positives, "share": share,
            "check_share": check_share, "refit_max_iter": refit_max_iter,
        },
    )
