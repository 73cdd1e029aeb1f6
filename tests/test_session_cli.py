"""simulate, annotate and demo through the CLI runner."""

import json

import pytest

from conftest import DEMO


# one embedding cache for the module's workspaces and servers (conftest.py, shared_embedding_cache)
pytestmark = pytest.mark.usefixtures("shared_embedding_cache")


@pytest.fixture
def coded(cli):
    cli("init", cli.root, workspace=False)
    files = [DEMO / "coded" / f"focus-group-{i}.csv" for i in (1, 2, 3)]
    assert cli("import", *files).exit_code == 0
    return cli


def test_simulate_reports_curves_beside_random(coded):
    r = coded("simulate", "--coder", "coder_a", "--budget", "60", "--step", "20", "--seeds", "0", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert set(data["curves"]) == {"discover", "random"}
    assert data["n_labels"][0] == 20 and data["n_labels"][-1] <= 60
    assert all(0 <= f <= 1 for f in data["curves"]["random"]["mean_f1"])
    rows = {row["strategy"]: row for row in data["summary"]}
    assert set(rows) == {"discover", "random"}
    # discovery per seed (None: not within the 60-answer budget), the paired difference to random
    assert len(rows["discover"]["labels_to_min_positives"]) == 1
    assert all(n is None or 20 <= n <= 60 for n in rows["discover"]["labels_to_share"])
    vs = rows["discover"]["vs_random"]
    assert vs["low"] is None and vs["high"] is None  # one seed: no spread between seeds to read
    assert vs["per_seed"] == [pytest.approx(vs["mean_f1_difference"])]
    # per code, the answers until its held-out kappa reached 0.6 (None: not within the budget)
    per_code = rows["random"]["labels_to_code_kappa"]
    assert len(per_code) == data["n_codes"] and all(n is None or n in data["n_labels"] for n in per_code)
    text = coded("simulate", "--coder", "coder_a", "--budget", "40", "--step", "20", "--seeds", "0")
    assert text.exit_code == 0, text.output
    assert f"of {data['n_codes']} codes reach held-out kappa 0.6 within 40 answers" in " ".join(text.output.split())
    assert "one seed, so no interval" in " ".join(text.output.split())
    two = json.loads(coded("simulate", "--coder", "coder_a", "--budget", "40", "--step", "20", "--seeds", "0,1",
                           "--json").output)
    vs = {row["strategy"]: row for row in two["summary"]}["discover"]["vs_random"]
    assert len(vs["per_seed"]) == 2 and vs["low"] <= vs["mean_f1_difference"] <= vs["high"]
    r = coded("simulate", "--coder", "coder_a", "--strategy", "nonsense")
    assert r.exit_code == 2 and "unknown strategy" in r.output


def test_annotate_starts_a_session_serves_it_and_closes_it(coded, monkeypatch):
    coded("import", DEMO / "uncoded" / "focus-group-7.txt", "--group", "Focus Group 7")
    served = {}

    def fake_serve(session, *, port, open_browser, on_ready, door=None, coder=None):
        served["state"] = session.state()
        served["open_browser"] = open_browser
        on_ready("http://127.0.0.1:1/?token=t")

    monkeypatch.setattr("autocode.web.server.serve", fake_serve)
    r = coded("annotate", "--coder", "me", "--group", "Focus Group 7", "--no-browser")
    assert r.exit_code == 0, r.output
    assert served["open_browser"] is False and served["state"]["task"]["group"] == "Focus Group 7"
    assert "88 segments to code" in r.output and "Session closed" in r.output
    r = coded("annotate", "--coder", "me", "--strategy", "nope")
    assert r.exit_code == 2 and "unknown strategy" in r.output


def test_demo_runs_end_to_end(runner, tmp_path, monkeypatch):
    from autocode.cli import app

    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["demo", "--dir", "demo-ws", "--n-boot", "20"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = tmp_path / "demo-ws" / "outputs"
    assert (out / "suggestions.csv").exists() and (out / "agreement" / "index.html").exists()
    assert (tmp_path / "demo-ws" / "models" / "default" / "card.md").exists()
    assert "coder_a vs coder_b" in r.output and "macro F1" in r.output
    other = tmp_path / "not-a-demo"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["demo", "--dir", str(other)])
    assert r.exit_code == 2 and "not a demo workspace" in r.output and (other / "notes.txt").exists()
