"""The shipped model for the study's codebook: suggestions from day one, replaced by the first train."""

from __future__ import annotations

import json

from conftest import DEMO

from autocode.app.models import SHIPPED_DIR, SHIPPED_MODEL, model_version, shipped_model
from autocode.app.workspace import Workspace
from autocode.classifier.persist import read_card
from autocode.io import codebooks

UNCODED = sorted((DEMO / "uncoded").glob("*.txt"))[0]


def test_the_shipped_model_matches_the_default_codebook_and_says_what_it_learnt():
    card = read_card(SHIPPED_DIR / SHIPPED_MODEL)
    assert card["codebook_hash"] == codebooks.default().hash(), "rerun scripts/train_shipped_model.py"
    assert "WRITTEN FOR THE DEMO" in card["notes"] and card["training_data"]["coders"] == ["coder_a"]
    assert card["cross_validated_metrics"]["macro"]["f1"] > 0.3


def test_a_new_workspace_suggests_before_any_training_and_train_replaces_it(cli, tmp_path):
    assert cli("init", cli.root, workspace=False).exit_code == 0
    assert cli("import", UNCODED, "--group", "New group").exit_code == 0
    out = tmp_path / "s.jsonl"
    r = cli("suggest", "New group", "--out", out, "--format", "jsonl", "--save")
    assert r.exit_code == 0, r.output
    assert "shipped model 'study-frame'" in r.output and "written for the autocode demo" in " ".join(r.output.split())
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows and sum(bool(x["codes"]) for x in rows) >= len(rows) // 2
    ws = Workspace.find(cli.root)
    assert shipped_model(ws, "default") is not None
    assert model_version(ws, "default").startswith("default=study-frame@")
    ws.close()
    # the first train: the workspace's own model from then on
    assert cli("import", *[DEMO / "coded" / f"focus-group-{i}.csv" for i in (1, 2)]).exit_code == 0
    assert cli("train", "--coder", "coder_a", "--no-evaluate", "--no-adapt").exit_code == 0
    r = cli("suggest", "New group", "--out", tmp_path / "t.csv")
    assert r.exit_code == 0 and "shipped model" not in r.output
    ws = Workspace.find(cli.root)
    assert shipped_model(ws, "default") is None and "study-frame" not in model_version(ws, "default")
    ws.close()


def test_another_codebook_gets_no_stand_in(cli, tmp_path):
    book = tmp_path / "codes.txt"
    book.write_text("Funding\nStaff\n", encoding="utf-8")
    assert cli("init", cli.root, "--codebook", book, workspace=False).exit_code == 0
    assert cli("import", UNCODED, "--group", "New group").exit_code == 0
    r = cli("suggest", "New group")
    assert r.exit_code == 2 and "no model named 'default'" in r.output
    # nor a model other than the default
    ws = Workspace.find(cli.root)
    assert shipped_model(ws, "default") is None and shipped_model(ws, "other") is None
    ws.close()
