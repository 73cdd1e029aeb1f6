"""Adapting a trained model's encoder to the study, within a time budget, in a process of its own.

``autocode train`` saves the fast model (frozen encoder) first, usable at once; then
:func:`adapt` tunes the encoder's top layers (:mod:`autocode.classifier.adapt`) and keeps the
result only if it codes more like the researcher:

1. the fast model's settings are cross-validated by group (3 folds of whole focus groups) with
   the frozen encoder and with an encoder adapted on each fold's training groups;
2. if the adapted model's mean kappa is higher (the card gives the gain with a paired bootstrap
   interval over groups), the encoder is adapted on every coded segment
   (as many epochs as the folds managed within their share of the budget) and the model is
   swapped in, in one rename; otherwise the fast model stays;
3. either way the card records both figures and why (``card["adaptation"]``).

The swap is refused if the model was retrained meanwhile. :func:`start` runs :func:`adapt` in
a child process (``python -m autocode.app.adaptation``) that reports to a status file, so the
command line can draw a progress bar or return at once (``--background``), and an adaptation
never blocks the fast model's use.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..classifier.adapt import EncoderAdapter
from ..classifier.evaluate import cross_validate as group_cross_validate
from ..classifier.evaluate import jsonable, paired_kappa_gain
from ..classifier.persist import read_card, save_model, training_data_hash, write_card
from ..embeddings import STOCK_ENCODER, encoder_members
from ..errors import AutocodeError, InputError, WorkspaceError
from ..records import TrainingData
from .models import ClassifierFactory, check_trainable, load_model, trained_coders, training_data
from .workspace import Workspace

#: the default time budget of an adaptation (issue 13: a 2,000-segment study in 10 minutes on 2 cores)
DEFAULT_BUDGET_S = 600.0
#: folds of whole groups that judge adapted against fast
FOLDS = 3
#: planned passes over the coded segments (scripts/bench_quality.py measured 3 with the top 4 layers)
EPOCHS = 3.0


@dataclass
class AdaptationResult:
    """What an adaptation found and did."""

    name: str
    swapped: bool
    reason: str
    scheme: str
    fast: dict[str, float]
    adapted: dict[str, float]
    layers: int
    epochs: float
    budget_s: float
    seconds: float
    #: adapted minus fast mean kappa, with its paired interval over groups (classifier.evaluate.paired_kappa_gain)
    gain: dict[str, Any] | None = None


def parse_budget(text: str | float) -> float:
    """Seconds from ``600``, ``90s``, ``10m`` or ``1h``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise InputError(f"--budget {text!r} is not a duration", hint="write e.g. 10m, 600s or 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _summary(res: dict[str, Any]) -> dict[str, float]:
    return {"macro_f1": round(float(res["macro"]["f1"]), 4), "kappa": round(float(res["macro"]["kappa"]), 4)}


def adaptable_data(ws: Workspace, name: str) -> TrainingData:
    """The coded segments model NAME was trained from, or one line saying why they cannot judge
    an adaptation (the one rule for ``train`` and the child process that adapts)."""
    encoder = (read_card(ws.model_dir(name)).get("params") or {}).get("encoder") or STOCK_ENCODER
    if encoder_members(encoder)[0] != STOCK_ENCODER:  # of both encoders, the MiniLM model adapts
        raise InputError(f"model {name!r} embeds with {encoder}; only {STOCK_ENCODER} can be adapted",
                         hint=f"train with --encoder {STOCK_ENCODER} to adapt, or keep the frozen {encoder}")
    data = training_data(ws.store, trained_coders(ws, name))
    check_trainable(data)
    n_groups = len(set(data.groups))
    if n_groups < 2:
        raise InputError(f"adapting is judged by cross-validation over focus groups; the coded segments come from {n_groups}",
                         hint="code segments from another group first, or train with --no-adapt")
    return data


def why_not_adapt(ws: Workspace, name: str) -> str | None:
    """Why model NAME cannot be adapted (one line), or None when it can."""
    try:
        adaptable_data(ws, name)
    except AutocodeError as e:
        return str(e)
    return None


def adapt(ws: Workspace, name: str | None = None, *, budget_s: float = DEFAULT_BUDGET_S,
          progress: Callable[[str, float], None] | None = None) -> AdaptationResult:
    """Adapts model NAME's encoder to the workspace's coding if that codes more like the
    researcher (group cross-validation); returns what was found and done. ``progress(stage,
    share)`` is told how far it is."""
    t0 = time.monotonic()
    report = progress or (lambda stage, share: None)
    name = name or ws.default_model()
    folder = ws.model_dir(name)
    card = read_card(folder)
    if not (folder / "model.json").is_file() or not card:
        raise WorkspaceError(f"no trained model {name!r} in {ws.models_dir}; run `autocode train --name {name}` first")
    fast = load_model(ws, name)
    if getattr(fast, "tuned_encoder_dir_", None):
        raise WorkspaceError(f"model {name!r} already carries a tuned encoder ({fast.encoder_id_}); "
                             f"`autocode train --name {name}` makes a fast one to adapt")
    data = adaptable_data(ws, name)
    data_hash = training_data_hash(data.texts, data.Y, data.labels)
    if data_hash != card["training_data"]["hash"]:
        raise WorkspaceError(f"the coding changed since model {name!r} was trained; run `autocode train --name {name}` "
                             "again (it adapts the new model)")
    n_groups = len(set(data.groups))
    folds = min(FOLDS, n_groups)
    params = {k: v for k, v in fast.get_params().items() if k != "embedder"}
    embedder = ws.embedder()

    def cv(factory: ClassifierFactory, **fit_params) -> dict[str, Any]:
        return group_cross_validate(factory.new, data.texts, data.Y, data.labels, data.groups, contexts=data.contexts,
                                    exclusive=data.exclusive, n_splits=folds, learning_curve=None,
                                    prototypes=data.prototypes, fit_params=fit_params or None)

    report("fast model, cross-validated", 0.0)
    fast_cv = cv(ClassifierFactory(embedder, params))
    # each fold's adapter and the final one share what is left; the final one sees 1.5x the segments
    per_fit = max(1.0, (budget_s - (time.monotonic() - t0)) / (folds + 1.5))
    shares: list[float] = []

    def fold_progress(share: float) -> None:
        if not shares or share <= shares[-1]:  # a new fold starts again from its first step
            shares.append(share)
        shares[-1] = share
        report(f"adapting, fold {len(shares)} of {folds}", (len(shares) - 1 + share) / (folds + 1))

    tuned = {**params, "tuning": "adapt", "tuning_params": {"epochs": EPOCHS, "budget_s": per_fit}}
    adapted_cv = cv(ClassifierFactory(embedder, tuned), progress=fold_progress)
    epochs = EPOCHS * min(shares) if len(shares) == folds else 0.0
    fast_s, adapted_s = _summary(fast_cv), _summary(adapted_cv)
    scheme = f"{folds} folds of whole groups"
    gain = paired_kappa_gain(fast_cv["truth"], fast_cv["oof_pred"], adapted_cv["oof_pred"], data.groups)
    # the decision is the means' (the expected gain); the interval says how sure it is
    swapped = adapted_s["kappa"] > fast_s["kappa"] and epochs > 0
    sure = (f"gain {gain['kappa_gain']:+.3f}, {gain['confidence']:.0%} interval over {gain['groups']} groups "
            f"{gain['interval'][0]:+.3f} to {gain['interval'][1]:+.3f}" if gain["interval"] else gain["note"])
    if swapped:
        reason = (f"Adapted encoder swapped in: mean kappa {adapted_s['kappa']:.3f} against the fast model's "
                  f"{fast_s['kappa']:.3f} ({scheme}; {sure}).")
    elif epochs <= 0:
        reason = "The budget ended before every fold adapted; the fast model stays."
    else:
        reason = (f"Fast model kept: the adapted encoder's mean kappa {adapted_s['kappa']:.3f} does not beat the fast "
                  f"model's {fast_s['kappa']:.3f} ({scheme}; {sure}).")
    result = AdaptationResult(name=name, swapped=swapped, reason=reason, scheme=scheme, fast=fast_s,
                              adapted=adapted_s, layers=EncoderAdapter().layers, epochs=round(epochs, 2),
                              budget_s=budget_s, seconds=0.0, gain=gain)
    if swapped:
        report("adapting on every coded segment", folds / (folds + 1))
        final_params = {**params, "tuning": "adapt",
                        "tuning_params": {"epochs": round(epochs, 2),
                                          "budget_s": max(1.0, budget_s - (time.monotonic() - t0))}}
        model = ClassifierFactory(embedder, final_params).fit(data)
        result.layers = model.adaptation_["layers"]
    result.seconds = round(time.monotonic() - t0, 1)
    if read_card(folder).get("date") != card["date"]:  # neither the swap nor the note may touch a newer model
        raise WorkspaceError(f"model {name!r} was retrained while adapting; its new version is kept as it is")
    if swapped:
        staging = ws.models_dir / f".{name}.adapted"
        if staging.exists():
            shutil.rmtree(staging)
        save_model(model, staging, name=name, codebook_hash=card.get("codebook_hash"), training_data_hash=data_hash,
                   coders=data.coders, metrics=jsonable(adapted_cv), adaptation=asdict(result))
        old = ws.models_dir / f".{name}.fast"
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
        os.replace(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        card["adaptation"] = asdict(result)
        write_card(folder, card)
    report("done", 1.0)
    return result


# ---------------------------------------------------------------------------- the child process

def status_file(ws: Workspace, name: str) -> Path:
    """Where the adaptation of model NAME reports: models/.adapt/NAME.json."""
    return ws.models_dir / ".adapt" / f"{name}.json"


def read_status(ws: Workspace, name: str) -> dict[str, Any]:
    path = status_file(ws, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_status(path: Path, **status) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def running(ws: Workspace, name: str) -> int | None:
    """The pid of a running adaptation of model NAME, or None."""
    st = read_status(ws, name)
    pid = st.get("pid")
    return int(pid) if pid and st.get("state") == "running" and _alive(int(pid)) else None


def refuse_if_running(ws: Workspace, name: str) -> None:
    pid = running(ws, name)
    if pid:
        raise WorkspaceError(f"model {name!r} is being adapted (process {pid}); wait for it "
                             f"(`autocode adapt --status --name {name}`) or stop that process first")


def mark_stopped(ws: Workspace, name: str) -> None:
    """Records that the adaptation of NAME was stopped by its user."""
    st = read_status(ws, name)
    _write_status(status_file(ws, name), **{**st, "state": "stopped", "stage": "stopped by the user"})


def start(ws: Workspace, name: str, budget_s: float = DEFAULT_BUDGET_S, *, background: bool = False) -> subprocess.Popen:
    """Starts the adaptation of model NAME in a child process; its log is models/.adapt/NAME.log.
    ``background``: in a session of its own, so it outlives the command that started it."""
    refuse_if_running(ws, name)
    path = status_file(ws, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _write_status(path, state="starting", pid=None, stage="starting", share=0.0, started=started, budget_s=budget_s)
    cmd = [sys.executable, "-m", "autocode.app.adaptation", str(ws.root), name, str(budget_s)]
    with open(path.with_suffix(".log"), "w", encoding="utf-8") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=background)


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="adapt a workspace model's encoder (started by autocode train / adapt)")
    ap.add_argument("workspace")
    ap.add_argument("name")
    ap.add_argument("budget_s", type=float)
    args = ap.parse_args(argv)
    ws = Workspace.find(args.workspace)
    path = status_file(ws, args.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = {"pid": os.getpid(), "budget_s": args.budget_s,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        result = adapt(ws, args.name, budget_s=args.budget_s,
                       progress=lambda stage, share: _write_status(path, state="running", stage=stage,
                                                                   share=round(share, 4), **base))
    except AutocodeError as e:
        _write_status(path, state="failed", error=str(e), **base)
        print(f"autocode adapt: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - reported in the status file for the waiting command
        _write_status(path, state="failed", error=f"{type(e).__name__}: {e}", **base)
        raise
    finally:
        ws.close()
    _write_status(path, state="done", stage="done", share=1.0, result=asdict(result), **base)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
