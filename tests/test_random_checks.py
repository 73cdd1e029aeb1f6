"""Issue 15: the discover strategy finds rare codes first; a share of questions are random checks
whose agreement estimates how the model codes the rest; each code's progress; all of it kept in the
store and rebuilt after a restart, and shown by ``autocode progress``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from autocode.active import Learner, predict_labels
from autocode.active.estimate import answers_needed, code_progress, kappa_interval, overall_kappa
from autocode.active.simulate import estimate_coverage
from autocode.app.imports import import_files
from autocode.app.progress import coder_progress
from autocode.app.session import AnnotationSession
from autocode.app.workspace import Workspace
from conftest import DEMO, store_digest


# ---------------------------------------------------------------- the engine


def _rare_corpus(n=3000, d=24, seed=0):
    """Six codes, exclusive; two of them rare (1% and 2%); prototypes near each code's centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, d)) * 2.0
    y = rng.choice(6, size=n, p=[0.37, 0.3, 0.2, 0.1, 0.02, 0.01])
    X = centres[y] + rng.normal(size=(n, d)) * 1.2
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    P = centres + rng.normal(size=centres.shape) * 0.8  # a description is near, not at, the code's centre
    return X, y, P


def _answers_until_found(X, y, P, strategy, seed, min_positives=5, budget=600):
    with Learner(X, codes=6, strategy=strategy, initial=10, background=False, seed=seed, prototypes=P,
                 exclusive=True, refit_max_iter=6) as learner:
        found = np.zeros(6, dtype=int)
        while learner.n_labelled < budget:
            q = learner.next(1)
            learner.teach(q, [int(y[q[0]])])
            found[y[q[0]]] += 1
            if (found >= min_positives).all():
                return learner.n_labelled
    return budget


def test_discover_finds_every_code_sooner_than_random():
    X, y, P = _rare_corpus()
    seeds = range(4)
    discover = [_answers_until_found(X, y, P, "discover", s) for s in seeds]
    rand = [_answers_until_found(X, y, P, "random", s) for s in seeds]
    # random needs ~5 / 1% = 500 answers for the rarest code; discovery aims at it
    assert np.median(discover) <= 0.5 * np.median(rand), (discover, rand)


def test_random_checks_are_a_fixed_share_drawn_uniformly_and_kept_apart():
    X, y, _ = _rare_corpus(n=800)
    with Learner(X, codes=6, strategy="margin", initial=10, background=False, seed=1, check_share=0.1) as learner:
        skipped = set()
        for i in range(100):
            q = learner.next(1, exclude=sorted(skipped))
            assert int(q[0]) not in skipped
            if i == 5:  # a skipped question is never asked again, and another is drawn in its place
                skipped.add(int(q[0]))
                continue
            learner.teach(q, [int(y[q[0]])])
        assert learner.check_mask.sum() == 9  # every 10th of 99 answers
        # the checks are not the strategy's picks: margin asks near the boundary, checks anywhere
        margin = 1 - np.abs(np.diff(np.sort(learner.predict_proba(), axis=1)[:, -2:], axis=1))[:, 0]
        chosen = learner.labelled_mask & ~learner.check_mask
        assert margin[learner.check_mask].mean() < margin[chosen].mean()
        # undo takes a check back
        row = int(np.flatnonzero(learner.check_mask)[0])
        learner.forget([row])
        assert learner.check_mask.sum() == 8 and not learner.is_check(row)


