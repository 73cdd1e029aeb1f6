"""Query strategies, the fast model and the stopping signal of autocode.active."""

from __future__ import annotations

import numpy as np
import pytest

from autocode.active import (
    DEFAULT_STRATEGY,
    FastLogistic,
    QueryStrategy,
    ScoreStrategy,
    StabilizingPredictions,
    available_strategies,
    get_strategy,
    predict_labels,
    register,
    uncertainty,
)
from autocode.active.metrics import agreement, kappa, macro_f1


def _unit(X):
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def _pool(n=300, d=16, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    y = rng.integers(k, size=n)
    X = _unit(centres[y] + rng.normal(size=(n, d)))
    return X, y


def _probas(n, k, rng, exclusive):
    if exclusive:
        P = rng.dirichlet(np.ones(k), size=n)
    else:
        P = rng.random((n, k))
    return P


@pytest.mark.parametrize("name", available_strategies())
@pytest.mark.parametrize("exclusive", [True, False])
def test_strategies_return_distinct_unlabelled_indices(name, exclusive):
    X, _ = _pool()
    rng = np.random.default_rng(1)
    mask = np.zeros(len(X), dtype=bool)
    mask[rng.choice(len(X), 40, replace=False)] = True
    strat = get_strategy(name)
    for probas in (None, _probas(len(X), 4, rng, exclusive)):
        for n in (1, 7, 25):
            q = np.asarray(strat.query(probas, X, mask, n, np.random.default_rng(2)))
            assert q.dtype.kind == "i"
            assert len(q) == n
            assert len(np.unique(q)) == n
            assert q.min() >= 0 and q.max() < len(X)
            assert not mask[q].any()


@pytest.mark.parametrize("name", available_strategies())
def test_strategies_when_the_pool_runs_out(name):
    X, _ = _pool(n=40)
    mask = np.ones(len(X), dtype=bool)
    mask[[3, 17, 29]] = False
    P = np.full((len(X), 4), 0.25)
    q = get_strategy(name).query(P, X, mask, 10, np.random.default_rng(0))
    assert sorted(np.asarray(q).tolist()) == [3, 17, 29]
    mask[:] = True
    assert len(get_strategy(name).query(P, X, mask, 5, np.random.default_rng(0))) == 0


def test_random_is_reproducible_under_a_seed():
    X, _ = _pool()
    mask = np.zeros(len(X), dtype=bool)
    P = np.full((len(X), 4), 0.25)
    a = get_strategy("random").query(P, X, mask, 20, np.random.default_rng(7))
    b = get_strategy("random").query(P, X, mask, 20, np.random.default_rng(7))
    c = get_strategy("random").query(P, X, mask, 20, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_uncertainty_measures():
    P = np.array([[0.4, 0.35, 0.25], [1.0, 0.0, 0.0], [0.8, 0.15, 0.05]])
    for m in ("least_confidence", "margin", "entropy"):
        u = uncertainty(P, m)
        assert u[0] > u[2] > u[1] - 1e-9
        assert np.all((u >= -1e-9) & (u <= 1 + 1e-9))
    assert uncertainty(np.array([[0.5, 0.5, 0.0]]), "margin")[0] == pytest.approx(1.0)
    # multi-label: a segment is as uncertain as its most uncertain code
    Q = np.array([[0.99, 0.5], [0.99, 0.01], [0.2, 0.3]])
    u = uncertainty(Q, "margin")
    assert u[0] == pytest.approx(1.0)
    assert u[0] > u[2] > u[1]


def _duplicates_pool():
    """20 near-copies of one uncertain segment plus well-spread confident ones."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=16)
    dups = _unit(base + 0.001 * rng.normal(size=(20, 16)))
    others = _unit(rng.normal(size=(200, 16)))
    X = np.vstack([dups, others]).astype(np.float32)
    P = np.zeros((len(X), 3))
    P[:20] = [0.34, 0.33, 0.33]  # the duplicates are the most uncertain
    P[20:] = rng.dirichlet([1.0, 1.0, 1.0], size=200) * 0.5 + np.array([0.5, 0.0, 0.0])
    return X, P


@pytest.mark.parametrize("name", ["diverse_margin", "cluster_margin", "badge"])
def test_diversity_strategies_do_not_ask_about_near_duplicates(name):
    X, P = _duplicates_pool()
    mask = np.zeros(len(X), dtype=bool)
    mask[200:] = True  # leave the duplicates and 20 others unlabelled
    q = np.asarray(get_strategy(name).query(P, X, mask, 5, np.random.default_rng(0)))
    assert np.sum(q < 20) <= 1
    # plain margin sampling takes all five from the copies
    q_margin = get_strategy("margin").query(P, X, mask, 5, np.random.default_rng(0))
    assert np.all(np.asarray(q_margin) < 20)


def test_diverse_margin_avoids_copies_of_answered_segments():
    X, P = _duplicates_pool()
    mask = np.zeros(len(X), dtype=bool)
    mask[0] = True  # one copy answered: the others are no longer novel
    q = get_strategy("diverse_margin").query(P, X, mask, 1, np.random.default_rng(0))
    assert q[0] >= 20


def test_a_new_strategy_is_a_few_lines_and_usable_by_name():
    @register("test_most_positive")
    class MostPositive(ScoreStrategy):
        def score(self, probas, X, labelled_mask, rng, labels=None):
            return probas[:, 0]

    X, _ = _pool(n=50)
    P = np.zeros((50, 2))
    P[:, 0] = np.linspace(0, 1, 50)
    P[:, 1] = 1 - P[:, 0]
    q = get_strategy("test_most_positive").query(P, X, np.zeros(50, bool), 3, np.random.default_rng(0))
    assert sorted(q.tolist()) == [47, 48, 49]
    assert isinstance(get_strategy("test_most_positive"), QueryStrategy)


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="margin"):
        get_strategy("no-such-strategy")
    assert DEFAULT_STRATEGY in available_strategies()


# -- the fast model --------------------------------------------------------------


def test_fast_logistic_exclusive_and_multilabel():
    X, y = _pool(n=400, k=4)
    Y = np.eye(4, dtype=np.int8)[y]
    m = FastLogistic().fit(X[:300], Y[:300])
    P = m.predict_proba(X[300:])
    assert m.exclusive_
    assert np.allclose(P.sum(axis=1), 1.0)
    assert np.mean(P.argmax(axis=1) == y[300:]) > 0.9
    # a second, independent code makes it multi-label (one sigmoid per code)
    Y2 = np.hstack([Y, (y % 2 == 0).astype(np.int8)[:, None]])
    m2 = FastLogistic().fit(X[:300], Y2[:300])
    assert not m2.exclusive_
    pred = predict_labels(m2.predict_proba(X[300:]), exclusive=False)
    assert macro_f1(Y2[300:], pred, exclusive=False) > 0.85


def test_fast_logistic_warm_start_and_degenerate_labels():
    X, y = _pool(n=300)
    Y = np.eye(4, dtype=np.int8)[y]
    m = FastLogistic()
    m.fit(X[:200], Y[:200])
    cold = m.n_iter_
    m.fit(X[:201], Y[:201])
    assert m.n_iter_ < cold
    # one answer, one code only: still fits and predicts
    one = FastLogistic().fit(X[:1], Y[:1])
    assert one.predict_proba(X).shape == (300, 4)


def test_metrics():
    Y = np.eye(3, dtype=np.int8)[[0, 1, 2, 0, 1, 2]]
    assert kappa(Y, Y, True) == pytest.approx(1.0)
    assert macro_f1(Y, Y, True) == pytest.approx(1.0)
    k, same = agreement(Y, Y[::-1], True)
    assert same < 1 and k < 1
    # Identical constant codings agree fully (kappa is undefined there: the learner reads 1.0).
    none = np.zeros((6, 3), dtype=np.int8)
    assert agreement(none, none, False) == (1.0, 1.0)
    assert kappa(Y[:, :1] * 0 + 1, Y[:, :1] * 0 + 1, False) == 1.0
    assert kappa(np.eye(3, dtype=np.int8)[[1] * 6], np.eye(3, dtype=np.int8)[[1] * 6], True) == 1.0


# -- stopping signal -----------------------------------------------------------------


def test_stopping_signal_stabilises_when_predictions_stop_changing():
    rng = np.random.default_rng(0)
    stop = StabilizingPredictions(window=3, threshold=0.99, every=10, min_labels=30, min_checks=0)
    pred = np.eye(4, dtype=np.int8)[rng.integers(4, size=500)]
    d = stop.update(pred, 10)
    assert not d.stop and d.message.startswith("keep going")
    # predictions keep changing: keep going
    for n in (20, 30, 40, 50):
        d = stop.update(np.eye(4, dtype=np.int8)[rng.integers(4, size=500)], n)
        assert not d.stop
    assert d.agreement is not None and d.agreement < 0.5
    # the model stops changing: after `window` unchanged comparisons, stop
    fixed = np.eye(4, dtype=np.int8)[rng.integers(4, size=500)]
    stop.update(fixed, 60)
    for n in (70, 80):
        assert not stop.update(fixed, n).stop
    d = stop.update(fixed, 90)
    assert d.stop and d.message.startswith("predictions have stabilised")
    assert d.unchanged == pytest.approx(1.0)
    # updates closer together than `every` answers are not comparisons
    assert len(stop.update(fixed, 95).history) == len(d.history)
    # a big change resets it
    assert not stop.update(np.eye(4, dtype=np.int8)[rng.integers(4, size=500)], 100).stop


def test_stopping_waits_for_enough_random_checks_and_min_kappa():
    fixed = np.eye(3, dtype=np.int8)[np.arange(300) % 3]
    stop = StabilizingPredictions(window=2, every=1, min_labels=50, min_checks=10, min_kappa=0.6)
    for n in range(1, 10):
        assert not stop.update(fixed, n).stop  # too few answers
    for n in range(50, 53):
        d = stop.update(fixed, n)
    assert not d.stop  # stable, but no random checks yet
    assert "0 of 10 random checks answered" in d.message
    stop.set_estimate(0.8, 0.55, 0.9, n_checks=12)
    assert not stop.decision().stop  # the interval's lower end is under min_kappa
    stop.set_estimate(0.8, 0.65, 0.9, n_checks=9)
    assert not stop.decision().stop  # too few checks
    stop.set_estimate(0.8, 0.65, 0.9, n_checks=12)
    assert stop.decision().stop
    assert "kappa 0.80 (0.65-0.90) on 12 random checks" in stop.decision().message
    # without random checks (min_checks=0) stability alone decides
    plain = StabilizingPredictions(window=2, every=1, min_labels=50, min_checks=0)
    for n in range(50, 53):
        d = plain.update(fixed, n)
    assert d.stop
