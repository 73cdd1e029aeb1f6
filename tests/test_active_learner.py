"""The active-learning loop (Learner) and the replay of a coded corpus (simulate)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from autocode.active import (
    FastLogistic,
    Learner,
    SimulationResult,
    StabilizingPredictions,
    default_model_factory,
    simulate,
)
from autocode.active.simulate import group_split


def _blobs(n=600, d=16, k=4, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2.5
    y = rng.integers(k, size=n)
    X = centres[y] + spread * rng.normal(size=(n, d))
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    return X, y


def _run(learner, y, answers, n=1):
    while learner.n_labelled < answers:
        q = learner.next(n)
        learner.teach(q, y[q].tolist())  # class indices


@pytest.mark.parametrize("strategy", ["random", "margin", "cluster_margin", "diverse_margin"])
def test_the_loop_learns_a_synthetic_corpus(strategy):
    X, y = _blobs()
    with Learner(X, codes=["a", "b", "c", "d"], strategy=strategy, initial=8, background=False) as learner:
        _run(learner, y, 60)
        assert learner.n_labelled == 60
        acc = np.mean(learner.predict().argmax(axis=1) == y)
        assert acc > 0.9
        # never asks twice about an answered segment
        assert not learner.labelled_mask[learner.next(5)].any()


def test_next_then_teach_by_ids_and_code_names():
    X, y = _blobs(n=200)
    codes = ["question", "reflection", "input", "other"]
    ids = [f"seg-{i}" for i in range(len(X))]
    learner = Learner(X, codes=codes, ids=ids, initial=4, background=False)
    asked = learner.next_ids(4)
    assert len(set(asked)) == 4 and all(a in ids for a in asked)
    d = learner.teach_ids(asked, [codes[y[ids.index(a)]] for a in asked])
    assert d.message.startswith("keep going")
    assert learner.n_labelled == 4
    assert learner.predict_proba().shape == (200, 4)
    # multi-label answers as lists of names; a correction replaces an answer
    learner.teach_ids([asked[0]], [["question", "other"]])
    row = learner.labels[ids.index(asked[0])]
    assert row.tolist() == [1, 0, 0, 1]
    assert learner.n_labelled == 4
    with pytest.raises(ValueError, match="unknown code"):
        learner.teach_ids([asked[1]], ["nonsense"])
    with pytest.raises(ValueError, match="unknown segment id"):
        learner.teach_ids(["nope"], ["question"])


def test_cold_start_serves_representative_segments_one_at_a_time():
    X, y = _blobs(n=300, k=4)
    learner = Learner(X, codes=4, strategy="cluster_margin", initial=6, background=False, seed=3)
    seen = []
    for _ in range(6):
        (i,) = learner.next(1)
        assert i not in seen
        seen.append(i)
        learner.teach([i], [int(y[i])])
    assert len(set(y[seen].tolist())) >= 3  # covers the pool, not one corner of it


def test_multilabel_learning_and_prediction():
    X, y = _blobs(n=400, k=4, seed=1)
    Y = np.zeros((len(X), 3), dtype=np.int8)
    Y[:, 0] = y == 0
    Y[:, 1] = (y == 1) | (y == 2)
    Y[:, 2] = (y == 2) | (y == 3)
    learner = Learner(X, codes=["x", "y", "z"], strategy="cluster_margin", initial=10, background=False)
    while learner.n_labelled < 80:
        q = learner.next(5)
        learner.teach(q, Y[q])
    assert not learner._effective_exclusive()
    assert np.mean(learner.predict() == Y) > 0.9


class _SlowModel(FastLogistic):
    """A 'heavy' model: the same, but slow to fit."""

    def fit(self, X, Y):
        time.sleep(0.3)
        return super().fit(X, Y)


def test_background_heavy_model_never_blocks_an_answer():
    X, y = _blobs(n=300)
    learner = Learner(X, codes=4, initial=5, heavy_model_factory=_SlowModel, estimate_every=5)
    try:
        t0 = time.perf_counter()
        for _ in range(10):
            q = learner.next(1)
            learner.teach(q, [int(y[q[0]])])
        assert time.perf_counter() - t0 < 2.0  # ten answers, far less than ten heavy fits
        assert learner.wait_idle(timeout=20)
        assert learner.heavy_model is not None
        assert learner._heavy["n_labels"] == 10
        assert learner.estimate() is not None and learner.estimate().n_labels == 10
        assert learner.last_error is None
    finally:
        learner.close()
    assert not learner._bg_thread.is_alive()


def test_model_that_cannot_fit_yet_keeps_the_cold_start():
    class NeedsTwoClasses(FastLogistic):
        def fit(self, X, Y):
            if len(np.unique(Y.argmax(axis=1))) < 2:
                raise ValueError("needs two classes")
            return super().fit(X, Y)

    X, y = _blobs(n=100)
    learner = Learner(X, codes=4, model_factory=NeedsTwoClasses, initial=1, background=False)
    i = learner.next(1)
    learner.teach(i, [0])
    assert learner.model is None and "two classes" in learner.last_error
    assert len(learner.next(1)) == 1  # still asks


def test_stopping_signal_in_the_loop():
    X, y = _blobs(n=400, spread=0.5)
    stop = StabilizingPredictions(window=3, threshold=0.98, every=10, min_labels=30)
    learner = Learner(X, codes=4, stopping=stop, initial=10, background=False)
    decisions = []
    while learner.n_labelled < 250:  # 1 question in 10 is a random check: 20 of them by 200 answers
        q = learner.next(10)
        decisions.append(learner.teach(q, y[q].tolist()).stop)
    assert not decisions[0] and not decisions[10]  # 110 answers: fewer than 20 random checks, no stop yet
    assert decisions[-1]  # an easy corpus: the model stops changing, and the checks say how well it codes
    assert learner.status().message.startswith("predictions have stabilised")
    assert "random checks" in learner.status().message


def test_group_split_keeps_documents_whole():
    groups = np.repeat(np.arange(12), 10)
    pool, test = group_split(groups, 0.25, seed=0)
    assert set(groups[pool]).isdisjoint(groups[test])
    assert len(pool) + len(test) == len(groups)
    assert 20 <= len(test) <= 40


def test_simulate_output_shape():
    X, y = _blobs(n=320, k=3)
    groups = np.arange(len(X)) // 20  # 16 "transcripts"
    res = simulate(
        X, y, groups, ["random", "margin", "cluster_margin"], budget=60, step=20, seeds=(0, 1), initial=20,
        model_factory=default_model_factory(C=4.0),
    )
    assert isinstance(res, SimulationResult)
    assert res.n_labels == [20, 40, 60]
    assert res.exclusive and res.n_codes == 3
    assert len(res.reference_f1) == 2
    for name in ("random", "margin", "cluster_margin"):
        c = res.curves[name]
        assert np.asarray(c.f1).shape == (2, 3)
        assert np.asarray(c.kappa).shape == (2, 3)
        assert np.asarray(c.code_kappa, dtype=float).shape == (2, 3, 3)  # seeds x points x codes
        assert len(c.stop_at) == 2
        assert all(0 <= v <= 1 for row in c.f1 for v in row)
    reach = res.labels_to_reach("random", 0.5)
    assert reach["mean_curve"] in res.n_labels
    d = res.to_dict()
    json.dumps(d)  # plain data
    assert {row["strategy"] for row in d["summary"]} == {"random", "margin", "cluster_margin"}
    assert d["curves"]["margin"]["mean_f1"] == pytest.approx(res.curves["margin"].mean("f1"))


def test_answers_until_each_code_reaches_a_held_out_kappa():
    """Per code, the first point where its kappa averaged over the seeds (those where it is
    defined) reaches the target; None where it never does or is never defined."""
    from autocode.active.simulate import StrategyCurve

    curve = StrategyCurve("random", code_kappa=[
        # seed 0: points at 20, 40, 60; codes a, b, c, d
        [[0.2, 0.9, None, 0.1], [0.5, 0.9, None, 0.2], [0.8, 0.9, None, 0.3]],
        [[0.4, 0.1, None, 0.1], [0.6, 0.2, None, 0.2], [0.6, None, None, 0.3]],
    ])
    res = SimulationResult(n_labels=[20, 40, 60], seeds=[0, 1], curves={"random": curve}, reference_f1=[0, 0],
                           reference_kappa=[0, 0], pool_size=[0, 0], test_size=[0, 0], n_codes=4, exclusive=False)
    # a: means 0.3, 0.55, 0.7 -> 60; b: 0.5, 0.55, then 0.9 (seed 1 undefined) -> 60; c never defined; d never
    assert res.labels_to_code_kappa("random", 0.6) == [60, 60, None, None]
    assert res.labels_to_code_kappa("random", 0.5) == [40, 20, None, None]


def test_simulate_refits_after_every_batch():
    X, y = _blobs(n=320, k=3)
    groups = np.arange(len(X)) // 20
    fits = []

    class Counting(FastLogistic):
        def fit(self, X, Y):
            fits.append(len(X))
            return super().fit(X, Y)

    simulate(X, y, groups, ["margin"], budget=60, step=20, batch=1, seeds=(0,), initial=20, model_factory=Counting,
             check_share=0)  # no random checks: no out-of-fold models to count
    ref = fits.pop(0)  # the whole-pool reference model
    assert ref > 200 and fits == list(range(1, 61))  # one refit per answer, cold start included
    fits.clear()
    simulate(X, y, groups, ["margin"], budget=60, step=20, batch=20, seeds=(0,), initial=20, model_factory=Counting,
             check_share=0)
    assert fits[1:] == [20, 40, 60]
    with pytest.raises(ValueError, match="batch"):
        simulate(X, y, groups, ["margin"], budget=60, batch=0)


def test_forget_takes_answers_back():
    X, y = _blobs(n=200)
    ids = list(range(1000, 1200))
    learner = Learner(X, codes=4, ids=ids, initial=4, background=False)
    first = learner.next_ids(4)
    learner.teach_ids(first, [int(y[i - 1000]) for i in first])
    v = learner.version
    d = learner.forget_ids([first[0]])
    assert learner.n_labelled == 3 and learner.version == v + 1
    assert not learner.labelled_mask[first[0] - 1000]
    assert learner.labels[first[0] - 1000].sum() == 0
    assert d.n_labels == 3 or d.n_labels == 4  # the signal only moves at checkpoints
    learner.forget_ids(first[1:])
    assert learner.n_labelled == 0 and learner.model is None
    assert len(learner.next(1)) == 1  # back to the cold start
    # a segment coded with no code at all is an answer too
    learner.teach_ids([first[0]], [[]])
    assert learner.n_labelled == 1 and learner.labels[first[0] - 1000].sum() == 0
