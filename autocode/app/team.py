"""A team codes one project on one server: one shared model, each coder's share of the segments,
and the double-coding overlap, coded blind, with its agreement live for the owner.

* **One model for the team.** The learner and the suggester of :mod:`.session` are built once
  and shared by every coder's view (:class:`TeamCoder`): every answer teaches the same learner,
  and the active-learning order applies within each coder's share.
* **Assignment by lease.** A coder's next segment is the learner's first choice that still has
  a free slot (:meth:`autocode.store.Store.claim_slot`): one slot per segment, two on the
  overlap. A slot is held for ``lease_seconds`` (renewed while the coder works on it), then
  free again; it is ``done`` when answered. The store's primary key makes a claim atomic, so no
  two coders get the same segment outside the overlap, whatever the timing.
* **The overlap.** The owner sets the share to double code, for the project and per group
  (:meth:`Team.set_overlap`). Whether a not-yet-assigned segment is on the overlap is a
  deterministic draw from its id, so it does not change with the order of requests; once its
  first slot is taken, its number of slots is fixed.
* **Blind.** An overlap segment's first answer is not taught to the model until its second coder
  has answered, so the second coder's suggestions and similar segments never carry the first
  coder's codes, and no endpoint shows one coder another's codes.
* **Agreement on the overlap** (:meth:`Team.agreement`): per code Cohen's kappa with its
  bootstrap interval and Gwet's AC1 with a percentile bootstrap interval, first coder against
  second coder over every segment both have answered, from :mod:`autocode.agreement`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .. import agreement as ag
from ..active.strategies import DEFAULT_STRATEGY
from ..agreement.stats import gwet_ac1_binary
from ..records import Segment
from ..store import now
from .models import consensus_codes, human_coders
from .learning import SessionPlan
from .session import _SOURCE, AnnotationSession
from .workspace import Workspace

#: How long a coder holds a segment they were given and have not answered (seconds).
LEASE_SECONDS = 900
#: The strategy and params a team's sessions are recorded with.
TEAM_PARAMS = {"team": True}
FIRST, SECOND = "first coder", "second coder"


def _later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


@dataclass
class TeamCoder(AnnotationSession):
    """One coder's view of the team's session: their share of the segments, their answers."""

    team: Team | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ the coder's share
    def unlabelled_ids(self) -> set[int]:
        """The segment this coder holds a lease on (what they may answer)."""
        assert self.team is not None
        return self.team._held(self.coder)

    def next_task(self) -> dict | None:
        assert self.team is not None
        seg_id = self.team._next_for(self.coder, self.skipped)
        if seg_id is None:
            self._current = None
            return None
        if self._current and self._current["segment_id"] == seg_id:
            return self._current
        return self._task(seg_id)

    def _answers_for_retrain(self) -> int:
        assert self.team is not None
        return self.team._taught

    def _shown_coders(self, names: list[str]) -> list[str]:
        """Blind: the coder sees "you" for their own codings, never a colleague's name."""
        return list(dict.fromkeys("you" if n == self.coder else "another coder" for n in names))

    # ------------------------------------------------------------------ answers
    def _commit(self, seg_id: int, action: str, **answer: Any) -> None:
        """The answer and the coder's slot, in one transaction."""
        store = self.ws.store
        with store.transaction():
            store.record_answer(self.session_id, seg_id, self.coder, action, **answer)
            if action == "skip":
                store.release_slot(seg_id, self.coder)
            else:
                store.finish_slot(seg_id, self.coder)
        assert self.team is not None
        self.team._changed(seg_id)

    def _learn(self, seg_id: int, codes: list[str], suggested: list[str]) -> None:
        assert self.team is not None
        self.team._teach_when_complete(seg_id, self, suggested)

    def undo(self) -> dict:
        """Take back this coder's last answer; its segment is theirs again (their lease renewed)."""
        assert self.team is not None
        store = self.ws.store
        with store.transaction():
            undone = store.undo_answer(self.session_id, self.coder, segments=self._scope)
            if undone is not None:
                # a skip gave the slot up: take it again if it is still free
                if undone["action"] == "skip":
                    store.claim_slot(undone["segment_id"], self.coder, self.team._needed(undone["segment_id"]),
                                     _later(self.team.lease_seconds))
                else:
                    store.finish_slot(undone["segment_id"], self.coder, done=False,
                                      expires_at=_later(self.team.lease_seconds))
        if undone is None:
            return {"undone": None, "task": self._current, "progress": self.progress()}
        seg_id = undone["segment_id"]
        self.team._changed(seg_id)
        if undone["action"] != "skip" and self.learner.labelled_mask[self.learner.rows([seg_id])[0]]:
            self.learner.forget_ids([seg_id])
        return {"undone": {"segment_id": seg_id, "action": _SOURCE[undone["action"]], "codes": undone["answered"]},
                "task": self._task(seg_id), "progress": self.progress()}

    # ------------------------------------------------------------------ progress
    def progress(self) -> dict:
        assert self.team is not None
        out = super().progress()
        out["remaining"] = self.team._open_for(self.coder, self.skipped)
        out["team"] = {"double_coding": self._current is not None
                       and self.team._needed(self._current["segment_id"]) > 1}
        return out

    def state(self) -> dict:
        out = super().state()
        out["team"] = {"coder": self.coder, "lease_seconds": self.team.lease_seconds if self.team else None}
        return out

    def close(self) -> None:
        """End this coder's session record (the shared model is the team's to close)."""
        self.ws.store.end_session(self.session_id)


