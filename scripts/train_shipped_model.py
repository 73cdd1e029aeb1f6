#!/usr/bin/env python
"""Trains the model that ships for the study's codebook: models/study-frame/ at the top of the repository.

A workspace whose codebook is the untouched default (the study's COM-B frame) suggests with this
model before its own first ``autocode train`` (autocode.app.models.shipped_model). It is trained,
with autocode's default settings, on the demo corpus's six coded focus groups (coder_a), and its
card says so: that text was written for the autocode demo, not taken from real transcripts, so the
model knows the frame's codes from invented talk only. Rerun this after a change to the model's
format, the default codebook or the demo corpus (a test checks that the shipped model still loads
and matches the default codebook).

    .venv/bin/python scripts/train_shipped_model.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NOTES = ("Trained by scripts/train_shipped_model.py on the autocode demo corpus (annotations/demo: six "
         "focus groups coded by coder_a). That text was WRITTEN FOR THE DEMO, not taken from real "
         "transcripts: the model knows the study's codebook from invented talk only. It stands in for a "
         "workspace's default model until that workspace's first `autocode train`, which replaces it.")


def main() -> int:
    from autocode.app.demo import CODER, corpus_dir
    from autocode.app.imports import import_files
    from autocode.app.models import SHIPPED_DIR, SHIPPED_MODEL, train
    from autocode.app.workspace import Workspace
    from autocode.classifier.persist import read_card, write_card

    with tempfile.TemporaryDirectory(prefix="autocode-shipped-") as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        import_files(ws, sorted((corpus_dir() / "coded").glob("*.csv")))
        card = train(ws, SHIPPED_MODEL, coder=CODER, evaluate=True)
        built = ws.model_dir(SHIPPED_MODEL)
        card["notes"] = NOTES
        write_card(built, card)
        target = SHIPPED_DIR / SHIPPED_MODEL
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(built, target)
        ws.close()
    card = read_card(target)
    m = (card.get("cross_validated_metrics") or {}).get("macro", {})
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {target} ({size / 1e6:.1f} MB): {card['training_data']['segments']} segments, "
          f"{len(card['labels'])} codes, leave-one-group-out macro-F1 {m.get('f1', float('nan')):.3f}, "
          f"mean kappa {m.get('kappa', float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
