"""Cross-validated evaluation by group (focus group / transcript), as a paper reports it.

:func:`cross_validate` refits a fresh model on the other groups for each held-out
group (leave-one-group-out, or k folds of groups) and scores the pooled
out-of-fold suggestions: per code precision, recall, F1, Cohen's kappa and support;
macro (over codes present in the truth) and micro averages; the same per group; for
each exclusive set accuracy and multi-class kappa; and optionally a learning curve.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from autocode.agreement.bootstrap import MIN_GROUPS, cluster_sums, percentile_interval, resample_weights
from autocode.agreement.stats import cohen_kappa, f1_scores, kappa_from_counts, macro_f1
from autocode.errors import InputError

from .labels import LabelSpace

#: Kappa where it is undefined (both sides the same one label throughout): full agreement.
UNDEFINED_KAPPA = 1.0


def code_metrics(Y_true: np.ndarray, Y_pred: np.ndarray, labels: Sequence[str],
                 exclusive: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
    """Per code and averaged metrics for 0/1 matrices over ``labels``.

    F1 and kappa are :mod:`autocode.agreement.stats`'; macro averages are over the codes
    present in the truth (0.0 when none is), F1 is 0.0 for a code neither side uses,
    kappa 1.0 where it is undefined (both sides the same one label throughout).
    """
    Y_true = np.asarray(Y_true).astype(int)
    Y_pred = np.asarray(Y_pred).astype(int)
    f1 = f1_scores(Y_true, Y_pred, unused=0.0)
    per: dict[str, dict[str, float]] = {}
    for j, l in enumerate(labels):
        t, p = Y_true[:, j], Y_pred[:, j]
        tp = int((t & p).sum())
        fp = int(((1 - t) & p).sum())
        fn = int((t & (1 - p)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        per[l] = {"precision": prec, "recall": rec, "f1": float(f1[j]),
                  "kappa": cohen_kappa(t, p, undefined=UNDEFINED_KAPPA),
                  "support": int(t.sum()), "predicted": int(p.sum())}
    present = [l for l in labels if per[l]["support"] > 0]

    def mean_present(metric: str) -> float:
        return float(np.mean([per[l][metric] for l in present])) if present else 0.0

    macro = {"precision": mean_present("precision"), "recall": mean_present("recall"),
             "f1": macro_f1(Y_true, Y_pred, over="truth", empty=0.0), "kappa": mean_present("kappa")}
    tp = int((Y_true & Y_pred).sum())
    fp = int(((1 - Y_true) & Y_pred).sum())
    fn = int((Y_true & (1 - Y_pred)).sum())
    micro = {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": float(f1_scores(Y_true.ravel(), Y_pred.ravel(), unused=0.0)[0]),
    }
    out: dict[str, Any] = {
        "per_code": per, "macro": macro, "micro": micro, "n_segments": int(len(Y_true)),
        "exact_match": float((Y_true == Y_pred).all(1).mean()) if len(Y_true) else 0.0,
        "abstained": float((Y_pred.sum(1) == 0).mean()) if len(Y_pred) else 0.0,
    }
    idx = {l: i for i, l in enumerate(labels)}
    ex_out = {}
    for g in exclusive:
        cols = [idx[x] for x in g if x in idx]
        if not cols:
            continue
        t = np.where(Y_true[:, cols].any(1), Y_true[:, cols].argmax(1), -1)
        p = np.where(Y_pred[:, cols].any(1), Y_pred[:, cols].argmax(1), -1)
        ex_out[" | ".join(g)] = {"accuracy": float((t == p).mean()),
                                 "kappa": cohen_kappa(t, p, undefined=UNDEFINED_KAPPA)}
    if ex_out:
        out["exclusive"] = ex_out
    return out


def group_splits(groups, n_splits: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-one-group-out (n_splits None) or k folds of whole groups (shuffled, seed 0)."""
    groups = np.asarray([str(x) for x in groups])
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise InputError(f"cross_validate: {len(uniq)} group(s)",
                         hint="cross-validation by group needs at least two focus groups or transcripts")
    if n_splits is None or n_splits >= len(uniq):
        return list(LeaveOneGroupOut().split(np.zeros(len(groups)), groups=groups))
    return list(GroupKFold(n_splits=n_splits, shuffle=True, random_state=0).split(np.zeros(len(groups)), groups=groups))


