"""The CLI over the API: every corpus command through typer's CliRunner."""

import json

from conftest import DEMO


def test_init_import_stats_export(cli, tmp_path):
    r = cli("init", str(cli.root), workspace=False)
    assert r.exit_code == 0 and "45 codable" in r.output
    r = cli("import", DEMO / "coded" / "focus-group-1.csv")
    assert r.exit_code == 0, r.output
    r = cli("import", DEMO / "uncoded" / "focus-group-7.txt", "--group", "Focus Group 7")
    assert r.exit_code == 0, r.output
    s = json.loads(cli("stats", "--json").output)
    assert s["documents"] == 2
    assert s["coders"]["coder_a"]["coded_segments"] > 100
    assert s["code_counts"]["coder_a"]["Opportunity"] >= s["code_counts"]["coder_a"]["Opportunity/Partnerships"]
    out = tmp_path / "out.jsonl"
    r = cli("export", out, "--format", "jsonl", "--coder", "coder_a")
    assert r.exit_code == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["coder"] for r in rows} == {"coder_a"}
    assert "Focus Group 7" in cli("stats").output


def test_workspace_option_after_command_and_env(runner, tmp_path, monkeypatch):
    from autocode.cli import app

    root = tmp_path / "w2"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    assert runner.invoke(app, ["stats", "-w", str(root)]).exit_code == 0
    monkeypatch.setenv("AUTOCODE_WORKSPACE", str(root))
    assert runner.invoke(app, ["stats"]).exit_code == 0


def test_errors_are_one_line_with_exit_code_2(cli, tmp_path):
    cli("init", str(cli.root), workspace=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,codes,coder\nhello,Partnership,a\n", encoding="utf-8")
    r = cli("import", bad)
    assert r.exit_code == 2
    assert "bad.csv:2: unknown code 'Partnership'" in r.output
    assert "Traceback" not in r.output
    r = cli("stats", workspace=False)
    assert r.exit_code == 2 and "not an autocode workspace" in r.output


def test_codebook_show_and_import(cli, tmp_path):
    cli("init", str(cli.root), workspace=False)
    r = cli("codebook", "show")
    assert "Offering something different" in r.output
    data = json.loads(cli("codebook", "show", "--json").output)
    assert [g["name"] for g in data["groups"]] == ["COM-B", "Valence"]
    extra = tmp_path / "extra.txt"
    extra.write_text("[Tone]\nHopeful\nFrustrated\n", encoding="utf-8")
    r = cli("codebook", "import", extra)
    assert r.exit_code == 0 and "Added 2 code(s)" in r.output
    out = tmp_path / "cb.yaml"
    assert cli("codebook", "export", out).exit_code == 0
    assert "Frustrated" in out.read_text()


def test_init_with_text_codebook(cli, tmp_path):
    codes = tmp_path / "codes.txt"
    codes.write_text("[Talk] exclusive\nChange\nNeutral\nSustain\n", encoding="utf-8")
    r = cli("init", str(cli.root), "--codebook", codes, workspace=False)
    assert r.exit_code == 0 and "3 codes" in r.output
