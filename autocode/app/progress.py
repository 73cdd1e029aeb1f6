"""How far the model has come, for a researcher: agreement on the random checks, and per code
its examples, its estimated kappa and about how many more answers it needs
(:mod:`autocode.active.estimate`), with the valence codes (Barrier/Enabler) apart.

The annotation page shows it beside each question; ``autocode progress`` prints it for a coder
without opening a session (nothing is written)."""

from __future__ import annotations

from typing import Any

from ..active.estimate import MIN_CHECKS, CheckEstimate
from ..codebook import Codebook
from .learning import build_learner, plan_session
from .workspace import Workspace


def progress_view(est: CheckEstimate | None, book: Codebook) -> dict[str, Any] | None:
    """The estimate as the page and the CLI show it: overall figures, then the codes (never seen
    first), the valence codes apart. None before there is an estimate."""
    if est is None:
        return None
    valence = set(book.valence())
    rows = [{**c.to_dict(), "name": book.codes[c.code].name if c.code in book.codes else c.code} for c in est.codes]
    return {"n_labels": est.n_labels, "checks": est.n_checks, "min_checks": MIN_CHECKS, "ready": est.ready,
            "kappa": est.kappa, "low": est.low, "high": est.high, "target": est.target,
            "min_positives": est.min_positives, "sentence": est.sentence(),
            "codes": [r for r in rows if r["code"] not in valence],
            "valence": [r for r in rows if r["code"] in valence]}


def coder_progress(ws: Workspace, coder: str, group: str | None = None) -> dict[str, Any]:
    """``coder``'s progress as their next session would start it: the learner rebuilt from the
    store (what others coded, then the coder's answers in order, with what was suggested before
    each and which were random checks), its estimate computed now."""
    plan = plan_session(ws, coder, group)
    if not plan.labelled:
        return {"coder": coder, "group": group, "answers": 0, "remaining": len(plan.pool), "estimate": None}
    learner = build_learner(ws, plan)
    view = progress_view(learner.estimate(refresh=True), plan.book)
    return {"coder": coder, "group": group, "answers": len(plan.answers), "coded": len(plan.labelled),
            "remaining": len(plan.pool), "estimate": view}
