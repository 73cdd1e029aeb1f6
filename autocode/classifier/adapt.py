"""Adapting the encoder to a study on a laptop: tune MiniLM's top layers over cached lower-layer states.

Full fine-tuning (:func:`autocode.classifier.tuning.finetune_encoder`) runs all six layers
forwards and backwards every epoch, about 50 ms a segment on 2 cores. :class:`EncoderAdapter`
runs the embeddings and the lower layers once, keeps their token states
(:meth:`EncoderAdapter.encode_lower`), and trains only the top ``layers`` layers and a linear
head over them:

* the head first learns alone on the untouched encoder (a linear probe), then layers and head
  tune together (LP-FT: a random head's gradients would otherwise disturb the pretrained
  features first);
* batches hold segments of similar length, padded to the longest in the batch only;
* a deadline stops training between two steps (``fit(..., deadline=)``), so a time budget
  holds whatever the corpus;
* multi-label codes learn with a binary cross-entropy whose positives weigh up to
  ``pos_weight_cap`` times more (rare codes), one exclusive set with a class-balanced softmax.

The adapted encoder is written as a sentence-transformers folder (:meth:`EncoderAdapter.save`)
that :class:`autocode.classifier.tuning.TunedEmbedder` reads; :class:`CodeClassifier` then
fits its usual calibrated heads on its vectors (``CodeClassifier(tuning="adapt")``).

Why hand-written and not transformers' Trainer or peft: neither trains over cached
intermediate states, which is where the saving is (scripts/bench_quality.py measures it).
torch and transformers are imported inside the methods that need them.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from autocode.embeddings import DIM, Embedder, check_encoder_files, encoder_path
from autocode.errors import InputError

#: MiniLM's longest input in tokens (sentence_bert_config.json), as the embedder reads it
MAX_LENGTH = 256


class LowerCache:
    """Lower-layer token states by (layers below the tuned ones, text), shared by every adapter in
    the process: the lower layers never learn, so a text's states are the same for every fold of a
    cross-validation and for the final fit. Least recently used texts go first once the cache holds
    ``max_tokens`` tokens (1.5 KB each: 400,000 tokens are about 600 MB, a 2,000-segment study with
    its contexts about 120,000)."""

    def __init__(self, max_tokens: int = 400_000) -> None:
        self.max_tokens = max_tokens
        self._items: OrderedDict[tuple[int, str], object] = OrderedDict()
        self._tokens = 0

    def get(self, key: tuple[int, str]):
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[int, str], states) -> None:
        if key in self._items:
            return
        self._items[key] = states
        self._tokens += len(states)
        while self._tokens > self.max_tokens and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._tokens -= len(old)

    def clear(self) -> None:
        self._items.clear()
        self._tokens = 0


#: the process's cache of lower-layer states
LOWER_CACHE = LowerCache()


@dataclass
class LowerStates:
    """Token states after the lower layers, one (tokens, 384) float32 tensor per text."""

    states: list
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.states)


def _padded(seqs: list):
    """Tensors of different lengths (first dimension) as one zero-padded batch and its 0/1 mask."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    lengths = torch.tensor([len(x) for x in seqs])
    mask = (torch.arange(int(lengths.max()))[None, :] < lengths[:, None]).long()
    return pad_sequence(seqs, batch_first=True), mask


