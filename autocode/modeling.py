"""Training, saving and evaluating a workspace's models (the API under ``train`` and ``evaluate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import InputError
from .training import TrainingData, embedder_for, model_dir, training_data
from .workspace import Workspace

LEARNING_CURVE = (0.1, 0.25, 0.5, 1.0)


def make_classifier(ws: Workspace, *, features: str = "embedding+word", context: bool = True,
                    tuning: str | None = None, embedder=None):
    from .classifier import CodeClassifier

    return CodeClassifier(features=features, context="embedding" if context else None, tuning=tuning,
                          embedder=embedder or embedder_for(ws))


def _check(data: TrainingData) -> None:
    if len(data) < 10:
        raise InputError(f"only {len(data)} coded segments to learn from",
                         hint="code at least 10 segments (ideally a few focus groups) before training")
    if data.Y.sum() == 0:
        raise InputError("no segment carries a code", hint="import a coded corpus with codes")


def cross_validate(ws: Workspace, data: TrainingData, make, *, learning_curve=LEARNING_CURVE) -> dict[str, Any]:
    """Leave-one-focus-group-out; k=5 folds of whole groups when there are more than 10 groups."""
    from .classifier.evaluate import cross_validate as cv

    n_groups = len(set(data.groups))
    if n_groups < 2:
        raise InputError(f"cross-validation needs at least two focus groups; the coded segments come from {n_groups}",
                         hint="code segments from another group, or skip with --no-evaluate")
    return cv(make, data.texts, data.Y, data.labels, data.groups, contexts=data.contexts, exclusive=data.exclusive,
              n_splits=None if n_groups <= 10 else 5, learning_curve=learning_curve)


def train_and_save(ws: Workspace, name: str, *, coder: str | None = None, features: str = "embedding+word",
                   context: bool = True, tuning: str | None = None, evaluate: bool = True) -> dict[str, Any]:
    """Fit on the coded segments, cross-validate for the card, save under models/NAME; returns the card."""
    from .classifier.evaluate import jsonable
    from .classifier.persist import save_model, training_data_hash

    folder = model_dir(ws, name)
    data = training_data(ws.store, coder)
    _check(data)
    embedder = embedder_for(ws)
    make = lambda: make_classifier(ws, features=features, context=context, tuning=tuning, embedder=embedder)  # noqa: E731
    metrics = jsonable(cross_validate(ws, data, make, learning_curve=None)) if evaluate and len(set(data.groups)) >= 2 else None
    model = make().fit(data.texts, data.Y, data.labels, contexts=data.contexts, groups=data.groups,
                       exclusive=data.exclusive, ids=[s.id for s in data.segments])
    save_model(model, folder, name=name, codebook_hash=ws.store.codebook().hash(),
               training_data_hash=training_data_hash(data.texts, data.Y, data.labels), coders=data.coders,
               metrics=metrics)
    return json.loads((folder / "card.json").read_text(encoding="utf-8"))


def evaluate_model(ws: Workspace, name: str, *, coder: str | None = None, report: Path | None = None) -> dict[str, Any]:
    """Cross-validate a model's settings on the workspace's coded groups (and write a report)."""
    from .classifier.evaluate import jsonable
    from .classifier.model import CodeClassifier
    from .training import load_model

    embedder = embedder_for(ws)
    trained = load_model(ws, name, embedder=embedder)
    card_path = model_dir(ws, name) / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else {}
    coders = (card.get("training_data") or {}).get("coders") or []
    data = training_data(ws.store, coder or (coders[0] if len(coders) == 1 else None))
    _check(data)
    params = {k: v for k, v in trained.get_params().items() if k not in ("embedder",)}
    make = lambda: CodeClassifier(**params, embedder=embedder)  # noqa: E731
    result = cross_validate(ws, data, make)
    if report:
        from .classifier.report import write_html_report

        write_html_report(result, Path(report) / "index.html", title=f"autocode model {name}: cross-validation")
    out = jsonable(result)
    out["per_code"] = [{"code": code, **m} for code, m in result["per_code"].items()]
    return out
