"""The classifier: learning, hierarchy, exclusivity, thresholds, save/load, explain, evaluation."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import sklearn.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from autocode.classifier import CodeClassifier, LabelSpace, load_model, read_card, save_model
from autocode.classifier.evaluate import code_metrics, cross_validate
from autocode.classifier.report import write_html_report
from autocode.embeddings import Embedder
from autocode.errors import AutocodeError, InputError

FUND = "Opportunity/Implementation/Short-term funding"
BENEFIT = "Motivation/Mental health motivation/Witnessing benefits"
REMIT = "Capability/Understanding boundaries/Not therapists"
LABELS = [FUND, BENEFIT, REMIT, "Barrier", "Enabler"]
VALENCE = ["Barrier", "Enabler"]  # the study codebook's "Valence" group

# (text, codes) in three focus groups; the last ones of each group are uncoded small talk
CODED = [
    [("The grant only lasts a year and then we're scrambling again", [FUND, "Barrier"]),
     ("Every pot of money is short term, so nothing we build can last", [FUND, "Barrier"]),
     ("You could see people come out of themselves after a few weeks of singing", [BENEFIT, "Enabler"]),
     ("One lady told me the choir was the only thing that got her out of bed", [BENEFIT, "Enabler"]),
     ("We're not counsellors, we run a pottery class, we can't take on a crisis", [REMIT, "Barrier"]),
     ("Shall I pour the tea before we start", []),
     ("Is the heating on in here or is it just me", [])],
    [("The council gives us money for twelve months and then it vanishes", [FUND, "Barrier"]),
     ("Funding rounds are annual so we can never plan ahead", [FUND, "Barrier"]),
     ("It's lovely watching someone gain confidence week by week in the garden", [BENEFIT, "Enabler"]),
     ("People say they feel calmer and less alone after our walks", [BENEFIT, "Enabler"]),
     ("Our volunteers aren't therapists and shouldn't be asked to act like them", [REMIT, "Barrier"]),
     ("Sorry I'm late, the bus was cancelled", []),
     ("Can everyone hear me at the back", [])],
    [("Short-term contracts mean the project stops just when it's working", [FUND, "Barrier"]),
     ("We never know if the money will be renewed next spring", [FUND, "Barrier"]),
     ("The men in the workshop talk more and seem happier since they joined", [BENEFIT, "Enabler"]),
     ("You see the difference it makes to their mood, it's visible", [BENEFIT, "Enabler"]),
     ("We're a library, not a mental health service, there's a limit to what we can do", [REMIT, "Barrier"]),
     ("Where did you park, is the car park free", []),
     ("I'll just put my phone on silent", [])],
]


def _data():
    texts, rows, groups, ctx = [], [], [], []
    for g, segs in enumerate(CODED):
        for t, codes in segs:
            texts.append(t)
            rows.append([int(l in codes) for l in LABELS])
            groups.append(f"FG{g + 1}")
            ctx.append("What gets in the way of this work?")
    return texts, np.array(rows), groups, ctx


@pytest.fixture(scope="module")
def embedder():
    return Embedder(None)


@pytest.fixture(scope="module")
def model(embedder):
    texts, Y, groups, ctx = _data()
    return CodeClassifier(embedder=embedder, cv=3, valence=VALENCE).fit(texts, Y, LABELS, groups=groups, contexts=ctx,
                                                       ids=[f"s{i}" for i in range(len(texts))])


NEW = ["Our money runs out at the end of the financial year, every single year",
       "A man told me the group helped him feel less lonely and much happier",
       "We're just a community theatre, we aren't trained to give therapy",
       "Does anyone want a biscuit"]


def test_learns_codes_and_abstains_on_small_talk(model):
    P = model.predict_proba(NEW, ["What gets in the way of this work?"] * 4)
    col = {l: i for i, l in enumerate(model.labels_)}
    assert P[0, col[FUND]] > max(P[0, col[BENEFIT]], P[0, col[REMIT]])
    assert P[1, col[BENEFIT]] > max(P[1, col[FUND]], P[1, col[REMIT]])
    assert P[2, col[REMIT]] > max(P[2, col[FUND]], P[2, col[BENEFIT]])
    D = model.predict(NEW)
    assert D[0, col[FUND]] and D[1, col[BENEFIT]] and D[2, col[REMIT]]
    assert D[3].sum() == 0  # small talk: no code at all (valence included)
    sugg = model.suggest(NEW[:1])[0]
    assert sugg[0][0] in (FUND, "Opportunity/Implementation", "Opportunity") and "Barrier" in dict(sugg)


def test_labels_closed_upward_with_parents_added(model):
    for l in ["Opportunity", "Opportunity/Implementation", "Motivation/Mental health motivation", "Capability"]:
        assert l in model.labels_
    col = {l: i for i, l in enumerate(model.labels_)}
    Yt = model.train_Y_
    assert (Yt[:, col["Opportunity"]] >= Yt[:, col[FUND]]).all()
    assert Yt[:, col["Opportunity/Implementation"]].sum() == Yt[:, col[FUND]].sum()


def test_model_probabilities_respect_hierarchy(model):
    P = model.predict_proba(NEW + ["The funding is only for a year and people are happier for it"])
    par = model.label_space_.parent_index()
    for c, p in enumerate(par):
        if p >= 0:
            assert (P[:, p] >= P[:, c] - 1e-12).all()
    D = model.decide(P)
    for c, p in enumerate(par):
        if p >= 0:
            assert (D[:, p] >= D[:, c]).all()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_hierarchy_consistency_property(data):
    space = LabelSpace.build(["A/x/1", "A/x/2", "A/y", "B/z/3", "Barrier", "Enabler"], valence=VALENCE)
    k = len(space.labels)
    n = data.draw(st.integers(1, 6))
    probs = st.floats(0, 1, allow_nan=False)
    P = np.array(data.draw(st.lists(st.lists(probs, min_size=k, max_size=k), min_size=n, max_size=n)))
    t = np.array(data.draw(st.lists(st.floats(0.05, 0.95), min_size=k, max_size=k)))
    Pc = space.consistent_proba(P)
    D = space.decide(Pc, t)
    par = space.parent_index()
    for c, p in enumerate(par):
        if p >= 0:
            assert (Pc[:, p] >= Pc[:, c]).all()          # parent at least as probable
            assert (D[:, p] >= D[:, c]).all()            # never a child without its parent
    assert (Pc >= P - 1e-12).all()                       # the rule only raises parents
    vcols = space.valence_columns()
    other = [c for c in range(k) if c not in vcols]
    assert (D[D[:, other].sum(1) == 0][:, vcols] == 0).all()  # valence only with a code
    Y = (P > 0.5).astype(np.int8)
    Yc = space.close(Y)
    for c, p in enumerate(par):
        if p >= 0:
            assert (Yc[:, p] >= Yc[:, c]).all()


def test_exclusive_head_sums_to_one_and_picks_one(embedder):
    texts = ["So you feel stuck between two choices.", "How often do you drink in a week?",
             "It sounds like your family matters a lot to you.", "What would you like to change?",
             "Drinking more than 14 units a week raises your risk.", "Hello, nice to meet you.",
             "You're worried about your health.", "When did you first notice this?",
             "Many people find that cutting down helps their sleep.", "Okay, see you next week."] * 2
    labels = ["reflection", "question", "input", "other"]
    cls = [0, 1, 0, 1, 2, 3, 0, 1, 2, 3] * 2
    Y = np.eye(4, dtype=int)[cls]
    m = CodeClassifier(embedder=embedder, cv=2, valence=()).fit(texts, Y, labels, exclusive=[labels],
                                                                 groups=[i // 5 for i in range(20)])
    P = m.predict_proba(["Do you smoke?", "You sound tired of it all.", "Goodbye then."])
    assert np.allclose(P.sum(1), 1.0)
    assert (m.predict(["Do you smoke?", "You sound tired of it all."]).sum(1) == 1).all()
    # with segments that carry none of the set, members plus "none" sum to 1
    Y2 = Y.copy()
    Y2[[5, 9, 15, 19]] = 0
    m2 = CodeClassifier(embedder=embedder, cv=2, valence=()).fit(texts, Y2, labels, exclusive=[labels])
    P2 = m2.predict_proba(texts[:4])
    assert (P2.sum(1) <= 1 + 1e-9).all() and m2.group_none_ == [True]
    with pytest.raises(InputError, match="two codes of the exclusive set"):
        Y3 = Y.copy()
        Y3[0, 1] = 1
        CodeClassifier(embedder=embedder, cv=0).fit(texts, Y3, labels, exclusive=[labels])


def test_thresholds_and_abstention(model, embedder):
    assert ((model.thresholds_ >= 0.0) & (model.thresholds_ <= 0.95)).all()
    texts, Y, groups, _ = _data()
    strict = CodeClassifier(embedder=embedder, threshold=0.999, cv=0, valence=VALENCE).fit(texts, Y, LABELS)
    assert strict.predict(NEW).sum() == 0  # nothing is that sure: every segment abstains
    assert (strict.thresholds_ == 0.999).all()
    # trained only on coded segments, "auto" never abstains: the most probable code is kept
    coded = Y[:, :3].any(1)
    always = CodeClassifier(embedder=embedder, threshold=0.999, cv=0, valence=VALENCE).fit(
        [t for t, c in zip(texts, coded) if c], Y[coded], LABELS)
    assert model.abstains_ and not always.abstains_
    D = always.predict(NEW)
    col = {l: i for i, l in enumerate(always.labels_)}
    assert (D[:, [col[FUND], col[BENEFIT], col[REMIT]]].sum(1) == 1).all()
    assert D[0, col[FUND]] and D[0, col["Opportunity"]]  # closed upward


def test_save_load_round_trip(model, embedder, tmp_path):
    folder = model.to_disk(tmp_path / "models" / "demo", codebook_hash="cb123", training_data_hash="td456",
                        coders=["coder_a"], metrics={"macro": {"f1": 0.5, "kappa": 0.4}, "micro": {"f1": 0.6},
                                                     "scheme": "leave-one-group-out", "per_code": {}})
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["card.json", "card.md", "model.json", "weights.safetensors"]
    loaded = CodeClassifier.from_disk(folder, embedder=embedder)
    ctx = ["What gets in the way of this work?"] * len(NEW)
    assert np.array_equal(model.predict_proba(NEW, ctx), loaded.predict_proba(NEW, ctx))
    assert np.array_equal(model.predict(NEW), loaded.predict(NEW))
    assert model.explain(NEW[:2]) == loaded.explain(NEW[:2])
    assert loaded.get_params() == model.get_params()
    card = json.loads((folder / "card.json").read_text())
    assert read_card(folder) == card and read_card(tmp_path) == {}
    assert card["codebook_hash"] == "cb123" and card["training_data"]["hash"] == "td456"
    assert card["training_data"]["segments"] == 21 and card["training_data"]["coders"] == ["coder_a"]
    assert card["encoder"].startswith("sentence-transformers/all-MiniLM-L6-v2")
    assert "scikit-learn" in card["library_versions"] and card["cross_validated_metrics"]["macro"]["f1"] == 0.5
    assert "# Model card: demo" in (folder / "card.md").read_text()
    # a folder with mismatched files is refused with a clear message
    state = json.loads((folder / "model.json").read_text())
    state["labels"] = state["labels"][:-1]
    (folder / "model.json").write_text(json.dumps(state))
    with pytest.raises(InputError, match="do not match"):
        CodeClassifier.from_disk(folder, embedder=embedder)


def test_save_model_load_model_wrap_to_disk_from_disk(model, embedder, tmp_path):
    folder = save_model(model, tmp_path / "m", name="wrapped", coders=["coder_a"])
    assert read_card(folder)["name"] == "wrapped" and read_card(folder)["training_data"]["coders"] == ["coder_a"]
    loaded = load_model(folder, embedder=embedder)
    assert isinstance(loaded, CodeClassifier)
    assert np.array_equal(model.predict_proba(NEW), loaded.predict_proba(NEW))
    state = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**state, "class": "SomethingElse"}))
    with pytest.raises(InputError, match="unknown model class 'SomethingElse'"):
        load_model(folder, embedder=embedder)


def test_model_saved_before_valence_was_explicit_loads_the_old_default(model, embedder, tmp_path):
    folder = model.to_disk(tmp_path / "old")
    state = json.loads((folder / "model.json").read_text())
    del state["params"]["valence"], state["valence"]  # as if written before the field existed
    (folder / "model.json").write_text(json.dumps(state))
    loaded = CodeClassifier.from_disk(folder, embedder=embedder)
    assert loaded.valence == VALENCE and loaded.label_space_.valence == VALENCE
    assert np.array_equal(model.predict(NEW), loaded.predict(NEW))


def test_explain_neighbours_and_words(model):
    ex = model.explain(["Our funding is only ever for one year at a time"])[0]
    assert ex["top_code"] == FUND
    assert len(ex["neighbours"]) == 3
    assert ex["neighbours"][0]["similarity"] >= ex["neighbours"][1]["similarity"] >= ex["neighbours"][2]["similarity"]
    assert FUND in ex["neighbours"][0]["codes"] and ex["neighbours"][0]["id"].startswith("s")
    words = [w for w, _ in ex["words"]]
    assert words and all(v > 0 for _, v in ex["words"])
    assert {"year", "funding", "only"} & set(words)


def test_embedding_only_model_explains_by_occlusion(embedder):
    texts, Y, groups, _ = _data()
    m = CodeClassifier(embedder=embedder, features="embedding", context=None, cv=0, valence=VALENCE).fit(texts, Y, LABELS)
    ex = m.explain(["The grant money ends every March"])[0]
    assert ex["top_code"] == FUND and ex["words"]


def test_input_errors(embedder):
    texts, Y, groups, _ = _data()
    with pytest.raises(InputError, match="Y has shape"):
        CodeClassifier(embedder=embedder).fit(texts, Y[:, :2], LABELS)
    with pytest.raises(InputError, match="unknown labels"):
        CodeClassifier(embedder=embedder).fit(texts, Y, LABELS, exclusive=[["Barrier", "Nope"]])
    with pytest.raises(InputError, match="not trained"):
        CodeClassifier(embedder=embedder).predict_proba(["x"])
    with pytest.raises(InputError, match="unknown feature block"):
        CodeClassifier(embedder=embedder, features="embedding+bert").fit(texts, Y, LABELS)
    with pytest.raises(InputError, match="one string"):
        CodeClassifier(embedder=embedder).fit("just one text", Y, LABELS)


def test_predicting_before_fit_raises_not_fitted(embedder, tmp_path):
    m = CodeClassifier(embedder=embedder)
    m.set_params(embedder=embedder)  # setting parameters does not make it look fitted
    calls = [lambda: m.predict_proba(["x"]), lambda: m.predict(["x"]), lambda: m.decide(np.zeros((1, 2))),
             lambda: m.explain(["x"]), lambda: m.predict_and_explain(["x"]), lambda: m.suggest(["x"]),
             lambda: m.decision_function(["x"]), lambda: m.to_disk(tmp_path / "m")]
    for call in calls:
        with pytest.raises(sklearn.exceptions.NotFittedError, match="not trained") as err:
            call()
        assert isinstance(err.value, AutocodeError) and "\n" not in str(err.value)
    assert not (tmp_path / "m").exists()


def test_scikit_learn_parameters(model, embedder):
    signature = [p for p in inspect.signature(CodeClassifier.__init__).parameters if p != "self"]
    assert sorted(model.get_params()) == sorted(signature)
    assert CodeClassifier().get_params()["valence"] is None  # no valence labels unless given
    assert model.get_params()["valence"] == VALENCE and model.get_params()["embedder"] is embedder
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "coef_")
    assert copy.embedder is embedder and copy.valence is not model.valence  # the embedder is shared
    assert copy.set_params(C=2.0, cv=0) is copy and copy.C == 2.0 and copy.cv == 0
    with pytest.raises(InputError, match="unknown parameter 'nope'"):
        copy.set_params(nope=1)
    # fitted attributes end in "_"; __init__ stored nothing else
    assert set(vars(CodeClassifier())) == set(signature)
    assert all(k.endswith("_") for k in set(vars(model)) - set(signature))


def test_valence_is_a_parameter_not_a_name(embedder):
    texts, Y, groups, _ = _data()
    plain = CodeClassifier(embedder=embedder, cv=0).fit(texts, Y, LABELS)
    assert plain.label_space_.valence == []  # "Barrier"/"Enabler" are ordinary codes here
    other = CodeClassifier(embedder=embedder, cv=0, valence=["Enabler"]).fit(texts, Y, LABELS)
    assert other.label_space_.valence == ["Enabler"]
    # a valence label is only kept together with another code: drop the others and it goes
    D = other.decide(np.where(np.array(other.labels_) == "Enabler", 1.0, 0.0)[None, :])
    assert D.sum() == 0
    D = plain.decide(np.where(np.array(plain.labels_) == "Enabler", 1.0, 0.0)[None, :])
    assert D[0, plain.labels_.index("Enabler")] == 1


def test_predict_and_explain_is_one_pass_and_equals_the_separate_calls(model, embedder, monkeypatch):
    ctx = ["What gets in the way of this work?"] * len(NEW)
    old_P = model.predict_proba(NEW, ctx)
    old_D = model.decide(old_P)
    old_why = model.explain(NEW, ctx, n_neighbours=3, n_words=12)
    embeds, designs = [], []
    real_embed, real_design = embedder.embed, model._design
    monkeypatch.setattr(embedder, "embed", lambda texts, *a, **k: embeds.append(list(texts)) or real_embed(texts, *a, **k))
    monkeypatch.setattr(model, "_design", lambda *a, **k: designs.append(1) or real_design(*a, **k))
    P, D, why = model.predict_and_explain(NEW, ctx, n_neighbours=3, n_words=12)
    assert len(designs) == 1 and embeds == [NEW, ctx]  # the texts and the contexts, once each
    assert np.array_equal(P, old_P) and np.array_equal(D, old_D) and why == old_why
    embeds.clear(), designs.clear()
    P2, D2, none = model.predict_and_explain(NEW, ctx, explain=False)
    assert np.array_equal(P2, old_P) and np.array_equal(D2, old_D) and none == [{}] * len(NEW)
    assert len(designs) == 1 and len(embeds) == 2
    assert model.predict_and_explain([], [])[2] == []


def test_cross_validation_report(embedder, tmp_path):
    texts, Y, groups, ctx = _data()
    res = cross_validate(lambda: CodeClassifier(embedder=embedder, cv=2, valence=VALENCE), texts, Y, LABELS, groups,
                         contexts=ctx, learning_curve=(0.5, 1.0))
    assert res["scheme"] == "leave-one-group-out" and res["n_splits"] == 3
    per = res["per_code"][FUND]
    assert per["support"] == 6 and 0 <= per["precision"] <= 1 and -1 <= per["kappa"] <= 1
    assert res["macro"]["f1"] > 0.4
    assert set(res["per_group"]) == {"FG1", "FG2", "FG3"}
    assert [p["fraction"] for p in res["learning_curve"]] == [0.5, 1.0]
    res["per_code"]["<script>alert(1)</script>"] = dict(per)
    out = write_html_report(res, tmp_path / "report" / "eval.html", title="Eval <b>")
    html = out.read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "Eval &lt;b&gt;" in html
    assert "http" not in html  # no CDN, nothing fetched
    assert (tmp_path / "report" / "eval-per-code.png").stat().st_size > 1000
    assert (tmp_path / "report" / "eval-learning-curve.png").exists()


def test_code_metrics_by_hand():
    t = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    p = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
    m = code_metrics(t, p, ["a", "b"])
    assert m["per_code"]["a"]["precision"] == 0.5 and m["per_code"]["a"]["recall"] == 0.5
    assert m["per_code"]["b"]["f1"] == 1.0 and m["per_code"]["b"]["kappa"] == 1.0
    assert m["micro"]["precision"] == 0.75 and m["micro"]["recall"] == 0.75
    assert m["macro"]["f1"] == pytest.approx(0.75)


def test_each_suggested_code_is_explained_by_its_own_examples_and_words(model, embedder):
    """Per suggested code: the two most similar training segments that carry it, the most similar
    one that does not, and the words that pushed towards it (checked against a brute-force pass)."""
    texts = NEW[:3] + ["Shall I pour the tea before we start? The grant only lasts a year.",
                       "We're not therapists, and the council money ends after a year"]
    P = model.predict_proba(texts)
    D = model.decide(P)
    S = embedder.embed(texts) @ model.train_embeddings_.T
    carries = model.train_Y_.astype(bool)
    terms, coef = model.tfidf_["word"].terms, model.coef_
    X = model.tfidf_["word"].transform(texts).toarray()
    n_dense = coef.shape[0] - len(terms)
    for i, ex in enumerate(model.explain(texts)):
        assert [e["code"] for e in ex["evidence"]] == sorted((model.labels_[c] for c in np.flatnonzero(D[i])),
                                                             key=lambda l: -P[i, model.labels_.index(l)])
        assert ex["evidence"], texts[i]
        for e in ex["evidence"]:
            c = model.labels_.index(e["code"])
            pos, neg = np.flatnonzero(carries[:, c]), np.flatnonzero(~carries[:, c])
            want = [model.train_ids_[j] for j in pos[np.argsort(-S[i, pos], kind="stable")[:2]]]
            assert [x["id"] for x in e["like"]] == want
            assert all(e["code"] in x["codes"] for x in e["like"])
            assert e["unlike"]["id"] == model.train_ids_[neg[np.argmax(S[i, neg])]]
            assert e["code"] not in e["unlike"]["codes"]
            # words: each word n-gram's value x coefficient, shared among its words, summed per word
            head = model._head_column(c)
            credit: dict[str, float] = {}
            for j in np.flatnonzero(X[i]):
                parts = terms[j].split(" ")
                for p in parts:
                    credit[p] = credit.get(p, 0.0) + X[i, j] * coef[n_dense + j, head] / len(parts)
            best = sorted((v for v in credit.values() if v > 0), reverse=True)[:len(e["words"])]
            assert [round(v, 6) for _, v in e["words"]] == [round(v, 6) for v in best]
            assert all(abs(credit[w] - v) < 1e-6 for w, v in e["words"])
    funding = {e["code"]: e for e in model.explain(texts[:1])[0]["evidence"]}[FUND]
    assert {"money", "year"} & {w for w, _ in funding["words"]}
    # the nearest segment overall is small talk (no code); the funding code is shown coded examples
    tea = model.explain(texts[3:4])[0]
    assert tea["neighbours"][0]["codes"] == [] and FUND in [e["code"] for e in tea["evidence"]]
    # two codes of one segment, each explained by its own examples (these coders never gave two
    # domains to one segment, so the default keeps the more probable one: decide each code alone)
    texts_, Y, groups, ctx = _data()
    alone = CodeClassifier(embedder=embedder, cv=3, valence=VALENCE, siblings="independent").fit(
        texts_, Y, LABELS, groups=groups, contexts=ctx, ids=[f"s{i}" for i in range(len(texts_))])
    assert len(model.explain(texts[4:])[0]["evidence"]) < len(alone.explain(texts[4:])[0]["evidence"])
    both = {e["code"]: e for e in alone.explain(texts[4:])[0]["evidence"]}
    assert {x["id"] for x in both[FUND]["like"]}.isdisjoint({x["id"] for x in both[REMIT]["like"]})


def test_explanations_of_a_model_without_examples_or_tfidf(embedder):
    texts, Y, groups, _ = _data()
    bare = CodeClassifier(embedder=embedder, cv=0, valence=VALENCE, keep_examples=False).fit(texts, Y, LABELS)
    ex = bare.explain(NEW[:1])[0]
    assert ex["neighbours"] == [] and ex["evidence"]
    assert all(e["like"] == [] and e["unlike"] is None and e["words"] for e in ex["evidence"])
    occl = CodeClassifier(embedder=embedder, features="embedding", context=None, cv=0, valence=VALENCE).fit(texts, Y, LABELS)
    ex = occl.explain(["The grant money ends every March"])[0]
    by_code = {e["code"]: e for e in ex["evidence"]}
    assert FUND in by_code and by_code[FUND]["words"] == ex["words"]  # one occlusion pass serves every code
    assert all(FUND in x["codes"] for x in by_code[FUND]["like"]) and len(by_code[FUND]["like"]) == 2


STAFF = "Opportunity/Implementation/Staff time"
STAFF_PROTO = "Staff time: Paid staff and volunteers have no hours to spare; everyone is stretched and overworked."


def test_prototypes_teach_a_code_that_no_segment_carries_yet(embedder):
    """The codebook prior: a described code with no coded segment can still be suggested, for talk
    like its description and not for the rest; prototypes are never examples nor counted."""
    texts, Y, groups, ctx = _data()
    labels = LABELS + [STAFF]
    Y = np.c_[Y, np.zeros(len(Y), dtype=int)]
    plain = CodeClassifier(embedder=embedder, valence=VALENCE).fit(texts, Y, labels, groups=groups, contexts=ctx)
    prior = CodeClassifier(embedder=embedder, valence=VALENCE).fit(
        texts, Y, labels, groups=groups, contexts=ctx, ids=list(range(len(texts))),
        prototypes={STAFF: STAFF_PROTO, "Not a label": "ignored"})
    new = ["Our staff are stretched so thin, nobody has any hours to spare for this",
           "The grant only lasts a year and then we're scrambling again"]
    c = prior.labels_.index(STAFF)
    p_plain, p_prior = plain.predict_proba(new, ctx[:2])[:, c], prior.predict_proba(new, ctx[:2])[:, c]
    assert p_prior[0] > p_plain[0] + 0.2 and p_prior[0] > p_prior[1] + 0.2
    leaves = [prior.labels_.index(x) for x in (FUND, BENEFIT, REMIT, STAFF)]
    assert prior.predict_proba(new, ctx[:2])[0, leaves].argmax() == 3  # the most probable sub-theme
    assert STAFF not in {l for l, _ in plain.suggest(new, ctx[:2])[0]}
    assert prior.thresholds_[c] == 0.5  # no out-of-fold positive to choose a threshold on
    # a prior, not training data: no example, no count, nothing shown as evidence
    assert prior.n_train_ == len(texts) and prior.n_prototypes_ == 1 and prior.label_counts_[STAFF] == 0
    assert STAFF_PROTO not in prior.train_texts_ and len(prior.train_embeddings_) == len(texts)
    assert prior.oof_proba_.shape[0] == len(texts)


def _coded(seed: int, n_groups: int = 8, per_group: int = 30, codes: int = 4):
    """Truth and a noisy model's codes for ``n_groups`` groups whose noise differs by group."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per_group)
    truth = rng.random((len(groups), codes)) < 0.3
    noise = np.repeat(rng.uniform(0.05, 0.4, n_groups), per_group)[:, None]
    before = truth ^ (rng.random(truth.shape) < noise)
    return truth, before, groups