def test_kappa_interval_is_cohens_kappa_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, size=(200, 3))
    noisy = np.where(rng.random(truth.shape) < 0.2, 1 - truth, truth)
    out = kappa_interval(truth, noisy, exclusive=False)
    for j in range(3):
        k = cohen_kappa_score(truth[:, j], noisy[:, j])
        c = out["codes"][j]
        assert c["kappa"] == pytest.approx(k, abs=1e-12) and c["low"] < k < c["high"]
    pooled = cohen_kappa_score(truth.ravel(), noisy.ravel())
    assert out["kappa"] == pytest.approx(pooled, abs=1e-12) and out["low"] < pooled < out["high"]
    one_hot = np.eye(4, dtype=int)[rng.integers(0, 4, 150)]
    guess = np.eye(4, dtype=int)[np.where(rng.random(150) < 0.3, rng.integers(0, 4, 150), one_hot.argmax(1))]
    assert overall_kappa(one_hot, guess, exclusive=True) == pytest.approx(
        cohen_kappa_score(one_hot.argmax(1), guess.argmax(1)), abs=1e-12)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_few_checks_get_the_expanded_interval(method):
    """Over 20 checks the interval is read at sqrt(m/(m-1)) t quantiles (about 10% wider than the
    plain bootstrap's and containing it); over 400 the two nearly agree."""
    rng = np.random.default_rng(3)

    def widths(m: int) -> list[float]:
        out = []
        for _ in range(5):
            truth = rng.integers(0, 2, size=(m, 5))
            noisy = np.where(rng.random(truth.shape) < 0.2, 1 - truth, truth)
            plain = kappa_interval(truth, noisy, exclusive=False, method=method, expand=False)
            wide = kappa_interval(truth, noisy, exclusive=False, method=method)  # expand is the default
            assert wide["kappa"] == plain["kappa"]
            assert wide["low"] <= plain["low"] and wide["high"] >= plain["high"]
            out.append((wide["high"] - wide["low"]) / (plain["high"] - plain["low"]))
        return out

    assert 1.04 < np.mean(widths(20)) < 1.15
    assert np.mean(widths(400)) < 1.02


def test_answers_needed_reads_a_power_law_learning_curve():
    curve = [(n, 1 - 2.0 * n ** -0.5) for n in (50, 100, 200, 300)]  # kappa 0.6 at n = 25
    assert answers_needed(curve, 0.5) == pytest.approx(300)  # reached already: where it stands
    curve = [(n, 1 - 4.0 * n ** -0.5) for n in (50, 100, 200)]  # 0.72 at 200; 0.8 at 400
    assert answers_needed(curve, 0.8) == pytest.approx(400, rel=1e-6)
    assert answers_needed([(50, 0.5), (100, 0.5), (200, 0.49)], 0.6) is None  # not rising: cannot tell
    crawl = [(n, 1 - 0.7 * n ** -0.002) for n in (50, 100, 200)]  # rising, but would need ~10^920 answers
    assert answers_needed(crawl, 0.99) == float("inf")
    assert answers_needed([(50, 0.3), (100, 0.4)], 0.6) is None  # too few points


def test_code_progress_lists_unseen_codes_first_and_projects_the_rest():
    truth = np.array([[1, 0, 0]] * 8 + [[0, 1, 0]] * 4)
    est = code_progress(["common", "rare", "unseen"], np.array([40, 3, 0]), truth, truth, n_labels=100,
                        exclusive=False, curves=[[(n, 1 - 4.0 * n ** -0.5) for n in (25, 50, 100)], [], []],
                        remaining=1000, target=0.8)
    assert [c.code for c in est.codes] == ["unseen", "rare", "common"]
    assert [c.status for c in est.codes] == ["never seen", "3 of 5 examples", "about 300 more"]
    assert est.codes[2].needs == 300 and not est.ready  # 12 random checks: fewer than MIN_CHECKS
    small = code_progress(["common", "rare", "unseen"], np.array([40, 3, 0]), truth, truth, n_labels=100,
                          exclusive=False, curves=[[(n, 1 - 4.0 * n ** -0.5) for n in (25, 50, 100)], [], []],
                          remaining=100, target=0.8)
    assert small.codes[2].status == "more than remain" and small.codes[2].needs is None


def test_the_random_check_estimate_holds_the_true_kappa_on_the_rest():
    """Coverage: over seeds and checkpoints the 95% interval holds the model's kappa on the uncoded rest."""
    held, total = 0, 0
    for seed in range(6):
        X, y, _ = _rare_corpus(n=1500, seed=seed)
        Y = np.eye(6, dtype=np.int8)[y]
        with Learner(X, codes=6, strategy="discover", initial=10, background=False, seed=seed, exclusive=True,
                     estimate_every=20, refit_max_iter=6) as learner:
            while learner.n_labelled < 400:
                q = learner.next(1)
                learner.teach(q, Y[q])
                if learner.n_labelled % 100 == 0:
                    est = learner.estimate(refresh=True)
                    rest = ~learner.labelled_mask
                    true = overall_kappa(Y[rest], predict_labels(learner.predict_proba()[rest], True), True)
                    total += 1
                    held += est.low <= true <= est.high
    assert total == 24 and held >= 20, f"{held} of {total}"


