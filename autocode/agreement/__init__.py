"""Inter-coder agreement: coder against coder, and a model against each coder.

Inputs are plain pandas tables (see :mod:`autocode.agreement.units`)::

    from autocode.agreement import compare, disagreement_list, disagreement_matrix, write_report

    report = compare(units, seen, codings, ["coder_a", "coder_b"], level="theme", by_group=True)
    report.per_code          # one row per code: kappa, CI, AC1, alpha, ...
    report.overall           # pooled alpha, weighted mean kappas, ...
    write_report(report, "out/",
                 disagreements=disagreement_list(units, seen, codings, ["coder_a", "coder_b"], level="theme"),
                 matrix=disagreement_matrix(units, seen, codings, "coder_a", "coder_b", level="theme"))

Character-level figures comparable with NVivo's coding comparison query come from
:func:`compare_characters`.
"""

from autocode.agreement.bootstrap import MIN_GROUPS, BootstrapInfo
from autocode.agreement.characters import character_matrix, compare_characters
from autocode.agreement.compare import agreement_from_matrix, compare, compare_levels, level_summary
from autocode.agreement.disagreements import NO_CODE, disagreement_list, disagreement_matrix
from autocode.agreement.report import write_report
from autocode.agreement.results import (
    GROUP_SUMMARY_COLUMNS,
    PAIRWISE_COLUMNS,
    PER_CODE_COLUMNS,
    AgreementReport,
    OverallAgreement,
)
from autocode.agreement.stats import gwet_ac1, landis_koch
from autocode.agreement.units import DEFAULT_LEVELS, CodingMatrix, build_matrix, project_code

__all__ = [
    "AgreementReport", "BootstrapInfo", "CodingMatrix", "DEFAULT_LEVELS", "GROUP_SUMMARY_COLUMNS", "MIN_GROUPS",
    "NO_CODE", "OverallAgreement", "PAIRWISE_COLUMNS", "PER_CODE_COLUMNS", "agreement_from_matrix",
    "build_matrix", "character_matrix", "compare", "compare_characters", "compare_levels",
    "disagreement_list", "disagreement_matrix", "gwet_ac1", "landis_koch", "level_summary",
    "project_code", "write_report",
]
