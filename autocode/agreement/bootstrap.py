"""Percentile bootstrap confidence intervals for Cohen's kappa, per code and coder pair.

Whole focus groups (documents) are resampled when there are at least
:data:`MIN_GROUPS` of them, because turns within a group are not independent;
otherwise single units are resampled. Every code and pair sees the same resamples,
drawn from ``seed`` over the units in their given order, so renaming codes or
swapping coders leaves the intervals unchanged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from autocode.agreement.stats import kappa_from_counts

#: Fewest groups for which whole groups are resampled (cluster bootstrap).
MIN_GROUPS = 5
#: Cap on replicate-weight cells held in memory at once.
_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class BootstrapInfo:
    """How the kappa confidence intervals were obtained.

    ``resampled`` is "group" (cluster bootstrap over focus groups or documents),
    "unit", or None when no interval was computed (``note`` says why).
    """

    n_boot: int
    resampled: str | None
    n_clusters: int
    confidence: float
    seed: int
    note: str


def plan(groups: np.ndarray, n_boot: int, seed: int, confidence: float, *,
         allow_units: bool = True, unit_name: str = "unit") -> tuple[BootstrapInfo, np.ndarray | None]:
    """Decide what to resample; returns the info and each unit's cluster index (or None)."""
    n_units = len(groups)
    group_ids, clusters = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = len(group_ids)
    if n_boot <= 0:
        return BootstrapInfo(0, None, 0, confidence, seed, "no confidence intervals (n_boot=0)"), None
    if n_units < 2:
        note = f"no confidence intervals: fewer than two {unit_name}s"
        return BootstrapInfo(0, None, 0, confidence, seed, note), None
    if n_groups >= MIN_GROUPS:
        note = (f"{confidence:.0%} percentile bootstrap, {n_boot} resamples of whole groups "
                f"({n_groups} groups), because {unit_name}s within a group are not independent")
        return BootstrapInfo(n_boot, "group", n_groups, confidence, seed, note), clusters
    if not allow_units:
        note = (f"no confidence intervals: fewer than {MIN_GROUPS} groups ({n_groups}), and resampling single "
                f"{unit_name}s would ignore that neighbouring {unit_name}s are coded together")
        return BootstrapInfo(0, None, 0, confidence, seed, note), None
    note = (f"{confidence:.0%} percentile bootstrap, {n_boot} resamples of {unit_name}s "
            f"(only {n_groups} group{'s' if n_groups != 1 else ''}; {MIN_GROUPS} are needed to resample groups)")
    return BootstrapInfo(n_boot, "unit", n_units, confidence, seed, note), np.arange(n_units)


def pair_kappa_replicates(applied: np.ndarray, clusters: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of Cohen's kappa: array (n_boot, n_pairs, n_codes).

    ``applied``: (units, coders, codes) booleans; ``clusters``: each unit's cluster
    index (resampled with replacement, each replicate drawing as many clusters as there are).
    """
    n_units, n_coders, n_codes = applied.shape
    pairs = list(combinations(range(n_coders), 2))
    n_clusters = int(clusters.max()) + 1
    size = np.bincount(clusters, minlength=n_clusters).astype(float)
    per_coder = cluster_sums(applied, clusters, n_clusters)
    both = cluster_sums(np.stack([applied[:, i] & applied[:, j] for i, j in pairs], axis=1), clusters, n_clusters)
    first = per_coder[:, [i for i, _ in pairs]].reshape(n_clusters, -1)
    second = per_coder[:, [j for _, j in pairs]].reshape(n_clusters, -1)
    both_flat = both.reshape(n_clusters, -1)

    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(pairs), n_codes))
    chunk = max(1, _CHUNK_CELLS // n_clusters)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        weights = resample_weights(n_clusters, stop - start, rng)
        n = (weights @ size)[:, None]
        kappas = kappa_from_counts(weights @ both_flat, weights @ first, weights @ second, n)
        out[start:stop] = kappas.reshape(stop - start, len(pairs), n_codes)
    return out


def resample_weights(n_clusters: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_clusters): how many times each cluster is drawn when ``n_clusters`` are drawn
    with replacement, per resample. A statistic built from per-cluster sums (:func:`cluster_sums`)
    is then ``weights @ sums`` for every resample at once, with no resampled copy of the data."""
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot).astype(float)


def cluster_sums(values: np.ndarray, clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum ``values`` (units, ...) over the units of each cluster: (n_clusters, ...)."""
    if n_clusters == len(clusters) and (clusters == np.arange(n_clusters)).all():
        return values.astype(float)
    order = np.argsort(clusters, kind="stable")
    starts = np.searchsorted(clusters[order], np.arange(n_clusters))
    return np.add.reduceat(values[order].astype(float), starts, axis=0)


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over axis 0, ignoring undefined (NaN) replicates."""
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


def mean_over_pairs(replicates: np.ndarray) -> np.ndarray:
    """Mean kappa over pairs per replicate and code, ignoring undefined pairs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(replicates, axis=1)
