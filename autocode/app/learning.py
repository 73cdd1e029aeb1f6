"""What a coding session learns from and asks about, and the learner built from it: read from
the store, so that a session, a resumed session and ``autocode progress`` all see the same."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ..active import Learner
from ..active.strategies import DEFAULT_STRATEGY
from ..codebook import Codebook
from ..records import HUMAN_SOURCES, Segment
from .models import consensus_codes, human_coders
from .workspace import Workspace

#: L-BFGS iterations per answer for the learner's refit (warm-started; the next answers carry
#: on converging). Measured on the demo workspace (875 coded segments x 45 codes), after one
#: answer that changes a segment's code: 6 iterations ~ 36 ms, probabilities within 4e-4 (mean;
#: 0.06 at most) of a converged refit, which took 330-1,100 ms.
REFIT_MAX_ITER = 6


@dataclass
class SessionPlan:
    """What a session (or ``autocode progress``) learns from and asks about, read from the store."""

    book: Codebook
    labels: list[str]  # the codable codes, one learner column each
    labelled: list[Segment]  # coded already: training data
    rows: list[list[str]]  # their codes (closed upward: a sub-theme brings its theme)
    pool: list[Segment]  # what is left to ask about
    answers: list[dict] = field(default_factory=list)  # the coder's session answers, oldest first


def closed(book: Codebook, codes) -> list[str]:
    """Codes plus their codable ancestors (a sub-theme implies its theme), as the learner's labels."""
    return [p for p in book.close_upward(codes or ()) if book.codes[p].codable]


def plan_session(ws: Workspace, coder: str, group: str | None = None) -> SessionPlan:
    """The pool: with ``group``, every codable segment of that group that ``coder`` has not coded
    (so a second coder can double-code it); without, every codable segment nobody has coded.
    Every other coded segment is training data (``coder``'s own codes where they exist, else the
    other coders' consensus)."""
    store = ws.store
    if group is not None:
        store.document(group)
    book = store.codebook()
    labels = [c.path for c in book.codable()]
    coders = [c for c in dict.fromkeys([coder, *human_coders(store)]) if store.seen(c)]
    known, seen_any = consensus_codes(store, coders) if coders else ({}, set())
    own = store.codings(coder, sources=HUMAN_SOURCES)
    own_seen = store.seen(coder)
    if group is not None:  # a group: everything in it this coder has not coded (double coding included)
        pool = [s for s in store.segments(document=group, codable_only=True) if s.id not in own_seen]
    else:  # the whole workspace: what nobody has coded yet
        pool = [s for s in store.segments(codable_only=True) if s.id not in seen_any]
    pool_ids = {s.id for s in pool}
    labelled = [s for s in store.segments(codable_only=True) if s.id in seen_any and s.id not in pool_ids]
    rows = [closed(book, own.get(s.id) if s.id in own_seen else known.get(s.id, ())) for s in labelled]
    return SessionPlan(book=book, labels=labels, labelled=labelled, rows=rows, pool=pool,
                       answers=store.coder_answers(coder) if coder else [])


def build_learner(ws: Workspace, plan: SessionPlan, *, strategy: str = DEFAULT_STRATEGY, seed: int = 0,
                  background: bool = False, executor: Executor | None = None, embedder: Any = None) -> Learner:
    """The learner over ``plan.labelled + plan.pool``, taught what is coded: first what others
    coded, then the coder's own session answers in the order given, each with what the model
    suggested before it and whether it was a random check (so a resumed session, or ``autocode
    progress``, has the same learning curve and random-check estimate as the session had).
    The codebook's names and descriptions, embedded, are the strategy's prototypes."""
    embedder = embedder or ws.embedder()
    segments = plan.labelled + plan.pool
    X = embedder.embed([s.text for s in segments])
    protos = plan.book.prototypes()
    P = embedder.embed([protos.get(p, plan.book.codes[p].name) for p in plan.labels])
    learner = Learner(X, plan.labels, ids=[s.id for s in segments], strategy=strategy,
                      initial=0 if plan.labelled else 10, seed=seed, background=background,
                      executor=executor, refit_max_iter=REFIT_MAX_ITER, prototypes=P,
                      places=[(s.document, s.position) for s in segments])
    rows = dict(zip([s.id for s in plan.labelled], plan.rows))
    answers = {a["segment_id"]: a for a in plan.answers if a["segment_id"] in rows}  # the last answer stands
    rest = [sid for sid in rows if sid not in answers]
    if rest:
        learner.teach_ids(rest, [rows[sid] for sid in rest])
    if answers:
        ids = list(answers)
        known = set(plan.labels)  # a suggestion of a code the codebook no longer has is left out

        def shown(suggested: list[str]) -> list[str]:
            return [p for p in closed(plan.book, [c for c in suggested if c in plan.book.codes]) if p in known]

        learner.teach_ids(ids, [rows[sid] for sid in ids], checks=[answers[sid]["random_check"] for sid in ids],
                          before=[shown(answers[sid]["suggested"]) for sid in ids])
    return learner
