"""Compare coders: per-code, pairwise, per-group and overall agreement figures."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from autocode.agreement import bootstrap, stats
from autocode.agreement.results import (
    GROUP_SUMMARY_COLUMNS,
    PAIRWISE_COLUMNS,
    PER_CODE_COLUMNS,
    AgreementReport,
    OverallAgreement,
)
from autocode.agreement.units import CodingMatrix, Level, build_matrix, level_names
from autocode.errors import InputError


def compare(
    units: pd.DataFrame,
    seen: pd.DataFrame,
    codings: pd.DataFrame,
    coders: Sequence[str],
    *,
    codes: Sequence[str] | None = None,
    level: Level = None,
    levels: Sequence[str] | None = None,
    exclude_uncoded: bool = False,
    by_group: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> AgreementReport:
    """Inter-coder agreement of ``coders`` over the units they all saw.

    Each code is treated as a yes/no question over units. ``level``: None (codes as
    written), or a level named in ``levels`` or its depth (paths cut to that many
    parts); ``levels``: the codebook's level names by depth (``Codebook.level_names()``;
    default :data:`~autocode.agreement.units.DEFAULT_LEVELS`, domain/theme/subtheme).
    ``exclude_uncoded`` drops units no compared coder coded; ``by_group`` adds
    per-focus-group tables; ``n_boot`` bootstrap resamples give the kappa intervals
    (0 for none). See :class:`AgreementReport` for the result.
    """
    matrix = build_matrix(units, seen, codings, coders, level=level, levels=levels, codes=codes,
                          exclude_uncoded=exclude_uncoded)
    report = agreement_from_matrix(matrix, by_group=by_group, n_boot=n_boot, seed=seed, confidence=confidence)
    report.exclude_uncoded = exclude_uncoded
    if exclude_uncoded:
        report.notes.append(f"{matrix.n_uncoded_dropped} units that no compared coder coded were left out")
    return report


def compare_levels(
    units: pd.DataFrame,
    seen: pd.DataFrame,
    codings: pd.DataFrame,
    coders: Sequence[str],
    *,
    levels: Sequence[str] | None = None,
    **options: object,
) -> dict[str, AgreementReport]:
    """:func:`compare` at every level in ``levels`` that has codes, plus "all" (codes as written).

    ``levels``: the codebook's level names by depth (default
    :data:`~autocode.agreement.units.DEFAULT_LEVELS`, domain/theme/subtheme). Keys: those
    names, in depth order, that have at least one code, then "all". ``options`` are
    passed to :func:`compare` (``level`` and ``codes`` are not allowed).
    """
    for bad in ("level", "codes"):
        if bad in options:
            raise TypeError(f"compare_levels() sets {bad!r} itself")
    names = level_names(levels)
    reports: dict[str, AgreementReport] = {}
    for name in (*names, None):
        report = compare(units, seen, codings, coders, level=name, levels=names, **options)  # type: ignore[arg-type]
        if name is None or len(report.per_code):
            reports[name or "all"] = report
    return reports


def level_summary(reports: dict[str, AgreementReport]) -> pd.DataFrame:
    """One row of overall figures per level, from :func:`compare_levels`."""
    rows = [{"level": key, **vars(report.overall)} for key, report in reports.items()]
    return pd.DataFrame(rows, columns=["level", *GROUP_SUMMARY_COLUMNS[1:]])


def agreement_from_matrix(
    matrix: CodingMatrix,
    *,
    by_group: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    unit_name: str = "unit",
    resample_units: bool = True,
) -> AgreementReport:
    """The :class:`AgreementReport` of a prepared :class:`CodingMatrix`."""
    if not 0 < confidence < 1:
        raise InputError(f"confidence {confidence!r} is not between 0 and 1", hint="e.g. confidence=0.95")
    info, clusters = bootstrap.plan(matrix.groups, n_boot, seed, confidence,
                                    allow_units=resample_units, unit_name=unit_name)
    per_code, pairwise = code_tables(matrix.applied, matrix.coders, matrix.codes, clusters, info)
    overall = overall_figures(matrix.applied, matrix.lengths, per_code)

    notes = [info.note if info.resampled is None else f"kappa confidence intervals: {info.note}"]
    if len(matrix.coders) > 2:
        notes.append("kappa is the mean of the pairwise Cohen's kappas (Light's kappa); "
                     "Fleiss' kappa is given beside it")
    else:
        notes.append("kappa is Cohen's kappa; Fleiss' kappa is given only for more than two coders")
    if matrix.n_unseen:
        notes.append(f"{matrix.n_unseen} {unit_name}s were left out because not every compared coder saw them")

    per_group = group_summary = None
    if by_group:
        per_group, group_summary = group_tables(matrix, n_boot=n_boot, seed=seed, confidence=confidence,
                                                unit_name=unit_name, resample_units=resample_units)
    return AgreementReport(
        coders=list(matrix.coders), level=matrix.level, unit=unit_name, per_code=per_code, overall=overall,
        pairwise=pairwise, bootstrap=info, n_unseen=matrix.n_unseen, n_uncoded_dropped=matrix.n_uncoded_dropped,
        per_group=per_group, group_summary=group_summary, notes=notes,
    )


def code_tables(
    applied: np.ndarray,
    coders: Sequence[str],
    codes: Sequence[str],
    clusters: np.ndarray | None,
    info: bootstrap.BootstrapInfo,
    *,
    with_pairwise: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-code and pairwise tables of ``applied`` (units, coders, codes); the pairwise
    table is left empty when ``with_pairwise`` is False."""
    n_units, n_coders, _ = applied.shape
    pairs = list(combinations(range(n_coders), 2))
    nan = np.full((len(pairs), len(codes)), np.nan)
    pair_low, pair_high = nan, nan
    mean_low, mean_high = nan[0], nan[0]
    if clusters is not None and len(codes):
        replicates = bootstrap.pair_kappa_replicates(applied, clusters, info.n_boot, info.seed)
        pair_low, pair_high = bootstrap.percentile_interval(replicates, info.confidence)
        mean_low, mean_high = bootstrap.percentile_interval(bootstrap.mean_over_pairs(replicates), info.confidence)

    code_rows, pair_rows = [], []
    by_code = np.ascontiguousarray(applied.transpose(2, 0, 1))  # contiguous per code: fast reductions
    for k, code in enumerate(codes):
        x = by_code[k]
        reason = stats.undefined_reason(x)
        kappas = np.array([stats.cohen_kappa(x[:, i], x[:, j]) for i, j in pairs])
        for p, (i, j) in enumerate(pairs if with_pairwise else []):
            pair_x = np.ascontiguousarray(x[:, [i, j]])
            n_1, n_2 = stats.yes_per_coder(pair_x).tolist()
            pair_rows.append({
                "coder_1": coders[i], "coder_2": coders[j], "code": code, "n_units": n_units,
                "n_1": n_1, "n_2": n_2, "n_both": int(np.count_nonzero(pair_x[:, 0] & pair_x[:, 1])),
                "prevalence": _mean(pair_x), "percent_agreement": stats.percent_agreement(pair_x),
                "kappa": kappas[p], "kappa_label": stats.landis_koch(kappas[p]),
                "kappa_ci_low": _ci(kappas[p], pair_low[p, k]), "kappa_ci_high": _ci(kappas[p], pair_high[p, k]),
                "ac1": stats.gwet_ac1_binary(pair_x), "alpha": stats.krippendorff_alpha(pair_x),
                "note": _note(pair_x, [coders[i], coders[j]], stats.undefined_reason(pair_x), kappas[p:p + 1]),
            })
        kappa = float(np.nanmean(kappas)) if np.isfinite(kappas).any() else float("nan")
        code_rows.append({
            "code": code, "n_units": n_units, "n_coded": int(np.count_nonzero(stats.yes_per_unit(x))),
            "prevalence": _mean(x),
            "percent_agreement": stats.percent_agreement(x), "kappa": kappa, "kappa_label": stats.landis_koch(kappa),
            "kappa_ci_low": _ci(kappa, mean_low[k]), "kappa_ci_high": _ci(kappa, mean_high[k]),
            "fleiss_kappa": stats.fleiss_kappa(x) if n_coders > 2 else float("nan"),
            "ac1": stats.gwet_ac1_binary(x), "alpha": stats.krippendorff_alpha(x),
            "note": _note(x, coders, reason, kappas),
        })
    return (pd.DataFrame(code_rows, columns=PER_CODE_COLUMNS),
            pd.DataFrame(pair_rows, columns=PAIRWISE_COLUMNS))


