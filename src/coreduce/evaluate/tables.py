"""Publication regression tables: coefficients with stars, SEs in parentheses, controls/FE rows, R², N.

One table object renders to HTML, LaTeX (booktabs), Markdown and CSV, so the paper's Word/LaTeX tables come
from the same numbers the tests check.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce.evaluate.results import Estimate

STARS: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))


def stars(p: float | None) -> str:
    """``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.10 (the convention of Stata's esttab/outreg2 defaults)."""
    if p is None or not math.isfinite(p):
        return ""
    for cut, mark in STARS:
        if p < cut:
            return mark
    return ""


def _num(v: float | None, digits: int) -> str:
    if v is None or not math.isfinite(v):
        return ""
    return f"{v:.{digits}f}"


@dataclass
class RegressionTable:
    """A rendered table: ``body`` (strings; index = row labels, columns = model names) plus header and notes."""

    body: pd.DataFrame
    depvars: list[str]
    notes: str
    title: str = ""
    n_coef_rows: int = 0

    def to_markdown(self) -> str:
        cols = ["", *self.body.columns]
        lines = []
        if self.title:
            lines += [f"**{self.title}**", ""]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "|".join([":---"] + [":---:"] * len(self.body.columns)) + "|")
        lines.append("| " + " | ".join(["Dependent variable", *self.depvars]) + " |")
        for label, row in self.body.iterrows():
            lines.append("| " + " | ".join([str(label), *row.tolist()]) + " |")
        lines += ["", self.notes]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        e = html.escape
        out = ['<table class="regression-table">']
        if self.title:
            out.append(f"<caption>{e(self.title)}</caption>")
        out.append("<thead><tr><th></th>" + "".join(f"<th>{e(c)}</th>" for c in self.body.columns) + "</tr>")
        out.append("<tr><th>Dependent variable</th>" + "".join(f"<th>{e(d)}</th>" for d in self.depvars) + "</tr>")
        out.append("</thead><tbody>")
        for i, (label, row) in enumerate(self.body.iterrows()):
            cls = ' class="stats"' if i == self.n_coef_rows else ""
            out.append(f"<tr{cls}><td>{e(str(label))}</td>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>")
        ncol = len(self.body.columns) + 1
        out.append(f'</tbody><tfoot><tr><td colspan="{ncol}">{e(self.notes)}</td></tr></tfoot></table>')
        return "\n".join(out) + "\n"

    def to_latex(self) -> str:
        def tex(s: str) -> str:
            s = s.replace("\\", r"\textbackslash{}")
            for a, b in (("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):
                s = s.replace(a, b)
            s = re.sub(r"\*+", lambda m: "$^{" + m.group(0) + "}$", s)
            return s.replace("R²", "$R^2$")

        k = len(self.body.columns)
        lines = [r"\begin{tabular}{l" + "c" * k + "}", r"\toprule"]
        lines.append(" & " + " & ".join(tex(c) for c in self.body.columns) + r" \\")
        lines.append("Dependent variable & " + " & ".join(tex(d) for d in self.depvars) + r" \\")
        lines.append(r"\midrule")
        for i, (label, row) in enumerate(self.body.iterrows()):
            if i == self.n_coef_rows:
                lines.append(r"\midrule")
            lines.append(tex(str(label)) + " & " + " & ".join(tex(v) for v in row) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\par\footnotesize " + tex(self.notes)]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        frame = self.body.copy()
        frame.index.name = "term"
        header = pd.DataFrame([self.depvars], columns=self.body.columns, index=pd.Index(["Dependent variable"]))
        return pd.concat([header, frame]).rename_axis("term").to_csv()

    def write(self, folder: str | Path, stem: str) -> dict[str, Path]:
        """Write ``stem.{html,tex,md,csv}`` into ``folder``; returns the paths by format."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for ext, text in (
            ("html", self.to_html()),
            ("tex", self.to_latex()),
            ("md", self.to_markdown()),
            ("csv", self.to_csv()),
        ):
            p = folder / f"{stem}.{ext}"
            p.write_text(text, encoding="utf-8")
            paths[ext] = p
        return paths


def regression_table(
    models: Sequence[Estimate],
    *,
    keep: Sequence[str] | None = None,
    labels: dict[str, str] | None = None,
    show_controls: bool = True,
    fe_labels: dict[str, str] | None = None,
    stats: dict[str, str] | None = None,
    digits: int = 3,
    title: str = "",
    note: str | None = None,
) -> RegressionTable:
    """Lay ``models`` side by side.

    Parameters
    ----------
    models : list of Estimate
        Columns, left to right.
    keep : list of str, optional
        Coefficients to show, in this order (default: every coefficient, in order of first appearance;
        controls hidden when ``show_controls=False``, which adds a "Controls: Yes/No" row).
    labels : dict, optional
        Display names of variables.
    fe_labels : dict, optional
        Display names of fixed effects (``{"city": "City"}`` gives a "City FE" row).
    stats : dict, optional
        Extra model statistics to add as rows, ``{key in Estimate.stats: row label}``.
    digits : int
        Decimals of coefficients and SEs.

    Returns
    -------
    RegressionTable
    """
    labels, fe_labels, stats = labels or {}, fe_labels or {}, stats or {}
    all_controls = {c for m in models for c in m.controls}
    if keep is None:
        keep = []
        for m in models:
            for t in m.coef.index:
                if t not in keep and (show_controls or t not in all_controls):
                    keep.append(t)
    names = [m.name or f"({i + 1})" for i, m in enumerate(models)]
    rows: list[tuple[str, list[str]]] = []
    for term in keep:
        coef_row, se_row = [], []
        for m in models:
            if term in m.coef.index:
                coef_row.append(_num(float(m.coef[term]), digits) + stars(float(m.pvalue[term])))
                se_row.append(f"({_num(float(m.se[term]), digits)})")
            else:
                coef_row.append("")
                se_row.append("")
        rows.append((labels.get(term, term), coef_row))
        rows.append(("", se_row))
    n_coef_rows = len(rows)
    if not show_controls and all_controls:
        rows.append(("Controls", ["Yes" if m.controls else "No" for m in models]))
    fes: list[str] = []
    for m in models:
        fes += [f for f in m.fixed_effects if f not in fes]
    for f in fes:
        rows.append((f"{fe_labels.get(f, f)} FE", ["Yes" if f in m.fixed_effects else "No" for m in models]))
    for key, label in stats.items():
        cells = []
        for m in models:
            v = m.stats.get(key)
            if v is None:
                cells.append("")
            elif isinstance(v, int | np.integer) and not isinstance(v, bool):
                cells.append(f"{int(v):,}")  # counts (instruments, clusters) without decimals
            else:
                cells.append(_num(float(v), digits))
        rows.append((label, cells))
    if any(m.r2 is not None for m in models):
        rows.append(("R²", [_num(m.r2, 3) for m in models]))
    if any(m.r2_within is not None for m in models):
        rows.append(("Within R²", [_num(m.r2_within, 3) for m in models]))
    rows.append(("N", [f"{m.nobs:,}" for m in models]))
    body = pd.DataFrame([r for _, r in rows], index=[lab for lab, _ in rows], columns=names)
    vc = sorted({m.vcov for m in models if m.vcov})
    if note is None:
        note = f"Standard errors in parentheses ({'; '.join(vc) or 'see text'}). * p < 0.10, ** p < 0.05, *** p < 0.01."
    return RegressionTable(
        body=body, depvars=[m.depvar for m in models], notes=note, title=title, n_coef_rows=n_coef_rows
    )
