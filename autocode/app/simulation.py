"""``autocode simulate``: "how much more must I code?", active learning replayed on a coder's groups."""

from __future__ import annotations

from typing import Sequence

from ..active import SimulationResult
from ..active import simulate as replay
from ..active.strategies import DEFAULT_STRATEGY, available_strategies
from ..errors import InputError
from .models import training_data
from .learning import REFIT_MAX_ITER
from .workspace import Workspace


def simulate(ws: Workspace, coder: str, strategies: Sequence[str] | None = None, *, budget: int = 300,
             step: int = 20, batch: int = 1, initial: int = 20, seeds: Sequence[int] = (0, 1, 2)) -> SimulationResult:
    """Replay active learning with ``coder``'s codes as the oracle; random is always compared.
    The result says, per strategy and seed, the answers until every code had 5 examples
    (``labels_to_min_positives``) and until 90% of codes had (``labels_to_share``), the held-out
    macro-F1 curve, the paired difference to random with an interval (``summary``), per code the
    answers until its held-out kappa reached 0.6 (``labels_to_code_kappa``), and the
    random-check estimate beside the true kappa at each point."""
    names = list(dict.fromkeys([*(strategies or [DEFAULT_STRATEGY]), "random"]))
    unknown = [n for n in names if n not in available_strategies()]
    if unknown:
        raise InputError(f"unknown strategy {unknown[0]!r}", hint=f"use one of {', '.join(available_strategies())}")
    data = training_data(ws.store, coder)
    if len(set(data.groups)) < 2:
        raise InputError("simulation holds out whole focus groups: the coder must have coded at least two",
                         hint="code another group, or name another --coder")
    keep = data.Y.sum(0) > 0
    codes = [label for label, k in zip(data.labels, keep) if k]
    embedder = ws.embedder()
    X = embedder.embed(data.texts)
    book = ws.store.codebook()
    protos = book.prototypes()
    P = embedder.embed([protos.get(c, book.codes[c].name) for c in codes])
    # refits bounded as a session bounds them; the codebook's descriptions as the strategies' prototypes
    return replay(X, data.Y[:, keep], data.groups, names, budget=budget, step=step, batch=batch, seeds=list(seeds),
                  initial=initial, codes=codes, prototypes=P, refit_max_iter=REFIT_MAX_ITER,
                  positions=[s.position for s in data.segments])
