"""Real data: AnnoMI utterances coded by ten experts, checked against the libraries directly.

AnnoMI (uccollab/AnnoMI) lives in ../shared/data/annomi, outside the repository; a
clone without the shared folder skips these tests.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from autocode.agreement import compare, disagreement_list, disagreement_matrix

ANNOMI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv"

pytestmark = pytest.mark.skipif(
    not ANNOMI.is_file(), reason=f"AnnoMI not found at {ANNOMI} (the ../shared data folder is absent)"
)


@pytest.fixture(scope="module")
def annomi() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str], pd.DataFrame]:
    """units, seen, codings, coders for the utterances every expert coded, and a wide table
    (unit x coder -> label) for computing the figures directly."""
    raw = pd.read_csv(ANNOMI)
    raw["unit_id"] = raw["transcript_id"].astype(str) + ":" + raw["utterance_id"].astype(str)
    raw["coder"] = "expert_" + raw["annotator_id"].astype(str)
    raw["code"] = raw["main_therapist_behaviour"].fillna(raw["client_talk_type"])
    coders = sorted(raw["coder"].unique())
    per_unit = raw.groupby("unit_id")["coder"].nunique()
    multi = raw[raw["unit_id"].isin(per_unit[per_unit == len(coders)].index)]
    units = (multi.drop_duplicates("unit_id")[["unit_id", "transcript_id", "utterance_text"]]
             .rename(columns={"transcript_id": "group", "utterance_text": "text"}))
    units["group"] = "transcript " + units["group"].astype(str)
    units["length"] = units["text"].str.len()
    wide = multi.pivot(index="unit_id", columns="coder", values="code").loc[units["unit_id"], coders]
    return units, multi[["unit_id", "coder"]], multi[["unit_id", "coder", "code"]], coders, wide


def test_annomi_has_the_documented_overlap(annomi) -> None:
    units, _, _, coders, wide = annomi
    assert len(coders) == 10 and len(units) == 428 and units["group"].nunique() == 7
    assert wide.notna().all().all()


def test_two_experts_match_scikit_learn(annomi) -> None:
    units, seen, codings, coders, wide = annomi
    pair = coders[:2]
    report = compare(units, seen, codings, pair, n_boot=200, by_group=True)
    assert report.bootstrap.resampled == "group" and report.bootstrap.n_clusters == 7
    table = report.per_code.set_index("code")
    assert set(table.index) == {"change", "neutral", "sustain", "question", "reflection", "therapist_input", "other"}
    for code, figures in table.iterrows():
        a, b = (wide[pair[0]] == code).to_numpy(), (wide[pair[1]] == code).to_numpy()
        assert figures["kappa"] == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
        assert figures["percent_agreement"] == pytest.approx(100 * (a == b).mean())
        assert figures["alpha"] == pytest.approx(
            krippendorff.alpha(reliability_data=np.vstack([a, b]).astype(float), level_of_measurement="nominal"))
        assert figures["kappa_ci_low"] <= figures["kappa"] <= figures["kappa_ci_high"]
    # per transcript, too
    first = report.per_group[report.per_group["group"] == units["group"].iloc[0]].set_index("code")
    in_first = (units["group"] == units["group"].iloc[0]).to_numpy()
    a = (wide[pair[0]] == "question").to_numpy()[in_first]
    b = (wide[pair[1]] == "question").to_numpy()[in_first]
    assert first.loc["question", "kappa"] == pytest.approx(cohen_kappa_score(a, b))


def test_ten_experts_match_scikit_learn_and_statsmodels(annomi) -> None:
    units, seen, codings, coders, wide = annomi
    report = compare(units, seen, codings, coders, n_boot=100)
    pairs = list(combinations(coders, 2))
    assert len(report.pairwise) == len(pairs) * 7
    pairwise = report.pairwise.set_index(["coder_1", "coder_2", "code"])
    for code, figures in report.per_code.set_index("code").iterrows():
        x = (wide == code).to_numpy()
        kappas = [cohen_kappa_score(x[:, coders.index(i)], x[:, coders.index(j)]) for i, j in pairs]
        assert figures["kappa"] == pytest.approx(np.mean(kappas), abs=1e-12)
        assert figures["fleiss_kappa"] == pytest.approx(fleiss_kappa(aggregate_raters(x.astype(int))[0]), abs=1e-12)
        assert pairwise.loc[(coders[0], coders[3], code), "kappa"] == pytest.approx(kappas[2])
    decisions = np.vstack([(wide == code).to_numpy() for code in report.per_code["code"]])
    assert report.overall.fleiss_kappa == pytest.approx(fleiss_kappa(aggregate_raters(decisions.astype(int))[0]))


def test_disagreements_on_real_data(annomi) -> None:
    units, seen, codings, coders, wide = annomi
    pair = coders[:2]
    listing = disagreement_list(units, seen, codings, pair)
    assert len(listing) == int((wide[pair[0]] != wide[pair[1]]).sum())
    matrix = disagreement_matrix(units, seen, codings, *pair)
    # One code per utterance: every disagreement is one substitution.
    assert matrix.to_numpy().sum() == len(listing)
    confusion = pd.crosstab(wide[pair[0]], wide[pair[1]])
    assert matrix.loc["reflection", "question"] == confusion.loc["reflection", "question"]
