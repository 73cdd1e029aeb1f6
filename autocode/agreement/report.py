"""A self-contained HTML agreement report: tables, a kappa plot and a disagreement heatmap.

Everything is written into one folder (index.html, PNG figures, CSV tables,
report.json); nothing is loaded from the network. All text is HTML-escaped.
Figures use matplotlib's Agg canvas directly, so no global backend is changed.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from autocode.agreement.results import AgreementReport, OverallAgreement
from autocode.agreement.stats import LANDIS_KOCH

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KAPPA_PLOT = "kappa_per_code.png"
MATRIX_PLOT = "disagreement_matrix.png"
#: Disagreement rows shown in the HTML; the CSV holds them all.
MAX_LIST_ROWS = 200

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
.muted { color: #666; }
img { max-width: 100%; }
"""

_PERCENT_COLUMNS = {"percent_agreement", "exact_match"}
_INT_COLUMNS = {"n_units", "n_coded", "n_codes", "n_1", "n_2", "n_both", "n_codes_with_kappa"}


def write_report(
    report: AgreementReport,
    out_dir: str | Path,
    *,
    disagreements: pd.DataFrame | None = None,
    matrix: pd.DataFrame | None = None,
    levels: Mapping[str, AgreementReport] | None = None,
    title: str = "Inter-coder agreement",
) -> Path:
    """Write the report into ``out_dir`` (created if needed); returns the index.html path.

    ``disagreements``: from :func:`disagreement_list` (written to disagreements.csv);
    ``matrix``: from :func:`disagreement_matrix` (drawn as a heatmap);
    ``levels``: from :func:`compare_levels` (a per-level summary table).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    group_word = "document" if report.unit == "character" else "group"

    parts = [f"<h1>{_e(title)}</h1>", _summary(report)]
    parts.append(_table(_overall_frame(report.overall), "Overall"))
    if levels:
        rows = [{"level": key, **vars(rep.overall)} for key, rep in levels.items()]
        parts.append(_table(pd.DataFrame(rows), "By codebook level"))
    parts.append(_table(report.per_code, "Per code"))
    report.per_code.to_csv(out / "per_code.csv", index=False)

    if _kappa_plot(report.per_code, out / KAPPA_PLOT, report.bootstrap.confidence):
        parts.append(f'<h2>Kappa per code</h2><p><img src="{KAPPA_PLOT}" alt="kappa per code with confidence '
                     f'intervals"></p><p class="muted">{_e(report.bootstrap.note)}</p>')

    if len(report.coders) > 2:
        parts.append(_table(report.pairwise, "Each pair of coders"))
    report.pairwise.to_csv(out / "pairwise.csv", index=False)

    if report.group_summary is not None and report.per_group is not None:
        parts.append(_table(report.group_summary.rename(columns={"group": group_word}), f"Per {group_word}"))
        parts.append(_table(report.per_group.rename(columns={"group": group_word}), f"Per {group_word} and code"))
        report.per_group.to_csv(out / "per_group.csv", index=False)

    if matrix is not None:
        matrix.to_csv(out / "disagreement_matrix.csv")
        if _matrix_plot(matrix, out / MATRIX_PLOT):
            parts.append(f'<h2>Code-by-code disagreements</h2><p>{_e(matrix.index.name or "")} (rows) where '
                         f'{_e(matrix.columns.name or "")} (columns). '
                         f'<a href="disagreement_matrix.csv">disagreement_matrix.csv</a></p>'
                         f'<p><img src="{MATRIX_PLOT}" alt="disagreement matrix heatmap"></p>')
        else:
            parts.append("<h2>Code-by-code disagreements</h2><p>None: the two coders never differed.</p>")

    if disagreements is not None:
        disagreements.to_csv(out / "disagreements.csv", index=False)
        shown = disagreements.head(MAX_LIST_ROWS)
        caption = (f"Disagreements ({len(disagreements)} units; all in disagreements.csv)"
                   if len(disagreements) > len(shown) else f"Disagreements ({len(disagreements)} units)")
        parts.append(_table(shown, caption))
        parts.append('<p><a href="disagreements.csv">disagreements.csv</a></p>')

    parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul>")
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _summary(report: AgreementReport) -> str:
    level = report.level or "all (codes as written)"
    items = [
        ("Coders", ", ".join(report.coders)),
        ("Codebook level", level),
        (f"{report.unit.capitalize()}s compared", f"{report.overall.n_units}"),
        ("Codes", f"{report.overall.n_codes}"),
    ]
    if report.exclude_uncoded:
        items.append(("Left out", f"{report.n_uncoded_dropped} units no coder coded"))
    if report.n_unseen:
        items.append(("Not seen by every coder", f"{report.n_unseen} units (left out)"))
    bands = ", ".join(f"{label} <= {upper:.2f}" for upper, label in LANDIS_KOCH[:-1])
    items.append(("Kappa labels", f"Landis & Koch: poor < 0, {bands}, almost perfect above"))
    return "<dl>" + "".join(f"<dt><b>{_e(k)}</b></dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _overall_frame(overall: OverallAgreement) -> pd.DataFrame:
    return pd.DataFrame([vars(overall)])


def _cell(column: str, value: object) -> str:
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return '<td class="num muted">&ndash;</td>'
        text = f"{value:.1f}%" if column in _PERCENT_COLUMNS else f"{value:.3f}"
        return f'<td class="num">{_e(text)}</td>'
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f'<td class="num">{_e(value)}</td>'
    if value is None:
        return "<td></td>"
    return f"<td>{_e(value)}</td>"


def _table(frame: pd.DataFrame, caption: str) -> str:
    head = "".join(f"<th>{_e(col)}</th>" for col in frame.columns)
    body = "".join(
        "<tr>" + "".join(_cell(str(col), val) for col, val in zip(frame.columns, row)) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    )
    return f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _short(labels: Iterable[object], width: int = 45) -> list[str]:
    """Tick labels: a long path shows its last parts ("…/Theme/Sub-theme"), a long name its
    end; "$" is escaped so matplotlib draws no maths."""
    out = []
    for label in map(str, labels):
        if len(label) > width:
            parts = label.split("/")
            tail = parts[-1]
            for part in reversed(parts[1:-1]):
                if len(part) + len(tail) + 3 > width:
                    break
                tail = f"{part}/{tail}"
            label = "…/" + tail if len(parts) > 1 and len(tail) + 2 <= width else "…" + label[-(width - 1):]
        out.append(label.replace("$", r"\$"))
    return out


def _new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (no global backend is changed).

    matplotlib is imported here, not at the top: it is heavy (about half a second to import), and
    importing :mod:`autocode.agreement` for its statistics (the active learner, the
    classifier's evaluation) should not pay for plotting.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _kappa_plot(per_code: pd.DataFrame, path: Path, confidence: float) -> bool:
    """Kappa per code with its interval; False (nothing written) when no kappa is defined."""
    data = per_code[np.isfinite(per_code["kappa"].to_numpy(dtype=float))]
    if data.empty:
        return False
    kappa = data["kappa"].to_numpy(dtype=float)
    low = data["kappa_ci_low"].to_numpy(dtype=float)
    high = data["kappa_ci_high"].to_numpy(dtype=float)
    has_ci = np.isfinite(low) & np.isfinite(high)
    y = np.arange(len(data))[::-1]
    fig = _new_figure(8, 1.2 + 0.32 * len(data))
    ax = fig.add_subplot()
    for upper, _ in LANDIS_KOCH[:-1]:
        ax.axvline(upper, color="#ddd", lw=0.8, zorder=0)
    ax.axvline(0, color="#999", lw=0.8, zorder=0)
    if has_ci.any():
        err = np.vstack([kappa - low, high - kappa])[:, has_ci].clip(min=0)
        ax.errorbar(kappa[has_ci], y[has_ci], xerr=err, fmt="o", color="#1f5fa8", ecolor="#7aa6d6", capsize=3)
    if (~has_ci).any():
        ax.plot(kappa[~has_ci], y[~has_ci], "o", color="#1f5fa8", mfc="white")
    ax.set_yticks(y, _short(data["code"]))
    ax.set_xlim(min(-0.1, float(np.nanmin(np.r_[kappa, low[has_ci]])) - 0.05), 1.05)
    ax.set_xlabel("kappa (Landis & Koch bands in grey)")
    ax.set_title(f"Kappa per code, {confidence:.0%} bootstrap interval"
                 + (" (hollow: no interval)" if (~has_ci).any() else ""), fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def _matrix_plot(matrix: pd.DataFrame, path: Path) -> bool:
    """Heatmap of the non-empty rows and columns; False when there is nothing to draw."""
    keep_rows = matrix.index[matrix.sum(axis=1) > 0]
    keep_cols = matrix.columns[matrix.sum(axis=0) > 0]
    if not len(keep_rows) or not len(keep_cols):
        return False
    data = matrix.loc[keep_rows, keep_cols]
    values = data.to_numpy()
    fig = _new_figure(4.5 + 0.45 * len(keep_cols), 4.0 + 0.35 * len(keep_rows))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(keep_cols)), _short(keep_cols, 35), rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(len(keep_rows)), _short(keep_rows, 35), fontsize="small")
    ax.set_xlabel(_short([matrix.columns.name or ""], 80)[0])
    ax.set_ylabel(_short([matrix.index.name or ""], 80)[0])
    if values.size <= 400:
        top = values.max()
        for (i, j), v in np.ndenumerate(values):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize="x-small",
                        color="white" if v > top / 2 else "black")
    fig.colorbar(image, ax=ax, shrink=0.8, label="units")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True
