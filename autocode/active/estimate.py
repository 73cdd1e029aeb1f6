"""Where the model stands: agreement on random checks, and how much more each code needs.

A session asks a fixed share of its questions (say 1 in 10) about a segment drawn at
random from those not yet coded: a *random check*. The strategy's own picks are chosen
because they are unusual (rare codes, uncertain segments), so agreement on them says
little about the rest of the corpus; agreement on the random checks is an unbiased
estimate of it. The learner splits the checks into folds and keeps one model per fold,
trained on every answer but that fold's checks (so on nearly everything the current
model knows); the checks' out-of-fold predictions against the researcher's answers give
Cohen's kappa (overall and per code) with a bootstrap interval over the checks
(:func:`kappa_interval`: BCa, read at the expanded interval's quantiles, which a session's
few checks need).

Every answer also has the prediction the model made for it *before* it was given (the
model never saw it): over the last answers, per code, that is each code's recent
agreement, and taken as answers accumulate, its learning curve. :func:`answers_needed`
fits ``1 - kappa = a * n ** -b`` to the curve (a power law: learning curves of linear
models on fixed features are close to one) and reads off how many more answers would
bring the code to the target kappa. The strategy chose most of those answers, so the
curve is a rough projection and is called one.

Overall kappa: for mutually exclusive codes, Cohen's kappa of the one code per segment;
otherwise kappa over all (segment, code) yes/no decisions pooled, which stays defined
and steady when a rare code is absent from a small sample of checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import norm, t

from autocode.agreement.bootstrap import resample_weights
from autocode.agreement.stats import kappa_from_counts, kappa_from_table

__all__ = [
    "CheckEstimate",
    "CodeProgress",
    "overall_kappa",
    "code_kappas",
    "kappa_interval",
    "answers_needed",
    "code_progress",
    "MIN_CHECKS",
]

#: Fewest random checks before an estimate is given: with fewer, the 95% interval is too wide to
#: tell anything (0.34 kappa wide on the demo, 0.67 on AnnoMI, against 0.21 and 0.43 from 20 on;
#: docs/benchmarks/estimate.md, 2026-12-07 12:05).
MIN_CHECKS = 20
#: Bootstrap resamples for the intervals.
N_BOOT = 1000


def _counts(W: np.ndarray, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per replicate (rows of ``W``) and code: units both coded, a coded, b coded, units."""
    A = A.astype(np.float64)
    B = B.astype(np.float64)
    return W @ (A * B), W @ A, W @ B, W.sum(axis=1, keepdims=True)


def _kappas(W: np.ndarray, A: np.ndarray, B: np.ndarray, exclusive: bool) -> tuple[np.ndarray, np.ndarray]:
    """(overall kappa per replicate, per-code kappa per replicate) for resampling weights ``W``."""
    both, na, nb, n = _counts(W, A, B)
    per_code = kappa_from_counts(both, na, nb, n)
    if exclusive:
        k = A.shape[1]
        pairs = (A.argmax(axis=1) * k + B.argmax(axis=1))
        onehot = np.zeros((len(A), k * k))
        onehot[np.arange(len(A)), pairs] = 1.0
        overall = kappa_from_table((W @ onehot).reshape(len(W), k, k))
    else:
        overall = kappa_from_counts(both.sum(axis=1), na.sum(axis=1), nb.sum(axis=1), n[:, 0] * A.shape[1])
    return overall, per_code


def overall_kappa(Y_true: np.ndarray, Y_pred: np.ndarray, exclusive: bool) -> float:
    """Overall kappa as this module reads it (see the module docstring); NaN if undefined."""
    A, B = np.atleast_2d(Y_true), np.atleast_2d(Y_pred)
    return float(_kappas(np.ones((1, len(A))), A, B, exclusive)[0][0])


def code_kappas(Y_true: np.ndarray, Y_pred: np.ndarray) -> np.ndarray:
    """Per-code yes/no kappa; NaN where a code is undefined (neither side ever used it, or both always)."""
    A, B = np.atleast_2d(Y_true), np.atleast_2d(Y_pred)
    return _kappas(np.ones((1, len(A))), A, B, False)[1][0]


