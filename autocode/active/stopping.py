"""When to stop asking: stabilising predictions (Bloodgood & Vijay-Shanker, CoNLL 2009).

After every refit the model predicts a fixed *stop set* of pool segments. Every
``every`` new answers a checkpoint is taken and compared with the previous one
(Cohen's kappa between the two models' predictions). When the mean kappa over the
last ``window`` comparisons reaches ``threshold``, new answers no longer change what
the model would code: "predictions have stabilised". The cross-validated kappa of the
model against the answers so far is reported beside it, because stable predictions
can still be poor ones.

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
    cv_kappa: float | None
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class StabilizingPredictions:
    """Stabilising-predictions stopping signal; call :meth:`update` after each refit.

    ``predictions``: the 0/1 code matrix the current model gives the stop set (same rows,
    same order every time). ``min_labels``: never say stop before this many answers.
    ``min_cv_kappa``: optionally also require the cross-validated kappa to reach this.
    """

    def __init__(
        self,
        window: int = 3,
        threshold: float = 0.97,
        every: int = 20,
        min_labels: int = 50,
        min_cv_kappa: float | None = None,
        exclusive: bool | None = None,
    ) -> None:
        self.window = window
        self.threshold = threshold
        self.every = every
        self.min_labels = min_labels
        self.min_cv_kappa = min_cv_kappa
        self.exclusive = exclusive
        self._last_pred: np.ndarray | None = None
        self._last_n: int | None = None
        self.history: list[dict] = []  # one entry per comparison
        self.cv_kappa: float | None = None
        self.n_labels = 0

    def update(self, predictions: np.ndarray, n_labels: int, cv_kappa: float | None = None) -> StopDecision:
        """Record the predictions of the model fitted on ``n_labels`` answers."""
        pred = np.asarray(predictions)
        pred = pred[:, None] if pred.ndim == 1 else pred
        self.n_labels = int(n_labels)
        if cv_kappa is not None:
            self.cv_kappa = float(cv_kappa)
        if self._last_pred is None or self._last_pred.shape != pred.shape:
            self._last_pred, self._last_n = pred.copy(), self.n_labels
            return self.decision()
        if self.n_labels - self._last_n < self.every:
            return self.decision()
        exclusive = self.exclusive
        if exclusive is None:
            exclusive = pred.shape[1] > 1 and bool(np.all(pred.sum(axis=1) == 1))
        k, same = agreement(self._last_pred, pred, exclusive)
        self.history.append({"n_labels": self.n_labels, "kappa": k, "unchanged": same, "cv_kappa": self.cv_kappa})
        self._last_pred, self._last_n = pred.copy(), self.n_labels
        return self.decision()

    def set_cv_kappa(self, value: float | None) -> None:
        self.cv_kappa = None if value is None else float(value)

    def decision(self) -> StopDecision:
        recent = self.history[-self.window :]
        mean_k = float(np.mean([h["kappa"] for h in recent])) if recent else None
        mean_same = float(np.mean([h["unchanged"] for h in recent])) if recent else None
        enough = len(recent) >= self.window and self.n_labels >= self.min_labels
        stable = enough and mean_k is not None and mean_k >= self.threshold
        if stable and self.min_cv_kappa is not None:
            stable = self.cv_kappa is not None and self.cv_kappa >= self.min_cv_kappa
        if mean_k is None:
            detail = f"{self.n_labels} coded segments; not enough checks yet to compare"
        else:
            detail = (
                f"{self.n_labels} coded segments; kappa between consecutive models {mean_k:.3f} "
                f"over the last {len(recent)} comparisons (stop at {self.threshold:.2f}), "
                f"{mean_same:.1%} of segments unchanged"
            )
        if self.cv_kappa is not None:
            detail += f"; cross-validated kappa {self.cv_kappa:.2f}"
        return StopDecision(
            stop=bool(stable),
            message=f"{STABILISED if stable else KEEP_GOING}: {detail}",
            n_labels=self.n_labels,
            agreement=mean_k,
            unchanged=mean_same,
            cv_kappa=self.cv_kappa,
            history=list(self.history),
        )

    @property
    def stop(self) -> bool:
        return self.decision().stop
