"""When to stop asking: stabilising predictions (Bloodgood & Vijay-Shanker, CoNLL 2009).

After every refit the model predicts a fixed *stop set* of pool segments. Every
``every`` new answers a checkpoint is taken and compared with the previous one
(Cohen's kappa between the two models' predictions). When the mean kappa over the
last ``window`` comparisons reaches ``threshold``, new answers no longer change what
the model would code: "predictions have stabilised". Stable predictions can still be
poor ones, so the signal also waits for an honest estimate of how good they are: the
model's agreement with the researcher on the random checks (:mod:`.estimate`), given
beside it with its interval; ``min_kappa`` optionally asks that the interval's lower
end reach a level. A cross-validation over the answers would not do: the strategy chose
them because they were unusual.

The paper stops at kappa 0.99 over 3 comparisons. On researcher-coded focus-group
style corpora (AnnoMI, Taguette; docs/benchmarks/active.md) a logistic regression on
embeddings keeps flipping a few percent of its predictions as answers arrive:
consecutive models 20 answers apart agreed at kappa ~0.95 when held-out macro-F1 was
already at 95% of its ceiling, and 0.99 was reached at ~1,400 answers or never. The
default here is therefore 0.97 over 3 comparisons 20 answers apart, which fired
between 460 and 980 answers there (refitting after every answer), mostly after the
95% point: it says "stabilised" once the curve has flattened, not before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .estimate import MIN_CHECKS
from .metrics import agreement

__all__ = ["StopDecision", "StabilizingPredictions"]

KEEP_GOING = "keep going"
STABILISED = "predictions have stabilised"


@dataclass
class StopDecision:
    """The signal after the last update."""

    stop: bool
    message: str  # "keep going" or "predictions have stabilised", then the numbers
    n_labels: int
    agreement: float | None  # mean kappa over the last `window` comparisons
    unchanged: float | None  # mean share of stop-set segments whose codes did not change
    estimate: dict | None  # kappa, low, high, n_checks on the random checks (None: not yet)
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class StabilizingPredictions:
    """Stabilising-predictions stopping signal; call :meth:`update` after each refit.

    ``predictions``: the 0/1 code matrix the current model gives the stop set (same rows,
    same order every time). ``min_labels``: never say stop before this many answers.
    ``min_checks``: never say stop before this many random checks are answered (0: do not
    wait for the estimate, e.g. when a session takes no random checks). ``min_kappa``:
    optionally also require the lower end of the random-check kappa's interval to reach this.
    """

    def __init__(
        self,
        window: int = 3,
        threshold: float = 0.97,
        every: int = 20,
        min_labels: int = 50,
        min_checks: int = MIN_CHECKS,
        min_kappa: float | None = None,
        exclusive: bool | None = None,
    ) -> None:
        self.window = window
        self.threshold = threshold
        self.every = every
        self.min_labels = min_labels
        self.min_checks = min_checks
        self.min_kappa = min_kappa
        self.exclusive = exclusive
        self._last_pred: np.ndarray | None = None
        self._last_n: int | None = None
        self.history: list[dict] = []  # one entry per comparison
        self.estimate: dict | None = None
        self.n_labels = 0

    def update(self, predictions: np.ndarray, n_labels: int) -> StopDecision:
        """Record the predictions of the model fitted on ``n_labels`` answers."""
        pred = np.asarray(predictions)
        pred = pred[:, None] if pred.ndim == 1 else pred
        self.n_labels = int(n_labels)
        if self._last_pred is None or self._last_pred.shape != pred.shape:
            self._last_pred, self._last_n = pred.copy(), self.n_labels
            return self.decision()
        if self.n_labels - self._last_n < self.every:
            return self.decision()
        exclusive = self.exclusive
        if exclusive is None:
            exclusive = pred.shape[1] > 1 and bool(np.all(pred.sum(axis=1) == 1))
        k, same = agreement(self._last_pred, pred, exclusive)
        est = self.estimate or {}
        self.history.append({"n_labels": self.n_labels, "kappa": k, "unchanged": same,
                             "check_kappa": est.get("kappa"), "n_checks": est.get("n_checks", 0)})
        self._last_pred, self._last_n = pred.copy(), self.n_labels
        return self.decision()

    def set_estimate(self, kappa: float | None, low: float | None, high: float | None, n_checks: int) -> None:
        """The latest random-check estimate (see :class:`~autocode.active.estimate.CheckEstimate`)."""
        self.estimate = {"kappa": kappa, "low": low, "high": high, "n_checks": int(n_checks)}

    def decision(self) -> StopDecision:
        recent = self.history[-self.window :]
        mean_k = float(np.mean([h["kappa"] for h in recent])) if recent else None
        mean_same = float(np.mean([h["unchanged"] for h in recent])) if recent else None
        enough = len(recent) >= self.window and self.n_labels >= self.min_labels
        stable = enough and mean_k is not None and mean_k >= self.threshold
        est = self.estimate or {"kappa": None, "low": None, "high": None, "n_checks": 0}
        checked = est["n_checks"] >= self.min_checks and (self.min_checks == 0 or est["kappa"] is not None)
        stable = stable and checked
        if stable and self.min_kappa is not None:
            stable = est["low"] is not None and est["low"] >= self.min_kappa
        if mean_k is None:
            detail = f"{self.n_labels} coded segments; not enough checks yet to compare"
        else:
            detail = (
                f"{self.n_labels} coded segments; kappa between consecutive models {mean_k:.3f} "
                f"over the last {len(recent)} comparisons (stop at {self.threshold:.2f}), "
                f"{mean_same:.1%} of segments unchanged"
            )
        if est["kappa"] is not None and est["n_checks"] >= max(self.min_checks, 1):
            interval = "" if est["low"] is None else f" ({est['low']:.2f}-{est['high']:.2f})"
            detail += f"; kappa {est['kappa']:.2f}{interval} on {est['n_checks']} random checks"
        elif self.min_checks:
            detail += f"; {est['n_checks']} of {self.min_checks} random checks answered"
        return StopDecision(
            stop=bool(stable),
            message=f"{STABILISED if stable else KEEP_GOING}: {detail}",
            n_labels=self.n_labels,
            agreement=mean_k,
            unchanged=mean_same,
            estimate=None if self.estimate is None else dict(self.estimate),
            history=list(self.history),
        )

    @property
    def stop(self) -> bool:
        return self.decision().stop