def kappa_interval(
    Y_true: np.ndarray, Y_pred: np.ndarray, exclusive: bool, *, n_boot: int = N_BOOT,
    confidence: float = 0.95, seed: int = 0, method: str = "bca", expand: bool = True,
) -> dict:
    """Kappa with a bootstrap interval, overall and per code.

    The rows are independent draws (random checks), so single rows are resampled. Returns
    ``{"kappa", "low", "high", "codes": [{"kappa", "low", "high"}, ...]}``; NaN where undefined
    (a code's interval: over the resamples where it is defined, NaN if under half are).
    ``method``: "bca" (bias-corrected and accelerated, the acceleration from the jackknife;
    the default: on the replays of docs/benchmarks/estimate.md it held the true kappa at least as
    often as the percentile interval, e.g. AnnoMI held-out documents 94% against 90%), or "percentile".
    ``expand``: read the bootstrap at the quantiles of the *expanded* interval (Hesterberg 2015,
    "What teachers should know about the bootstrap", section 4.1): ``sqrt(m / (m - 1))`` times
    Student's t with m - 1 degrees of freedom in place of the normal quantile. A bootstrap over m
    checks spreads like a sample of m, narrower than the truth by about that factor when m is
    small (20-40 checks is a session's first estimates); with 20 checks the interval's ends move
    out by about 10%, with 100 by 2%.
    Written here rather than with ``scipy.stats.bootstrap`` because every code and the overall
    figure must share one set of resamples, computed at once from multinomial weights."""
    A = np.asarray(Y_true)
    B = np.asarray(Y_pred)
    m, k = A.shape
    overall, per_code = _kappas(np.ones((1, m)), A, B, exclusive)
    out = {"kappa": float(overall[0]), "low": float("nan"), "high": float("nan"),
           "codes": [{"kappa": float(v), "low": float("nan"), "high": float("nan")} for v in per_code[0]]}
    if m < 2 or n_boot <= 0:
        return out
    rng = np.random.default_rng(seed)
    W = resample_weights(m, n_boot, rng)  # each check its own cluster
    boot_overall, boot_codes = _kappas(W, A, B, exclusive)
    alpha = (1 - confidence) / 2
    z = norm.ppf([alpha, 1 - alpha])
    if expand:
        z = np.sqrt(m / (m - 1)) * t.ppf([alpha, 1 - alpha], m - 1)
    if method == "bca":
        jack_overall, jack_codes = _kappas(1.0 - np.eye(m), A, B, exclusive)  # leave one row out
    elif method != "percentile":
        raise ValueError(f"unknown interval method {method!r}: percentile or bca")

    def bounds(values: np.ndarray, point: float, jack: np.ndarray | None) -> tuple[float, float]:
        ok = np.isfinite(values)
        if ok.sum() < n_boot / 2 or not np.isfinite(point):
            return float("nan"), float("nan")
        values = values[ok]
        q = norm.cdf(z)
        if jack is not None and np.isfinite(jack).all():
            z0 = norm.ppf(np.clip((values < point).mean() + 0.5 * (values == point).mean(), 1e-6, 1 - 1e-6))
            d = jack.mean() - jack
            denom = 6.0 * (d**2).sum() ** 1.5
            a = (d**3).sum() / denom if denom > 0 else 0.0
            q = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
        lo, hi = np.quantile(values, q)
        return float(lo), float(hi)

    jo = jack_overall if method == "bca" else None
    out["low"], out["high"] = bounds(boot_overall, overall[0], jo)
    for j in range(k):
        jc = jack_codes[:, j] if method == "bca" else None
        out["codes"][j]["low"], out["codes"][j]["high"] = bounds(boot_codes[:, j], per_code[0][j], jc)
    return out


def answers_needed(curve: list[tuple[int, float]], target: float, *, min_points: int = 3) -> float | None:
    """Answers in all at which a code's learning curve reaches kappa ``target``.

    ``curve``: (answers so far, out-of-fold kappa) points, oldest first. Fits
    ``log(1 - kappa) = log a - b log n`` by least squares over the points with a defined
    kappa below 1; None when there are fewer than ``min_points`` of them or the curve is
    not rising (b <= 0); infinity when the curve rises too slowly to get there in any number
    that fits a float. Returns the current count when the last point already reaches the target.
    """
    pts = [(n, k) for n, k in curve if n > 0 and k is not None and np.isfinite(k)]
    if pts and pts[-1][1] >= target:
        return float(pts[-1][0])
    pts = [(n, min(k, 0.999)) for n, k in pts]
    if len(pts) < min_points or len({n for n, _ in pts}) < 2:
        return None
    n = np.log([p[0] for p in pts])
    y = np.log([1.0 - p[1] for p in pts])
    slope, intercept = np.polyfit(n, y, 1)
    b = -slope
    if b <= 1e-3:
        return None
    with np.errstate(over="ignore"):
        reach = float(np.exp((intercept - np.log(1.0 - target)) / b))
    return reach if np.isfinite(reach) else float("inf")


