"""Tuning the encoder itself, for users with more coded data and time.

Two options, both slow (minutes to tens of minutes on a CPU; SetFit took 22 minutes
on 256 utterances on a laptop) and never on the default path:

* :func:`finetune_encoder`: full fine-tuning of MiniLM with a classification head
  (``transformers.Trainer`` over a ``datasets.Dataset``; multi-label BCE, or
  cross-entropy when the codes form one exclusive set);
* :func:`contrastive_encoder`: SetFit-style contrastive tuning (sentence pairs that
  share / do not share codes, cosine-similarity loss, sentence-transformers); the
  ``setfit`` package is not needed.

Each writes a sentence-transformers folder (safetensors + JSON) that
:class:`TunedEmbedder` reads; :class:`CodeClassifier` then fits its usual calibrated
linear heads on the tuned embeddings (``CodeClassifier(tuning="finetune")``).

torch, transformers, sentence-transformers and datasets (pyarrow) take seconds to
import and only tuning needs them, so they are imported inside the functions that use
them; importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

from autocode.embeddings import ENCODER_ID, Embedder, VectorCache, encoder_path
from autocode.errors import InputError


class TunedEmbedder(Embedder):
    """An :class:`Embedder` over a tuned encoder folder, at any precision, with the shared disk
    cache: its vectors are keyed by a digest of the folder's files (:attr:`encoder`), so they
    never mix with the stock encoder's or another tuning's, and a model suggests at bf16 and
    from the cache as a stock one does."""

    def __init__(self, folder: str | Path, cache: VectorCache | None = None, batch_size: int = 64,
                 memory_limit: int = 100_000, precision: str = "fp32") -> None:
        super().__init__(cache, batch_size=batch_size, memory_limit=memory_limit, precision=precision)
        self.folder = Path(folder)
        self._digest: str | None = None

    @property
    def encoder(self) -> str:
        if self._digest is None:
            h = hashlib.sha256()
            for p in sorted(self.folder.rglob("*")):
                if p.is_file():
                    h.update(p.relative_to(self.folder).as_posix().encode("utf-8") + b"\0")
                    with p.open("rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            h.update(block)
            self._digest = h.hexdigest()[:32]
        return f"{ENCODER_ID}, tuned {self._digest}"

    def _folder(self) -> Path:
        return self.folder  # checked by the model that carries it (persist.check_encoder_folder)


def _quiet(trainer) -> None:
    """No metrics printed to stdout: autocode reports its own progress."""
    from transformers.trainer_callback import PrinterCallback  # heavy: only when tuning

    trainer.remove_callback(PrinterCallback)


@contextmanager
def _quiet_loading():
    """transformers' load report (a new classification head is expected) at error level only."""
    from transformers.utils import logging as hf_logging  # heavy: only when tuning

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)


def _copy_base(out_dir: Path) -> None:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(encoder_path(), out_dir)


def finetune_encoder(
    texts: Sequence[str],
    Y,
    out_dir: str | Path,
    *,
    exclusive: bool = False,
    epochs: float = 3.0,
    max_steps: int = -1,
    learning_rate: float = 5e-5,
    batch_size: int = 16,
    max_length: int = 128,
    seed: int = 0,
) -> Path:
    """Fine-tunes every MiniLM weight to predict the codes; writes the encoder to
    ``out_dir``. ``exclusive``: the columns of ``Y`` are one exclusive set (softmax)."""
    # heavy libraries (seconds to import), needed only here
    import datasets
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments)

    Y = np.asarray(Y, dtype=np.float32)
    texts = list(texts)
    if len(texts) != len(Y) or len(texts) < 2:
        raise InputError(f"finetune_encoder: {len(texts)} texts for {len(Y)} label rows",
                         hint="give one row of Y per text, at least two")
    out_dir = Path(out_dir)
    base = encoder_path()
    tok = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    with _quiet_loading():
        if exclusive:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(base), num_labels=Y.shape[1] + 1, local_files_only=True)
            labels = np.where(Y.sum(1) > 0, Y.argmax(1), Y.shape[1]).astype(np.int64).tolist()
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                str(base), num_labels=Y.shape[1], problem_type="multi_label_classification", local_files_only=True)
            labels = Y.tolist()
    ds = datasets.Dataset.from_dict({"text": texts, "labels": labels})
    ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=max_length), batched=True,
                remove_columns=["text"], desc=None)
    with tempfile.TemporaryDirectory(prefix="autocode-ft-") as tmp:
        args = TrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
            per_device_train_batch_size=batch_size, save_strategy="no", report_to=[], logging_strategy="no",
            use_cpu=not torch.cuda.is_available(), seed=seed, disable_tqdm=True, warmup_steps=0.1,  # a float is a ratio of the steps
        )
        trainer = Trainer(model=model, args=args, train_dataset=ds, data_collator=DataCollatorWithPadding(tok))
        _quiet(trainer)
        trainer.train()
    _copy_base(out_dir)
    # the fine-tuned transformer replaces the stock one; pooling and tokenizer stay
    base_model = getattr(model, model.base_model_prefix)
    base_model.save_pretrained(str(out_dir), safe_serialization=True)
    for stray in ("pytorch_model.bin",):
        if (out_dir / stray).exists():
            os.remove(out_dir / stray)
    return out_dir


