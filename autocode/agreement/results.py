"""The result of an agreement comparison, and its plain-dict form for JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autocode.agreement.bootstrap import BootstrapInfo

#: Columns of :attr:`AgreementReport.per_code` (per_group adds "group" in front).
PER_CODE_COLUMNS = [
    "code", "n_units", "n_coded", "prevalence", "percent_agreement", "kappa", "kappa_label",
    "kappa_ci_low", "kappa_ci_high", "fleiss_kappa", "ac1", "alpha", "note",
]
#: Columns of :attr:`AgreementReport.pairwise`.
PAIRWISE_COLUMNS = [
    "coder_1", "coder_2", "code", "n_units", "n_1", "n_2", "n_both", "prevalence", "percent_agreement",
    "kappa", "kappa_label", "kappa_ci_low", "kappa_ci_high", "ac1", "alpha", "note",
]
#: Columns of :attr:`AgreementReport.group_summary` (the fields of OverallAgreement after "group").
GROUP_SUMMARY_COLUMNS = [
    "group", "n_units", "n_codes", "percent_agreement", "exact_match", "mean_kappa",
    "prevalence_weighted_kappa", "length_weighted_kappa", "n_codes_with_kappa", "alpha", "fleiss_kappa",
]


@dataclass(frozen=True)
class OverallAgreement:
    """Figures over all reported codes at once.

    - percent_agreement: % of (unit, code) yes/no decisions on which two coders agree,
      averaged over pairs.
    - exact_match: % of units to which all coders applied exactly the same codes.
    - mean_kappa / prevalence_weighted_kappa / length_weighted_kappa: mean of the
      per-code kappas (codes with undefined kappa left out), unweighted, weighted by each
      code's prevalence, and weighted by the characters it covers (sum over units of
      length x share of coders who applied it).
    - alpha: Krippendorff's alpha (nominal) pooled over all (unit, code) decisions.
    - fleiss_kappa: Fleiss' kappa, pooled likewise; only for more than two coders.
    """

    n_units: int
    n_codes: int
    percent_agreement: float
    exact_match: float
    mean_kappa: float
    prevalence_weighted_kappa: float
    length_weighted_kappa: float
    n_codes_with_kappa: int
    alpha: float
    fleiss_kappa: float


@dataclass
class AgreementReport:
    """Inter-coder agreement of ``coders`` at one codebook level.

    - per_code: one row per code (columns :data:`PER_CODE_COLUMNS`). ``kappa`` is
      Cohen's kappa for two coders, the mean of the pairwise Cohen's kappas for more;
      ``percent_agreement`` is 0-100; ``note`` says why a figure is undefined.
    - pairwise: one row per coder pair and code (:data:`PAIRWISE_COLUMNS`), so the
      model-vs-coder figures sit beside coder-vs-coder ones; over the same units as
      per_code (those every compared coder saw).
    - per_group: per_code figures within each focus group/document, or None.
    - group_summary: overall figures within each group, or None.
    - unit: "unit" (segments) or "character" (character-level comparison).
    """

    coders: list[str]
    level: str | None
    unit: str
    per_code: pd.DataFrame
    overall: OverallAgreement
    pairwise: pd.DataFrame
    bootstrap: BootstrapInfo
    exclude_uncoded: bool = False
    n_unseen: int = 0
    n_uncoded_dropped: int = 0
    per_group: pd.DataFrame | None = None
    group_summary: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; NaN becomes None. Keys: coders, level, unit,
        exclude_uncoded, n_unseen, n_uncoded_dropped, bootstrap, overall, per_code,
        pairwise, per_group, group_summary, notes."""
        return {
            "coders": list(self.coders),
            "level": self.level,
            "unit": self.unit,
            "exclude_uncoded": self.exclude_uncoded,
            "n_unseen": self.n_unseen,
            "n_uncoded_dropped": self.n_uncoded_dropped,
            "bootstrap": _plain(asdict(self.bootstrap)),
            "overall": _plain(asdict(self.overall)),
            "per_code": _records(self.per_code),
            "pairwise": _records(self.pairwise),
            "per_group": None if self.per_group is None else _records(self.per_group),
            "group_summary": None if self.group_summary is None else _records(self.group_summary),
            "notes": list(self.notes),
        }


def _plain(value: Any) -> Any:
    """numpy scalars to Python, NaN to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_plain(row) for row in frame.to_dict(orient="records")]
