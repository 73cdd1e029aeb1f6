"""Active learning engine (placeholder, filled in below)."""
from .models import FastLogistic, default_model_factory, predict_labels, is_exclusive
from .strategies import QueryStrategy, ScoreStrategy, register, get_strategy, available_strategies, uncertainty
from .stopping import StabilizingPredictions, StopDecision
from .simulate import simulate, SimulationResult
