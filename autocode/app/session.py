"""An active-learning annotation session: a stream of segments ordered by a query strategy,
plus ``answer()`` / ``undo()`` callbacks. The web page, the CLI and the tests all drive this
one object (as Prodigy's recipes do).

Two models work together:

* the **learner** (:class:`autocode.active.Learner`): a logistic regression on cached
  embeddings, refitted after every answer in milliseconds; it chooses the next segment
  and gives the stopping signal;
* the **suggester**: a :class:`~autocode.classifier.CodeClassifier` (embeddings + TF-IDF,
  calibrated, per-code thresholds) whose suggestions and reasons the page shows. It is
  retrained on a background thread every ``retrain_every`` answers and swapped in when
  ready; its version is recorded with every answer.

Every answer is committed to the store, in one transaction with its provenance, before the
page is told it was saved. The store is the one record of answers: the session's counts
(answered, skipped) are read from it, and the learner's labels are the view derived from it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..active import Learner
from ..active.strategies import DEFAULT_STRATEGY, available_strategies
from ..codebook import Codebook
from ..errors import InputError
from ..records import HUMAN_SOURCES, Segment, TrainingData, Unit
from .models import ClassifierFactory, consensus_codes, contexts_for, human_coders, load_model
from .suggestions import predict, specific
from .workspace import Workspace

CONTEXT_TURNS = 2


@dataclass
class _Suggester:
    model: Any
    version: str


@dataclass
class AnnotationSession:
    """One researcher's session. Build it with :meth:`start`."""

    ws: Workspace
    coder: str
    strategy: str
    group: str | None = None
    retrain_every: int = 10
    seed: int = 0
    session_id: int = 0
    # filled by start()
    book: Codebook = field(default=None, repr=False)  # type: ignore[assignment]
    labels: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list, repr=False)
    learner: Any = field(default=None, repr=False)
    suggester: _Suggester | None = None
    _contexts: dict[int, str] = field(default_factory=dict, repr=False)
    _embedder: Any = field(default=None, repr=False)
    _current: dict | None = None
    _retraining: threading.Thread | None = None
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ start
    @classmethod
    def start(cls, ws: Workspace, coder: str, *, strategy: str | None = None, group: str | None = None,
              model: str | None = None, retrain_every: int = 10, seed: int = 0,
              background: bool = True) -> "AnnotationSession":
        """Open a session. The pool: with ``group``, every codable segment of that group that
        ``coder`` has not coded (so a second coder can double-code it); without, every codable
        segment nobody has coded. Every other coded segment is training data (``coder``'s own
        codes where they exist, else the other coders' consensus). Running it again resumes
        where the coder left off: what they answered is never asked again."""
        strategy = strategy or DEFAULT_STRATEGY
        if strategy not in available_strategies():
            raise InputError(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(available_strategies())}")
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
        segments = labelled + pool
        if not pool:
            raise InputError(f"nothing left for {coder!r} to code" + (f" in {group!r}" if group else ""),
                             hint="import more transcripts, or pick another group")
        session_id = store.start_session(coder, strategy, {"group": group, "model": model})
        session = cls(ws=ws, coder=coder, strategy=strategy, group=group, retrain_every=retrain_every, seed=seed,
                      session_id=session_id, book=book, labels=labels, segments=segments)
        embedder = ws.embedder()
        X = embedder.embed([s.text for s in segments])
        session._embedder = embedder
        session._contexts = dict(zip([s.id for s in segments], contexts_for(store, segments)))
        session.learner = Learner(X, labels, ids=[s.id for s in segments], strategy=strategy,
                                  initial=0 if labelled else 10, seed=seed, background=background)
        if labelled:
            rows = [session._closed(own.get(s.id) if s.id in own_seen else known.get(s.id, ())) for s in labelled]
            session.learner.teach_ids([s.id for s in labelled], rows)
        session._fit_suggester(model_name=model)
        return session

    @property
    def _codable(self) -> set[str]:
        return {c.path for c in self.book.codable()}

    def _closed(self, codes) -> list[str]:
        """Codes plus their codable ancestors (a sub-theme implies its theme), as the learner's labels."""
        return [p for p in self.book.close_upward(codes or ()) if self.book.codes[p].codable]

    # ------------------------------------------------------------------ models
    def _training_rows(self) -> tuple[list[Segment], np.ndarray]:
        idx = self.learner.labelled()
        Y = self.learner.labels[idx]
        return [self.segments[i] for i in idx], Y

    def _fit_suggester(self, model_name: str | None = None) -> None:
        """Load the named model, or train one on everything answered so far."""
        if model_name:
            model = load_model(self.ws, model_name, embedder=self._embedder)
            self.suggester = _Suggester(model, model_name)
            return
        segs, Y = self._training_rows()
        if len(segs) < 10 or Y.sum() == 0:
            self.suggester = None
            return
        data = TrainingData(segments=segs, texts=[s.text for s in segs], contexts=[self._contexts[s.id] for s in segs],
                            groups=[s.document for s in segs], Y=Y, labels=self.labels,
                            exclusive=self.book.exclusive_sets(), coders=[self.coder])
        model = ClassifierFactory(self._embedder, {"valence": self.book.valence()}).fit(data)
        with self._model_lock:
            self.suggester = _Suggester(model, f"session{self.session_id}.{self.learner.n_labelled}")

    def _maybe_retrain(self) -> None:
        if self.answered % self.retrain_every or (self._retraining and self._retraining.is_alive()):
            return
        self._retraining = threading.Thread(target=self._fit_suggester, daemon=True)
        self._retraining.start()

    def wait_idle(self) -> None:
        """Let background retraining finish (tests, scripts)."""
        if self._retraining:
            self._retraining.join()
        self.learner.wait_idle()

    @property
    def model_version(self) -> str:
        if self.suggester is not None:
            return self.suggester.version
        return f"session{self.session_id}.active{self.learner.version}"

    # ------------------------------------------------------------------ counts, from the store
    @property
    def answered(self) -> int:
        """Answers of this session that stand (an undone one does not)."""
        return self.ws.store.session_tally(self.session_id)[0]

    @property
    def skipped(self) -> set[int]:
        """Segments skipped in this session and not answered since."""
        return self.ws.store.session_tally(self.session_id)[1]

    # ------------------------------------------------------------------ stream
    def _unlabelled_ids(self) -> set[int]:
        return {self.segments[i].id for i in np.flatnonzero(~self.learner.labelled_mask)}

    def next_task(self) -> dict | None:
        skipped = self.skipped
        remaining = self._unlabelled_ids() - skipped
        if not remaining:
            self._current = None
            return None
        for seg_id in self.learner.next_ids(len(skipped) + 1):
            if seg_id in remaining:
                return self._task(seg_id)
        return self._task(next(iter(remaining)))

    def _task(self, seg_id: int) -> dict:
        seg = next(s for s in self.segments if s.id == seg_id)
        doc_segments = self.ws.store.segments(document=seg.document)
        pos = next(i for i, s in enumerate(doc_segments) if s.id == seg_id)
        turn = lambda s: {"speaker": s.speaker, "text": s.text}  # noqa: E731
        suggestions, similar, words = self._suggest(seg)
        self._current = {
            "segment_id": seg.id, "group": seg.document, "speaker": seg.speaker, "text": seg.text,
            "position": seg.position, "before": [turn(s) for s in doc_segments[max(0, pos - CONTEXT_TURNS):pos]],
            "after": [turn(s) for s in doc_segments[pos + 1:pos + 1 + CONTEXT_TURNS]],
            "suggestions": suggestions, "similar": similar, "words": words, "model_version": self.model_version,
        }
        return self._current

    def _suggest(self, seg: Segment) -> tuple[list[dict], list[dict], list[str]]:
        """Codes to show (ticked where the model suggests them), similar coded segments, words."""
        with self._model_lock:
            suggester = self.suggester
        if suggester is None:  # before any model: the learner's probabilities, nothing ticked below 0.5
            row = self.learner.predict_proba(self.learner.rows([seg.id]))[0] if self.learner.model is not None else None
            if row is None:
                return [], [], []
            order = np.argsort(-row)[:6]
            return [{"path": self.labels[j], "probability": float(row[j]), "suggested": bool(row[j] >= 0.5)}
                    for j in order if row[j] >= 0.05], [], []
        unit = Unit(str(seg.id), seg.document, seg.speaker, seg.text, self._contexts.get(seg.id, ""), seg.id)
        record = predict(suggester.model, [unit], codable=self._codable)[0]
        ticked = [c["code"] for c in specific(record["codes"])]  # a sub-theme implies its theme
        others = [p for p, score in sorted(record["scores"].items(), key=lambda kv: -kv[1])
                  if score >= 0.15 and p in self._codable and p not in ticked
                  and not any(t.startswith(p + "/") for t in ticked)]
        shown = ticked + others[: max(0, 8 - len(ticked))]
        suggestions = [{"path": p, "probability": record["scores"][p], "suggested": p in ticked} for p in shown]
        similar = [{"text": n["text"], "similarity": n["similarity"],
                    "codes": [c["code"].split("/")[-1] for c in specific([{"code": c} for c in n["codes"]])]}
                   for n in record["similar"]]
        return suggestions, similar, record["words"]

    # ------------------------------------------------------------------ answers
    def answer(self, payload: dict) -> dict:
        """Commit one answer (accept the ticked codes, or skip) and return the next task."""
        seg_id = int(payload["segment_id"])
        action = payload.get("action", "accept")
        if action not in ("accept", "skip"):
            raise InputError(f"unknown action {action!r}", hint="use accept or skip")
        if seg_id not in self._unlabelled_ids():
            raise InputError(f"segment {seg_id} is not waiting for an answer in this session")
        codes = [self.book.resolve(c).path for c in payload.get("codes", [])]
        for c in codes:
            if not self.book.codes[c].codable:
                raise InputError(f"code {c!r} groups other codes and cannot be applied")
        memo = (payload.get("memo") or "").strip() or None
        task = self._current if self._current and self._current["segment_id"] == seg_id else self._task(seg_id)
        suggested = sorted(s["path"] for s in task["suggestions"] if s["suggested"])
        if action == "accept":
            action = "accept" if sorted(codes) == suggested else "correct"
        self.ws.store.record_answer(
            self.session_id, seg_id, self.coder, action, codes=codes, suggested=suggested, memo=memo,
            probabilities={s["path"]: s["probability"] for s in task["suggestions"]},
            model_version=task["model_version"])
        if action != "skip":
            self.learner.teach_ids([seg_id], [self._closed(codes)])
            self._maybe_retrain()
        source = {"accept": "accepted", "correct": "corrected", "skip": "skipped"}[action]
        return {"source": source, "task": self.next_task(), "progress": self.progress()}

    def undo(self) -> dict:
        """Take back the last answer of this session; its segment comes back as the next task."""
        undone = self.ws.store.undo_answer(self.session_id, self.coder)
        if undone is None:
            return {"undone": None, "task": self._current, "progress": self.progress()}
        seg_id = undone["segment_id"]
        if undone["action"] != "skip":
            self.learner.forget_ids([seg_id])
        return {"undone": seg_id, "task": self._task(seg_id), "progress": self.progress()}

    # ------------------------------------------------------------------ progress
    def progress(self) -> dict:
        decision = self.learner.status()
        answered, skipped = self.ws.store.session_tally(self.session_id)
        remaining = int((~self.learner.labelled_mask).sum()) - len(skipped)
        return {"answered": answered, "remaining": remaining, "skipped": len(skipped),
                "labelled": int(self.learner.n_labelled), "stability": decision.agreement,
                "cv_kappa": decision.cv_kappa, "stop": bool(decision.stop), "advice": decision.message}

    def state(self) -> dict:
        """Everything the page needs on load."""
        task = self._current or self.next_task()
        codebook = [{"name": g.name, "exclusive": g.exclusive,
                     "codes": [{"path": c.path, "name": c.name, "depth": c.depth, "codable": c.codable,
                                "description": c.description} for c in self.book if c.group == g.name]}
                    for g in self.book.groups]
        return {"coder": self.coder, "session": self.session_id, "strategy": self.strategy, "task": task,
                "progress": self.progress(), "codebook": codebook}

    def close(self) -> None:
        self.wait_idle()
        self.ws.store.end_session(self.session_id)
        self.learner.close()