def test_paired_kappa_gain_replicates_are_kappa_on_the_groups_drawn():
    """Each replicate equals code_metrics' macro kappa difference on the rows of the groups drawn
    (with repeats), for the same seeded draws."""
    from autocode.classifier.evaluate import gain_replicates

    truth, before, groups = _coded(0)
    after = truth ^ (np.random.default_rng(1).random(truth.shape) < 0.1)
    names, clusters = np.unique(groups, return_inverse=True)
    reps = gain_replicates(truth, before, after, clusters, 12, seed=5)
    weights = np.random.default_rng(5).multinomial(len(names), np.full(len(names), 1 / len(names)), size=12)
    labels = [str(i) for i in range(truth.shape[1])]
    for w, rep in zip(weights, reps):
        rows = np.concatenate([np.flatnonzero(clusters == g) for g in range(len(names)) for _ in range(w[g])])
        want = (code_metrics(truth[rows], after[rows], labels)["macro"]["kappa"]
                - code_metrics(truth[rows], before[rows], labels)["macro"]["kappa"])
        assert rep == pytest.approx(want, abs=1e-12)


def test_paired_kappa_gain_is_paired_by_group_and_needs_five_groups():
    from autocode.classifier.evaluate import paired_kappa_gain

    truth, before, groups = _coded(2)
    labels = [str(i) for i in range(truth.shape[1])]
    # the same model: no gain in any resample
    same = paired_kappa_gain(truth, before, before, groups)
    assert same["kappa_gain"] == 0 and same["interval"] == [0, 0] and same["share_better"] == 0
    # a model that corrects a few errors in one group and changes nothing else is never worse in
    # any resample, however much the groups differ: paired, the interval cannot go below 0
    # (resampling the two models independently, it would straddle 0 widely)
    after = before.copy()
    rows = np.flatnonzero(groups == "g3")[:10]
    after[rows] = truth[rows]
    res = paired_kappa_gain(truth, before, after, groups)
    want = (code_metrics(truth, after, labels)["macro"]["kappa"] - code_metrics(truth, before, labels)["macro"]["kappa"])
    assert res["kappa_gain"] == pytest.approx(want, abs=1e-4) and res["kappa_gain"] > 0
    assert 0 <= res["interval"][0] <= res["kappa_gain"] <= res["interval"][1]
    assert 0.5 < res["share_better"] < 1  # resamples without g3 show no gain
    few = paired_kappa_gain(truth[groups < "g4"], before[groups < "g4"], after[groups < "g4"], groups[groups < "g4"])
    assert few["interval"] is None and few["groups"] == 4 and "5 are needed" in few["note"]