def _checkpoints(held_per_session: list[list[bool]], n_checks: int = 30) -> list[list[dict]]:
    """Recorded estimates as StrategyCurve keeps them: per session, per checkpoint (truth 0.5)."""
    return [[{"kappa": 0.5, "low": 0.4, "high": 0.6, "n_checks": n_checks, "test": 0.5 if h else 0.9} for h in hs]
            for hs in held_per_session]


def test_estimate_coverage_interval_resamples_sessions_not_checkpoints():
    """Ten checkpoints of a session share its checks: four sessions, two that always held and two
    that never did, tell little (an interval from about 0.25 to 0.75), where forty independent
    checkpoints at 50% would give about 0.35-0.65."""
    cov = estimate_coverage(_checkpoints([[True] * 10, [False] * 10, [True] * 10, [False] * 10]))
    assert (cov["checkpoints"], cov["covered"], cov["sessions"], cov["coverage"]) == (40, 20, 4, 0.5)
    assert cov["low"] <= 0.25 and cov["high"] >= 0.75
    mixed = estimate_coverage(_checkpoints([[True, False] * 5] * 4))  # each session half and half: no spread
    assert mixed["low"] == mixed["high"] == 0.5


def test_estimate_coverage_when_every_checkpoint_held_is_exact_over_sessions():
    cov = estimate_coverage(_checkpoints([[True] * 6] * 8))
    assert cov["coverage"] == 1.0 and cov["high"] == 1.0
    assert cov["low"] == pytest.approx(0.025 ** (1 / 8))  # Clopper-Pearson: 8 of 8 sessions
    few = estimate_coverage(_checkpoints([[True] * 6] * 8, n_checks=19))  # under MIN_CHECKS: no estimate
    assert few["checkpoints"] == 0 and few["coverage"] is None and few["low"] is None
    assert estimate_coverage(_checkpoints([[True] * 6] * 8, n_checks=19), min_checks=10)["checkpoints"] == 48


# ---------------------------------------------------------------- sessions, store, CLI

pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("checks") / "ws")
    import_files(ws, [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-2.csv"])
    import_files(ws, [DEMO / "uncoded" / "focus-group-7.txt"], group="Focus Group 7")
    yield ws
    ws.close()


def test_random_checks_are_stored_rebuilt_on_restart_and_reported(workspace):
    store = workspace.store
    session = AnnotationSession.start(workspace, "checker", group="Focus Group 7", background=False)
    task = session.state()["task"]
    for _ in range(25):
        ticked = [s["path"] for s in task["suggestions"] if s["suggested"]]
        reply = session.answer({"segment_id": task["segment_id"], "action": "accept" if ticked else "none",
                                "codes": ticked})
        task = reply["task"]
    progress = reply["progress"]
    session.close()
    answers = store.coder_answers("checker")
    assert len(answers) == 25
    checks = [a["segment_id"] for a in answers if a["random_check"]]
    assert len(checks) == 3  # the first question, then 1 in 10
    # the estimate is refreshed every 10 answers: at the 20th, two checks were in
    assert progress["estimate"]["checks"] == 2 and not progress["estimate"]["ready"]
    assert progress["signal"]["checks"] == 2 and "2 of 20 random checks" in progress["signal"]["message"]
    valence = set(store.codebook().valence())
    assert valence and {c["code"] for c in progress["estimate"]["valence"]} == valence
    assert not valence & {c["code"] for c in progress["estimate"]["codes"]}

    # a restart: the same checks, the same answers with what was suggested before each (a suggested
    # code the codebook no longer has is left out, never a reason to refuse the session)
    with store.transaction():
        store._x("UPDATE answers SET suggested=? WHERE id=(SELECT MIN(id) FROM answers WHERE action='accept')",
                 ('["No such/code"]',))
    again = AnnotationSession.start(workspace, "checker", group="Focus Group 7", background=False)
    learner = again.learner
    assert sorted(learner.ids[i] for i in np.flatnonzero(learner.check_mask)) == sorted(checks)
    assert learner._prior_known.sum() == 25
    again.close()

    # autocode progress reads the same, and writes nothing
    before = store_digest(workspace.root / "annotations" / "autocode.sqlite3")
    report = coder_progress(workspace, "checker", "Focus Group 7")
    assert report["answers"] == 25 and report["estimate"]["checks"] == 3
    codes = report["estimate"]["codes"]
    order = [(c["positives"] >= 5, c["positives"] > 0, c["positives"]) for c in codes]
    assert order == sorted(order)  # never seen first
    assert store_digest(workspace.root / "annotations" / "autocode.sqlite3") == before


def test_progress_command(cli):
    cli("init", cli.root, workspace=False)
    assert cli("import", DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-2.csv").exit_code == 0
    r = cli("progress", "--coder", "coder_a", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["coded"] > 100 and data["answers"] == 0 and data["estimate"]["checks"] == 0
    assert all(c["positives"] >= 0 for c in data["estimate"]["codes"])
    r = cli("progress", "--coder", "coder_a")
    assert r.exit_code == 0 and "Agreement with you on random checks" in r.output and "examples" in r.output
    r = cli("progress", "--coder", "nobody")  # no answers of their own: what others coded teaches the model
    assert r.exit_code == 0 and "0 answers in sessions" in r.output


def test_discover_prior_weighs_the_code_description_against_a_weak_model():
    """A code with one example and a weak model whose ranking runs against the code's description:
    alone (``prior=0``) the model asks about the segment it scores highest, the least like the
    description; with the prior, the segment that fits the description best, middling for the model."""
    from autocode.active.strategies import Discover

    rng = np.random.default_rng(0)
    proto = np.zeros((2, 8))
    proto[0, 0] = proto[1, 1] = 1.0
    X = 0.3 * rng.normal(size=(50, 8))
    X[:, 1] = np.linspace(0.9, -0.9, 50)  # less like code 1's description with each row
    X[20] = proto[1]  # but row 20 is its description
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    labels = np.zeros((50, 2), dtype=np.int8)
    labelled = np.zeros(50, dtype=bool)
    labelled[:10] = True
    labels[:9, 0] = 1  # code 0: 9 examples; code 1: one, so code 1 is asked about
    labels[9, 1] = 1
    P = np.full((50, 2), 0.5)
    P[:, 1] = np.linspace(0.10, 0.20, 50)  # the model: rises with the row number, row 49 highest
    picks = {}
    for prior in (0.0, 1.0):
        strategy = Discover(random_share=0.0, prior=prior)
        strategy.prepare(X, np.random.default_rng(1), prototypes=proto)
        picks[prior] = int(strategy.query(P, X, labelled, 1, np.random.default_rng(2), labels=labels)[0])
    assert picks == {0.0: 49, 1.0: 20}


def _discover_pick(P, labels, labelled, parents=None, X=None):
    from autocode.active.strategies import Discover

    n = len(P)
    X = X if X is not None else np.eye(n, dtype=np.float32)
    strategy = Discover(random_share=0.0)
    strategy.prepare(X, np.random.default_rng(1), parents=parents)
    j = int(strategy.query(P, X, labelled, 1, np.random.default_rng(2), labels=labels)[0])
    return j, strategy._aimed[j]


def test_discover_asks_for_the_segment_that_brings_the_most_missing_examples():
    """Codes 0 and 1 have one example each (code 2 has its five): a segment fairly likely to carry
    both is worth more than one very likely to carry one (0.8 x (0.6 + 0.6) against 0.8 x 0.9);
    the question counts as aimed at the code that weighed most in it."""
    n = 12
    labels = np.zeros((n, 3), dtype=np.int8)
    labelled = np.zeros(n, dtype=bool)
    labelled[:7] = True
    labels[0, 0] = labels[1, 1] = 1
    labels[2:7, 2] = 1
    P = np.full((n, 3), 0.05)
    P[7] = [0.9, 0.0, 0.5]  # very likely code 0 alone
    P[8] = [0.6, 0.65, 0.5]  # fairly likely both
    j, aimed = _discover_pick(P, labels, labelled)
    assert (j, aimed) == (8, 1)


def test_discover_reads_a_sub_theme_through_its_theme():
    """Theme 0 with sub-themes 1 (five examples) and 2 (one). The weak model for sub-theme 2 ranks
    highest a segment outside the theme (row 7) and then one its sibling claims (row 8); read
    through the codebook's nesting, the question goes to the theme's segment no sibling claims
    (row 9). Without the nesting, to row 7."""
    n = 12
    labels = np.zeros((n, 3), dtype=np.int8)
    labelled = np.zeros(n, dtype=bool)
    labelled[:6] = True
    labels[:5, [0, 1]] = 1
    labels[5, [0, 2]] = 1
    for c in range(3):  # the theme's examples: six; each code at five or more but sub-theme 2
        assert labels[:, c].sum() == (6, 5, 1)[c]
    P = np.full((n, 3), 0.05)
    P[6:, 0] = 0.05
    P[7] = [0.1, 0.05, 0.50]  # not the theme
    P[8] = [0.9, 0.90, 0.45]  # the theme, but sub-theme 1 claims it
    P[9] = [0.9, 0.10, 0.35]  # the theme, unclaimed
    assert _discover_pick(P, labels, labelled, parents=[-1, 0, 0]) == (9, 2)
    assert _discover_pick(P, labels, labelled) == (7, 2)


def test_learner_reads_the_nesting_off_code_paths():
    from autocode.active import Learner
    from autocode.codebook import parent_columns

    assert parent_columns(["A", "A/B", "A/B/C", "D/E", "A/X/Y"]) == [-1, 0, 1, -1, 0]
    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    lr = Learner(X, ["Theme", "Theme/Sub", "Other"], background=False)
    assert {c: t for c, (t, _) in lr.strategy._siblings.items()} == {1: 0}
    with pytest.raises(ValueError, match="2 parents for 3 codes"):
        Learner(X, ["a", "b", "c"], parents=[-1, 0], background=False)


def test_neighbour_rows_follow_each_document_s_order():
    from autocode.active.strategies import neighbour_rows

    got = neighbour_rows(["a", "a", "b", "a"], [2, 0, 5, 1])
    assert got.tolist() == [[3, -1], [-1, 3], [-1, -1], [1, 0]]


@pytest.mark.parametrize("codes_run", [True, False])
def test_discover_looks_beside_an_example_when_codes_run_across_neighbours(codes_run):
    """One document, rows in order. Code 0 has one example (row 6); code 1 has its five. Where the
    answered neighbours share their codes (rows 0-4 all code 1), the row beside code 0's example
    (row 7) is asked about before the one the model rates highest (row 9); where they do not
    (rows 0-4 alternate), row 9. Without the reading order, row 9 either way (``beside=True``; off
    by default, the default asks about row 9)."""
    from autocode.active.strategies import Discover, neighbour_rows

    n = 12
    labels = np.zeros((n, 2), dtype=np.int8)
    labelled = np.zeros(n, dtype=bool)
    labelled[[0, 1, 2, 3, 4, 6, 8, 10]] = True
    labels[[0, 2, 4, 8, 10], 1] = 1
    if codes_run:
        labels[[1, 3], 1] = 1
    labels[6, 0] = 1
    P = np.full((n, 2), 0.05)
    P[5, 0], P[7, 0], P[9, 0] = 0.10, 0.12, 0.50
    X = np.eye(n, dtype=np.float32)
    picks = []
    for neighbours in (neighbour_rows(["doc"] * n, range(n)), None):
        strategy = Discover(random_share=0.0, beside=True)
        strategy.prepare(X, np.random.default_rng(1), neighbours=neighbours)
        picks.append(int(strategy.query(P, X, labelled, 1, np.random.default_rng(2), labels=labels)[0]))
    assert picks == ([7, 9] if codes_run else [9, 9])
    default = Discover(random_share=0.0)
    default.prepare(X, np.random.default_rng(1), neighbours=neighbour_rows(["doc"] * n, range(n)))
    assert int(default.query(P, X, labelled, 1, np.random.default_rng(2), labels=labels)[0]) == 9


def test_learner_refuses_places_that_do_not_match_its_rows():
    from autocode.active import Learner

    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="4 places for 5 segments"):
        Learner(X, ["a", "b"], places=[("d", i) for i in range(4)], background=False)