class EncoderAdapter(BaseEstimator):
    """Tunes MiniLM's top ``layers`` transformer layers to predict a study's codes.

    Parameters
    ----------
    layers : how many of the six layers learn (the others run once, cached).
    epochs : passes over the coded segments after the probe (a deadline may stop sooner).
    learning_rate : of the tuned layers (AdamW, linear warm-up over a tenth of the steps, then decay);
        the head learns at ``head_lr_scale`` times it.
    probe_epochs : full-batch passes of the head alone before the layers tune.
    batch_size : segments a step.
    pos_weight_cap : the most a positive weighs against a negative in the multi-label loss.
    seed : shuffling and dropout.
    """

    def __init__(self, layers: int = 4, epochs: float = 3.0, learning_rate: float = 1.5e-4, head_lr_scale: float = 10.0,
                 probe_epochs: int = 100, batch_size: int = 32, pos_weight_cap: float = 10.0, seed: int = 0) -> None:
        self.layers = layers
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.head_lr_scale = head_lr_scale
        self.probe_epochs = probe_epochs
        self.batch_size = batch_size
        self.pos_weight_cap = pos_weight_cap
        self.seed = seed
        self._base = None
        self._tokenizer = None

    # ------------------------------------------------------------------ the stock encoder
    def _load(self):
        if self._base is None:
            import torch  # heavy: only when adapting
            from transformers import AutoModel, AutoTokenizer

            base = encoder_path()
            check_encoder_files(base)
            torch.manual_seed(self.seed)
            self._tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
            self._base = AutoModel.from_pretrained(str(base), local_files_only=True).eval()
            n = len(self._base.encoder.layer)
            if not 1 <= self.layers <= n:
                raise InputError(f"EncoderAdapter(layers={self.layers})", hint=f"tune between 1 and {n} layers")
        return self._base

    @property
    def n_lower(self) -> int:
        return len(self._load().encoder.layer) - self.layers

    def _mask(self, h, mask):
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self._base.config, inputs_embeds=h, attention_mask=mask)

    @staticmethod
    def _run(layers, h, m):
        for layer in layers:
            out = layer(h, attention_mask=m)
            h = out[0] if isinstance(out, tuple) else out
        return h

    def encode_lower(self, texts: Sequence[str], progress: Callable[[int], None] | None = None,
                     batch_size: int = 64) -> LowerStates:
        """Runs ``texts`` through the embeddings and the lower layers; a text still in
        :data:`LOWER_CACHE` is not run again."""
        import torch

        model = self._load()
        texts = list(texts)
        depth = self.n_lower
        found = {t: LOWER_CACHE.get((depth, t)) for t in dict.fromkeys(texts)}
        todo = [t for t, v in found.items() if v is None]
        if todo:
            ids = self._tokenizer(todo, truncation=True, max_length=MAX_LENGTH)["input_ids"]
            lengths = np.array([len(x) for x in ids])
            order = np.argsort(lengths, kind="stable")
            lower = model.encoder.layer[:depth]
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    rows = order[start:start + batch_size]
                    tok, mask = _padded([torch.tensor(ids[i]) for i in rows])
                    h = model.embeddings(input_ids=tok, token_type_ids=torch.zeros_like(tok))
                    h = self._run(lower, h, self._mask(h, mask))
                    for r, i in enumerate(rows):
                        found[todo[i]] = h[r, :lengths[i]].clone()
                        LOWER_CACHE.put((depth, todo[i]), found[todo[i]])
                    if progress:
                        progress(len(rows))
        states = [found[t] for t in texts]
        return LowerStates(states, np.array([len(x) for x in states], dtype=int))

    # ------------------------------------------------------------------ batches and the top
    def _batch(self, lower: LowerStates, rows):
        return _padded([lower.states[i] for i in rows])

    def _top(self, layers, h, mask):
        """The top layers, mean pooling over the tokens and L2 normalisation (the embedder's vector)."""
        import torch

        h = self._run(layers, h, self._mask(h, mask))
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def _buckets(self, lower: LowerStates, rows: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Batches of similar length (sorted within chunks of 50 batches), in a shuffled order."""
        rows = rng.permutation(rows)
        chunk = self.batch_size * 50
        batches = []
        for s in range(0, len(rows), chunk):
            part = rows[s:s + chunk]
            part = part[np.argsort(lower.lengths[part], kind="stable")]
            batches += [part[i:i + self.batch_size] for i in range(0, len(part), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def transform(self, lower: LowerStates, rows: Sequence[int] | None = None, batch_size: int = 128) -> np.ndarray:
        """The adapted (after :meth:`fit`; else the stock) encoder's vectors of cached texts."""
        import torch

        layers = self.top_ if getattr(self, "top_", None) is not None else self._load().encoder.layer[self.n_lower:]
        rows = np.arange(len(lower)) if rows is None else np.asarray(rows)
        out = np.zeros((len(rows), DIM), dtype=np.float32)
        order = np.argsort(lower.lengths[rows], kind="stable")
        was = [layer.training for layer in layers]
        for layer in layers:
            layer.eval()
        with torch.inference_mode():
            for s in range(0, len(order), batch_size):
                pos = order[s:s + batch_size]
                h, mask = self._batch(lower, rows[pos])
                out[pos] = self._top(layers, h, mask).numpy()
        for layer, w in zip(layers, was):
            layer.train(w)
        return out

    # ------------------------------------------------------------------ training
    def _targets(self, Y: np.ndarray, exclusive: bool):
        """(targets, loss) for the head: a class index with balanced weights, or a 0/1 matrix with
        capped positive weights."""
        import torch

        if exclusive:
            y = np.where(Y.sum(1) > 0, Y.argmax(1), Y.shape[1])
            counts = np.bincount(y, minlength=Y.shape[1] + 1).astype(float)
            weight = np.where(counts > 0, len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
            return (torch.tensor(y, dtype=torch.long),
                    torch.nn.CrossEntropyLoss(weight=torch.tensor(weight, dtype=torch.float32)), Y.shape[1] + 1)
        pos = Y.sum(0).astype(float)
        pw = np.clip((len(Y) - pos) / np.maximum(pos, 1), 1.0, self.pos_weight_cap)
        return (torch.tensor(Y, dtype=torch.float32),
                torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw, dtype=torch.float32)), Y.shape[1])

    def fit(self, lower: LowerStates, Y, *, exclusive: bool = False, rows: Sequence[int] | None = None,
            deadline: float | None = None, progress: Callable[[float], None] | None = None) -> "EncoderAdapter":
        """Trains the top layers on the cached texts ``rows`` (default all) and their codes ``Y``
        (one row per cached text). ``deadline``: a :func:`time.monotonic` time after which training
        stops at the next step. ``progress``: called with the share of the planned steps done."""
        import torch

        Y = np.asarray(Y)
        rows = np.arange(len(lower)) if rows is None else np.asarray(rows)
        if len(Y) != len(lower) or len(rows) < 2:
            raise InputError(f"EncoderAdapter.fit: {len(Y)} label rows for {len(lower)} cached texts, {len(rows)} to learn from",
                             hint="give one row of Y per cached text and at least two rows to learn from")
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self._load()
        self.top_ = copy.deepcopy(self._base.encoder.layer[self.n_lower:])
        target, loss_fn, width = self._targets(Y[rows], exclusive)
        head = torch.nn.Linear(DIM, width)
        scale = 10.0  # vectors are unit length: logits of a useful range need weights of norm ~1

        # linear probe on the stock vectors (full batch, cheap)
        E = torch.from_numpy(self.transform(lower, rows))
        opt = torch.optim.Adam(head.parameters(), lr=0.05)
        for _ in range(self.probe_epochs):
            opt.zero_grad()
            loss_fn(head(E * scale), target).backward()
            opt.step()

        # top layers and head together
        pos = {int(r): k for k, r in enumerate(rows)}
        n_batches = math.ceil(len(rows) / self.batch_size)
        total = max(1, int(round(self.epochs * n_batches)))
        params = [{"params": [p for layer in self.top_ for p in layer.parameters()], "lr": self.learning_rate},
                  {"params": head.parameters(), "lr": self.learning_rate * self.head_lr_scale}]
        opt = torch.optim.AdamW(params, weight_decay=0.01)
        warm = max(1, total // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
        self.top_.train()
        step, self.stopped_early_ = 0, False
        while step < total:
            for batch in self._buckets(lower, rows, rng):
                if step >= total:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    self.stopped_early_ = True
                    break
                h, mask = self._batch(lower, batch)
                opt.zero_grad()
                loss = loss_fn(head(self._top(self.top_, h, mask) * scale), target[[pos[int(i)] for i in batch]])
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in params for p in g["params"]], 1.0)
                opt.step()
                sched.step()
                step += 1
                if progress:
                    progress(step / total)
            if self.stopped_early_:
                break
        self.top_.eval()
        self.steps_ = step
        self.epochs_done_ = step / n_batches
        return self

    # ------------------------------------------------------------------ saving
    def save(self, out_dir: str | Path) -> Path:
        """Writes the adapted encoder as a sentence-transformers folder (safetensors + JSON)."""
        if getattr(self, "top_", None) is None:
            raise InputError("EncoderAdapter.save: nothing adapted yet", hint="call fit() first")
        out_dir = Path(out_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(encoder_path(), out_dir)
        model = copy.deepcopy(self._base)  # the stock encoder, loaded already: only the top layers change
        for k, layer in enumerate(self.top_):
            model.encoder.layer[self.n_lower + k].load_state_dict(layer.state_dict())
        model.save_pretrained(str(out_dir), safe_serialization=True)
        return out_dir


class AdaptedEmbedder(Embedder):
    """An :class:`Embedder` over an :class:`EncoderAdapter` in memory: a text's lower-layer states
    come from the adapter's cache, so embedding the texts it learnt from costs the top layers
    only. Vectors equal those of the saved folder read by :class:`TunedEmbedder` (to float
    rounding). Memory cache only, fp32: a model read back from disk embeds with a
    :class:`TunedEmbedder` over the workspace's disk cache, at the suggestion precision."""

    def __init__(self, adapter: EncoderAdapter, batch_size: int = 64) -> None:
        super().__init__(None, batch_size=batch_size)
        self.adapter = adapter

    def encode_uncached(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return self.adapter.transform(self.adapter.encode_lower(texts))
