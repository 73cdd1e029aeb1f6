"""Sibling codes that coders give one at a time are decided together (CodeClassifier(siblings="auto"))."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autocode.agreement.stats import cohen_kappa
from autocode.classifier import CodeClassifier, LabelSpace
from conftest import DEMO

LABELS = ["A/x/1", "A/x/2", "A/x/3", "A/y/4", "A/y/5", "B/z/6", "B/w", "Barrier", "Enabler"]


def test_sibling_sets_share_a_parent_shallow_first_without_valence():
    space = LabelSpace.build(LABELS, valence=["Barrier", "Enabler"])
    named = [[space.labels[c] for c in cols] for cols in space.sibling_sets()]
    assert named[0] == ["A", "B"]  # the top-level codes share the root; valence is apart
    assert sorted(map(sorted, named[1:])) == [["A/x", "A/y"], ["A/x/1", "A/x/2", "A/x/3"], ["A/y/4", "A/y/5"],
                                              ["B/w", "B/z"]]


def test_one_at_a_time_takes_the_sets_coders_rarely_combine():
    space = LabelSpace.build(["A/x", "A/y", "B/z", "B/w"])
    idx = space.index
    rows = [["A/x"]] * 8 + [["A/y"]] * 8 + [["A/x", "A/y"]] * 2 + [["B/z"]] * 6 + [["B/z", "B/w"]] * 6
    Y = np.zeros((len(rows), len(space.labels)), dtype=np.int8)
    for i, r in enumerate(rows):
        Y[i, [idx[c] for c in r]] = 1
    Y = space.close(Y)
    chosen = [sorted(space.labels[c] for c in cols) for cols in space.one_at_a_time(Y, 0.2)]
    # A/x, A/y: 2 of 18 segments carry both (11%); B/z, B/w: 6 of 12 (50%); A, B: never together
    assert chosen == [["A", "B"], ["A/x", "A/y"]]
    assert [sorted(space.labels[c] for c in cols) for cols in space.one_at_a_time(Y, 0.1)] == [["A", "B"]]


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_a_single_set_keeps_its_most_probable_code_where_one_passes(data):
    space = LabelSpace.build(LABELS, valence=["Barrier", "Enabler"])
    k = len(space.labels)
    n = data.draw(st.integers(1, 8))
    probs = st.floats(0, 1, allow_nan=False)
    P = space.consistent_proba(np.array(data.draw(st.lists(st.lists(probs, min_size=k, max_size=k), min_size=n, max_size=n))))
    t = np.array(data.draw(st.lists(st.floats(0.05, 0.95), min_size=k, max_size=k)))
    sets = space.sibling_sets()
    below = space.descendants()
    alone = space.decide(P, t)
    together = space.decide(P, t, single=sets)
    par = space.parent_index()
    for c, p in enumerate(par):
        if p >= 0:
            assert (together[:, p] >= together[:, c]).all()    # still never a child without its parent
    vcols = space.valence_columns()
    top = sets[0]                                              # the top-level set ("A", "B") is decided first
    for i in range(n):
        kept = [c for c in top if together[i, c]]
        if not alone[i, top].any():
            assert kept == []                                  # nothing passed: nothing is added
        else:                                                  # the most probable, by the codes below it
            assert kept == [max(top, key=lambda c: P[i, below[c]].max())]
        for cols in sets:
            assert together[i, cols].sum() <= 1
        for c in range(k):                                     # a code below the kept one stays as decided
            if c not in vcols and par[c] >= 0 and together[i, par[c]] and not any(c in cols for cols in sets):
                assert together[i, c] == alone[i, c]
        assert (together[i, vcols] <= alone[i, vcols]).all()


def test_the_demo_themes_agree_better_with_a_left_out_group(tmp_path):
    """Real behaviour on the demo corpus: coder_a gives one theme per segment (98% of coded
    segments), and deciding siblings together raises the model's agreement on two held-out groups."""
    from autocode.app.imports import import_files
    from autocode.app.models import training_data
    from autocode.app.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    import_files(ws, sorted((DEMO / "coded").glob("*.csv")))
    data = training_data(ws.store, "coder_a")
    book = ws.store.codebook()
    embedder = ws.embedder()
    E = embedder.embed(data.texts)
    themes = [j for j, l in enumerate(data.labels) if l.count("/") == 1]
    held = np.isin(data.groups, ["Focus Group 1", "Focus Group 2"])
    train, test = np.flatnonzero(~held), np.flatnonzero(held)
    kappas, sets = {}, {}
    for siblings in ("independent", "auto"):
        m = CodeClassifier(embedder=embedder, valence=book.valence(), siblings=siblings).fit(
            [data.texts[i] for i in train], data.Y[train], data.labels, groups=[data.groups[i] for i in train],
            contexts=[data.contexts[i] for i in train], embeddings=E[train], prototypes=data.prototypes)
        D = m.predict([data.texts[i] for i in test], [data.contexts[i] for i in test], embeddings=E[test])
        D = D[:, [m.labels_.index(l) for l in data.labels]]
        kappas[siblings] = np.mean([cohen_kappa(data.Y[test, j], D[:, j]) for j in themes])
        sets[siblings] = m.single_sets_
    ws.close()
    assert sets["independent"] == [] and len(sets["auto"]) >= 4
    assert kappas["auto"] >= kappas["independent"] + 0.04, kappas


def test_siblings_setting_is_checked_and_saved(tmp_path):
    from autocode.embeddings import Embedder
    from autocode.errors import InputError

    texts = ["money runs out", "funding is short", "people feel better", "they are happier", "the tea is cold", "hello"]
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]])
    labels = ["Opportunity/Funding", "Motivation/Benefits"]
    with pytest.raises(InputError, match="siblings"):
        CodeClassifier(embedder=Embedder(None), cv=0, siblings="sometimes").fit(texts, Y, labels)
    m = CodeClassifier(embedder=Embedder(None), cv=0).fit(texts, Y, labels)
    assert [[m.labels_[c] for c in cols] for cols in m.single_sets_] == [["Opportunity", "Motivation"]]
    m.to_disk(tmp_path / "m")
    assert "- Opportunity, Motivation" in (tmp_path / "m" / "card.md").read_text(encoding="utf-8")
    again = CodeClassifier.from_disk(tmp_path / "m", embedder=Embedder(None))
    assert again.single_sets_ == m.single_sets_
    assert (again.predict(texts) == m.predict(texts)).all()
