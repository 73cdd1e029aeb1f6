"""Encoder tuning options (full fine-tuning, SetFit-style contrastive), on tiny data and a few steps."""

from __future__ import annotations

import numpy as np
import pytest

from autocode.classifier import CodeClassifier
from autocode.classifier.tuning import contrastive_pairs
from autocode.embeddings import Embedder
from autocode.errors import InputError

TEXTS = ["How much do you drink on a typical day?", "You feel torn about cutting down.",
         "What worries you most about smoking?", "It sounds like your kids keep you going.",
         "When did you last see your doctor?", "You're not ready to stop yet."]
LABELS = ["question", "reflection"]
Y = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1]])


@pytest.fixture(scope="module")
def embedder():
    return Embedder(None)


@pytest.mark.parametrize("tuning", ["finetune", "contrastive"])
def test_tuned_encoder_trains_saves_and_loads(tuning, embedder, tmp_path):
    params = {"max_steps": 2, "batch_size": 4}  # step 1 is warm-up (lr 0)
    if tuning == "contrastive":
        params["n_iterations"] = 1
    m = CodeClassifier(embedder=embedder, tuning=tuning, tuning_params=params, cv=2, valence=())
    m.fit(TEXTS, Y, LABELS, exclusive=[LABELS] if tuning == "finetune" else None)
    assert "tuned" in m.encoder_id_
    new = ["Do you smoke every day?", "You sound fed up with it."]
    P = m.predict_proba(new)
    assert P.shape == (2, 2) and np.isfinite(P).all()
    # the tuned encoder really differs from the stock one
    stock = embedder.embed(new)
    tuned = m._embedder().embed(new)
    assert not np.allclose(stock, tuned, atol=1e-6)
    folder = m.to_disk(tmp_path / tuning)
    enc = folder / "encoder"
    assert (enc / "model.safetensors").exists()
    assert not list(enc.rglob("*.bin")) and not list(enc.rglob("*.pkl"))
    loaded = CodeClassifier.from_disk(folder, embedder=embedder)
    np.testing.assert_allclose(loaded.predict_proba(new), P, rtol=1e-5, atol=1e-6)
    # a shared model whose encoder carries a pickle is refused, not opened
    (enc / "pytorch_model.bin").write_bytes(b"not really weights")
    with pytest.raises(InputError, match="could run code"):
        CodeClassifier.from_disk(folder, embedder=embedder)


def test_contrastive_pairs_follow_code_sets():
    pairs = contrastive_pairs(Y, n_iterations=3, seed=0)
    keys = [tuple(r) for r in Y]
    assert pairs
    for i, j, s in pairs:
        assert i != j
        assert (keys[i] == keys[j]) == (s == 1.0)
