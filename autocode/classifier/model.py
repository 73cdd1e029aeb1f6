"""The code-suggestion model: one linear model over frozen MiniLM embeddings and
TF-IDF n-grams (and, optionally, the preceding turn), with calibrated probabilities,
a cross-validated threshold per code, and consistent hierarchical predictions.

Scikit-learn conventions (it is a ``BaseEstimator``): ``__init__`` stores parameters
only, so ``get_params``/``set_params`` follow its signature; ``fit`` returns ``self``;
fitted attributes end in ``_``; using it before ``fit`` raises ``NotFittedError``; and
:meth:`CodeClassifier.predict_proba` is the contract (calibrated, hierarchy-consistent
probabilities); prediction has no side effects beyond the embedding cache.

The model owns its persistence (:meth:`CodeClassifier.to_disk`,
:meth:`CodeClassifier.from_disk`); :mod:`.persist` only knows the file format.
"""

from __future__ import annotations

import copy
import re
import shutil
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
from sklearn.model_selection import GroupKFold, KFold
from sklearn.utils.validation import check_is_fitted

from autocode.embeddings import (DIM, ENCODER_ID, ENCODERS, STOCK_ENCODER, Embedder, check_encoder, encoder_members,
                                  make_embedder)
from autocode.errors import InputError, NotFittedError

from . import persist
from .calibration import apply_vector_scaling, best_f1_threshold, class_scales, platt_fit, vector_scaling_fit
from .features import Tfidf, words_of
from .labels import LabelSpace
from .linear import Design, Heads, fit_linear, logits
from .adapt import AdaptedEmbedder, EncoderAdapter
from .tuning import TunedEmbedder, contrastive_encoder, finetune_encoder

FEATURE_BLOCKS = ("embedding", "word", "char")
# the preceding turn: its embedding, its TF-IDF, its cosine similarity to the segment,
# and the element-wise product of the two embeddings (how the segment echoes it)
CONTEXT_BLOCKS = FEATURE_BLOCKS + ("similarity", "product")
EMBEDDING_CONTEXT = ("embedding", "similarity", "product")
# L-BFGS steps of each internal fold, warm-started from the full fit. 40 scored as 100 did; 20,
# measured on the current optimiser (diagonal preconditioner) over bench_quality's five corpora
# and 5 group folds, moves macro-F1 by -0.0016 to +0.0008 against 40 (AnnoMI therapist 0.7444 ->
# 0.7433, client 0.5252 -> 0.5236, Taguette 0.5301 -> 0.5294, NHS 0.5655 -> 0.5649, demo 0.6169
# -> 0.6177) and makes the three folds half as long (training time: scripts/bench_speed.py)
FOLD_MAX_ITER = 20
# Sibling codes that coders give one at a time (a second one on at most this share of the segments
# that carry one) are decided together. Measured with scripts/bench_quality.py's folds (macro-F1 /
# kappa, every code decided alone -> siblings decided together; docs/benchmarks/quality.md): the demo
# corpus (its sibling sets: 0-13% of segments carry two) 0.618 / 0.587 -> 0.665 / 0.643, Taguette's
# tags (7%) 0.529 / 0.504 -> 0.538 / 0.519; NHS comments (23% carry two) would lose (0.565 / 0.553
# -> 0.461 / 0.452 with the tags in one set) and are left alone, as they are at 0.2. Why not chosen
# by the internal folds: thresholds tuned on the same out-of-fold scores favour deciding alone there
# (demo: 0.64-0.69 against 0.61-0.66 macro-F1) while held-out groups gain.
ONE_AT_A_TIME = 0.2
# Models saved before valence became an explicit parameter (default: none) were fitted
# with these valence labels whenever the caller left ``valence`` at its default; a saved
# model.json always records them, but one that lacks the field is read with them, so it
# behaves as it did when saved.
LEGACY_VALENCE = ("Barrier", "Enabler")


def _parse_blocks(spec: str | None, what: str) -> list[str]:
    if spec in (None, "", "none"):
        return []
    allowed = CONTEXT_BLOCKS if what == "context" else FEATURE_BLOCKS
    parts = [p.strip() for p in str(spec).split("+") if p.strip()]
    bad = [p for p in parts if p not in allowed]
    if bad:
        raise InputError(f"CodeClassifier({what}={spec!r}): unknown feature block(s) {bad}",
                         hint=f"join some of {list(allowed)} with '+', e.g. 'embedding+word'")
    return parts


