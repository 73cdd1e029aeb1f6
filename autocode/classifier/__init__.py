"""autocode's code-suggestion models.

The default, :class:`CodeClassifier`, is one logistic model over frozen MiniLM
embeddings joined with TF-IDF word n-grams and the embedding of the preceding
turn, with calibrated probabilities, a cross-validated threshold per code, a
multinomial head per exclusive code set, a valence head, and hierarchy-consistent
predictions. See docs/benchmarks/quality.md for how the default was chosen.

    from autocode.classifier import CodeClassifier, cross_validate, write_html_report
    model = CodeClassifier(embedder=embedder).fit(texts, Y, labels, contexts=questions, groups=groups)
    model.predict_proba(new_texts, new_questions)     # (n, len(model.labels_))
    model.suggest(new_texts)                           # [[(code, p), ...], ...]
    model.explain(new_texts)                           # neighbours and words
    model.save("models/NAME", codebook_hash=..., training_data_hash=..., coders=[...], metrics=...)
    CodeClassifier.load("models/NAME", embedder=embedder)
"""

from .evaluate import code_metrics, cross_validate, group_splits, jsonable
from .labels import LabelSpace, ancestors_of, parent_of
from .model import CodeClassifier
from .persist import load_model, save_model, training_data_hash
from .report import write_html_report

__all__ = [
    "CodeClassifier", "LabelSpace", "parent_of", "ancestors_of",
    "cross_validate", "code_metrics", "group_splits", "jsonable",
    "save_model", "load_model", "training_data_hash", "write_html_report",
]
