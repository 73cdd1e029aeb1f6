"""An active-learning annotation session: a stream of segments ordered by a query strategy,
plus ``answer()`` / ``undo()`` callbacks. The web page, the CLI and the tests all drive this
one object (as Prodigy's recipes do).

Two models work together:

* the **learner** (:class:`autocode.active.Learner`): a logistic regression on cached
  embeddings, refitted after every answer (a bounded warm-started continuation, so its cost
  stays flat on a 48-code codebook); it chooses the next segment and gives the stopping signal;
* the **suggester**: a :class:`~autocode.classifier.CodeClassifier` (embeddings + TF-IDF,
  calibrated, per-code thresholds) whose suggestions and reasons the page shows. It is
  retrained every ``retrain_every`` answers in a low-priority worker process
  (:mod:`.background`) and swapped in when ready; its version is recorded with every answer.

Every answer is committed to the store, in one transaction with its provenance, before the
page is told it was saved. The store is the one record of answers: the session's counts
(answered, skipped) are read from it, and the learner's labels are the view derived from it.
An answer carries the id the page made for it, so a retried request is recognised, not
saved twice. A session whose process was killed is resumed by the next start (same coder,
group, strategy and model), and undo reaches back over the coder's earlier sessions.
"""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..active.stopping import KEEP_GOING, STABILISED
from ..active.strategies import DEFAULT_STRATEGY, available_strategies
from ..codebook import Codebook
from ..errors import InputError
from ..records import Segment, TrainingData, Unit
from ..classifier import load_model as load_model_folder
from . import background as bg
from .adaptation import EPOCHS as ADAPT_EPOCHS
from .learning import SessionPlan, build_learner, closed, plan_session
from .models import ClassifierFactory, contexts_for, load_model, model_card
from .progress import progress_view
from .suggestions import content_words, evidence_ids, name_coders, predict, specific, training_coders
from .workspace import Workspace

CONTEXT_TURNS = 2
#: the most time one background refit may spend adapting the encoder (a session's refits come one at a time)
SESSION_ADAPT_BUDGET_S = 300.0
#: What the stopping signal measures, in a sentence for the page.
SIGNAL_MEASURE = ("Do new answers still change what the model would code? Every {every} answers the model's "
                  "codes for a fixed sample of segments are compared with the last check (Cohen's kappa). "
                  "It also waits for enough random checks (1 question in 10 is drawn at random) to say how well "
                  "the model agrees with you.")


def _idle_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass
class _Suggester:
    model: Any
    version: str


