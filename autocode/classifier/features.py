"""Features: the frozen sentence embedding, TF-IDF n-grams, and the preceding turn.

Blocks are scaled and joined column-wise into one sparse matrix. Each block's rows
are L2-normalised, so a block's weight says how much of the (shared) L2 penalty
budget it gets. The TF-IDF state is plain data (vocabulary, idf) so that a saved
model is JSON plus arrays, never a pickle.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

# words, plus "?" and "!" as tokens: a question mark is a strong cue in talk
WORD_PATTERN = r"(?u)\b\w+\b|[?!]"
WORD_RE = re.compile(r"(?u)\b\w[\w'’-]*\b")


def _vectorizer(kind: str, min_df, max_features: int, vocabulary=None) -> TfidfVectorizer:
    if kind == "word":
        return TfidfVectorizer(
            analyzer="word", token_pattern=WORD_PATTERN, ngram_range=(1, 2), lowercase=True,
            sublinear_tf=True, min_df=min_df, max_features=max_features, vocabulary=vocabulary,
            dtype=np.float32,
        )
    if kind == "char":
        return TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), lowercase=True, sublinear_tf=True,
            min_df=min_df, max_features=max_features, vocabulary=vocabulary, dtype=np.float32,
        )
    raise ValueError(kind)


class Tfidf:
    """A fitted TF-IDF of one kind ("word" or "char"), restorable from plain data."""

    def __init__(self, kind: str, vec: TfidfVectorizer):
        self.kind = kind
        self.vec = vec
        self._terms: list[str] | None = None

    @classmethod
    def fit(cls, kind: str, texts: Sequence[str], max_features: int = 50000) -> "Tfidf":
        return cls.fit_transform(kind, texts, max_features)[0]

    @classmethod
    def fit_transform(cls, kind: str, texts: Sequence[str], max_features: int = 50000) -> tuple["Tfidf", sp.csr_matrix]:
        """The fitted TF-IDF and ``texts``' rows, each text analysed once (fitting, then
        transforming, analysed 10,000 texts twice: a tenth of a model's training time)."""
        min_df = 2 if len(texts) >= 50 else 1
        vec = _vectorizer(kind, min_df, max_features)
        try:
            X = vec.fit_transform(texts)
        except ValueError:  # empty vocabulary (e.g. only one-word texts with min_df=2)
            vec = _vectorizer(kind, 1, max_features)
            vec.fit(list(texts) + ["?"])
            X = vec.transform(texts)
        X = X.tocsr()
        X.sort_indices()  # as transform() gives them: the same sums in the same order
        return cls(kind, vec), X

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.vec.transform(texts).tocsr()

    @property
    def terms(self) -> list[str]:
        """Feature names by column (computed once)."""
        if self._terms is None:
            self._terms = list(self.vec.get_feature_names_out())
        return self._terms

    def state(self) -> tuple[dict, np.ndarray]:
        return {"kind": self.kind, "terms": self.terms}, np.asarray(self.vec.idf_, dtype=np.float64)

    @classmethod
    def from_state(cls, meta: dict, idf: np.ndarray) -> "Tfidf":
        vocab = {t: i for i, t in enumerate(meta["terms"])}
        vec = _vectorizer(meta["kind"], 1, None, vocabulary=vocab)
        vec.fit(["restored"])  # validates the fixed vocabulary; idf_ is replaced next
        vec.idf_ = np.asarray(idf, dtype=np.float64)
        return cls(meta["kind"], vec)



def words_of(text: str) -> list[str]:
    return WORD_RE.findall(text)
