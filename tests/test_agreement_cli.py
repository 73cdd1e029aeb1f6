"""``autocode agreement`` over the store: segments, characters, levels, groups, report."""

import json

import pytest

from conftest import DEMO


@pytest.fixture
def coded(cli, database):
    """Two coders' demo groups, on SQLite and on PostgreSQL."""
    cli("init", cli.root, workspace=False)
    files = [DEMO / "coded" / "focus-group-1.csv", DEMO / "coded" / "focus-group-2.csv",
             DEMO / "coded" / "focus-group-3.csv", DEMO / "second-coder" / "focus-group-1.csv",
             DEMO / "second-coder" / "focus-group-2.csv"]
    assert cli("import", *files).exit_code == 0
    return cli


def test_segment_agreement_json(coded):
    r = coded("agreement", "--coder", "coder_a", "--coder", "coder_b", "--level", "theme", "--json", "--n-boot", "50")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["coders"] == ["coder_a", "coder_b"] and data["level"] == "theme"
    assert len(data["per_code"]) == 7
    assert {g["group"] for g in data["group_summary"]} == {"Focus Group 1", "Focus Group 2"}
    assert all(0.5 < c["kappa"] <= 1 for c in data["per_code"])
    assert all(c["kappa_label"] in {"moderate", "substantial", "almost perfect"} for c in data["per_code"])


def test_table_report_and_group(coded, tmp_path):
    out = tmp_path / "report"
    r = coded("agreement", "--coder", "coder_a", "--coder", "coder_b", "--group", "Focus Group 1",
              "--report", out, "--n-boot", "20")
    assert r.exit_code == 0, r.output
    assert "almost" in r.output and "Focus Group 2" not in r.output
    assert (out / "index.html").exists() and (out / "disagreements.csv").read_text().count("\n") > 5


def test_character_units(coded):
    r = coded("agreement", "--coder", "coder_a", "--coder", "coder_b", "--unit", "character", "--json", "--n-boot", "0")
    data = json.loads(r.output)
    assert data["unit"] == "character"
    assert all(k is None or k > 0.5 for k in (c["kappa"] for c in data["per_code"] if c["n_coded"] > 200))


def test_exclude_uncoded_drops_units(coded):
    base = json.loads(coded("agreement", "--coder", "coder_a", "--coder", "coder_b", "--json", "--n-boot", "0").output)
    ex = json.loads(coded("agreement", "--coder", "coder_a", "--coder", "coder_b", "--json", "--n-boot", "0",
                          "--exclude-uncoded").output)
    assert ex["overall"]["n_units"] < base["overall"]["n_units"]


def test_unknown_coder_is_a_clean_error(coded):
    r = coded("agreement", "--coder", "coder_a", "--coder", "nobody")
    assert r.exit_code == 2 and "no coder named 'nobody'" in r.output


def test_every_codebook_level_is_reported(coded):
    data = json.loads(coded("agreement", "--coder", "coder_a", "--coder", "coder_b", "--json", "--n-boot", "0").output)
    assert set(data["levels"]) == {"domain", "theme", "subtheme", "all"}
    # a disagreement between sub-themes can still be agreement on the theme
    assert data["levels"]["domain"]["percent_agreement"] >= data["levels"]["subtheme"]["percent_agreement"] - 5
    assert data["levels"]["domain"]["n_codes"] == 3 and data["levels"]["theme"]["n_codes"] == 7