@dataclass
class CodeProgress:
    """One code's standing, as the page and ``autocode progress`` show it."""

    code: str
    positives: int  # answers that carry the code (the researcher's, confirmed)
    checks_with: int  # random checks that carry it
    kappa: float | None  # on the random checks (None: undefined there)
    low: float | None
    high: float | None
    recent_kappa: float | None  # on the last answers, as the model stood before each (the strategy's picks)
    needs: int | None  # about how many more answers to reach the target (None: cannot tell yet)
    status: str  # "never seen", "3 of 5 examples", "reached", "about N more", "cannot tell yet"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckEstimate:
    """Agreement on the random checks, and every code's progress."""

    n_labels: int
    n_checks: int
    kappa: float | None
    low: float | None
    high: float | None
    exclusive: bool
    target: float
    min_positives: int
    codes: list[CodeProgress] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.kappa is not None and self.n_checks >= MIN_CHECKS

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        """The estimate in words."""
        if not self.ready:
            return (f"{self.n_checks} random check{'s' if self.n_checks != 1 else ''} answered; "
                    f"an estimate needs {MIN_CHECKS}")
        interval = "" if self.low is None else f" (95% interval {self.low:.2f}-{self.high:.2f})"
        return f"kappa {self.kappa:.2f}{interval} on {self.n_checks} random checks"


def _num(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def code_progress(
    codes: list[str], positives: np.ndarray, check_truth: np.ndarray, check_pred: np.ndarray, *, n_labels: int,
    exclusive: bool, recent: np.ndarray | None = None, curves: list[list[tuple[int, float]]] | None = None,
    target: float = 0.6, min_positives: int = 5, remaining: int | None = None, seed: int = 0,
) -> CheckEstimate:
    """The estimate from the random checks' answers ``check_truth`` (m, k) and out-of-fold
    predictions ``check_pred``; ``positives``: per code, answers that carry it; ``recent``: per
    code, the recent before-the-answer kappa; ``curves``: per code, learning-curve points for
    :func:`answers_needed`; ``remaining``: segments left to code (caps the projection).
    Codes never seen come first, then by fewest positives."""
    positives = np.asarray(positives).astype(int)
    check_truth = np.asarray(check_truth).reshape(-1, len(codes))
    check_pred = np.asarray(check_pred).reshape(-1, len(codes))
    m = len(check_truth)
    if m >= 2:
        est = kappa_interval(check_truth, check_pred, exclusive, seed=seed)
    else:
        est = {"kappa": float("nan"), "low": float("nan"), "high": float("nan"),
               "codes": [{"kappa": float("nan"), "low": float("nan"), "high": float("nan")} for _ in codes]}
    with_checks = check_truth.sum(axis=0).astype(int)
    rows = []
    for j, code in enumerate(codes):
        p = int(positives[j])
        needs: int | None = None
        if p == 0:
            status = "never seen"
        elif p < min_positives:
            status = f"{p} of {min_positives} examples"
        else:
            reach = answers_needed(curves[j], target) if curves is not None else None
            if reach is None:
                status = "cannot tell yet"
            elif reach <= n_labels:
                status, needs = "reached", 0
            elif (remaining is not None and reach - n_labels > remaining) or not np.isfinite(reach):
                status = "more than remain"  # at this rate the uncoded segments run out first
            else:
                needs = int(np.ceil(round(reach - n_labels, 6)))  # 300.0000001 is 300
                status = f"about {needs} more"
        c = est["codes"][j]
        rows.append(CodeProgress(code=code, positives=p, checks_with=int(with_checks[j]), kappa=_num(c["kappa"]),
                                 low=_num(c["low"]), high=_num(c["high"]),
                                 recent_kappa=None if recent is None else _num(recent[j]), needs=needs, status=status))
    rows.sort(key=lambda r: (r.positives >= min_positives, r.positives > 0, r.positives))
    return CheckEstimate(n_labels=int(n_labels), n_checks=m, kappa=_num(est["kappa"]), low=_num(est["low"]),
                         high=_num(est["high"]), exclusive=bool(exclusive), target=target, min_positives=min_positives,
                         codes=rows)