def contrastive_pairs(Y: np.ndarray, n_iterations: int, seed: int) -> list[tuple[int, int, float]]:
    """SetFit's pair sampling: per segment and iteration one positive (same code set)
    and one negative (a different code set) partner."""
    rng = np.random.default_rng(seed)
    keys = [tuple(r) for r in np.asarray(Y, dtype=np.int8)]
    by_key: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    pairs = []
    n = len(keys)
    for _ in range(n_iterations):
        for i, k in enumerate(keys):
            same = by_key[k]
            if len(same) > 1:
                j = i
                while j == i:
                    j = int(same[rng.integers(len(same))])
                pairs.append((i, j, 1.0))
            if len(by_key) > 1:
                j = int(rng.integers(n))
                while keys[j] == k:
                    j = int(rng.integers(n))
                pairs.append((i, j, 0.0))
    return pairs


def contrastive_encoder(
    texts: Sequence[str],
    Y,
    out_dir: str | Path,
    *,
    n_iterations: int = 20,
    epochs: float = 1.0,
    max_steps: int = -1,
    learning_rate: float = 2e-5,
    batch_size: int = 16,
    seed: int = 0,
) -> Path:
    """SetFit-style contrastive tuning of MiniLM; writes the encoder to ``out_dir``."""
    # heavy libraries (seconds to import), needed only here
    import datasets
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

    try:  # sentence-transformers >= 6 moved these
        from sentence_transformers.sentence_transformer import losses
        from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
    except ImportError:  # pragma: no cover - older releases
        from sentence_transformers import losses
        from sentence_transformers.training_args import SentenceTransformerTrainingArguments

    texts = list(texts)
    Y = np.asarray(Y)
    if len(texts) != len(Y) or len(texts) < 2:
        raise InputError(f"contrastive_encoder: {len(texts)} texts for {len(Y)} label rows",
                         hint="give one row of Y per text, at least two")
    pairs = contrastive_pairs(Y, n_iterations, seed)
    if not pairs:
        raise InputError("contrastive_encoder: no pairs to learn from",
                         hint="code segments with at least two different code sets")
    ds = datasets.Dataset.from_dict({
        "sentence1": [texts[i] for i, _, _ in pairs],
        "sentence2": [texts[j] for _, j, _ in pairs],
        "score": [s for _, _, s in pairs],
    })
    model = SentenceTransformer(str(encoder_path()), device="cpu", local_files_only=True)
    with tempfile.TemporaryDirectory(prefix="autocode-setfit-") as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
            per_device_train_batch_size=batch_size, save_strategy="no", report_to=[], logging_strategy="no",
            use_cpu=not torch.cuda.is_available(), seed=seed, disable_tqdm=True, warmup_steps=0.1,  # a float is a ratio of the steps
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                             loss=losses.CosineSimilarityLoss(model))
        _quiet(trainer)
        trainer.train()
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.save(str(out_dir), safe_serialization=True)
    return out_dir
