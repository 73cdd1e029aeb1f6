"""train / suggest / evaluate / agreement --model through the CLI, on three demo groups."""

import csv
import json

import pytest
from typer.testing import CliRunner

from autocode.cli import app
from conftest import DEMO

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("model") / "ws"

    def run(*args):
        result = runner.invoke(app, ["-w", str(root), *map(str, args)], catch_exceptions=False)
        return result

    run.root = root
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    files = [DEMO / "coded" / f"focus-group-{i}.csv" for i in (1, 2, 3)] + [DEMO / "second-coder" / "focus-group-1.csv"]
    assert run("import", *files).exit_code == 0
    assert run("import", DEMO / "uncoded" / "focus-group-7.txt", "--group", "Focus Group 7").exit_code == 0
    r = run("train", "--coder", "coder_a", "--no-evaluate", "--no-adapt")
    assert r.exit_code == 0, r.output
    return run


def test_saved_model_is_weights_and_json_only(trained):
    folder = trained.root / "models" / "default"
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    assert {"model.json", "weights.safetensors", "card.json", "card.md"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib", ".bin", ".pt"))]
    card = json.loads((folder / "card.json").read_text())
    from autocode.app.workspace import Workspace

    assert card["codebook_hash"] == Workspace.find(trained.root).store.codebook().hash()
    assert card["training_data"]["coders"] == ["coder_a"] and card["training_data"]["hash"]
    assert "scikit-learn" in card["library_versions"] and card["encoder"]


def test_suggest_group_jsonl(trained, tmp_path):
    out = tmp_path / "s.jsonl"
    r = trained("suggest", "Focus Group 7", "--out", out, "--format", "jsonl")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 88  # participant turns of focus group 7
    from autocode.app.workspace import Workspace

    codable = {c.path for c in Workspace.find(trained.root).store.codebook().codable()}
    assert all(set(r["scores"]) >= codable for r in rows)
    assert all({c["code"] for c in r["codes"]} <= codable for r in rows)
    coded = [r for r in rows if r["codes"]]
    assert len(coded) > len(rows) / 2
    assert all(len(r["similar"]) == 3 and all(s["text"] for s in r["similar"]) for r in coded)
    assert sum(bool(r["words"]) for r in coded) >= 0.8 * len(coded)  # stop words are never offered as evidence
    assert all(0 <= c["probability"] <= 1 for r in rows for c in r["codes"])


def test_suggest_file_without_storing_then_save(trained, tmp_path):
    from autocode.app.workspace import Workspace

    store = Workspace.find(trained.root).store
    before = store.counts()["segments"]
    out = tmp_path / "s.csv"
    r = trained("suggest", DEMO / "uncoded" / "focus-group-8.txt", "--out", out, "--top-k", "2")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 89 and all(len([c for c in row["codes"].split(";") if c]) <= 2 for row in rows)
    assert store.counts()["segments"] == before
    human = store.codings("coder_a")
    r = trained("suggest", "Focus Group 7", "--save")
    assert r.exit_code == 0, r.output
    stored = sorted({(r["source"], r["model_version"]) for r in store.coding_rows("model:default")})
    assert [s[0] for s in stored] == ["model"] and stored[0][1].startswith("default@")
    assert store.codings("coder_a") == human


def test_unknown_model_is_a_clean_error(trained):
    r = trained("suggest", "Focus Group 7", "--model", "nope")
    assert r.exit_code == 2 and "no model named 'nope'" in r.output


def test_evaluate_leave_one_group_out(trained, tmp_path):
    r = trained("evaluate", "--json", "--report", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output[r.output.index("{"):])
    assert data["scheme"] == "leave-one-group-out" and data["n_splits"] == 3
    assert 0.2 < data["macro"]["f1"] <= 1
    assert [p["fraction"] for p in data["learning_curve"]] == [0.1, 0.25, 0.5, 1.0]
    assert set(data["per_group"]) == {"Focus Group 1", "Focus Group 2", "Focus Group 3"}
    assert (tmp_path / "rep" / "index.html").exists()


def test_agreement_with_model_is_out_of_fold(trained):
    r = trained("agreement", "--coder", "coder_a", "--coder", "coder_b", "--model", "default", "--level", "theme",
                "--json", "--n-boot", "0")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["coders"] == ["coder_a", "coder_b", "model:default"]
    pairs = {(p["coder_1"], p["coder_2"]) for p in data["pairwise"]}
    assert ("coder_a", "model:default") in pairs
    from autocode.app.workspace import Workspace

    versions = {r["model_version"] for r in Workspace.find(trained.root).store.coding_rows()
                if "refit without" in (r["model_version"] or "")}
    # one refit per focus group the reference coder (coder_a) coded, each leaving that group out
    assert sorted(v.split("refit without ")[1] for v in versions) == ["Focus Group 1)", "Focus Group 2)", "Focus Group 3)"]
    kappa = {(p["coder_1"], p["coder_2"]): p["kappa"] for p in data["pairwise"] if p["code"].endswith("Implementation")}
    assert kappa[("coder_a", "model:default")] < 0.99  # not trained on what it is judged on
