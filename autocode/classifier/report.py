"""An HTML evaluation report with matplotlib plots (PNG files beside the HTML, no
CDN, every text escaped), from a :func:`cross_validate` result."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np


def _save(fig, folder: Path, name: str) -> str:
    """Write a figure as a PNG beside the report and close it; returns the file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(folder / name, dpi=110)
    plt.close(fig)
    return name


def _plots(res: dict[str, Any], folder: Path, stem: str) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    per = res["per_code"]
    codes = [c for c in per if per[c]["support"] > 0]
    if codes:
        h = max(2.5, 0.28 * len(codes) + 1)
        fig, ax = plt.subplots(figsize=(8, h))
        y = np.arange(len(codes))
        ax.barh(y - 0.2, [per[c]["f1"] for c in codes], height=0.4, label="F1")
        ax.barh(y + 0.2, [per[c]["kappa"] for c in codes], height=0.4, label="Cohen's kappa")
        ax.set_yticks(y, [c if len(c) < 60 else "…" + c[-58:] for c in codes], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(min(0, min(per[c]["kappa"] for c in codes)), 1)
        ax.set_xlabel("score")
        ax.legend(loc="lower right")
        ax.set_title("Per code (cross-validated)")
        name = _save(fig, folder, f"{stem}-per-code.png")
        out.append((name, "F1 and Cohen's kappa per code"))
    if res.get("per_group"):
        groups = list(res["per_group"])
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(groups) + 1)))
        ax.barh(np.arange(len(groups)), [res["per_group"][g]["macro"]["f1"] for g in groups])
        ax.set_yticks(np.arange(len(groups)), groups, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("macro-F1")
        ax.set_title("Per held-out group")
        name = _save(fig, folder, f"{stem}-per-group.png")
        out.append((name, "macro-F1 per held-out group"))
    if res.get("learning_curve"):
        lc = res["learning_curve"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = [100 * p["fraction"] for p in lc]
        ax.plot(x, [p["macro_f1"] for p in lc], marker="o", label="macro-F1")
        ax.plot(x, [p["micro_f1"] for p in lc], marker="s", label="micro-F1")
        ax.set_xlabel("% of training groups")
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title("Learning curve")
        name = _save(fig, folder, f"{stem}-learning-curve.png")
        out.append((name, "learning curve"))
    return out


def write_html_report(res: dict[str, Any], path: str | Path, *, title: str = "autocode model evaluation",
                      notes: str | None = None) -> Path:
    """Writes ``path`` (HTML) and its PNG plots beside it; returns the HTML path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    e = html.escape
    plots = _plots(res, path.parent, path.stem)
    rows = "".join(
        f"<tr><td>{e(c)}</td><td>{v['precision']:.3f}</td><td>{v['recall']:.3f}</td><td>{v['f1']:.3f}</td>"
        f"<td>{v['kappa']:.3f}</td><td>{v['support']}</td><td>{v.get('predicted', '')}</td></tr>"
        for c, v in res["per_code"].items()
    )
    grows = "".join(
        f"<tr><td>{e(str(g))}</td><td>{v['n_segments']}</td><td>{v['macro']['f1']:.3f}</td>"
        f"<td>{v['micro']['f1']:.3f}</td></tr>"
        for g, v in res.get("per_group", {}).items()
    )
    ex = "".join(f"<li>{e(k)}: accuracy {v['accuracy']:.3f}, kappa {v['kappa']:.3f}</li>"
                 for k, v in res.get("exclusive", {}).items())
    lc = "".join(f"<tr><td>{100 * p['fraction']:.0f}%</td><td>{p['macro_f1']:.3f}</td><td>{p['micro_f1']:.3f}</td></tr>"
                 for p in res.get("learning_curve", []))
    imgs = "".join(f'<figure><img src="{e(n)}" alt="{e(a)}"><figcaption>{e(a)}</figcaption></figure>' for n, a in plots)
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>{e(title)}</h1>
<p>{e(res.get('scheme', ''))}, {res.get('n_splits', '')} splits, {res['n_segments']} segments.
Macro-F1 {res['macro']['f1']:.3f} (over codes present), micro-F1 {res['micro']['f1']:.3f},
mean Cohen's kappa {res['macro']['kappa']:.3f}; segments with no suggestion: {100 * res.get('abstained', 0):.1f}%.</p>
{f'<p>{e(notes)}</p>' if notes else ''}
{f'<h2>Exclusive sets</h2><ul>{ex}</ul>' if ex else ''}
<h2>Per code</h2>
<table><tr><th>code</th><th>precision</th><th>recall</th><th>F1</th><th>kappa</th><th>support</th><th>predicted</th></tr>{rows}</table>
<h2>Per group</h2>
<table><tr><th>group</th><th>segments</th><th>macro-F1</th><th>micro-F1</th></tr>{grows}</table>
{f'<h2>Learning curve</h2><table><tr><th>training groups</th><th>macro-F1</th><th>micro-F1</th></tr>{lc}</table>' if lc else ''}
<h2>Plots</h2>{imgs}
</body></html>
"""
    path.write_text(doc, encoding="utf-8")
    return path
