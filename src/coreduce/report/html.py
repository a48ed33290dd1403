"""Self-contained HTML report: one Jinja2 template, Plotly figures as divs, plotly.js embedded once.

The file opens offline: plotly.js is inlined in the page head (no CDN), every figure is a ``<div>`` drawn
by a small inline script, and tables are plain HTML.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from coreduce.report.format import MISSING, number


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("coreduce.report", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly package (minified, ~4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _text_cell(v: object) -> object:
    """A non-numeric cell: missing or blank -> "–"; anything else unchanged."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return MISSING
    if not isinstance(v, str):
        try:
            if pd.isna(v):
                return MISSING
        except (TypeError, ValueError):
            pass
    return v


def table_html(df: pd.DataFrame | None) -> Markup | None:
    """A DataFrame as an HTML table (no index), or ``None`` when ``df`` is ``None`` or empty.

    Numbers in positional notation (:func:`coreduce.report.format.number`: thousands separators, about
    4 significant digits, never e-notation); missing cells as "–", never ``None``/``NaN``/``<NA>``.
    """
    if df is None or len(df) == 0:
        return None
    df = df.copy()
    for c in df.columns:
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].map(number)
        else:
            df[c] = df[c].map(_text_cell)
    df.columns = [str(c) for c in df.columns]
    return Markup(df.to_html(index=False, classes="data", border=0, na_rep=MISSING, escape=True))


def figure_html(fig: go.Figure, div_id: str) -> Markup:
    """A figure as a ``<div>`` plus its drawing script, without plotly.js (the page embeds it once)."""
    return Markup(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def markdown_html(text: str | None) -> Markup | None:
    """Markdown (CommonMark + tables) to HTML; raw HTML in the text is escaped."""
    if not text:
        return None
    return Markup(MarkdownIt("commonmark", {"html": False}).enable("table").render(text))


def write_report(path: str | Path, context: Mapping[str, Any]) -> Path:
    """Render the report template to a self-contained HTML file.

    Parameters
    ----------
    path : str or pathlib.Path
        Output file (parent folders are created).
    context : mapping
        Template variables.  Recognised keys (all optional except ``title``):

        - ``title``, ``subtitle`` (str);
        - ``totals`` (DataFrame: ``pollutant, amount_t`` …) — the summary table;
        - ``inputs`` (DataFrame: ``input, nature, source, note``) — what is MEASURED, DERIVED, DOWNSCALED;
        - ``sections`` (list of dicts ``{"id", "title", "nature", "figure": go.Figure, "table", "text"}``)
          — figure sections in order; ``nature`` says what the chart is (measured/derived/downscaled,
          year, place);
        - ``notes`` (list of str) — caveats shown under the summary;
        - ``factors`` (DataFrame) — factors used with their sources; ``factor_version`` (str);
        - ``footprint`` (DataFrame or None) — the AI's own compute footprint, already formatted
          (:func:`coreduce.report.footprint_table`; None: "not recorded");
        - ``credits`` (Markdown str) — sources and licences.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    ctx = dict(context)
    sections = []
    for i, s in enumerate(ctx.get("sections", [])):
        s = dict(s)
        sid = s.get("id") or f"section-{i}"
        s["id"] = sid
        if isinstance(s.get("figure"), go.Figure):
            s["figure_html"] = figure_html(s["figure"], f"fig-{sid}")
        if s.get("table") is not None:
            s["table_html"] = table_html(s["table"])
        sections.append(s)
    ctx["sections"] = sections
    for key in ("totals", "inputs", "factors"):
        ctx[f"{key}_html"] = table_html(ctx.get(key))
    fp = ctx.get("footprint")
    ctx["footprint_html"] = table_html(fp) if isinstance(fp, pd.DataFrame) else None
    ctx.setdefault("footprint_recorded", ctx["footprint_html"] is not None)
    ctx["credits_html"] = markdown_html(ctx.get("credits"))
    ctx["plotly_js"] = Markup(plotly_js())
    html = _env().get_template("report.html").render(**ctx)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    from coreduce.export import atomic_write_text

    atomic_write_text(out, html)
    return out