def cross_validate(
    make_model: Callable[[], Any],
    texts: Sequence[str],
    Y,
    labels: Sequence[str],
    groups: Sequence[Any],
    *,
    contexts: Sequence[str | None] | None = None,
    exclusive: Sequence[Sequence[str]] | None = None,
    n_splits: int | None = None,
    embeddings: np.ndarray | None = None,
    context_embeddings: np.ndarray | None = None,
    learning_curve: Sequence[float] | None = None,
    random_state: int = 0,
    prototypes: Mapping[str, str] | None = None,
    fit_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Cross-validates ``make_model()`` (a fresh, unfitted :class:`CodeClassifier`).

    ``n_splits=None`` is leave-one-group-out; otherwise k folds of whole groups.
    ``learning_curve``: fractions of the training groups (e.g. (0.1, 0.25, 0.5, 1.0))
    at which to refit and score macro/micro F1 on the same held-out folds. ``prototypes``: as in
    :meth:`CodeClassifier.fit`, given to every fold's fit, as are ``fit_params`` (e.g. ``progress``).
    Returns a JSON-ready dict (metrics over the closed label set of the model).
    """
    texts = list(texts)
    Y = np.asarray(Y)
    g = np.asarray([str(x) for x in groups])
    if len(g) != len(texts):
        raise InputError(f"cross_validate: {len(g)} groups for {len(texts)} texts", hint="give one group per segment")
    space = LabelSpace.build(labels, exclusive, getattr(make_model(), "valence", ()))
    Yc = space.close(space.expand(Y.astype(np.int8), list(labels)))
    splits = group_splits(g, n_splits)

    def sub(seq, idx):
        return None if seq is None else [seq[i] for i in idx]

    def subarr(a, idx):
        return None if a is None else a[idx]

    def run(train_sel: Callable[[np.ndarray], np.ndarray]):
        P = np.zeros(Yc.shape)
        D = np.zeros(Yc.shape, dtype=np.int8)
        for tr, te in splits:
            tr = train_sel(tr)
            m = make_model().fit(sub(texts, tr), Y[tr], labels, contexts=sub(contexts, tr), groups=g[tr],
                                 exclusive=exclusive, embeddings=subarr(embeddings, tr),
                                 context_embeddings=subarr(context_embeddings, tr), prototypes=prototypes,
                                 **(fit_params or {}))
            order = [m.labels_.index(l) for l in space.labels]
            p = m.predict_proba(sub(texts, te), sub(contexts, te), embeddings=subarr(embeddings, te),
                                context_embeddings=subarr(context_embeddings, te))
            P[te] = p[:, order]
            D[te] = m.decide(p)[:, order]
        return P, D

    P, D = run(lambda tr: tr)
    res = code_metrics(Yc, D, space.labels, space.exclusive)
    res["per_group"] = {}
    for grp in np.unique(g):
        rows = g == grp
        m = code_metrics(Yc[rows], D[rows], space.labels, space.exclusive)
        res["per_group"][grp] = {"n_segments": m["n_segments"], "macro": m["macro"], "micro": m["micro"],
                                 **({"exclusive": m["exclusive"]} if "exclusive" in m else {})}
    res["labels"] = list(space.labels)
    res["n_splits"] = len(splits)
    res["scheme"] = "leave-one-group-out" if n_splits is None or n_splits >= len(np.unique(g)) else f"{len(splits)}-fold by group"
    res["oof_proba"] = P
    res["oof_pred"] = D
    res["truth"] = Yc
    if learning_curve:
        rng = np.random.default_rng(random_state)
        curve = []
        for frac in learning_curve:
            def pick(tr, frac=frac):
                grs = np.unique(g[tr])
                k = max(2, int(round(frac * len(grs))))
                keep = rng.choice(grs, size=min(k, len(grs)), replace=False)
                return tr[np.isin(g[tr], keep)]
            _, Dl = run(pick)
            m = code_metrics(Yc, Dl, space.labels, space.exclusive)
            curve.append({"fraction": float(frac), "macro_f1": m["macro"]["f1"], "micro_f1": m["micro"]["f1"]})
        res["learning_curve"] = curve
    return res


def paired_kappa_gain(truth: np.ndarray, before: np.ndarray, after: np.ndarray, groups: Sequence[Any], *,
                      n_boot: int = 2000, confidence: float = 0.9, seed: int = 0) -> dict[str, Any]:
    """How much ``after``'s mean per-code kappa against ``truth`` exceeds ``before``'s (the macro
    kappa of :func:`code_metrics`: over the codes present), with a percentile interval from
    resampling whole groups, both models on the same resamples (a paired cluster bootstrap), and
    the share of resamples in which ``after`` agrees better. With fewer than
    :data:`autocode.agreement.bootstrap.MIN_GROUPS` groups there is no interval (``note`` says so).

    The 0/1 matrices are (segments, codes); rows of one group are not independent, hence groups."""
    truth, before, after = (np.asarray(x).astype(bool) for x in (truth, before, after))
    gain = (code_metrics(truth, after, [str(i) for i in range(truth.shape[1])])["macro"]["kappa"]
            - code_metrics(truth, before, [str(i) for i in range(truth.shape[1])])["macro"]["kappa"])
    names, clusters = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    out: dict[str, Any] = {"kappa_gain": round(float(gain), 4), "groups": len(names), "confidence": confidence}
    if len(names) < MIN_GROUPS:
        return {**out, "interval": None, "share_better": None,
                "note": f"no interval: {len(names)} groups, {MIN_GROUPS} are needed to resample whole groups"}

    diff = gain_replicates(truth, before, after, clusters, n_boot, seed)
    low, high = percentile_interval(diff, confidence)
    return {**out, "interval": [round(float(low), 4), round(float(high), 4)],
            "share_better": round(float((diff > 0).mean()), 3),
            "note": f"{confidence:.0%} percentile interval, {n_boot} resamples of whole groups ({len(names)})"}


def gain_replicates(truth: np.ndarray, before: np.ndarray, after: np.ndarray, clusters: np.ndarray,
                    n_boot: int, seed: int) -> np.ndarray:
    """The bootstrap replicates of :func:`paired_kappa_gain`: for each of ``n_boot`` draws of as
    many groups as there are, with replacement (``clusters``: each row's group index), the macro
    kappa of ``after`` minus that of ``before`` on the rows drawn, from per-group 2x2 counts."""
    n_groups = int(clusters.max()) + 1
    size = np.bincount(clusters, minlength=n_groups).astype(float)
    t, b, a, tb, ta = (cluster_sums(x, clusters, n_groups) for x in (truth, before, after, truth & before, truth & after))
    rng = np.random.default_rng(seed)
    weights = resample_weights(n_groups, n_boot, rng)
    n, present = (weights @ size)[:, None], (weights @ t) > 0

    def macro(both: np.ndarray, pred: np.ndarray) -> np.ndarray:
        k = kappa_from_counts(weights @ both, weights @ t, weights @ pred, n, undefined=UNDEFINED_KAPPA)
        return np.where(present, k, 0.0).sum(1) / np.maximum(present.sum(1), 1)

    return macro(ta, a) - macro(tb, b)


def jsonable(res: dict[str, Any]) -> dict[str, Any]:
    """The result without its arrays (for JSON and the model card)."""
    return {k: v for k, v in res.items() if k not in ("oof_proba", "oof_pred", "truth")}
