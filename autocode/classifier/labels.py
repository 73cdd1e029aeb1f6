"""Label space: code paths, their hierarchy, exclusive sets and the valence labels.

A label is a code path, parts joined by ``/`` ("Capability/Developing skills/Not
therapists"); its parent is the path minus its last part
(:func:`autocode.codebook.path_ancestors`, the one walker over paths). Valence
labels, named by the caller (the codebook's "Valence" group, e.g. "Barrier",
"Enabler"), sit outside the hierarchy.

Consistency rules (documented, and tested as properties):

* training targets are *closed upward*: a segment coded with a sub-theme also
  carries its theme and its domain (:meth:`LabelSpace.close`);
* a parent's probability is the maximum of its own head and its children's
  probabilities (:meth:`LabelSpace.consistent_proba`), so a parent is never less
  likely than any of its children;
* predicted code sets are closed upward too (:meth:`LabelSpace.close`), so a child
  is never suggested while its parent is absent;
* sibling sets that the coders give one code of at a time (:meth:`LabelSpace.one_at_a_time`)
  keep at most one code per segment, and closure still holds (:meth:`LabelSpace.decide`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from autocode.codebook import SEP, parent_columns, path_ancestors, path_parts
from autocode.errors import InputError


def _parent(label: str) -> str | None:
    """The nearest ancestor path, or ``None`` for a top-level label."""
    up = path_ancestors(label)
    return up[0] if up else None


@dataclass
class LabelSpace:
    """The labels a model predicts, in column order, with the structure over them."""

    labels: list[str]
    exclusive: list[list[str]] = field(default_factory=list)
    valence: list[str] = field(default_factory=list)
    _below: list[list[int]] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        labels: Sequence[str],
        exclusive: Iterable[Iterable[str]] | None = None,
        valence: Iterable[str] | None = None,
    ) -> "LabelSpace":
        """Checks the names, adds every missing ancestor, and keeps the given order first.

        ``valence``: the labels of the valence head (none by default); names not among
        the labels are ignored."""
        labels = [str(l) for l in labels]
        if not labels:
            raise InputError("fit: no label names given", hint="pass one name per column of Y")
        if len(set(labels)) != len(labels):
            dup = sorted({l for l in labels if labels.count(l) > 1})
            raise InputError(f"fit: label names repeated: {dup}", hint="each column of Y needs its own name")
        for l in labels:
            if not l or not all(path_parts(l)):
                raise InputError(f"fit: bad label path {l!r}", hint="use 'Domain/Theme/Sub-theme' with no empty parts")
        full = list(labels)
        seen = set(full)
        for l in labels:
            for a in path_ancestors(l):
                if a not in seen:
                    full.append(a)
                    seen.add(a)
        val = [v for v in (valence or ()) if v in seen]
        for v in val:
            if _parent(v) is not None or any(_parent(l) == v for l in full):
                raise InputError(f"fit: valence label {v!r} is part of the hierarchy", hint="valence labels must be top-level leaves")
        groups: list[list[str]] = []
        used: set[str] = set()
        for g in exclusive or ():
            g = [str(x) for x in g]
            missing = [x for x in g if x not in seen]
            if missing:
                raise InputError(f"fit: exclusive set names unknown labels {missing}", hint="use names from the label list")
            if len(g) < 2:
                raise InputError(f"fit: exclusive set {g} has fewer than 2 labels", hint="an exclusive set needs at least two codes")
            if used & set(g):
                raise InputError(f"fit: label(s) {sorted(used & set(g))} in two exclusive sets", hint="merge the sets")
            if set(g) & set(val):
                raise InputError("fit: a valence label is in an exclusive set", hint="valence has its own head")
            for x in g:
                if any(_parent(l) == x for l in full):
                    raise InputError(f"fit: exclusive label {x!r} has children", hint="exclusive sets must hold leaf codes")
            used |= set(g)
            groups.append(g)
        return cls(full, groups, val)

    # --- indices -----------------------------------------------------------------
    @property
    def index(self) -> dict[str, int]:
        return {l: i for i, l in enumerate(self.labels)}

    def parent_index(self) -> np.ndarray:
        """For each label, the column of its parent, or -1 (the space is closed upward, so the
        nearest ancestor among the labels is the parent)."""
        return np.array(parent_columns(self.labels), dtype=int)

    def depth_order(self) -> list[int]:
        """Columns, deepest first (children before parents)."""
        return sorted(range(len(self.labels)), key=lambda i: -self.labels[i].count(SEP))

    def binary_columns(self) -> list[int]:
        """Columns with a one-vs-rest head (everything not in an exclusive set)."""
        ex = {x for g in self.exclusive for x in g}
        return [i for i, l in enumerate(self.labels) if l not in ex]

    def valence_columns(self) -> list[int]:
        idx = self.index
        return [idx[v] for v in self.valence]

    # --- consistency -------------------------------------------------------------
    def expand(self, Y: np.ndarray, given: Sequence[str]) -> np.ndarray:
        """Y over ``given`` columns -> Y over ``self.labels`` (ancestors start at 0)."""
        idx = self.index
        out = np.zeros((Y.shape[0], len(self.labels)), dtype=np.int8)
        for j, l in enumerate(given):
            out[:, idx[l]] = Y[:, j]
        return out

    def close(self, Y: np.ndarray) -> np.ndarray:
        """Closes a 0/1 matrix upward: a child implies its parent (and so every ancestor)."""
        Y = np.array(Y, dtype=np.int8, copy=True)
        par = self.parent_index()
        for i in self.depth_order():
            if par[i] >= 0:
                Y[:, par[i]] |= Y[:, i]
        return Y

    def consistent_proba(self, P: np.ndarray) -> np.ndarray:
        """A parent's probability becomes max(its own head, its children), bottom up."""
        P = np.array(P, dtype=np.float64, copy=True)
        par = self.parent_index()
        for i in self.depth_order():
            if par[i] >= 0:
                np.maximum(P[:, par[i]], P[:, i], out=P[:, par[i]])
        return P

    def sibling_sets(self) -> list[list[int]]:
        """Columns of one-vs-rest, non-valence labels that share a parent (top-level labels
        share the root), two or more to a set, the sets of shallower parents first."""
        skip = {x for g in self.exclusive for x in g} | set(self.valence)
        by_parent: dict[str | None, list[int]] = {}
        for i, l in enumerate(self.labels):
            if l not in skip:
                by_parent.setdefault(_parent(l), []).append(i)
        return sorted((cols for cols in by_parent.values() if len(cols) >= 2), key=self._depth)

    def one_at_a_time(self, Y: np.ndarray, max_share: float) -> list[list[int]]:
        """The sibling sets (:meth:`sibling_sets`) that coders give one code of at a time: of the
        segments of ``Y`` (closed 0/1 targets over ``self.labels``) that carry a code of the set,
        at most ``max_share`` carry two or more."""
        out = []
        for cols in self.sibling_sets():
            on = np.asarray(Y)[:, cols].sum(1)
            if (on > 0).any() and (on > 1).sum() <= max_share * (on > 0).sum():
                out.append(cols)
        return out

    def descendants(self) -> list[list[int]]:
        """For each column, the columns below it in the hierarchy (worked out once: decide needs it
        on every call)."""
        if self._below is None:
            self._below = [[j for j, m in enumerate(self.labels) if m.startswith(l + SEP)] for l in self.labels]
        return self._below

    def _depth(self, cols: Sequence[int]) -> int:
        """How deep a sibling set sits (0: the top-level codes)."""
        return self.labels[cols[0]].count(SEP)

    def decide(self, P: np.ndarray, thresholds: np.ndarray, scales: list[np.ndarray] | None = None,
               single: Sequence[Sequence[int]] = ()) -> np.ndarray:
        """0/1 decisions from consistent probabilities.

        One-vs-rest labels: ``p >= threshold``. Exclusive sets: the member with the
        highest ``p * scale`` (scales tuned by cross-validation; 1 by default), if it
        beats "none of them" (likewise scaled) and its threshold. Then closed upward.
        ``single``: sibling sets (columns, from :meth:`sibling_sets`) of which a segment keeps
        at most one code, shallower sets first: where some code of the set (or below it) passes,
        the segment gets the set's most probable code (a code with codes below it ranked by the
        most probable of those), with the codes below it that pass; the set's other codes and
        their descendants are dropped. Last, valence labels are only kept on segments that get
        at least one other code.
        """
        D = (P >= thresholds[None, :]).astype(np.int8)
        idx = self.index
        for gi, g in enumerate(self.exclusive):
            cols = [idx[x] for x in g]
            sub = P[:, cols]
            none = 1.0 - sub.sum(1)
            s = np.ones(len(cols) + 1) if scales is None else np.asarray(scales[gi], dtype=float)
            if len(s) == len(cols):
                s = np.r_[s, 1.0]
            scored = sub * s[: len(cols)]
            best = scored.argmax(1)
            top = sub[np.arange(len(sub)), best]
            keep = (scored.max(1) >= none * s[len(cols)]) & (top >= thresholds[cols][best])
            D[:, cols] = 0
            rows = np.nonzero(keep)[0]
            D[rows, np.array(cols)[best[rows]]] = 1
        D = self.close(D)
        if len(single):
            below = self.descendants()
            for cols in sorted(single, key=self._depth):
                cols = np.asarray(cols, dtype=int)
                on = D[:, cols].astype(bool)
                coded = on.any(1)
                if not coded.any():
                    continue
                # a code with codes below it ranks by the most probable of them (its own head can
                # outbid the children it stands for: a domain over the themes it holds)
                score = np.stack([P[:, below[c]].max(1) if below[c] else P[:, c] for c in cols], axis=1)
                best = score.argmax(1)
                for j, c in enumerate(cols):
                    drop = np.flatnonzero(coded & (best != j))
                    D[drop, c] = 0
                    D[np.ix_(drop, below[c])] = 0
                    D[np.flatnonzero(coded & (best == j)), c] = 1
        vcols = self.valence_columns()
        other = [i for i in range(len(self.labels)) if i not in set(vcols)]
        if vcols and other:
            coded = D[:, other].any(1)
            D[np.ix_(~coded, vcols)] = 0
        return D
