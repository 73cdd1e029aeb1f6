"""Disagreement list and matrix, and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from autocode.agreement import (
    NO_CODE,
    compare,
    compare_characters,
    compare_levels,
    disagreement_list,
    disagreement_matrix,
    write_report,
)
from autocode.errors import InputError

NT = "Capability/Understanding boundaries/Not therapists"
CM = "Capability/Understanding boundaries/Coping in the moment"
FU = "Opportunity/Implementation/Short-term and complex funding"


def data(extra_code: str = "Barrier") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    coded = {
        "FG1-001": {"coder_a": [NT, extra_code], "coder_b": [NT, extra_code]},
        "FG1-002": {"coder_a": [CM], "coder_b": [NT]},
        "FG1-003": {"coder_a": [CM, FU], "coder_b": [NT]},
        "FG2-001": {"coder_a": [FU], "coder_b": []},
        "FG2-002": {"coder_a": [], "coder_b": [FU, extra_code]},
        "FG2-003": {"coder_a": [], "coder_b": []},
    }
    units = pd.DataFrame({"unit_id": list(coded), "group": [f"Focus Group {u[2]}" for u in coded],
                          "length": [40, 50, 60, 70, 80, 90], "text": [f"turn {u}" for u in coded]})
    seen = pd.DataFrame([(u, c) for u in coded for c in ("coder_a", "coder_b")], columns=["unit_id", "coder"])
    codings = pd.DataFrame([(u, c, k) for u, by in coded.items() for c, ks in by.items() for k in ks],
                           columns=["unit_id", "coder", "code"])
    return units, seen, codings


def test_disagreement_list_puts_each_coders_codes_side_by_side(tmp_path: Path) -> None:
    listing = disagreement_list(*data(), ["coder_a", "coder_b"])
    assert list(listing.columns) == ["unit_id", "group", "text", "coder_a", "coder_b", "disputed"]
    assert list(listing["unit_id"]) == ["FG1-002", "FG1-003", "FG2-001", "FG2-002"]
    first = listing.iloc[0]
    assert first["coder_a"] == CM and first["coder_b"] == NT
    assert first["disputed"] == f"{CM}; {NT}"
    assert listing.set_index("unit_id").loc["FG2-001", "coder_b"] == ""
    listing.to_csv(tmp_path / "d.csv", index=False)
    assert len(pd.read_csv(tmp_path / "d.csv")) == 4
    # At theme level FG1-002 agrees (both Understanding boundaries).
    theme = disagreement_list(*data(), ["coder_a", "coder_b"], level="theme")
    assert "FG1-002" not in set(theme["unit_id"])


def test_disagreement_list_rejects_a_coder_named_like_a_column() -> None:
    units, seen, codings = data()
    seen = seen.replace("coder_b", "group")
    codings = codings.replace("coder_b", "group")
    with pytest.raises(InputError, match="'group' clashes"):
        disagreement_list(units, seen, codings, ["coder_a", "group"])


def test_disagreement_matrix_counts_substitutions() -> None:
    matrix = disagreement_matrix(*data(), "coder_a", "coder_b")
    assert list(matrix.index) == list(matrix.columns) == ["Barrier", CM, NT, FU, NO_CODE]
    assert matrix.loc[CM, NT] == 2          # FG1-002, FG1-003
    assert matrix.loc[FU, NT] == 1          # FG1-003
    assert matrix.loc[FU, NO_CODE] == 1     # FG2-001
    assert matrix.loc[NO_CODE, FU] == 1 and matrix.loc[NO_CODE, "Barrier"] == 1  # FG2-002
    assert int(matrix.to_numpy().trace()) == 0
    assert matrix.to_numpy().sum() == 6
    assert matrix.index.name == "coder_a applied" and matrix.columns.name == "coder_b applied instead"


def test_write_report_writes_escaped_html_figures_and_csv(tmp_path: Path) -> None:
    nasty = '<script>alert("x")</script> & Co'
    args = data(extra_code=nasty)
    coders = ["coder_a", "coder_b"]
    report = compare(*args, coders, by_group=True, n_boot=100)
    index = write_report(
        report, tmp_path / "out",
        disagreements=disagreement_list(*args, coders),
        matrix=disagreement_matrix(*args, *coders),
        levels=compare_levels(*args, coders, n_boot=0),
        title="Agreement <FG1-2>",
    )
    page = index.read_text(encoding="utf-8")
    assert index.name == "index.html"
    assert "<script>" not in page and "&lt;script&gt;" in page and "Agreement &lt;FG1-2&gt;" in page
    assert "http://" not in page and "https://" not in page  # no CDN or remote assets
    for name in ("kappa_per_code.png", "disagreement_matrix.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{name}"' in page
    listing = pd.read_csv(tmp_path / "out" / "disagreements.csv", keep_default_na=False)
    assert len(listing) == 4 and listing["coder_b"].str.contains(nasty, regex=False).any()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["coders"] == coders
    for name in ("per_code.csv", "pairwise.csv", "per_group.csv", "disagreement_matrix.csv"):
        assert (tmp_path / "out" / name).exists()
    assert "Per group" in page and "By codebook level" in page


def test_write_report_without_kappas_or_disagreements(tmp_path: Path) -> None:
    report = compare_characters({"d": 20}, {"a": {}, "b": {}}, n_boot=0)
    index = write_report(report, tmp_path)
    assert index.exists() and not (tmp_path / "kappa_per_code.png").exists()
    assert "Per document" in index.read_text(encoding="utf-8")