def overall_figures(applied: np.ndarray, lengths: np.ndarray, per_code: pd.DataFrame) -> OverallAgreement:
    """Figures pooled over all codes (see :class:`OverallAgreement`)."""
    n_units, n_coders, n_codes = applied.shape
    decisions = applied.transpose(0, 2, 1).reshape(n_units * n_codes, n_coders)
    if n_units:
        same = (applied == applied[:, :1, :]).all(axis=(1, 2))
        exact = float(100.0 * same.mean())
    else:
        exact = float("nan")
    kappa = per_code["kappa"].to_numpy(dtype=float)
    defined = np.isfinite(kappa)
    covered = (applied.mean(axis=1) * lengths[:, None]).sum(axis=0) if n_units else np.zeros(n_codes)
    return OverallAgreement(
        n_units=int(n_units),
        n_codes=int(n_codes),
        percent_agreement=stats.percent_agreement(decisions) if decisions.size else float("nan"),
        exact_match=exact,
        mean_kappa=float(kappa[defined].mean()) if defined.any() else float("nan"),
        prevalence_weighted_kappa=_weighted(kappa, per_code["prevalence"].to_numpy(dtype=float)),
        length_weighted_kappa=_weighted(kappa, covered),
        n_codes_with_kappa=int(defined.sum()),
        alpha=stats.krippendorff_alpha(decisions) if decisions.size else float("nan"),
        fleiss_kappa=stats.fleiss_kappa(decisions) if n_coders > 2 and decisions.size else float("nan"),
    )


