"""The encoder: its files checked against upstream's hashes, and its precisions (fp32, bf16, int8)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from autocode import embeddings
from autocode.embeddings import (
    BF16_LENGTHS,
    ENCODER_SHA256,
    Embedder,
    EncoderIntegrityError,
    check_encoder_files,
    encoder_path,
    native_bf16,
    padded_shape,
    resolve_precision,
    vector_key,
)
from autocode.errors import InputError

TEXTS = ["Yes, definitely, the group made me feel supported.",
         "Funding is a worry: the grant only lasts one year.",
         "We meet every Tuesday in the church hall and sing together.",
         "I don't really know, I suppose it depends on the volunteers."]


def _copy_encoder(tmp_path):
    """A copy of the packaged encoder folder whose weights are a link to the real file."""
    src, dst = encoder_path(), tmp_path / "encoder"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors"))
    (dst / "model.safetensors").symlink_to(src / "model.safetensors")
    return dst


def test_the_packaged_encoder_is_upstreams():
    check_encoder_files(encoder_path())  # raises on any difference


def test_a_tampered_file_is_refused_with_its_name(tmp_path, monkeypatch):
    folder = _copy_encoder(tmp_path)
    vocab = folder / "vocab.txt"
    vocab.write_text(vocab.read_text(encoding="utf-8").replace("[UNK]", "[UNQ]", 1), encoding="utf-8")
    with pytest.raises(EncoderIntegrityError) as e:
        check_encoder_files(folder)
    msg = str(e.value)
    assert "vocab.txt" in msg and "SHA-256" in msg and "reinstall" in msg and "\n" not in msg
    # and the embedder refuses to load it
    monkeypatch.setattr(embeddings, "encoder_path", lambda: folder)
    with pytest.raises(EncoderIntegrityError, match="vocab.txt"):
        Embedder(None).encode_uncached(["hello"])


def test_a_missing_file_is_refused(tmp_path):
    folder = _copy_encoder(tmp_path)
    (folder / "1_Pooling" / "config.json").unlink()
    with pytest.raises(EncoderIntegrityError, match="missing"):
        check_encoder_files(folder)


def test_every_loaded_file_is_pinned():
    """The files sentence-transformers reads are all in the table (the weights among them)."""
    assert "model.safetensors" in ENCODER_SHA256 and "tokenizer.json" in ENCODER_SHA256
    on_disk = {p.relative_to(encoder_path()).as_posix() for p in encoder_path().rglob("*") if p.is_file()}
    assert on_disk - set(ENCODER_SHA256) <= {"README.md", ".gitattributes", "data_config.json"}


def test_precisions_stay_close_to_fp32():
    ref = Embedder(None).encode_uncached(TEXTS)
    bf16 = Embedder(None, precision="bf16").encode_uncached(TEXTS)
    int8 = Embedder(None, precision="int8").encode_uncached(TEXTS)
    for v in (bf16, int8):
        assert v.shape == ref.shape and v.dtype == np.float32
        assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    cos_bf16, cos_int8 = (ref * bf16).sum(1), (ref * int8).sum(1)
    assert cos_bf16.min() > 0.998
    assert cos_int8.min() > 0.85
    assert not np.allclose(ref, int8, atol=1e-3)  # the quantized model really ran


def test_bf16_batches_come_in_a_few_shapes():
    """Each shape the bf16 encoder meets costs memory for good (a oneDNN primitive): batches are
    padded to a fixed set, little beyond their longest text, and a full batch gets no extra rows."""
    shapes = {padded_shape(n, longest, 64) for n in range(1, 65) for longest in range(1, 300)}
    assert {w for _, w in shapes} == set(BF16_LENGTHS) and max(BF16_LENGTHS) == 256
    assert {r for r, _ in shapes} == {1, 2, 4, 8, 16, 32, 64}
    for n in range(1, 65):
        for longest in range(1, 257):
            rows, width = padded_shape(n, longest, 64)
            assert n <= rows < 2 * n and longest <= width <= max(32, 1.25 * longest)
    assert padded_shape(64, 300, 64) == (64, 256)  # truncated at the encoder's limit, as before
    assert padded_shape(100, 10, 100) == (100, 16)  # a batch size that is not a power of two


def test_bf16_padding_changes_no_vector():
    """A text's bf16 vector is the same (to bf16's precision) whatever the batch pads it to, and
    the vectors come back in the order of the texts."""
    texts = TEXTS + [" ".join(TEXTS * 6), "Yes."]
    bf16 = Embedder(None, precision="bf16")
    together = bf16.encode_uncached(texts)
    alone = np.concatenate([bf16.encode_uncached([t]) for t in texts])
    assert (together * alone).sum(1).min() > 0.9999
    ref = Embedder(None).encode_uncached(texts)
    assert (together * ref).sum(1).min() > 0.998


def test_precisions_never_share_cached_vectors():
    class Cache(dict):
        def get_many(self, keys):
            return {k: self[k] for k in keys if k in self}

        def put_many(self, items):
            self.update(items)

    cache = Cache()
    fp32 = Embedder(cache).embed(TEXTS[:2])
    assert len(cache) == 2
    bf16 = Embedder(cache, precision="bf16").embed(TEXTS[:2])
    assert len(cache) == 4 and vector_key(TEXTS[0], "bf16") != vector_key(TEXTS[0])
    assert not np.array_equal(fp32, bf16)
    assert np.array_equal(Embedder(cache).embed(TEXTS[:2]), fp32)  # served from the cache


def test_auto_precision_follows_the_cpu():
    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert [resolve_precision(p) for p in ("fp32", "bf16", "int8")] == ["fp32", "bf16", "int8"]
    with pytest.raises(InputError, match="unknown encoder precision 'fp16'"):
        resolve_precision("fp16")


def test_suggest_precision_from_the_cli_and_the_workspace(suggest_ws, tmp_path):
    src = tmp_path / "new.csv"
    src.write_text("text\n" + "\n".join(f'"{t}"' for t in TEXTS) + "\n", encoding="utf-8")
    outs = {}
    for p in ("fp32", "int8"):
        outs[p] = tmp_path / f"{p}.jsonl"
        r = suggest_ws("suggest", src, "--out", outs[p], "--format", "jsonl", "--precision", p)
        assert r.exit_code == 0, r.output
        assert f"encoder {p}" in r.output
    assert outs["fp32"].read_text() != outs["int8"].read_text()  # int8 scores differ in the last digits
    bad = suggest_ws("suggest", src, "--out", tmp_path / "x.csv", "--precision", "fp16")
    assert bad.exit_code == 2 and "--precision: unknown encoder precision 'fp16'" in bad.output
    assert not (tmp_path / "x.csv").exists()
    toml = suggest_ws.root / "autocode.toml"
    before = toml.read_text()
    try:
        toml.write_text(before.replace('precision = "auto"', 'precision = "half"'))
        bad = suggest_ws("suggest", src, "--out", tmp_path / "y.csv")
        assert bad.exit_code == 2 and "[suggest] precision: unknown encoder precision 'half'" in bad.output
        assert len(bad.output.strip().splitlines()) == 1
    finally:
        toml.write_text(before)