@dataclass
class Team:
    """The team's shared session. Build it with :meth:`open`; not re-entrant (the server calls
    it under one lock)."""

    ws: Workspace
    lease_seconds: int = LEASE_SECONDS
    seed: int = 0
    engine: AnnotationSession = field(default=None, repr=False)  # type: ignore[assignment]
    _coders: dict[str, TeamCoder] = field(default_factory=dict, repr=False)
    _slots: dict[int, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _taught: int = 0
    _agreement: dict | None = None

    @classmethod
    def open(cls, ws: Workspace, *, lease_seconds: int = LEASE_SECONDS, background: bool = True,
             seed: int = 0, strategy: str | None = None, retrain_every: int = 10) -> Team:
        """The team's session over every codable segment of the workspace: what is complete
        (coded, by enough coders on the overlap) is training data, the rest is the pool."""
        store = ws.store
        team = cls(ws=ws, lease_seconds=lease_seconds, seed=seed)
        team._slots = store.slots()
        book = store.codebook()
        coders = [c for c in human_coders(store) if store.seen(c)]
        known, seen_any = consensus_codes(store, coders) if coders else ({}, set())
        everything = store.segments(codable_only=True)
        labelled = [s for s in everything if s.id in seen_any and team._complete(s.id)]
        done = {s.id for s in labelled}
        pool = [s for s in everything if s.id not in done]
        engine = AnnotationSession(ws=ws, coder="", strategy=strategy or DEFAULT_STRATEGY,
                                   retrain_every=retrain_every, seed=seed, book=book,
                                   labels=[c.path for c in book.codable()], segments=labelled + pool)
        # every coder's session answers, in time order: random checks and learning curve survive a restart
        answers = sorted((a for c in coders for a in store.coder_answers(c)), key=lambda a: a["created_at"])
        plan = SessionPlan(book=book, labels=engine.labels, labelled=labelled, pool=pool,
                           rows=[engine._closed(known.get(s.id, ())) for s in labelled], answers=answers)
        engine._build(plan, model=None, background=background)
        team.engine = engine
        return team

    # ------------------------------------------------------------------ coders
    def coder(self, name: str) -> TeamCoder:
        """``name``'s view (their session is resumed when one was left open)."""
        if name not in self._coders:
            store, e = self.ws.store, self.engine
            session_id = (store.unended_session(name, e.strategy, TEAM_PARAMS)
                          or store.start_session(name, e.strategy, TEAM_PARAMS))
            view = TeamCoder(ws=self.ws, coder=name, strategy=e.strategy, retrain_every=e.retrain_every,
                             seed=e.seed, session_id=session_id, book=e.book, labels=e.labels,
                             segments=e.segments, learner=e.learner, team=self)
            for shared in ("_box", "_contexts", "_embedder", "_model_lock", "_worker", "_scope", "_by_id", "_idle"):
                setattr(view, shared, getattr(e, shared))
            self._coders[name] = view
        return self._coders[name]

    def coder_state(self, coder: str) -> dict:
        return self.coder(coder).state()

    def answer(self, coder: str, payload: dict) -> dict:
        return self.coder(coder).answer(payload)

    def undo(self, coder: str) -> dict:
        return self.coder(coder).undo()

    def progress(self, coder: str) -> dict:
        return self.coder(coder).progress()

    # ------------------------------------------------------------------ slots
    def _group_of(self, seg_id: int) -> str:
        return self.engine._by_id[seg_id].document

    def _drawn(self, seg_id: int) -> float:
        """A uniform draw in [0, 1) fixed by the segment's id and the team's seed."""
        digest = hashlib.sha256(f"{self.seed}:{seg_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def _needed(self, seg_id: int, shares: dict[str, float] | None = None) -> int:
        """Slots of a segment: fixed by its first claim, else 2 when drawn for the overlap
        (``shares``: the overlap the owner set, read from the store when not given)."""
        slots = self._slots.get(seg_id)
        if slots:
            return int(slots[0]["needed"])
        shares = self.ws.store.overlap() if shares is None else shares
        share = shares.get(self._group_of(seg_id), shares.get("", 0.0))
        return 2 if self._drawn(seg_id) < share else 1

    def _live(self, slot: dict[str, Any], at: str) -> bool:
        return slot["done"] or (slot["expires_at"] is not None and slot["expires_at"] >= at)

    def _complete(self, seg_id: int) -> bool:
        """Whether a segment has had all its answers: every slot done (a segment coded before
        the team server, with no slots, is complete)."""
        slots = self._slots.get(seg_id)
        if not slots:
            return True
        return sum(s["done"] for s in slots) >= slots[0]["needed"]

    def _held(self, coder: str) -> set[int]:
        at = now()
        return {seg for seg, slots in self._slots.items()
                if any(s["coder"] == coder and not s["done"] and self._live(s, at) for s in slots)}

    def _open_for(self, coder: str, skipped: set[int]) -> int:
        """How many segments this coder could still be given (or holds)."""
        at, shares = now(), self.ws.store.overlap()
        return sum(1 for seg in self.engine.unlabelled_ids() - skipped if self._may_take(seg, coder, at, shares))

    def _may_take(self, seg_id: int, coder: str, at: str, shares: dict[str, float]) -> bool:
        """Whether ``coder`` may be given the segment: they hold it, or have not had it and a
        slot is free (a lease that ran out frees its slot)."""
        slots = self._slots.get(seg_id, [])
        if any(s["coder"] == coder for s in slots):
            return any(s["coder"] == coder and not s["done"] for s in slots)
        taken = sum(1 for s in slots if self._live(s, at))
        return taken < self._needed(seg_id, shares)

    def _next_for(self, coder: str, skipped: set[int]) -> int | None:
        """The segment ``coder`` is to answer next: the one they hold, else the learner's first
        choice among those with a free slot, claimed for them."""
        held = self._held(coder) - skipped
        if held:
            seg = min(held)
            self.ws.store.claim_slot(seg, coder, self._needed(seg), _later(self.lease_seconds))  # renew
            self._changed(seg)
            return seg
        learner, at, shares = self.engine.learner, now(), self.ws.store.overlap()
        unlabelled = self.engine.unlabelled_ids()
        blocked = {seg for seg in unlabelled if seg in skipped or not self._may_take(seg, coder, at, shares)}
        open_ = unlabelled - blocked
        if not open_:
            return None
        for seg in learner.next_ids(len(blocked) + 8):
            if seg in open_ and self._claim(seg, coder, shares):
                return seg
        for seg in sorted(open_):  # the learner's list ran out: any open one
            if self._claim(seg, coder, shares):
                return seg
        return None

    def _claim(self, seg_id: int, coder: str, shares: dict[str, float]) -> bool:
        ok = self.ws.store.claim_slot(seg_id, coder, self._needed(seg_id, shares), _later(self.lease_seconds))
        self._changed(seg_id)
        return ok

    def _changed(self, seg_id: int) -> None:
        """Read a segment's slots back from the store after a write (and forget the overlap's
        agreement when a double-coded segment changed)."""
        fresh = self.ws.store.slots(seg_id).get(seg_id)
        if fresh:
            self._slots[seg_id] = fresh
            if fresh[0]["needed"] > 1:
                self._agreement = None
        else:
            self._slots.pop(seg_id, None)

    def _teach_when_complete(self, seg_id: int, view: TeamCoder, suggested: list[str]) -> None:
        """Teach the learner a segment once all its coders have answered (blind double coding):
        with the one coder's codes, or the two coders' consensus (and what the model suggested
        to the last of them, for the learning curve)."""
        if not self._complete(seg_id):
            return
        coders = [s["coder"] for s in self._slots.get(seg_id, [])] or [view.coder]
        known, _ = consensus_codes(self.ws.store, coders)
        self.engine.learner.teach_ids([seg_id], [self.engine._closed(known.get(seg_id, ()))],
                                      before=[self.engine._closed(suggested)])
        self._taught += 1
        view._maybe_retrain()

    # ------------------------------------------------------------------ the owner's
    def set_overlap(self, share: float, group: str | None = None) -> dict[str, float]:
        """Double code ``share`` of the segments not yet assigned (in ``group``, or everywhere)."""
        self.ws.store.set_overlap(share, group)
        return self.ws.store.overlap()

    def retrain(self) -> None:
        """Retrain the suggester now on everything complete (in the worker)."""
        if self.engine._worker is None:
            self.engine._fit_suggester()
            return
        view = next(iter(self._coders.values()), None)
        if view is not None and view._idle.is_set():
            saved, self._taught = self._taught, 0
            try:
                view._maybe_retrain()
            finally:
                self._taught = saved

    def overview(self) -> dict[str, Any]:
        """Coders' progress, the overlap, and how much is left."""
        at = now()
        per: dict[str, dict[str, int]] = {}
        for slots in self._slots.values():
            for s in slots:
                row = per.setdefault(s["coder"], {"answered": 0, "leased": 0})
                if s["done"]:
                    row["answered"] += 1
                elif self._live(s, at):
                    row["leased"] += 1
        learner = self.engine.learner
        double = sum(1 for slots in self._slots.values() if slots[0]["needed"] > 1 and sum(s["done"] for s in slots) >= 2)
        return {"coders": [{"name": name, **row} for name, row in sorted(per.items())],
                "overlap": self.ws.store.overlap(), "pool": int(learner.N),
                "remaining": int((~learner.labelled_mask).sum()), "double_coded": double}

    def double_coded(self) -> dict[int, tuple[str, str]]:
        """Overlap segments both coders have answered: segment id -> (first coder, second coder)."""
        out = {}
        for seg, slots in self._slots.items():
            done = [s for s in slots if s["done"]]
            if slots[0]["needed"] > 1 and len(done) >= 2:
                out[seg] = (done[0]["coder"], done[1]["coder"])
        return out

    def agreement(self, n_boot: int = 500) -> dict[str, Any]:
        """First coder against second coder on the double-coded overlap, per code: Cohen's kappa
        with its bootstrap interval, Gwet's AC1 with a percentile bootstrap interval. Computed
        again only when a double-coded answer has changed."""
        if self._agreement is None:
            self._agreement = _overlap_agreement(self.ws, self.double_coded(), n_boot=n_boot, seed=self.seed)
        return self._agreement

    def close(self) -> None:
        for view in self._coders.values():
            view.close()
        if self.engine._worker is not None:
            self.engine.wait_idle()
        self.engine.learner.close()
        if self.engine._worker is not None:
            self.engine._worker.shutdown(wait=True, cancel_futures=True)
            self.engine._worker = None


def _overlap_agreement(ws: Workspace, pairs: dict[int, tuple[str, str]], *, n_boot: int, seed: int) -> dict[str, Any]:
    """The agreement table of :meth:`Team.agreement`."""
    store = ws.store
    base = {"segments": len(pairs), "updated_at": now(),
            "pairs": [{"coders": list(k), "segments": v} for k, v in
                      sorted(pd.Series([tuple(sorted(p)) for p in pairs.values()]).value_counts().items())]
            if pairs else []}
    if len(pairs) < 2:
        return {**base, "overall": None, "per_code": [],
                "note": "agreement needs at least two double-coded segments; set an overlap and code on"}
    by_coder = {c: store.codings(c) for c in {c for p in pairs.values() for c in p}}
    segments: dict[int, Segment] = {s.id: s for s in store.segments(ids=list(pairs))}
    book = store.codebook()
    units = pd.DataFrame({"unit_id": [str(s) for s in pairs], "group": [segments[s].document for s in pairs],
                          "length": [len(segments[s].text) for s in pairs], "text": [segments[s].text for s in pairs]})
    seen = pd.DataFrame([(str(s), who) for s in pairs for who in (FIRST, SECOND)], columns=["unit_id", "coder"])
    codings = pd.DataFrame([(str(s), who, code) for s, (a, b) in pairs.items()
                            for who, c in ((FIRST, a), (SECOND, b)) for code in sorted(by_coder[c].get(s, ()))],
                           columns=["unit_id", "coder", "code"])
    report = ag.compare(units, seen, codings, [FIRST, SECOND], levels=book.level_names() or None,
                        n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed)
    ids = list(pairs)
    per_code = []
    for row in report.per_code.to_dict("records"):
        code = row["code"]
        x = np.array([[code in _closed(book, by_coder[a].get(s, ())), code in _closed(book, by_coder[b].get(s, ()))]
                      for s, (a, b) in pairs.items()])
        boots = [gwet_ac1_binary(x[rng.integers(0, len(ids), len(ids))]) for _ in range(n_boot)]
        boots = np.array([b for b in boots if np.isfinite(b)])
        ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if len(boots) else [None, None]
        per_code.append({"code": code, "n": int(row["n_units"]), "coded": int(row["n_coded"]),
                         "kappa": _num(row["kappa"]), "kappa_ci": [_num(row["kappa_ci_low"]), _num(row["kappa_ci_high"])],
                         "ac1": _num(row["ac1"]), "ac1_ci": ci, "note": row.get("note") or None})
    overall = report.to_dict()["overall"]
    return {**base, "overall": overall, "per_code": per_code, "note": None}


def _closed(book: Any, codes: Any) -> set[str]:
    return set(book.close_upward(codes or ()))


def _num(x: Any) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None

