"""compare(): per-code, pairwise, per-group, per-level and overall agreement."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from autocode import codebook
from autocode.agreement import (
    DEFAULT_LEVELS,
    compare,
    compare_levels,
    disagreement_list,
    disagreement_matrix,
    level_summary,
)
from autocode.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "autocode" / "data"
NOT_THERAPISTS = "Capability/Understanding boundaries/Not therapists"
COPING = "Capability/Understanding boundaries/Coping in the moment"
SKILLS = "Capability/Developing skills/Support, supervision and training"
FUNDING = "Opportunity/Implementation/Short-term and complex funding"


def frames(coded: Mapping[str, Mapping[str, list[str]]], groups: Mapping[str, str] | None = None,
           lengths: Mapping[str, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """units, seen, codings from {unit: {coder: [codes]}}; every listed coder saw the unit."""
    units = pd.DataFrame({
        "unit_id": list(coded),
        "group": [(groups or {}).get(u, "Focus Group 1") for u in coded],
        "length": [(lengths or {}).get(u, 100) for u in coded],
    })
    seen = pd.DataFrame([(u, c) for u, by in coded.items() for c in by], columns=["unit_id", "coder"])
    codings = pd.DataFrame([(u, c, code) for u, by in coded.items() for c, codes in by.items() for code in codes],
                           columns=["unit_id", "coder", "code"])
    return units, seen, codings


def two_coder_example() -> dict[str, dict[str, list[str]]]:
    return {
        "FG1-001": {"a": [NOT_THERAPISTS, "Barrier"], "b": [NOT_THERAPISTS, "Barrier"]},
        "FG1-002": {"a": [COPING, "Barrier"], "b": [NOT_THERAPISTS, "Barrier"]},
        "FG1-003": {"a": [SKILLS, "Barrier"], "b": [SKILLS]},
        "FG1-004": {"a": [], "b": []},
        "FG1-005": {"a": [FUNDING, "Barrier"], "b": [FUNDING, "Barrier"]},
        "FG1-006": {"a": [], "b": [FUNDING]},
        "FG1-007": {"a": [NOT_THERAPISTS, "Enabler"], "b": [NOT_THERAPISTS, "Enabler"]},
        "FG1-008": {"a": [], "b": []},
    }


def row(report_table: pd.DataFrame, code: str) -> pd.Series:
    return report_table.set_index("code").loc[code]


def test_per_code_figures_match_scikit_learn() -> None:
    coded = two_coder_example()
    report = compare(*frames(coded), ["a", "b"], n_boot=0)
    for code in report.per_code["code"]:
        a = np.array([code in coded[u]["a"] for u in coded])
        b = np.array([code in coded[u]["b"] for u in coded])
        got = row(report.per_code, code)
        assert got["n_units"] == 8
        assert got["percent_agreement"] == pytest.approx(100 * (a == b).mean())
        assert got["prevalence"] == pytest.approx((a.mean() + b.mean()) / 2)
        if a.any() or b.any():
            assert got["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    barrier = row(report.per_code, "Barrier")
    assert barrier["kappa"] == pytest.approx(cohen_kappa_score([1, 1, 1, 0, 1, 0, 0, 0], [1, 1, 0, 0, 1, 0, 0, 0]))
    assert barrier["kappa_label"] == "substantial"
    assert math.isnan(barrier["fleiss_kappa"])  # only for more than two coders


def test_code_no_one_applied_is_nan_with_a_reason_and_full_agreement() -> None:
    codes = ["Barrier", "Motivation/Community motivation/Breaking stigma"]
    report = compare(*frames(two_coder_example()), ["a", "b"], codes=codes, n_boot=100)
    unused = row(report.per_code, codes[1])
    assert math.isnan(unused["kappa"]) and math.isnan(unused["alpha"]) and math.isnan(unused["kappa_ci_low"])
    assert unused["kappa_label"] == "undefined"
    assert "no coder applied" in unused["note"]
    assert unused["percent_agreement"] == 100.0
    assert unused["ac1"] == 1.0
    assert list(report.per_code["code"]) == codes
    assert report.overall.n_codes_with_kappa == 1


def test_single_unit() -> None:
    report = compare(*frames({"u1": {"a": ["Barrier"], "b": []}}), ["a", "b"], n_boot=100)
    barrier = row(report.per_code, "Barrier")
    assert barrier["n_units"] == 1
    assert barrier["percent_agreement"] == 0.0
    assert barrier["kappa"] == 0.0
    assert "one unit only" in barrier["note"]
    assert report.bootstrap.resampled is None


def test_identical_coders_give_kappa_one_where_the_code_varies() -> None:
    coded = {u: {"a": by["a"], "b": list(by["a"])} for u, by in two_coder_example().items()}
    report = compare(*frames(coded), ["a", "b"], n_boot=50)
    assert (report.per_code["kappa"] == 1.0).all()
    assert (report.per_code["percent_agreement"] == 100.0).all()
    assert (report.per_code["kappa_ci_low"] == 1.0).all()
    assert report.overall.exact_match == 100.0
    assert report.overall.alpha == pytest.approx(1.0)


def test_levels_project_sub_themes_onto_themes_and_domains() -> None:
    data = frames(two_coder_example())
    sub = compare(*data, ["a", "b"], level="subtheme", n_boot=0)
    theme = compare(*data, ["a", "b"], level="theme", n_boot=0)
    domain = compare(*data, ["a", "b"], level=1, n_boot=0)
    assert "Barrier" not in set(sub.per_code["code"]) | set(theme.per_code["code"]) | set(domain.per_code["code"])
    assert set(domain.per_code["code"]) == {"Capability", "Opportunity"}
    assert "Capability/Understanding boundaries" in set(theme.per_code["code"])
    # Coping vs Not therapists disagree as sub-themes but agree as a theme.
    assert row(sub.per_code, COPING)["kappa"] == 0.0
    assert row(theme.per_code, "Capability/Understanding boundaries")["kappa"] == 1.0
    assert theme.level == "theme" and domain.level == "domain"

    reports = compare_levels(*data, ["a", "b"], n_boot=0)
    assert list(reports) == ["domain", "theme", "subtheme", "all"]
    assert "Barrier" in set(reports["all"].per_code["code"])
    summary = level_summary(reports)
    assert list(summary["level"]) == ["domain", "theme", "subtheme", "all"]
    assert summary.set_index("level").loc["theme", "mean_kappa"] == theme.overall.mean_kappa


def test_levels_are_named_by_the_codebook() -> None:
    # A codebook whose two levels are called category and subcategory: the same depths,
    # its own names; a level is given by name or by depth.
    data = frames(two_coder_example())
    names = ("category", "subcategory")
    by_name = compare(*data, ["a", "b"], level="subcategory", levels=names, n_boot=0)
    by_depth = compare(*data, ["a", "b"], level=2, levels=names, n_boot=0)
    default = compare(*data, ["a", "b"], level="theme", n_boot=0)
    assert by_name.level == by_depth.level == "subcategory"
    pd.testing.assert_frame_equal(by_name.per_code, default.per_code)
    pd.testing.assert_frame_equal(by_depth.per_code, default.per_code)
    assert compare(*data, ["a", "b"], level="Sub-Category", levels=names, n_boot=0).level == "subcategory"

    reports = compare_levels(*data, ["a", "b"], levels=names, n_boot=0)
    assert list(reports) == ["category", "subcategory", "all"]  # the given levels, in depth order
    assert list(level_summary(reports)["level"]) == ["category", "subcategory", "all"]
    assert set(reports["category"].per_code["code"]) == {"Capability", "Opportunity"}
    assert list(disagreement_list(*data, ["a", "b"], level="category", levels=names)["unit_id"]) == ["FG1-006"]
    assert "Capability" in disagreement_matrix(*data, "a", "b", level=1, levels=names).index


def test_the_study_codebook_names_its_levels() -> None:
    book = codebook.from_dict(yaml.safe_load((DATA / "study_codebook.yaml").read_text(encoding="utf-8")))
    assert book.level_names() == list(DEFAULT_LEVELS)
    reports = compare_levels(*frames(two_coder_example()), ["a", "b"], levels=book.level_names(), n_boot=0)
    assert list(reports) == ["domain", "theme", "subtheme", "all"]


def test_unknown_level_names_the_known_levels() -> None:
    data = frames(two_coder_example())
    names = ("category", "subcategory")
    known = re.escape("the known levels are 'category' (or 1), 'subcategory' (or 2)")
    with pytest.raises(InputError, match=f"unknown codebook level 'theme'; {known}"):
        compare(*data, ["a", "b"], level="theme", levels=names)
    with pytest.raises(InputError, match=f"unknown codebook level 3; {known}"):
        compare(*data, ["a", "b"], level=3, levels=names)
    with pytest.raises(InputError, match="unknown codebook level 'theme'; the codebook names no levels"):
        disagreement_list(*data, ["a", "b"], level="theme", levels=[])
    assert list(compare_levels(*data, ["a", "b"], levels=[], n_boot=0)) == ["all"]
    with pytest.raises(InputError, match="'category' is named twice"):
        compare(*data, ["a", "b"], level=1, levels=["category", "Category"])
    with pytest.raises(InputError, match="may not be named 'all'"):
        compare_levels(*data, ["a", "b"], levels=["category", "all"])


def test_flat_codebook_has_no_levels() -> None:
    data = frames({"u1": {"a": ["Barrier"], "b": ["Enabler"]}, "u2": {"a": ["Enabler"], "b": ["Enabler"]}})
    assert compare(*data, ["a", "b"], level="domain", n_boot=0).per_code.empty
    assert list(compare_levels(*data, ["a", "b"], n_boot=0)) == ["all"]


def test_seen_units_and_exclude_uncoded() -> None:
    units, seen, codings = frames(two_coder_example())
    extra = pd.DataFrame({"unit_id": ["FG1-009", "FG1-010"], "group": ["Focus Group 1"] * 2, "length": [50, 50]})
    units = pd.concat([units, extra], ignore_index=True)
    # FG1-009: only a saw it; FG1-010: both saw it and neither coded it.
    seen = pd.concat([seen, pd.DataFrame({"unit_id": ["FG1-009", "FG1-010", "FG1-010"], "coder": ["a", "a", "b"]})])
    codings = pd.concat([codings, pd.DataFrame({"unit_id": ["FG1-009"], "coder": ["a"], "code": ["Barrier"]})])
    report = compare(units, seen, codings, ["a", "b"], n_boot=0)
    assert report.overall.n_units == 9 and report.n_unseen == 1
    assert any("not every compared coder saw" in note for note in report.notes)

    trimmed = compare(units, seen, codings, ["a", "b"], n_boot=0, exclude_uncoded=True)
    assert trimmed.overall.n_units == 6 and trimmed.n_uncoded_dropped == 3
    assert trimmed.exclude_uncoded
    barrier_all, barrier_coded = row(report.per_code, "Barrier"), row(trimmed.per_code, "Barrier")
    assert barrier_coded["percent_agreement"] < barrier_all["percent_agreement"]


def test_a_coding_counts_as_having_seen_the_unit() -> None:
    units, seen, codings = frames({"u1": {"a": ["Barrier"], "b": ["Barrier"]}, "u2": {"a": [], "b": ["Barrier"]}})
    seen = seen[seen["unit_id"] != "u1"]
    assert compare(units, seen, codings, ["a", "b"], n_boot=0).overall.n_units == 2


def test_three_coders_pairwise_mean_and_fleiss() -> None:
    rng = np.random.default_rng(3)
    coders = ["coder_a", "coder_b", "model"]
    codes = ["Barrier", "Enabler", FUNDING]
    coded = {f"FG{g}-{i:03d}": {c: [k for k in codes if rng.random() < 0.35] for c in coders}
             for g in range(1, 7) for i in range(12)}
    groups = {u: f"Focus Group {u[2]}" for u in coded}
    report = compare(*frames(coded, groups), coders, by_group=True, n_boot=200)
    assert len(report.pairwise) == 3 * len(codes)
    assert report.bootstrap.resampled == "group" and report.bootstrap.n_clusters == 6
    for code in codes:
        x = np.array([[code in coded[u][c] for c in coders] for u in coded])
        pair_kappas = [cohen_kappa_score(x[:, i], x[:, j]) for i, j in [(0, 1), (0, 2), (1, 2)]]
        got = row(report.per_code, code)
        assert got["kappa"] == pytest.approx(np.mean(pair_kappas))
        assert got["fleiss_kappa"] == pytest.approx(fleiss_kappa(aggregate_raters(x.astype(int), n_cat=2)[0]))
        assert got["kappa_ci_low"] <= got["kappa"] <= got["kappa_ci_high"]
        pairs = report.pairwise[report.pairwise["code"] == code]
        model_vs_a = pairs[(pairs["coder_1"] == "coder_a") & (pairs["coder_2"] == "model")].iloc[0]
        assert model_vs_a["kappa"] == pytest.approx(pair_kappas[1])
        assert model_vs_a["n_1"] == x[:, 0].sum() and model_vs_a["n_2"] == x[:, 2].sum()
    decisions = np.array([[code in coded[u][c] for c in coders] for u in coded for code in codes])
    assert report.overall.fleiss_kappa == pytest.approx(fleiss_kappa(aggregate_raters(decisions.astype(int))[0]))
    assert list(report.group_summary["group"]) == [f"Focus Group {g}" for g in range(1, 7)]
    assert len(report.per_group) == 6 * len(codes)
    assert (report.group_summary["n_units"] == 12).all()


def test_weighted_mean_kappas() -> None:
    coded = {
        "u1": {"a": ["X"], "b": ["X"]}, "u2": {"a": [], "b": []}, "u3": {"a": ["Y"], "b": []},
        "u4": {"a": ["Y"], "b": ["Y"]}, "u5": {"a": [], "b": ["Y"]}, "u6": {"a": [], "b": []},
    }
    lengths = {"u1": 600, "u2": 10, "u3": 10, "u4": 10, "u5": 10, "u6": 10}
    report = compare(*frames(coded, lengths=lengths), ["a", "b"], n_boot=0)
    kx, ky = row(report.per_code, "X")["kappa"], row(report.per_code, "Y")["kappa"]
    px, py = 2 / 12, 4 / 12
    assert report.overall.mean_kappa == pytest.approx((kx + ky) / 2)
    assert report.overall.prevalence_weighted_kappa == pytest.approx((px * kx + py * ky) / (px + py))
    # characters covered: X 600 (both coders), Y 0.5*10 + 10 + 0.5*10 = 20
    assert report.overall.length_weighted_kappa == pytest.approx((600 * kx + 20 * ky) / 620)


def test_bootstrap_unit_resampling_and_reproducibility() -> None:
    data = frames(two_coder_example())
    first = compare(*data, ["a", "b"], n_boot=300, seed=5)
    again = compare(*data, ["a", "b"], n_boot=300, seed=5)
    assert first.bootstrap.resampled == "unit"
    assert "resamples of units" in first.bootstrap.note
    pd.testing.assert_frame_equal(first.per_code, again.per_code)
    assert compare(*data, ["a", "b"], n_boot=0).bootstrap.resampled is None


def test_to_dict_is_json_ready() -> None:
    report = compare(*frames(two_coder_example()), ["a", "b"], codes=["Barrier", "Unused"], by_group=True, n_boot=20)
    data = report.to_dict()
    assert set(data) == {"coders", "level", "unit", "exclude_uncoded", "n_unseen", "n_uncoded_dropped", "bootstrap",
                         "overall", "per_code", "pairwise", "per_group", "group_summary", "notes"}
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["per_code"][1]["kappa"] is None
    assert data["bootstrap"]["resampled"] == "unit"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda u, s, c: (u.drop(columns="length"), s, c), "no 'length' column"),
        (lambda u, s, c: (u, s, pd.concat([c, pd.DataFrame({"unit_id": ["FG9-001"], "coder": ["a"], "code": ["X"]})])),
         "'FG9-001' not in the units table"),
        (lambda u, s, c: (pd.concat([u, u.iloc[:1]]), s, c), "appears more than once"),
        (lambda u, s, c: (u.assign(length=-1), s, c), "has length -1"),
        (lambda u, s, c: (u, s, c.assign(code="Capability//Skills")), "empty part"),
    ],
)
def test_bad_input_raises_input_error(change, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compare(*change(*frames(two_coder_example())), ["a", "b"], n_boot=0)


def test_bad_coders_levels_and_codes() -> None:
    data = frames(two_coder_example())
    with pytest.raises(InputError, match="'c' saw no units.*'a', 'b'"):
        compare(*data, ["a", "c"])
    with pytest.raises(InputError, match="at least two coders"):
        compare(*data, ["a"])
    with pytest.raises(InputError, match="listed twice"):
        compare(*data, ["a", "a"])
    with pytest.raises(InputError, match="unknown codebook level 'sub'"):
        compare(*data, ["a", "b"], level="sub")
    with pytest.raises(InputError, match="'Barrier' has no theme level"):
        compare(*data, ["a", "b"], level="theme", codes=["Barrier"])
    with pytest.raises(InputError, match="confidence"):
        compare(*data, ["a", "b"], confidence=95)
