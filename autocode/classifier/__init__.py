"""autocode's code-suggestion models.

The default, :class:`CodeClassifier`, is one logistic model over frozen MiniLM
embeddings joined with TF-IDF word n-grams and the embedding of the preceding
turn, with calibrated probabilities, a cross-validated threshold per code, a
multinomial head per exclusive code set, a valence head, and hierarchy-consistent
predictions. See docs/benchmarks/quality.md for how the default was chosen.

    from autocode.classifier import CodeClassifier, cross_validate, read_card, write_html_report
    model = CodeClassifier(embedder=embedder, valence=["Barrier", "Enabler"]).fit(
        texts, Y, labels, contexts=questions, groups=groups)
    model.predict_proba(new_texts, new_questions)     # (n, len(model.labels_))
    model.suggest(new_texts)                           # [[(code, p), ...], ...]
    model.explain(new_texts)                           # neighbours, words, and per suggested code its evidence
    P, D, why = model.predict_and_explain(new_texts, new_questions)  # all three, one pass
    model.to_disk("models/NAME", codebook_hash=..., training_data_hash=..., coders=[...], metrics=...)
    CodeClassifier.from_disk("models/NAME", embedder=embedder)
    read_card("models/NAME")                           # the model card (card.json), {} if none
"""

from .evaluate import code_metrics, cross_validate, group_splits, jsonable
from .labels import LabelSpace
from .model import CodeClassifier
from .persist import load_model, read_card, save_model, training_data_hash
from .report import write_html_report

__all__ = [
    "CodeClassifier", "LabelSpace",
    "cross_validate", "code_metrics", "group_splits", "jsonable",
    "save_model", "load_model", "read_card", "training_data_hash", "write_html_report",
]