def group_tables(matrix: CodingMatrix, *, n_boot: int, seed: int, confidence: float, unit_name: str,
                 resample_units: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-code and overall figures within each group, groups in order of appearance."""
    code_frames, summary_rows = [], []
    for group in pd.unique(matrix.groups):
        sub = matrix.subset(matrix.groups == group)
        info, clusters = bootstrap.plan(sub.groups, n_boot, seed, confidence,
                                        allow_units=resample_units, unit_name=unit_name)
        per_code, _ = code_tables(sub.applied, sub.coders, sub.codes, clusters, info, with_pairwise=False)
        per_code.insert(0, "group", group)
        code_frames.append(per_code)
        summary_rows.append({"group": group, **vars(overall_figures(sub.applied, sub.lengths, per_code))})
    per_group = (pd.concat(code_frames, ignore_index=True) if code_frames
                 else pd.DataFrame(columns=["group", *PER_CODE_COLUMNS]))
    return per_group, pd.DataFrame(summary_rows, columns=GROUP_SUMMARY_COLUMNS)


def _mean(x: np.ndarray) -> float:
    return float(stats.yes_per_coder(x).sum() / x.size) if x.size else float("nan")


def _ci(point: float, bound: float) -> float:
    return float(bound) if np.isfinite(point) else float("nan")


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    keep = np.isfinite(values) & (weights > 0)
    if not keep.any():
        return float("nan")
    return float(np.average(values[keep], weights=weights[keep]))


def _note(x: np.ndarray, coders: Sequence[str], reason: str | None, kappas: np.ndarray) -> str:
    """Why a figure is undefined or should be read with care; empty when nothing to say."""
    if reason is not None:
        return reason
    parts = []
    if x.shape[0] == 1:
        parts.append("one unit only: the figures mean little")
    per_coder = stats.yes_per_coder(x).tolist()
    never = [c for c, used in zip(coders, per_coder) if not used]
    if never:
        parts.append(f"never applied by {', '.join(never)} (kappa is 0 against a coder who did)")
    always = [c for c, used in zip(coders, per_coder) if used == x.shape[0]]
    if always:
        parts.append(f"applied to every unit by {', '.join(always)} (kappa is 0 against a coder who did not)")
    if len(kappas) > 1 and not np.isfinite(kappas).all():
        parts.append(f"kappa is the mean over the {int(np.isfinite(kappas).sum())} of {len(kappas)} "
                     "coder pairs where it is defined")
    return "; ".join(parts)