class CodeClassifier(BaseEstimator):
    """Suggests codes for segments.

    Parameters
    ----------
    features : which blocks describe the segment: ``"embedding"`` (frozen MiniLM),
        ``"word"`` (TF-IDF word 1-2-grams), ``"char"`` (TF-IDF char 2-5-grams), joined
        with ``+``. Default ``"embedding+word"`` (chosen by measurement; see
        docs/benchmarks/quality.md).
    context : blocks for the preceding turn (moderator question / previous utterance),
        same syntax; ``None`` to ignore contexts. Default ``"embedding"``.
    C : inverse L2 strength, as in scikit-learn's LogisticRegression.
    class_weight : ``"balanced"`` (each code's positives and negatives weigh the same
        in total) or ``None``.
    embedding_weight, tfidf_weight, context_weight : scale of each feature block.
    cv : internal folds (by group when groups are given) for calibration and thresholds
        (default 3; 0 skips them: uncalibrated, thresholds at 0.5).
    threshold : ``"f1"`` (per code, maximising cross-validated F1) or a number.
    calibrate : Platt / vector scaling on out-of-fold scores.
    max_iter : L-BFGS steps of the fit (default 60: on the quality benchmark's corpora it scores
        within 0.002 macro-F1 of a fit to convergence, in half the time; each internal fold
        takes at most :data:`FOLD_MAX_ITER` more from the full fit's weights).
    valence : label names that form the valence head (kept out of the hierarchy; only
        suggested together with some other code), e.g. the codable codes of the
        codebook's "Valence" group; names that are not labels are ignored. Default
        ``None``: no valence head.
    embedder : an :class:`autocode.embeddings.Embedder` (shares its disk cache); a
        memory-only one is made when ``None``.
    keep_examples : keep the training texts and embeddings for :meth:`explain`.
    abstain : whether a segment may get no code when no code passes its threshold.
        ``"auto"`` (default): yes if some training segments carry no code (uncoded
        turns: small talk, the moderator), otherwise the most probable code is kept.
    siblings : ``"auto"`` (default): sibling codes (a theme's sub-themes, a domain's themes, the
        top-level codes) that the training coders give one at a time (a second one on at most
        :data:`ONE_AT_A_TIME` of the segments that carry one) are decided together: where one of them
        passes its threshold, a segment gets the most probable of the set (:meth:`LabelSpace.decide`;
        the sets are ``single_sets_``);
        ``"independent"``: every code is decided on its own threshold.
    encoder : the sentence encoder, a name in :data:`autocode.embeddings.ENCODERS`:
        ``"all-MiniLM-L6-v2"`` (the default, the one that can be tuned) or
        ``"multilingual-e5-small"`` (about 100 languages; 4-bit, the ``multilingual`` extra) or
        both, ``"all-MiniLM-L6-v2+multilingual-e5-small"``: this model embeds with the first, and
        ``partners_`` holds one more model per other member, fit on the same rows with the same
        parameters; probabilities are the members' mean and this model's thresholds and sibling
        rule decide (better than either alone on every corpus measured, at both encoders' cost);
        ``tuning`` tunes the first (MiniLM) model's encoder, never a partner's.
        The given ``embedder`` lends its disk cache; a caller's precomputed embeddings are the
        stock encoder's and are not used by a model whose (first) encoder is another.
    tuning : ``None`` (frozen encoder, the default), ``"adapt"`` (the top layers tuned over
        cached lower-layer states: minutes, see :mod:`autocode.classifier.adapt`), ``"finetune"``
        (full fine-tuning with transformers' Trainer) or ``"contrastive"`` (SetFit-style); the last
        two are slow, see :mod:`autocode.classifier.tuning`. ``tuning_params`` go to the tuning
        function or :class:`EncoderAdapter` (e.g. ``{"max_steps": 200}``, ``{"epochs": 2}``); for
        ``"adapt"``, ``budget_s`` bounds the adapter's training time.
    """

    def __init__(
        self,
        features: str = "embedding+word",
        context: str | None = "embedding",
        C: float = 1.0,
        class_weight: str | None = "balanced",
        embedding_weight: float = 1.0,
        tfidf_weight: float = 1.0,
        context_weight: float = 0.5,
        cv: int = 3,
        threshold: str | float = "f1",
        calibrate: bool = True,
        valence: Sequence[str] | None = None,
        max_iter: int = 60,
        random_state: int = 0,
        embedder: Embedder | None = None,
        keep_examples: bool = True,
        tuning: str | None = None,
        tuning_params: dict[str, Any] | None = None,
        abstain: bool | str = "auto",
        siblings: str = "auto",
        encoder: str = STOCK_ENCODER,
    ) -> None:
        self.features = features
        self.context = context
        self.C = C
        self.class_weight = class_weight
        self.embedding_weight = embedding_weight
        self.tfidf_weight = tfidf_weight
        self.context_weight = context_weight
        self.cv = cv
        self.threshold = threshold
        self.calibrate = calibrate
        self.valence = valence
        self.max_iter = max_iter
        self.random_state = random_state
        self.embedder = embedder
        self.keep_examples = keep_examples
        self.tuning = tuning
        self.tuning_params = tuning_params
        self.abstain = abstain
        self.siblings = siblings
        self.encoder = encoder

    # ------------------------------------------------------------------ params
    # get_params comes from BaseEstimator (the parameters of __init__)
    def set_params(self, **params) -> "CodeClassifier":
        names = self._get_param_names()
        unknown = [k for k in params if k not in names]
        if unknown:
            raise InputError(f"CodeClassifier.set_params: unknown parameter {unknown[0]!r}",
                             hint=f"use one of {names}")
        super().set_params(**params)
        if "embedder" in params and not getattr(self, "tuned_encoder_dir_", None):
            self.embedder_ = None  # a fitted stock-encoder model embeds with the new one
        return self

    def __sklearn_clone__(self) -> "CodeClassifier":
        """``sklearn.base.clone``: the same parameters, unfitted; the embedder is shared,
        not deep-copied (it holds the encoder and the shared disk cache)."""
        params = {k: copy.deepcopy(v) for k, v in self.get_params(deep=False).items() if k != "embedder"}
        return type(self)(**params, embedder=self.embedder)

    def _json_params(self) -> dict[str, Any]:
        """The parameters as saved: all but the embedder (an object, given at load time)."""
        p = {k: v for k, v in self.get_params(deep=False).items() if k != "embedder"}
        p["valence"] = list(p["valence"] or [])
        p["tuning_params"] = dict(p["tuning_params"] or {}) or None
        return p

    # --------------------------------------------------------------- embedding
    def _embedder(self) -> Embedder:
        """The fitted embedder (a tuned one after tuning), else the given one if it is this
        model's encoder, else this model's encoder over the given one's cache (memory only
        when none is given)."""
        e = getattr(self, "embedder_", None)
        if e is None:
            given = self.embedder
            own = encoder_members(self.encoder)[0]
            if given is not None and given.encoder == ENCODERS[own]:
                e = given
            else:
                e = make_embedder(own, getattr(given, "cache", None), getattr(given, "precision", "fp32"))
            self.embedder_ = e
        return e

    def _own_encoder(self) -> bool:
        """Whether this model embeds with an encoder of its own (tuned, or not the stock one):
        then a caller's embeddings, which are the stock encoder's, are not used."""
        return bool(getattr(self, "tuned_encoder_dir_", None)) or encoder_members(self.encoder)[0] != STOCK_ENCODER

    def load_encoder(self) -> "CodeClassifier":
        """Loads a tuned encoder into memory now rather than at the first embedding: for a model
        whose folder (and the encoder in it) is about to be removed. A stock encoder is left alone."""
        if getattr(self, "tuned_encoder_dir_", None):
            self._embedder().model  # noqa: B018 - the property loads the weights
        return self

    def _check_texts(self, texts, method: str) -> list[str]:
        if isinstance(texts, str):
            raise InputError(f"CodeClassifier.{method}: texts is one string", hint="pass a list of segment texts")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise InputError(f"CodeClassifier.{method}: text #{bad[0]} is {type(texts[bad[0]]).__name__}, not str",
                             hint="pass the segment texts as strings")
        return texts

    def _check_contexts(self, contexts, n: int, method: str) -> list[str] | None:
        if contexts is None:
            return None
        contexts = list(contexts)
        if len(contexts) != n:
            raise InputError(f"CodeClassifier.{method}: {len(contexts)} contexts for {n} texts",
                             hint="give one context (or None) per segment")
        return ["" if c is None else str(c) for c in contexts]

    def _embed_pair(self, texts, contexts, embeddings=None, context_embeddings=None):
        if self._own_encoder():
            embeddings = context_embeddings = None  # a caller's are from the stock encoder
        emb = self._embedder()
        need_ctx = any(b in EMBEDDING_CONTEXT for b in self.context_blocks_)
        E = embeddings if embeddings is not None else emb.embed(texts)
        Ec = None
        if need_ctx:
            if context_embeddings is not None:
                Ec = context_embeddings
            elif contexts is None:
                Ec = np.zeros((len(texts), DIM), dtype=np.float32)
            else:
                nonempty = [i for i, c in enumerate(contexts) if c.strip()]
                Ec = np.zeros((len(texts), DIM), dtype=np.float32)
                if nonempty:
                    Ec[nonempty] = emb.embed([contexts[i] for i in nonempty])
        return E, Ec

    def _design(self, texts, contexts, E, Ec, rows: dict[str, sp.csr_matrix] | None = None) -> Design:
        """Dense blocks (text, then context embedding) first, then the TF-IDF blocks (``rows``:
        blocks already transformed, by name)."""
        rows = rows or {}
        dense, sparse = [], []
        if "embedding" in self.blocks_:
            dense.append(E.astype(np.float64) * self.embedding_weight)
        if "embedding" in self.context_blocks_:
            dense.append(Ec.astype(np.float64) * self.context_weight)
        if "similarity" in self.context_blocks_:
            dense.append((E * Ec).sum(1, keepdims=True).astype(np.float64) * self.context_weight)
        if "product" in self.context_blocks_:
            dense.append((E * Ec).astype(np.float64) * (self.context_weight * np.sqrt(DIM)))
        for b in self.blocks_:
            if b != "embedding":
                X = rows[b] if b in rows else self.tfidf_[b].transform(texts)
                sparse.append(X * self.tfidf_weight)
        for b in self.context_blocks_:
            if b not in EMBEDDING_CONTEXT:
                ctx = contexts if contexts is not None else [""] * len(texts)
                X = rows["context_" + b] if "context_" + b in rows else self.tfidf_["context_" + b].transform(ctx)
                sparse.append(X * self.context_weight)
        return Design(np.hstack(dense) if dense else None,
                      sp.hstack(sparse, format="csr", dtype=np.float64) if sparse else None)

    # --------------------------------------------------------------------- fit
    def fit(
        self,
        texts: Sequence[str],
        Y,
        labels: Sequence[str],
        *,
        contexts: Sequence[str | None] | None = None,
        groups: Sequence[Any] | None = None,
        exclusive: Sequence[Sequence[str]] | None = None,
        ids: Sequence[Any] | None = None,
        embeddings: np.ndarray | None = None,
        context_embeddings: np.ndarray | None = None,
        prototypes: Mapping[str, str] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> "CodeClassifier":
        """Trains on coded segments.

        ``Y``: (n, len(labels)) 0/1 matrix; ``labels``: code paths ("Domain/Theme/Sub");
        missing ancestors are added and Y is closed upward. ``contexts``: the preceding
        moderator question / turn of each segment. ``groups``: focus group (or
        transcript) of each segment; internal cross-validation never splits one.
        ``exclusive``: label sets of which a segment carries at most one (multinomial
        head). ``ids``: segment ids reported by :meth:`explain`. ``embeddings``: the
        texts' embeddings when the caller has them already. ``prototypes``: a text for some
        labels (the codebook's "name: description"), each learnt as one more segment that
        carries that label alone, in a group of its own, without context: a prior that helps
        codes with few examples (scripts/bench_codebook.py); labels not in ``labels`` are ignored,
        and prototypes are never shown as examples nor counted as training segments.
        ``progress``: called with the share done of the encoder's tuning (``tuning="adapt"``).
        """
        texts = self._check_texts(texts, "fit")
        members = encoder_members(check_encoder(self.encoder, setting="CodeClassifier(encoder=...)"))
        call = dict(contexts=contexts, groups=groups, exclusive=exclusive, ids=ids, prototypes=prototypes)
        n = len(texts)
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[0] != n or Y.shape[1] != len(labels):
            raise InputError(f"CodeClassifier.fit: Y has shape {Y.shape}, expected ({n}, {len(labels)})",
                             hint="one row per text and one column per label name")
        if not np.isin(Y, (0, 1)).all():
            raise InputError("CodeClassifier.fit: Y holds values other than 0 and 1", hint="pass a binary label matrix")
        if n < 2:
            raise InputError(f"CodeClassifier.fit: {n} segment(s)", hint="code at least two segments first")
        contexts = self._check_contexts(contexts, n, "fit")
        if groups is not None and len(groups) != n:
            raise InputError(f"CodeClassifier.fit: {len(groups)} groups for {n} texts", hint="give one group per segment")
        n_coded = n
        if prototypes:
            texts, Y, contexts, groups, embeddings, context_embeddings = self._with_prototypes(
                prototypes, list(labels), texts, Y, contexts, groups, embeddings, context_embeddings)
            n = len(texts)
        self.blocks_ = _parse_blocks(self.features, "features")
        if not self.blocks_:
            raise InputError("CodeClassifier(features=None): no features", hint="use e.g. 'embedding+word'")
        self.context_blocks_ = _parse_blocks(self.context, "context") if contexts is not None or context_embeddings is not None else []

        space = LabelSpace.build(labels, exclusive, self.valence)
        Yc = space.close(space.expand(Y.astype(np.int8), list(labels)))
        self.label_space_ = space
        self.labels_ = list(space.labels)

        self.embedder_ = None
        self.tuned_encoder_dir_ = None
        self.partners_ = []
        if self.tuning is not None and members[0] != STOCK_ENCODER:
            raise InputError(f"CodeClassifier(tuning={self.tuning!r}, encoder={self.encoder!r}): only "
                             f"{STOCK_ENCODER} can be tuned", hint=f"leave tuning out, or use encoder={STOCK_ENCODER!r}")
        self.encoder_id_ = ENCODERS[members[0]]  # its own encoder's; tuning names what it did to it
        if self.tuning is not None:
            self._tune(texts, Yc, progress)  # from here on, _embed_pair ignores the caller's embeddings

        # feature state
        self.tfidf_, rows = {}, {}
        for b in self.blocks_:
            if b != "embedding":
                self.tfidf_[b], rows[b] = Tfidf.fit_transform(b, texts)
        for b in self.context_blocks_:
            if b not in EMBEDDING_CONTEXT:
                self.tfidf_["context_" + b], ctx_rows = Tfidf.fit_transform(b, contexts or [""])
                if contexts is not None:
                    rows["context_" + b] = ctx_rows
        E, Ec = self._embed_pair(texts, contexts, embeddings, context_embeddings)
        X = self._design(texts, contexts, E, Ec, rows)

        # head layout and targets
        idx = space.index
        self.binary_cols_ = space.binary_columns()
        self.group_cols_ = [[idx[x] for x in g] for g in space.exclusive]
        Yb = Yc[:, self.binary_cols_].astype(np.float64)
        Wb = self._binary_weights(Yb)
        ygroups, wgroups, widths, self.group_none_ = [], [], [], []
        for cols in self.group_cols_:
            sub = Yc[:, cols]
            if (sub.sum(1) > 1).any():
                row = int(np.nonzero(sub.sum(1) > 1)[0][0])
                names = [self.labels_[c] for c in cols]
                raise InputError(f"CodeClassifier.fit: segment #{row} carries two codes of the exclusive set {names}",
                                 hint="keep one code per segment, or drop the set from exclusive")
            has_none = bool((sub.sum(1) == 0).any())
            y = np.where(sub.sum(1) > 0, sub.argmax(1), len(cols))
            ygroups.append(y)
            wgroups.append(self._group_weights(y, len(cols) + has_none))
            widths.append(len(cols) + has_none)
            self.group_none_.append(has_none)
        self.heads_ = Heads(len(self.binary_cols_), widths)

        args = (self.heads_, Yb, Wb, ygroups, wgroups)
        W, b = fit_linear(X, *args, C=self.C, max_iter=self.max_iter)
        self.coef_, self.intercept_ = W, b

        # calibration and thresholds on out-of-fold scores
        folds = self._folds(n, groups)
        k = len(self.labels_)
        self.platt_ = np.tile([1.0, 0.0], (len(self.binary_cols_), 1))
        self.group_scaling_ = [(1.0, np.zeros(w)) for w in widths]
        by_cv = self.threshold == "f1"
        try:
            fixed = 0.5 if by_cv else float(self.threshold)
        except (TypeError, ValueError):
            raise InputError(f"CodeClassifier(threshold={self.threshold!r})",
                             hint="use 'f1' (per code, by cross-validation) or a probability such as 0.5") from None
        self.thresholds_ = np.full(k, fixed)
        if by_cv:
            for cols in self.group_cols_:
                self.thresholds_[cols] = 0.0  # the (scaled) argmax against "none" decides
        self.oof_proba_ = None
        self.class_scales_ = [np.ones(w) for w in widths]
        if self.siblings not in ("auto", "independent"):
            raise InputError(f"CodeClassifier(siblings={self.siblings!r})", hint="use 'auto' or 'independent'")
        self.single_sets_ = space.one_at_a_time(Yc[:n_coded], ONE_AT_A_TIME) if self.siblings == "auto" else []
        if folds:
            Z = np.zeros((n, self.heads_.width))
            for tr, te in folds:
                sel = (Yb[tr], Wb[tr], [y[tr] for y in ygroups], [w[tr] for w in wgroups])
                # warm start from the full fit; calibration needs no more than a loose optimum
                Wf, bf = fit_linear(X[tr], self.heads_, *sel, C=self.C, init=(W, b), max_iter=min(self.max_iter, FOLD_MAX_ITER), tol=1e-5)
                Z[te] = logits(X[te], Wf, bf)
            # a code that only its prototype teaches (fewer than 2 coded segments carry it) has no
            # out-of-fold positives to calibrate or choose a threshold on: its raw probability and
            # 0.5 decide, as for a code with no prior at all
            unseen = {c for c in range(k) if Yc[:n_coded, c].sum() < 2 and Yc[:, c].sum() > Yc[:n_coded, c].sum()}
            if self.calibrate:
                for j in range(len(self.binary_cols_)):
                    if self.binary_cols_[j] not in unseen:
                        self.platt_[j] = platt_fit(Z[:, j], Yb[:, j])
                for g, s in enumerate(self.heads_.slices()):
                    self.group_scaling_[g] = vector_scaling_fit(Z[:, s], ygroups[g])
            P = space.consistent_proba(self._proba_from_logits(Z))
            self.oof_proba_ = P
            if by_cv:
                for g, cols in enumerate(self.group_cols_):
                    Pg = P[:, cols]
                    if self.group_none_[g]:
                        Pg = np.c_[Pg, np.clip(1 - Pg.sum(1), 0, 1)]
                    self.class_scales_[g] = class_scales(Pg, ygroups[g], len(cols))
                ex = {c for cols in self.group_cols_ for c in cols}
                for c in range(k):
                    if c not in ex and c not in unseen:
                        self.thresholds_[c] = best_f1_threshold(P[:, c], Yc[:, c])

        vcols = set(space.valence_columns())
        coded = Yc[:, [c for c in range(k) if c not in vcols]].any(1) if len(vcols) < k else Yc.any(1)
        self.abstains_ = bool(self.abstain) if self.abstain != "auto" else bool((~coded).any())
        self.n_train_ = n_coded
        self.n_prototypes_ = n - n_coded
        self.label_counts_ = {l: int(Yc[:n_coded, i].sum()) for i, l in enumerate(self.labels_)}
        if self.oof_proba_ is not None:
            self.oof_proba_ = self.oof_proba_[:n_coded]
        if self.keep_examples:
            self.train_embeddings_ = E[:n_coded].astype(np.float32)
            self.train_Y_ = Yc[:n_coded]
            self.train_texts_ = texts[:n_coded]
            self.train_ids_ = list(ids) if ids is not None else list(range(n_coded))
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in ("encoder", "tuning", "tuning_params")}
        self.partners_ = [CodeClassifier(**params, encoder=enc).fit(texts[:n_coded], Y[:n_coded], labels, **call)
                          for enc in members[1:]]
        # every member's encoder as it stands (an adapted MiniLM model's partner is still named)
        self.encoder_id_ = " + ".join([self.encoder_id_] + [p.encoder_id_ for p in self.partners_])
        return self

    def _with_prototypes(self, prototypes, labels, texts, Y, contexts, groups, embeddings, context_embeddings):
        """The training rows with one row per prototype of a label in ``labels`` appended."""
        items = [(labels.index(l), str(t)) for l, t in prototypes.items() if l in labels and str(t).strip()]
        if not items:
            return texts, Y, contexts, groups, embeddings, context_embeddings
        k = len(items)
        extra = np.zeros((k, Y.shape[1]), dtype=Y.dtype)
        extra[np.arange(k), [j for j, _ in items]] = 1
        ptexts = [t for _, t in items]
        if groups is None:
            groups = [f"\0row{i}" for i in range(len(texts))]  # folds of rows, as without prototypes
        groups = list(groups) + ["\0codebook"] * k
        if embeddings is not None:
            embeddings = np.vstack([embeddings, (self.embedder or Embedder(None)).embed(ptexts)])
        if context_embeddings is not None:
            context_embeddings = np.vstack([context_embeddings, np.zeros((k, context_embeddings.shape[1]),
                                                                         dtype=context_embeddings.dtype)])
        return (texts + ptexts, np.vstack([Y, extra]), None if contexts is None else contexts + [""] * k, groups,
                embeddings, context_embeddings)

    def _tune(self, texts: list[str], Yc: np.ndarray, progress: Callable[[float], None] | None = None) -> None:
        params = dict(self.tuning_params or {})
        out = tempfile.mkdtemp(prefix="autocode-encoder-")
        # the tuned encoder lives with this model object (to_disk() copies it into the model folder)
        weakref.finalize(self, shutil.rmtree, out, True)
        one_set = self._one_exclusive_set()
        cols = one_set if one_set is not None else list(range(Yc.shape[1]))
        if self.tuning == "adapt":
            t0 = time.monotonic()
            budget = params.pop("budget_s", None)
            names = set(EncoderAdapter._get_param_names()) - {"seed"}
            unknown = sorted(set(params) - names)
            if unknown:
                raise InputError(f"CodeClassifier(tuning_params={{{unknown[0]!r}: ...}}): not a setting of the adapter",
                                 hint=f"use budget_s or one of {sorted(names)}")
            adapter = EncoderAdapter(**params, seed=self.random_state)
            lower = adapter.encode_lower(texts)
            adapter.fit(lower, Yc[:, cols], exclusive=one_set is not None, progress=progress,
                        deadline=None if budget is None else t0 + float(budget))
            adapter.save(out)
            self.tuned_encoder_dir_ = out
            self.embedder_ = AdaptedEmbedder(adapter)  # the training texts' lower states are cached
            self.adaptation_ = {"layers": adapter.layers, "epochs": round(adapter.epochs_done_, 2),
                                "stopped_by_budget": adapter.stopped_early_,
                                "seconds": round(time.monotonic() - t0, 1)}
            self.encoder_id_ = (f"{ENCODER_ID}, adapted (top {adapter.layers} layers, "
                                f"{adapter.epochs_done_:.1f} epochs)")
            return
        if self.tuning == "finetune":
            finetune_encoder(texts, Yc[:, cols], out, exclusive=one_set is not None, seed=self.random_state, **params)
        elif self.tuning == "contrastive":
            contrastive_encoder(texts, Yc, out, seed=self.random_state, **params)
        else:
            raise InputError(f"CodeClassifier(tuning={self.tuning!r})",
                             hint="use None, 'adapt', 'finetune' or 'contrastive'")
        self.tuned_encoder_dir_ = out
        self.embedder_ = TunedEmbedder(out)
        self.encoder_id_ = f"{ENCODER_ID}, tuned ({self.tuning}, {params})"

    def _one_exclusive_set(self) -> list[int] | None:
        """The columns of the one exclusive set, when it covers every label (then
        fine-tuning uses cross-entropy instead of per-code BCE)."""
        space = self.label_space_
        if len(space.exclusive) != 1 or len(space.exclusive[0]) != len(space.labels):
            return None
        return [space.index[x] for x in space.exclusive[0]]

    # -------------------------------------------------------------- save/load
    def to_disk(self, folder: str | Path, **card_info) -> Path:
        """Writes weights (safetensors), state (JSON) and the model card under ``folder``
        (format: :mod:`autocode.classifier.persist`); ``card_info`` keywords: name (default:
        the folder's name), codebook_hash, training_data_hash, coders, metrics, notes."""
        self._check_fitted("to_disk")
        folder = Path(folder)
        arrays: dict[str, np.ndarray] = {
            "coef": np.asarray(self.coef_, dtype=np.float64),
            "intercept": np.asarray(self.intercept_, dtype=np.float64),
            "thresholds": np.asarray(self.thresholds_, dtype=np.float64),
            "platt": np.asarray(self.platt_, dtype=np.float64).reshape(-1, 2),
        }
        tfidf_meta = {}
        for key, tf in self.tfidf_.items():
            meta, idf = tf.state()
            tfidf_meta[key] = meta
            arrays[f"idf.{key}"] = idf
        for g, (a, c) in enumerate(self.group_scaling_):
            arrays[f"group_scaling.{g}"] = np.concatenate([[a], np.asarray(c, dtype=np.float64)])
            arrays[f"class_scales.{g}"] = np.asarray(self.class_scales_[g], dtype=np.float64)
        examples = None
        if self.keep_examples:
            arrays["train_embeddings"] = np.asarray(self.train_embeddings_, dtype=np.float32)
            arrays["train_Y"] = np.asarray(self.train_Y_, dtype=np.int8)
            examples = {"texts": self.train_texts_, "ids": [persist.jsonable_id(i) for i in self.train_ids_]}
        space = self.label_space_
        state = {
            "class": type(self).__name__,
            "params": self._json_params(),
            "encoder": self.encoder_id_,
            "labels": space.labels,
            "exclusive": space.exclusive,
            "valence": space.valence,
            "blocks": self.blocks_,
            "context_blocks": self.context_blocks_,
            "binary_cols": self.binary_cols_,
            "group_cols": self.group_cols_,
            "group_none": self.group_none_,
            "heads": {"n_binary": self.heads_.n_binary, "groups": self.heads_.groups},
            "tfidf": tfidf_meta,
            "n_train": self.n_train_,
            "abstains": self.abstains_,
            "single_sets": self.single_sets_,
            "label_counts": self.label_counts_,
            "examples": examples,
            "partners": len(getattr(self, "partners_", [])),
        }
        persist.write_model_files(folder, state, arrays)
        for i, p in enumerate(getattr(self, "partners_", [])):
            p.to_disk(folder / persist.PARTNERS_DIR / str(i), name=f"{folder.name} ({p.encoder} member)")
        if getattr(self, "tuned_encoder_dir_", None):
            persist.copy_encoder(self.tuned_encoder_dir_, folder / persist.ENCODER_DIR)
        card = persist.model_card(
            name=card_info.pop("name", None) or folder.name, model=type(self).__name__, encoder=self.encoder_id_,
            params=self._json_params(), segments=self.n_train_, code_counts=self.label_counts_,
            examples_kept=self.keep_examples, labels=self.labels_, exclusive=space.exclusive,
            valence=space.valence, thresholds=self.thresholds_,
            one_at_a_time=[[self.labels_[c] for c in cols] for cols in self.single_sets_], **card_info)
        persist.write_card(folder, card)
        return folder

    @classmethod
    def from_disk(cls, folder: str | Path, embedder: Embedder | None = None) -> "CodeClassifier":
        """Reads a model written by :meth:`to_disk` (JSON and safetensors, no pickle).
        ``embedder``: embeds new texts (its disk cache is shared); a model that carries a tuned
        encoder embeds with that, at ``embedder``'s precision and over its disk cache."""
        folder = Path(folder)
        state, arrays = persist.read_model_files(folder)
        params = dict(state["params"])
        params.setdefault("valence", list(LEGACY_VALENCE))  # saved before valence was explicit
        names = set(cls._get_param_names()) - {"embedder"}
        m = cls(**{k: v for k, v in params.items() if k in names}, embedder=embedder)
        m.embedder_ = None
        m.tuned_encoder_dir_ = None
        labels = list(state["labels"])
        # saved before valence was explicit: the old default, as LabelSpace.build kept it
        valence = state["valence"] if "valence" in state else [v for v in LEGACY_VALENCE if v in labels]
        space = LabelSpace(labels, [list(g) for g in state["exclusive"]], list(valence))
        m.label_space_ = space
        m.labels_ = list(space.labels)
        m.blocks_ = list(state["blocks"])
        m.context_blocks_ = list(state["context_blocks"])
        m.binary_cols_ = [int(i) for i in state["binary_cols"]]
        m.group_cols_ = [[int(i) for i in g] for g in state["group_cols"]]
        m.group_none_ = [bool(x) for x in state["group_none"]]
        m.heads_ = Heads(int(state["heads"]["n_binary"]), [int(w) for w in state["heads"]["groups"]])
        m.tfidf_ = {k: Tfidf.from_state(meta, arrays[f"idf.{k}"]) for k, meta in state["tfidf"].items()}
        m.coef_ = arrays["coef"]
        m.intercept_ = arrays["intercept"]
        m.thresholds_ = arrays["thresholds"]
        m.platt_ = arrays["platt"]
        m.group_scaling_ = [(float(arrays[f"group_scaling.{g}"][0]), arrays[f"group_scaling.{g}"][1:])
                            for g in range(len(m.group_cols_))]
        m.class_scales_ = [arrays[f"class_scales.{g}"] for g in range(len(m.group_cols_))]
        m.n_train_ = int(state["n_train"])
        m.abstains_ = bool(state.get("abstains", True))
        m.single_sets_ = [[int(i) for i in cols] for cols in state.get("single_sets", [])]  # older models: none
        m.label_counts_ = dict(state["label_counts"])
        m.encoder_id_ = state.get("encoder", ENCODER_ID)
        m.oof_proba_ = None
        k = len(m.labels_)
        if m.coef_.shape[1] != m.heads_.width or m.intercept_.shape != (m.heads_.width,) or m.thresholds_.shape != (k,):
            raise InputError("weights do not match the label layout", file=folder / persist.WEIGHTS_FILE,
                             hint="the folder mixes files from two models; save the model again")
        if state.get("examples"):
            m.train_embeddings_ = arrays["train_embeddings"]
            m.train_Y_ = arrays["train_Y"]
            m.train_texts_ = list(state["examples"]["texts"])
            m.train_ids_ = list(state["examples"]["ids"])
        else:
            m.keep_examples = False
        m.partners_ = [cls.from_disk(folder / persist.PARTNERS_DIR / str(i), embedder)
                       for i in range(int(state.get("partners", 0)))]
        enc = folder / persist.ENCODER_DIR
        if enc.is_dir():
            persist.check_encoder_folder(enc)
            m.tuned_encoder_dir_ = str(enc)
            # the given embedder's disk cache and precision, for the tuned encoder's own vectors
            m.embedder_ = TunedEmbedder(enc, cache=getattr(embedder, "cache", None),
                                        precision=getattr(embedder, "precision", "fp32"))
        return m

    def _binary_weights(self, Yb: np.ndarray) -> np.ndarray:
        n = Yb.shape[0]
        if self.class_weight is None:
            return np.ones_like(Yb)
        if self.class_weight != "balanced":
            raise InputError(f"CodeClassifier(class_weight={self.class_weight!r})", hint="use 'balanced' or None")
        pos = Yb.sum(0)
        neg = n - pos
        wp = np.where(pos > 0, n / (2 * np.maximum(pos, 1)), 1.0)
        wn = np.where(neg > 0, n / (2 * np.maximum(neg, 1)), 1.0)
        return np.where(Yb > 0, wp, wn)

    def _group_weights(self, y: np.ndarray, m: int) -> np.ndarray:
        if self.class_weight is None:
            return np.ones(len(y))
        cnt = np.bincount(y, minlength=m).astype(float)
        present = (cnt > 0).sum()
        return len(y) / (present * cnt[y])

    def _folds(self, n: int, groups) -> list[tuple[np.ndarray, np.ndarray]]:
        if not self.cv or self.cv < 2 or n < 6:
            return []
        if groups is not None:
            g = np.asarray([str(x) for x in groups])
            n_groups = len(set(g))
            if n_groups >= 2:
                splitter = GroupKFold(n_splits=min(self.cv, n_groups))
                return [(tr, te) for tr, te in splitter.split(np.zeros(n), groups=g)]
        splitter = KFold(n_splits=min(self.cv, n), shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(n)))

    # ----------------------------------------------------------------- predict
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def _check_fitted(self, method: str) -> None:
        try:
            check_is_fitted(self)
        except _SklearnNotFittedError:
            raise NotFittedError(f"CodeClassifier.{method}: the model is not trained",
                                 hint="call fit(...) first, or load a saved model") from None

    def _proba_from_logits(self, Z: np.ndarray) -> np.ndarray:
        """Calibrated probabilities per label (before the hierarchy rule)."""
        P = np.zeros((Z.shape[0], len(self.labels_)))
        nb = len(self.binary_cols_)
        a, c = self.platt_[:, 0], self.platt_[:, 1]
        P[:, self.binary_cols_] = expit(Z[:, :nb] * a + c)
        for cols, s, (ga, gc) in zip(self.group_cols_, self.heads_.slices(), self.group_scaling_):
            Q = apply_vector_scaling(Z[:, s], ga, np.asarray(gc))
            P[:, cols] = Q[:, : len(cols)]
        return P

    def _forward(self, texts, contexts, embeddings, context_embeddings, method: str):
        """One pass over a batch: checked inputs, embeddings, design and logits."""
        self._check_fitted(method)
        texts = self._check_texts(texts, method)
        contexts = self._check_contexts(contexts, len(texts), method)
        if not texts:
            return texts, contexts, None, None, None, np.zeros((0, self.heads_.width))
        E, Ec = self._embed_pair(texts, contexts, embeddings, context_embeddings)
        X = self._design(texts, contexts, E, Ec)
        return texts, contexts, E, Ec, X, logits(X, self.coef_, self.intercept_)

    def decision_function(self, texts, contexts=None, *, embeddings=None, context_embeddings=None) -> np.ndarray:
        """Raw logits over the head columns (binary codes, then each exclusive set)."""
        return self._forward(texts, contexts, embeddings, context_embeddings, "decision_function")[-1]

    def _consistent_proba(self, Z: np.ndarray) -> np.ndarray:
        return self.label_space_.consistent_proba(self._proba_from_logits(Z))

    def _proba(self, texts: list[str], contexts: list[str] | None, Z: np.ndarray) -> np.ndarray:
        """This model's probabilities from its logits ``Z``, averaged with its partners' (if any)."""
        P = self._consistent_proba(Z)
        partners = getattr(self, "partners_", [])
        if not partners or not texts:
            return P
        return np.mean([P] + [p.predict_proba(texts, contexts) for p in partners], axis=0)

    def predict_proba(self, texts, contexts=None, *, embeddings=None, context_embeddings=None) -> np.ndarray:
        """(n, len(labels_)) calibrated probabilities; a parent is at least as
        probable as each of its children; an exclusive set's members plus "none"
        sum to 1."""
        texts, contexts, *_, Z = self._forward(texts, contexts, embeddings, context_embeddings, "predict_proba")
        return self._proba(texts, contexts, Z)

    def predict(self, texts, contexts=None, *, embeddings=None, context_embeddings=None) -> np.ndarray:
        """(n, len(labels_)) 0/1 suggestions; a row of zeros is an abstention."""
        return self.decide(self.predict_proba(texts, contexts, embeddings=embeddings, context_embeddings=context_embeddings))

    def decide(self, P: np.ndarray) -> np.ndarray:
        """Decisions from :meth:`predict_proba` output (thresholds, exclusivity, closure)."""
        self._check_fitted("decide")
        P = np.asarray(P)
        D = self.label_space_.decide(P, self.thresholds_, self.class_scales_, self.single_sets_)
        if not getattr(self, "abstains_", True):
            vcols = set(self.label_space_.valence_columns())
            other = [c for c in range(len(self.labels_)) if c not in vcols]
            empty = np.nonzero(D[:, other].sum(1) == 0)[0] if other else []
            if len(empty):
                P2 = P.copy()
                for i, top in zip(empty, self._top_codes(P[empty], leaves_only=True)):
                    P2[i, top] = 1.0  # forced: the most probable leaf code (then closure)
                D[empty] = self.label_space_.decide(P2[empty], self.thresholds_, self.class_scales_, self.single_sets_)
        return D

    def suggest(self, texts, contexts=None) -> list[list[tuple[str, float]]]:
        """For each segment, the suggested codes with their probabilities, most probable first."""
        P = self.predict_proba(texts, contexts)
        D = self.decide(P)
        out = []
        for p, d in zip(P, D):
            cols = np.nonzero(d)[0]
            out.append(sorted(((self.labels_[c], float(p[c])) for c in cols), key=lambda x: -x[1]))
        return out

    def predict_and_explain(self, texts, contexts=None, *, explain: bool = True, n_neighbours: int = 3,
                            n_words: int = 5, n_like: int = 2, embeddings=None, context_embeddings=None,
                            ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """``(P, D, explanations)`` for a batch from one pass (one embedding of the texts
        and contexts, one design matrix): ``P`` as :meth:`predict_proba`, ``D`` as
        :meth:`decide` of ``P``, and per segment what :meth:`explain` returns (``{}``
        each when ``explain`` is false)."""
        texts, contexts, E, Ec, X, Z = self._forward(texts, contexts, embeddings, context_embeddings,
                                                     "predict_and_explain")
        P = self._proba(texts, contexts, Z)
        D = self.decide(P)
        if not explain:
            return P, D, [{} for _ in texts]
        return P, D, self._explanations(texts, P, D, E, Ec, X, n_neighbours, n_words, n_like)

    # ----------------------------------------------------------------- explain
    def explain(self, texts, contexts=None, *, n_neighbours: int = 3, n_words: int = 5, n_like: int = 2,
                embeddings=None) -> list[dict[str, Any]]:
        """Why each segment gets its codes.

        Returns, per segment: ``top_code`` and its ``probability``; ``neighbours``: the
        ``n_neighbours`` most similar training segments (cosine on embeddings) with
        ``id``, ``text``, ``codes``, ``similarity``; ``words``: up to ``n_words``
        (word, weight) pairs that pushed most towards the top code, from the linear
        TF-IDF coefficients (word and char n-grams credited to the words they come
        from), or, for a model without TF-IDF, by occlusion; ``evidence``: one entry per
        suggested code (the :meth:`decide` row), most probable first, with ``code``,
        ``probability``, ``like`` (the ``n_like`` most similar training segments that
        carry the code), ``unlike`` (the most similar one that does not, or None) and
        ``words`` (those that pushed towards that code). To get probabilities and
        decisions too from the same pass, use :meth:`predict_and_explain`.
        """
        texts, contexts, E, Ec, X, Z = self._forward(texts, contexts, embeddings, None, "explain")
        if not texts:
            return []
        P = self._proba(texts, contexts, Z)
        return self._explanations(texts, P, self.decide(P), E, Ec, X, n_neighbours, n_words, n_like)

    def _explanations(self, texts: list[str], P: np.ndarray, D: np.ndarray, E: np.ndarray, Ec, X: Design,
                      n_neighbours: int, n_words: int, n_like: int = 2) -> list[dict[str, Any]]:
        """:meth:`explain`'s records from a batch's pass (probabilities, decisions, embeddings, design)."""
        if not texts:
            return []
        leaf_pref = self._top_codes(P)
        S = self._similarities(E)
        neigh = self._neighbours(S, n_neighbours, len(texts))
        per_code = self._code_examples(S, D, n_like)
        out = []
        for i, text in enumerate(texts):
            top = leaf_pref[i]
            cols = sorted(np.flatnonzero(D[i]).tolist(), key=lambda c: (-P[i, c], c))
            wanted = cols + ([top] if top is not None and top not in cols else [])
            ctx_row = None if Ec is None else Ec[i]
            words = self._words(text, wanted, n_words, ctx_row, X, i) if wanted else {}
            evidence = []
            for c in cols:
                like, unlike = per_code[i].get(c, ([], None))
                evidence.append({"code": self.labels_[c], "probability": float(P[i, c]),
                                 "like": [self._example(j, S[i, j]) for j in like],
                                 "unlike": None if unlike is None else self._example(unlike, S[i, unlike]),
                                 "words": words.get(c, [])})
            out.append({
                "top_code": self.labels_[top] if top is not None else None,
                "probability": float(P[i, top]) if top is not None else None,
                "neighbours": neigh[i],
                "words": words.get(top, []) if top is not None else [],
                "evidence": evidence,
            })
        return out

    def _top_codes(self, P: np.ndarray, leaves_only: bool = False) -> list[int | None]:
        """Most probable code, preferring the deepest, excluding valence labels
        (and, with ``leaves_only``, codes that have children)."""
        vcols = set(self.label_space_.valence_columns())
        parents = set(self.label_space_.parent_index()) if leaves_only else set()
        cols = ([c for c in range(len(self.labels_)) if c not in vcols and c not in parents]
                or list(range(len(self.labels_))))
        depth = np.array([self.labels_[c].count("/") for c in cols])
        out = []
        for p in P:
            sub = p[cols]
            # ties (a parent equal to its child after the max rule, or within the float32
            # precision of the fit, as when both heads learnt from the same segments) go to
            # the deeper code
            best = np.lexsort((-depth, -np.round(sub, 6)))[0]
            out.append(cols[best])
        return out

    def _similarities(self, E: np.ndarray) -> np.ndarray | None:
        """(n, n_train) cosine similarities to the kept training segments (None without them)."""
        T = getattr(self, "train_embeddings_", None) if self.keep_examples else None
        if T is None or not len(T):
            return None
        return E @ T.T

    def _example(self, j: int, similarity: float) -> dict[str, Any]:
        """Training segment ``j`` as explanations show it."""
        return {"id": self.train_ids_[j], "text": self.train_texts_[j],
                "codes": [self.labels_[c] for c in np.nonzero(self.train_Y_[j])[0]],
                "similarity": float(similarity)}

    def _neighbours(self, S: np.ndarray | None, k: int, n: int) -> list[list[dict[str, Any]]]:
        """The ``k`` most similar training segments of each of the ``n`` rows of ``S``, most similar first."""
        if S is None or k <= 0:
            return [[] for _ in range(n)]
        return [[self._example(j, S[i, j]) for j in row] for i, row in enumerate(_top_k(S, k))]

    def _code_examples(self, S: np.ndarray | None, D: np.ndarray, n_like: int
                       ) -> list[dict[int, tuple[list[int], int | None]]]:
        """Per segment and suggested code: the ``n_like`` most similar training segments that
        carry the code and the most similar one that does not (training row indices).
        One pass per code over the segments that got it (vectorised over them)."""
        out: list[dict[int, tuple[list[int], int | None]]] = [{} for _ in range(len(D))]
        if S is None:
            return out
        carries = np.asarray(self.train_Y_, dtype=bool)
        for c in np.flatnonzero(D.any(0)):
            rows = np.flatnonzero(D[:, c])
            pos, neg = np.flatnonzero(carries[:, c]), np.flatnonzero(~carries[:, c])
            like = (pos[_top_k(S[np.ix_(rows, pos)], n_like)] if len(pos) and n_like > 0
                    else np.zeros((len(rows), 0), dtype=int))
            unlike = neg[S[np.ix_(rows, neg)].argmax(1)] if len(neg) else None  # the first of equals, as _top_k
            for r, i in enumerate(rows):
                out[i][int(c)] = (like[r].tolist(), None if unlike is None else int(unlike[r]))
        return out

    def _head_column(self, label_col: int) -> int:
        if label_col in self.binary_cols_:
            return self.binary_cols_.index(label_col)
        for cols, s in zip(self.group_cols_, self.heads_.slices()):
            if label_col in cols:
                return s.start + cols.index(label_col)
        raise KeyError(label_col)

    def _words(self, text: str, label_cols: Sequence[int], n_words: int, ctx_row=None, X: Design | None = None,
               row: int = 0) -> dict[int, list[tuple[str, float]]]:
        """Per code in ``label_cols``, the words that pushed it up: each TF-IDF feature's
        ``value * coefficient`` credited to the word(s) it comes from (a bigram to both
        words, a char n-gram to the words that contain it), all codes in one product.
        ``X``: the segment's design row, already built."""
        label_cols = list(label_cols)
        tf_blocks = [b for b in self.blocks_ if b != "embedding"]
        if not tf_blocks:
            return self._occlusion_words(text, label_cols, n_words, ctx_row)
        if X is None:
            E, Ec = self._embed_pair([text], None)
            X, row = self._design([text], None, E, Ec), 0
        csr = X.sparse
        lo_row, hi_row = csr.indptr[row], csr.indptr[row + 1]
        indices, values = csr.indices[lo_row:hi_row], csr.data[lo_row:hi_row]  # the row, without slicing the matrix
        lw = {x.lower() for x in words_of(text)}
        bounds, off = [], 0
        for b in tf_blocks:  # the text's own TF-IDF blocks come first; context blocks are skipped
            n_terms = len(self.tfidf_[b].terms)
            bounds.append((off, off + n_terms, b))
            off += n_terms
        index: dict[str, int] = {}
        words_at, feats, shares = [], [], []
        for k, j in enumerate(indices):
            for lo, hi, b in bounds:
                if lo <= j < hi:
                    term = self.tfidf_[b].terms[j - lo]
                    parts = term.split(" ") if b == "word" else ([x for x in lw if term.strip() in x] or [term.strip()])
                    for p in parts:
                        words_at.append(index.setdefault(p, len(index)))
                        feats.append(k)
                        shares.append(1.0 / len(parts))
                    break
        if not index:
            return {c: [] for c in label_cols}
        heads = [self._head_column(c) for c in label_cols]
        contrib = values[:, None].astype(np.float64) * self.coef_[X.n_dense + indices][:, heads]  # (features, codes)
        by_word = np.zeros((len(index), len(heads)))
        np.add.at(by_word, np.asarray(words_at), contrib[feats] * np.asarray(shares)[:, None])
        words = list(index)
        order = np.argsort(-by_word, axis=0, kind="stable")[:n_words].T.tolist()  # per code, ties in text order
        scores = by_word.T.tolist()
        return {c: [(words[w], scores[k][w]) for w in order[k] if scores[k][w] > 0] for k, c in enumerate(label_cols)}

    def _occlusion_words(self, text: str, label_cols: Sequence[int], n_words: int, ctx_row=None
                         ) -> dict[int, list[tuple[str, float]]]:
        """Per code, the words whose removal lowers its score most (re-embeds each variant
        once for all codes; only for models without TF-IDF, where coefficients cannot say it)."""
        label_cols = list(label_cols)
        words = words_of(text)
        uniq = list(dict.fromkeys(w.lower() for w in words))[:40]
        if len(uniq) < 2:
            return {c: [] for c in label_cols}
        variants = [re.sub(rf"(?i)\b{re.escape(u)}\b", "", text) for u in uniq]
        emb = self._embedder()
        V = emb.encode_uncached([text] + variants)
        ctx = np.zeros((len(V), DIM), dtype=np.float32) if ctx_row is None else np.tile(ctx_row, (len(V), 1))
        X = self._design([text] + variants, None, V, ctx)
        z = logits(X, self.coef_, self.intercept_)[:, [self._head_column(c) for c in label_cols]]
        drops = z[0] - z[1:]
        out = {}
        for k, c in enumerate(label_cols):
            order = np.argsort(-drops[:, k], kind="stable")
            out[c] = [(uniq[i], float(drops[i, k])) for i in order[:n_words] if drops[i, k] > 0]
        return out


def _top_k(S: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` largest values of each row of ``S``, largest first (ties by index)."""
    k = min(k, S.shape[1])
    if k <= 0:
        return np.zeros((S.shape[0], 0), dtype=int)
    top = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else np.tile(np.arange(S.shape[1]), (len(S), 1))
    vals = np.take_along_axis(S, top, axis=1)
    order = np.lexsort((top, -vals), axis=1)
    return np.take_along_axis(top, order, axis=1)


persist.register_model_class(CodeClassifier)  # persist.load_model finds it by the name in model.json
