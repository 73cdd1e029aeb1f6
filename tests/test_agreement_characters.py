"""Character-level agreement, as NVivo's coding comparison query computes it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from autocode.agreement import character_matrix, compare_characters
from autocode.errors import InputError


def test_nvivo_worked_example() -> None:
    # 1,000 characters: 50 coded by both, 150 by A only, 800 by neither.
    # Agreement = (50 + 800) / 1000 = 85%. A coded 200 characters (0.2), B coded 50 (0.05),
    # so chance agreement pe = 0.2 * 0.05 + 0.8 * 0.95 = 0.77 and
    # kappa = (0.85 - 0.77) / (1 - 0.77) = 0.08 / 0.23 = 0.347826...
    spans = {"A": {"Barrier": {"interview.txt": [(0, 200)]}}, "B": {"Barrier": {"interview.txt": [(0, 50)]}}}
    report = compare_characters({"interview.txt": 1000}, spans)
    per_doc = report.per_group.set_index(["group", "code"]).loc[("interview.txt", "Barrier")]
    pooled = report.per_code.set_index("code").loc["Barrier"]
    pe = 0.2 * 0.05 + 0.8 * 0.95
    for figures in (per_doc, pooled):
        assert figures["n_units"] == 1000
        assert figures["percent_agreement"] == pytest.approx(85.0)
        assert figures["kappa"] == pytest.approx((0.85 - pe) / (1 - pe))
        assert figures["kappa"] == pytest.approx(0.08 / 0.23)
        assert figures["kappa_label"] == "fair"
    assert report.unit == "character"
    assert report.bootstrap.resampled is None
    assert "resampling single characters" in report.bootstrap.note


def test_each_code_and_document_matches_scikit_learn() -> None:
    lengths = {"FG1": 300, "FG2": 120}
    spans = {
        "coder_a": {"Barrier": {"FG1": [(0, 100), (150, 200)], "FG2": [(10, 60)]},
                    "Enabler": {"FG2": [(60, 120)]}},
        "coder_b": {"Barrier": {"FG1": [(20, 90), (80, 120)], "FG2": [(0, 40)]},
                    "Enabler": {"FG1": [(250, 300)], "FG2": [(70, 110)]}},
    }
    report = compare_characters(lengths, spans, n_boot=0)

    def array(coder: str, code: str, doc: str) -> np.ndarray:
        x = np.zeros(lengths[doc], dtype=bool)
        for start, end in spans[coder].get(code, {}).get(doc, []):
            x[start:end] = True
        return x

    table = report.per_group.set_index(["group", "code"])
    for doc in lengths:
        for code in ("Barrier", "Enabler"):
            a, b = array("coder_a", code, doc), array("coder_b", code, doc)
            assert table.loc[(doc, code), "kappa"] == pytest.approx(cohen_kappa_score(a, b))
            assert table.loc[(doc, code), "percent_agreement"] == pytest.approx(100 * (a == b).mean())
    a = np.concatenate([array("coder_a", "Barrier", d) for d in lengths])
    b = np.concatenate([array("coder_b", "Barrier", d) for d in lengths])
    assert report.per_code.set_index("code").loc["Barrier", "kappa"] == pytest.approx(cohen_kappa_score(a, b))


def test_documents_are_resampled_when_there_are_five() -> None:
    lengths = {f"doc{i}": 200 for i in range(6)}
    rng = np.random.default_rng(0)
    spans = {c: {"Barrier": {d: [(int(s), int(s) + 60)] for d, s in zip(lengths, rng.integers(0, 140, 6))}}
             for c in ("a", "b")}
    report = compare_characters(lengths, spans, n_boot=200)
    assert report.bootstrap.resampled == "group" and report.bootstrap.n_clusters == 6
    barrier = report.per_code.iloc[0]
    assert barrier["kappa_ci_low"] <= barrier["kappa"] <= barrier["kappa_ci_high"]
    assert report.per_group["kappa_ci_low"].isna().all()  # no resampling inside one document


def test_coder_who_coded_nothing_and_levels() -> None:
    spans = {"a": {"Capability/Developing skills/Not therapists": {"d": [(0, 10)]}}, "b": {}}
    matrix = character_matrix({"d": 40}, spans, level="theme")
    assert matrix.codes == ("Capability/Developing skills",)
    assert matrix.applied[:, 0, 0].sum() == 10 and not matrix.applied[:, 1].any()
    report = compare_characters({"d": 40}, spans, level="domain", n_boot=0)
    assert report.per_code["kappa"].iloc[0] == 0.0
    assert "never applied by b" in report.per_code["note"].iloc[0]


def test_overlapping_spans_are_merged() -> None:
    spans = {"a": {"X": {"d": [(0, 30), (20, 50)]}}, "b": {"X": {"d": [(0, 50)]}}}
    report = compare_characters({"d": 100}, spans, n_boot=0)
    assert report.per_code["kappa"].iloc[0] == 1.0


@pytest.mark.parametrize(
    ("lengths", "spans", "coders", "message"),
    [
        ({"d": 10}, {"a": {"X": {"d": [(5, 11)]}}, "b": {}}, None, r"outside 0\.\.10"),
        ({"d": 10}, {"a": {"X": {"d": [(6, 5)]}}, "b": {}}, None, "reversed"),
        ({"d": 10}, {"a": {"X": {"e": [(0, 5)]}}, "b": {}}, None, "'e', which has no length"),
        ({"d": 10}, {"a": {"X": {"d": [5]}}, "b": {}}, None, "not a \\(start, end\\) pair"),
        ({"d": 10}, {"a": {}}, ["a", "b"], "'b' has no entry in spans"),
        ({"d": -1}, {"a": {}, "b": {}}, None, "has length -1"),
    ],
)
def test_bad_spans_raise_input_error(lengths, spans, coders, message: str) -> None:
    with pytest.raises(InputError, match=message):
        compare_characters(lengths, spans, coders, n_boot=0)


def test_no_codes_at_all() -> None:
    report = compare_characters({"d": 10}, {"a": {}, "b": {}}, n_boot=0)
    assert report.per_code.empty and math.isnan(report.overall.mean_kappa)


def test_only_documents_every_coder_read_count() -> None:
    lengths = {"FG1": 100, "FG2": 100, "FG3": 50}
    spans = {"a": {"X": {"FG1": [(0, 40)], "FG3": [(0, 10)]}}, "b": {"X": {"FG1": [(0, 40)]}}}
    # b read FG1 (it coded there) and FG2; a read all three.
    report = compare_characters(lengths, spans, seen={"a": ["FG1", "FG2", "FG3"], "b": ["FG2"]}, n_boot=0)
    assert report.overall.n_units == 200 and report.n_unseen == 50
    assert list(report.group_summary["group"]) == ["FG1", "FG2"]
    assert report.per_code["kappa"].iloc[0] == 1.0
    assert any("50 characters were left out" in note for note in report.notes)
    with pytest.raises(InputError, match="names document 'FG9'"):
        compare_characters(lengths, spans, seen={"a": ["FG9"], "b": []}, n_boot=0)