@dataclass
class _Box:
    """The current suggester, in one place that every view of a shared model reads (a team's
    coders share one; a retrain swaps it for all of them)."""

    suggester: _Suggester | None = None


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
    #: refits in the worker adapt the encoder too (start() turns it on where the workspace's model
    #: was adapted and swapped in: the study is one where adapting pays)
    adapt: bool = False
    # filled by start()
    book: Codebook = field(default=None, repr=False)  # type: ignore[assignment]
    labels: list[str] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list, repr=False)
    learner: Any = field(default=None, repr=False)
    _box: _Box = field(default_factory=_Box, repr=False)
    _contexts: dict[int, str] = field(default_factory=dict, repr=False)
    _embedder: Any = field(default=None, repr=False)
    _current: dict | None = None
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _worker: Executor | None = field(default=None, repr=False)
    _scope: set[int] = field(default_factory=set, repr=False)
    _by_id: dict[int, Segment] = field(default_factory=dict, repr=False)
    # set while no suggester retrain is running (in the worker or, without one, on a thread)
    _idle: threading.Event = field(default_factory=_idle_event, repr=False)

    # ------------------------------------------------------------------ start
    @classmethod
    def start(cls, ws: Workspace, coder: str, *, strategy: str | None = None, group: str | None = None,
              model: str | None = None, retrain_every: int = 10, seed: int = 0,
              background: bool = True) -> "AnnotationSession":
        """Open a session over :func:`plan_session`'s pool and training data. Running it again resumes
        where the coder left off: what they answered is never asked again; a session whose
        process was killed (never ended) is resumed. ``background``: heavy refits in a worker
        process (False: inline, for tests)."""
        strategy = strategy or DEFAULT_STRATEGY
        if strategy not in available_strategies():
            raise InputError(f"unknown strategy {strategy!r}", hint=f"use one of {', '.join(available_strategies())}")
        plan = plan_session(ws, coder, group)
        if not plan.pool:
            raise InputError(f"nothing left for {coder!r} to code" + (f" in {group!r}" if group else ""),
                             hint="import more transcripts, or pick another group")
        params = {"group": group, "model": model}
        store = ws.store
        session_id = store.unended_session(coder, strategy, params) or store.start_session(coder, strategy, params)
        session = cls(ws=ws, coder=coder, strategy=strategy, group=group, retrain_every=retrain_every, seed=seed,
                      session_id=session_id, book=plan.book, labels=plan.labels, segments=plan.labelled + plan.pool)
        session._build(plan, model=model, background=background)
        card = model_card(ws, model or ws.default_model())
        session.adapt = background and bool((card.get("adaptation") or {}).get("swapped"))
        return session

    def _build(self, plan: SessionPlan, *, model: str | None, background: bool) -> None:
        """Embed the segments, build the learner (taught what is coded), fit the first suggester,
        start the worker."""
        session, ws, segments = self, self.ws, self.segments
        store = ws.store
        session._by_id = {s.id: s for s in segments}
        session._scope = set(session._by_id)
        embedder = ws.embedder()
        session._embedder = embedder
        session._contexts = dict(zip([s.id for s in segments], contexts_for(store, segments)))
        # every context now, so that no answer ever waits for the encoder
        embedder.embed(sorted({c for c in session._contexts.values() if c.strip()}))
        warming = None
        if background:  # start the worker now (its imports take seconds), while the first model trains here
            session._worker = bg.worker()
            warming = session._worker.submit(bg.warm_up)
        session.learner = build_learner(ws, plan, strategy=self.strategy, seed=self.seed, background=background,
                                        executor=session._worker, embedder=embedder)
        session._fit_suggester(model_name=model)
        content_words(["warm"])  # the stop-word list's first import (spaCy) costs seconds: not in an answer
        if warming is not None:
            warming.result()

    @property
    def suggester(self) -> _Suggester | None:
        return self._box.suggester

    @suggester.setter
    def suggester(self, value: _Suggester | None) -> None:
        self._box.suggester = value

    @property
    def _codable(self) -> set[str]:
        return {c.path for c in self.book.codable()}

    def _closed(self, codes) -> list[str]:
        """Codes plus their codable ancestors (a sub-theme implies its theme), as the learner's labels."""
        return closed(self.book, codes)

    # ------------------------------------------------------------------ models
    def _training_rows(self) -> tuple[list[Segment], np.ndarray]:
        idx = self.learner.labelled()
        Y = self.learner.labels[idx]
        return [self.segments[i] for i in idx], Y

    def _training_data(self) -> TrainingData | None:
        segs, Y = self._training_rows()
        if len(segs) < 10 or Y.sum() == 0:
            return None
        return TrainingData(segments=segs, texts=[s.text for s in segs], contexts=[self._contexts[s.id] for s in segs],
                            groups=[s.document for s in segs], Y=Y, labels=self.labels,
                            exclusive=self.book.exclusive_sets(), coders=[self.coder],
                            prototypes=self.book.prototypes())

    @property
    def _params(self) -> dict[str, Any]:
        return {"valence": self.book.valence(), "encoder": self.ws.encoder()}

    def _fit_suggester(self, model_name: str | None = None) -> None:
        """Load the named model, or train one (here, now) on everything answered so far."""
        if model_name:
            model = load_model(self.ws, model_name, embedder=self._embedder)
            self.suggester = _Suggester(model, model_name)
            return
        data = self._training_data()
        if data is None:
            self.suggester = None
            return
        model = ClassifierFactory(self._embedder, self._params).fit(data)
        with self._model_lock:
            self.suggester = _Suggester(model, f"session{self.session_id}.{self.learner.n_labelled}")

    def _answers_for_retrain(self) -> int:
        """The count whose every ``retrain_every``-th value retrains the suggester."""
        return self.answered

    def _maybe_retrain(self) -> None:
        """Every ``retrain_every`` answers: a new suggester, in the worker process when there is one."""
        if self._answers_for_retrain() % self.retrain_every or not self._idle.is_set():
            return
        if self._worker is None:
            self._idle.clear()
            threading.Thread(target=self._fit_on_thread, daemon=True).start()
            return
        data = self._training_data()
        if data is None:
            return
        version = f"session{self.session_id}.{self.learner.n_labelled}"
        params = self._params
        if self.adapt:  # minutes, not seconds: in the worker only, never on the answer path
            params = {**params, "tuning": "adapt",
                      "tuning_params": {"epochs": ADAPT_EPOCHS, "budget_s": SESSION_ADAPT_BUDGET_S}}
            version += " (adapted encoder)"
        folder = bg.scratch_folder(self.ws.root)
        future = self._worker.submit(bg.fit_suggester, str(self.ws.embedding_cache), data, params, str(folder))
        self._idle.clear()
        future.add_done_callback(lambda f: self._swap_in(f, folder, version))

    def _fit_on_thread(self) -> None:
        try:
            self._fit_suggester()
        finally:
            self._idle.set()

    def _swap_in(self, future: Future, folder: Path, version: str) -> None:
        """The worker's model replaces the suggester (a failed refit keeps the old one)."""
        try:
            if future.cancelled() or future.exception() is not None:
                return
            # an adapted model's encoder is in the folder removed below: into memory first
            model = load_model_folder(folder, embedder=self._embedder).load_encoder()
            with self._model_lock:
                self.suggester = _Suggester(model, version)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._idle.set()

    def wait_idle(self) -> None:
        """Let background retraining finish (tests, scripts); a failed refit keeps the old suggester."""
        self._idle.wait()
        self.learner.wait_idle(timeout=None)

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
    def unlabelled_ids(self) -> set[int]:
        """Ids of the pool's segments the learner has not been taught (overlap segments that some
        of their coders have answered included)."""
        return {self.segments[i].id for i in np.flatnonzero(~self.learner.labelled_mask)}

    def next_task(self) -> dict | None:
        skipped = self.skipped
        remaining = self.unlabelled_ids() - skipped
        if not remaining:
            self._current = None
            return None
        for seg_id in self.learner.next_ids(1, exclude=skipped & self._scope):
            if seg_id in remaining:
                return self._task(seg_id)
        return self._task(next(iter(remaining)))

    def _task(self, seg_id: int) -> dict:
        seg = self._by_id[seg_id]
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
        """Codes to show (ticked where the model suggests them, with the code's own threshold),
        similar coded segments, words."""
        with self._model_lock:
            suggester = self.suggester
        if suggester is None:  # before any model: the learner's probabilities, ticked from 0.5
            row = self.learner.predict_proba(self.learner.rows([seg.id]))[0] if self.learner.model is not None else None
            if row is None:
                return [], [], []
            order = np.argsort(-row)[:6]
            return [{"path": self.labels[j], "probability": float(row[j]), "threshold": 0.5,
                     "suggested": bool(row[j] >= 0.5)} for j in order if row[j] >= 0.05], [], []
        unit = Unit(str(seg.id), seg.document, seg.speaker, seg.text, self._contexts.get(seg.id, ""), seg.id)
        record = predict(suggester.model, [unit], codable=self._codable)[0]
        # who coded the examples shown: a look-up of those few segments, as the store holds them now
        who = training_coders(self.ws.store, suggester.model, ids=evidence_ids([record]))
        for c in record["codes"]:
            if "like" in c:
                name_coders(c, who)
        ticked = [c["code"] for c in specific(record["codes"])]  # a sub-theme implies its theme
        others = [p for p, score in sorted(record["scores"].items(), key=lambda kv: -kv[1])
                  if score >= 0.15 and p in self._codable and p not in ticked
                  and not any(t.startswith(p + "/") for t in ticked)]
        shown = ticked + others[: max(0, 8 - len(ticked))]
        thresholds = _thresholds(suggester.model)
        evidence = {c["code"]: self._evidence(c) for c in record["codes"] if "like" in c}
        suggestions = [{"path": p, "probability": record["scores"][p], "threshold": thresholds.get(p),
                        "suggested": p in ticked, **({"evidence": evidence[p]} if p in ticked and p in evidence else {})}
                       for p in shown]
        similar = [{"text": n["text"], "similarity": n["similarity"],
                    "codes": [c["code"].split("/")[-1] for c in specific([{"code": c} for c in n["codes"]])]}
                   for n in record["similar"]]
        return suggestions, similar, record["words"]

    def _evidence(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A suggested code's evidence as the page shows it (codes by their last part)."""
        def example(x: dict[str, Any]) -> dict[str, Any]:
            out = {"text": x["text"], "similarity": x["similarity"], "coders": self._shown_coders(x["coders"])}
            if "codes" in x:
                out["codes"] = [p.split("/")[-1] for p in x["codes"]]
            return out

        return {"words": entry["words"], "like": [example(x) for x in entry["like"]],
                "unlike": None if entry["unlike"] is None else example(entry["unlike"])}

    def _shown_coders(self, names: list[str]) -> list[str]:
        """The coders named beside a piece of evidence (a team's view hides colleagues' names)."""
        return list(names)

    # ------------------------------------------------------------------ answers
    def answer(self, payload: dict) -> dict:
        """Commit one answer and return what was saved and the next task.

        ``payload``: ``segment_id``; ``action`` ``accept`` (the ticked ``codes``; at least one),
        ``none`` (no code applies) or ``skip``; ``memo``; ``answer_id`` (the client's id for the
        answer: an id already saved is not saved again, the reply says ``duplicate``)."""
        answer_id = payload.get("answer_id")
        if answer_id:
            done = self.ws.store.answer_by_client_id(answer_id)
            if done is not None:
                saved = _saved(answer_id, done["segment_id"], done["action"], done["answered"])
                return {"saved": saved, "source": _SOURCE[done["action"]], "duplicate": True,
                        "task": self._current or self.next_task(), "progress": self.progress()}
        seg_id = int(payload["segment_id"])
        action = payload.get("action", "accept")
        if action not in ("accept", "none", "skip"):
            raise InputError(f"unknown action {action!r}", hint="use accept, none or skip")
        if seg_id not in self.unlabelled_ids():
            raise InputError(f"segment {seg_id} is not waiting for an answer in this session")
        codes = [self.book.resolve(c).path for c in payload.get("codes") or []]
        for c in codes:
            if not self.book.codes[c].codable:
                raise InputError(f"code {c!r} groups other codes and cannot be applied")
        if action == "accept" and not codes:
            raise InputError("nothing is ticked", hint="tick a code, or answer 'none' to record that no code applies")
        if action == "none" and codes:
            raise InputError("'none' with codes ticked", hint="untick the codes, or accept them")
        memo = (payload.get("memo") or "").strip() or None
        task = self._current if self._current and self._current["segment_id"] == seg_id else self._task(seg_id)
        suggested = sorted(s["path"] for s in task["suggestions"] if s["suggested"])
        if action != "skip":
            action = "accept" if sorted(codes) == suggested else "correct"
        self._commit(seg_id, action, codes=codes, suggested=suggested, memo=memo,
                     probabilities={s["path"]: s["probability"] for s in task["suggestions"]},
                     model_version=task["model_version"], answer_id=answer_id,
                     random_check=self.learner.is_check(self.learner.rows([seg_id])[0]))
        if action != "skip":
            self._learn(seg_id, codes, suggested)
        return {"saved": _saved(answer_id, seg_id, action, sorted(codes)), "source": _SOURCE[action], "duplicate": False, "task": self.next_task(),
                "progress": self.progress()}

    def _commit(self, seg_id: int, action: str, **answer: Any) -> None:
        """Commit one answer to the store (one transaction)."""
        self.ws.store.record_answer(self.session_id, seg_id, self.coder, action, **answer)

    def _learn(self, seg_id: int, codes: list[str], suggested: list[str]) -> None:
        """The learner learns an answer (with what the page suggested before it); the suggester is
        retrained when due."""
        self.learner.teach_ids([seg_id], [self._closed(codes)], before=[self._closed(suggested)])
        self._maybe_retrain()

    def undo(self) -> dict:
        """Take back the coder's last answer (this session's or, after a restart, an earlier
        one's, within this session's segments); its segment comes back as the next task."""
        undone = self.ws.store.undo_answer(self.session_id, self.coder, segments=self._scope)
        if undone is None:
            return {"undone": None, "task": self._current, "progress": self.progress()}
        seg_id = undone["segment_id"]
        if undone["action"] != "skip" and self.learner.labelled_mask[self.learner.rows([seg_id])[0]]:
            self.learner.forget_ids([seg_id])
        return {"undone": {"segment_id": seg_id, "action": _SOURCE[undone["action"]], "codes": undone["answered"]},
                "task": self._task(seg_id), "progress": self.progress()}

    # ------------------------------------------------------------------ progress
    def progress(self) -> dict:
        """Counts from the store, and the stopping signal spelt out: what it measures, where it
        stands, what it still needs."""
        decision = self.learner.status()
        answered, skipped = self.ws.store.session_tally(self.session_id)
        remaining = int((~self.learner.labelled_mask).sum()) - len(skipped)
        rule = self.learner.stopping
        est = decision.estimate or {}
        signal = {"measure": SIGNAL_MEASURE.format(every=rule.every), "stability": decision.agreement,
                  "target": rule.threshold, "comparisons": min(len(decision.history), rule.window),
                  "needed": rule.window, "every": rule.every, "min_labels": rule.min_labels,
                  "check_kappa": est.get("kappa"), "check_low": est.get("low"), "check_high": est.get("high"),
                  "checks": est.get("n_checks", 0), "min_checks": rule.min_checks, "stop": bool(decision.stop),
                  "verdict": STABILISED if decision.stop else KEEP_GOING, "message": decision.message}
        return {"session_answered": answered, "coder_answered": self.ws.store.coder_tally(self.coder),
                "remaining": remaining, "skipped": len(skipped), "training": int(self.learner.n_labelled),
                "signal": signal, "estimate": progress_view(self.learner.estimate(), self.book)}

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
        """Finish background work, record the session's end, stop the worker. Safe to call twice."""
        if self._worker is not None:
            self.wait_idle()
        self.learner.close()
        self.ws.store.end_session(self.session_id)
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None


_SOURCE = {"accept": "accepted", "correct": "corrected", "skip": "skipped"}


def _saved(answer_id: str | None, segment_id: int, action: str, codes: list[str]) -> dict:
    """What the page is told was saved (for a new answer and for a stored one alike)."""
    said = "no code" if action != "skip" and not codes else _SOURCE[action]
    return {"answer_id": answer_id, "segment_id": segment_id, "action": said, "codes": codes}


def _thresholds(model: Any) -> dict[str, float | None]:
    """Each code's own cut-off for being ticked (None where the code is one of an exclusive set:
    there the most likely code of the set is ticked)."""
    values = getattr(model, "thresholds_", None)
    if values is None:
        return {}
    return {label: (float(t) if t > 0 else None) for label, t in zip(model.labels_, values)}
