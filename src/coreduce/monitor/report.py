"""Monitoring plots and report sections: the alert timeline with the expected value and its band (Plotly)."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go


def alert_timeline(scored: pd.DataFrame, alerts: pd.DataFrame | None = None, *, title: str = "", unit: str = "",
                   limit: float | None = None) -> go.Figure:  # fmt: skip
    """Observed value, expected value and its band over time, alerts shaded and marked.

    Parameters
    ----------
    scored : pandas.DataFrame
        ``ts, observed, expected, band_low, band_high`` (what :func:`coreduce.monitor.pipeline.watch` returns).
    alerts : pandas.DataFrame, optional
        Rows of the ``alerts`` table (``ts_start, ts_end, observed, kind, path``).
    limit : float, optional
        The fixed regulatory limit, drawn as a dashed line.
    """
    fig = go.Figure()
    ts = scored["ts"]
    fig.add_trace(go.Scatter(x=ts, y=scored["band_high"], line={"width": 0}, name="band (upper)", hoverinfo="skip",
                             showlegend=False))  # fmt: skip
    fig.add_trace(go.Scatter(x=ts, y=scored["band_low"], fill="tonexty", line={"width": 0}, name="band",
                             fillcolor="rgba(120,160,220,0.25)"))  # fmt: skip
    fig.add_trace(go.Scatter(x=ts, y=scored["expected"], name="expected", line={"color": "#3465a4", "width": 1}))
    fig.add_trace(go.Scatter(x=ts, y=scored["observed"], name="observed", line={"color": "#222", "width": 1}))
    if limit is not None:
        fig.add_hline(y=limit, line_dash="dash", line_color="#c00", annotation_text="fixed limit")
    if alerts is not None and len(alerts):
        # one layout update with every shaded span (add_vrect per alert is quadratic in plotly)
        fig.update_layout(shapes=[
            {"type": "rect", "xref": "x", "yref": "paper", "x0": a.ts_start, "x1": a.ts_end, "y0": 0, "y1": 1,
             "fillcolor": "rgba(220,50,50,0.15)", "line": {"width": 0}, "layer": "below"}
            for a in alerts.itertuples(index=False)
        ])  # fmt: skip
        fig.add_trace(go.Scatter(
            x=alerts["ts_start"], y=alerts["observed"], mode="markers", name="alert",
            marker={"color": "#c00", "size": 8, "symbol": "x"},
            text=[f"{k}: {p}" for k, p in zip(alerts["kind"], alerts["path"], strict=True)], hoverinfo="text+x+y",
        ))  # fmt: skip
    fig.update_layout(title=title, yaxis_title=unit, height=380, margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def alerts_table(alerts: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The first ``n`` alerts, columns a reader needs (observed, expected, band, path, action), human headers."""
    cols = ["site_id", "variable", "kind", "ts_start", "ts_end", "observed", "expected", "band_high", "unit", "path",
            "action", "status"]  # fmt: skip
    return alerts.sort_values("ts_start")[cols].head(n).reset_index(drop=True).rename(columns=ALERT_HEADERS)


#: The alerts table's column headers as a reader sees them (the report shows no code names).
ALERT_HEADERS = {"site_id": "Site", "variable": "Variable", "kind": "Kind", "ts_start": "Start", "ts_end": "End",
                 "observed": "Observed", "expected": "Expected", "band_high": "Band (upper)", "unit": "Unit",
                 "path": "Cause (graph path)", "action": "Suggested action", "status": "Status"}  # fmt: skip


def section(scored: pd.DataFrame, alerts: pd.DataFrame, *, title: str, nature: str, text: str, unit: str = "",
            limit: float | None = None, sid: str = "monitoring") -> dict:  # fmt: skip
    """A report section (``id, title, nature, figure, table, text``) as :func:`coreduce.report.write_report`
    takes in ``extra_sections``."""
    return {"id": sid, "title": title, "nature": nature, "text": text, "table": alerts_table(alerts),
            "figure": alert_timeline(scored, alerts, title=title, unit=unit, limit=limit)}  # fmt: skip


def section_html(scored: pd.DataFrame, alerts: pd.DataFrame, *, title: str, text: str = "", unit: str = "",
                 limit: float | None = None) -> str:  # fmt: skip
    """A stand-alone HTML fragment: heading, text, the timeline (Plotly JS from the CDN) and the alerts table."""
    fig = alert_timeline(scored, alerts, title=title, unit=unit, limit=limit)
    return (f"<section class='monitoring'><h2>{html.escape(title)}</h2><p>{html.escape(text)}</p>"
            + fig.to_html(full_html=False, include_plotlyjs="cdn")
            + alerts_table(alerts).to_html(index=False, escape=True, border=0) + "</section>")  # fmt: skip
