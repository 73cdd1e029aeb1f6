"""Active learning for coding: ask about the segments that teach the model most.

Swappable parts (in the manner of small-text):

* query strategies (:mod:`.strategies`): ``QueryStrategy.query(probas, X,
  labelled_mask, n, rng) -> indices``, registered by name (:func:`get_strategy`);
* a model factory (:mod:`.models`): any callable returning an object with
  ``fit(X, Y)`` and ``predict_proba(X)``; default :class:`FastLogistic`;
* a stopping signal (:mod:`.stopping`): :class:`StabilizingPredictions`;
* the loop a coding session drives (:mod:`.learner`): :class:`Learner` with
  ``next(n)`` and ``teach(indices, labels)``;
* :func:`simulate`: replays the loop on an already-coded corpus, coder as oracle.

Codes are always an ``(n, k)`` 0/1 matrix, one column per code; mutually exclusive
codes are the case where every row has exactly one 1.
"""

from .learner import Learner
from .metrics import agreement, kappa, macro_f1
from .models import ActiveModel, FastLogistic, ModelFactory, default_model_factory, is_exclusive, predict_labels
from .simulate import SimulationResult, StrategyCurve, group_split, simulate
from .stopping import StabilizingPredictions, StopDecision
from .strategies import (
    DEFAULT_STRATEGY,
    QueryStrategy,
    ScoreStrategy,
    available_strategies,
    get_strategy,
    register,
    representative_sample,
    uncertainty,
)

__all__ = [
    "Learner",
    "simulate",
    "SimulationResult",
    "StrategyCurve",
    "group_split",
    "QueryStrategy",
    "ScoreStrategy",
    "register",
    "get_strategy",
    "available_strategies",
    "uncertainty",
    "representative_sample",
    "DEFAULT_STRATEGY",
    "ActiveModel",
    "ModelFactory",
    "FastLogistic",
    "default_model_factory",
    "is_exclusive",
    "predict_labels",
    "StabilizingPredictions",
    "StopDecision",
    "macro_f1",
    "kappa",
    "agreement",
]
