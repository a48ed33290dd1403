"""Staggered difference-in-differences: TWFE event study (pyfixest) and Callaway–Sant'Anna (own, vectorised).

``callaway_santanna`` is the unconditional (no covariates) estimator of Callaway and Sant'Anna (2021) on a balanced
panel: ATT(g,t) = E[Y_t - Y_b | G = g] - E[Y_t - Y_b | C], with b = g - 1 - anticipation after treatment and
b = t - 1 before it ("varying" base period, R ``did``'s default) or b = g - 1 - anticipation throughout
("universal"); C = never-treated units, or units not yet treated by max(t, b) + anticipation. Standard errors come
from the influence functions (clustered by unit), and aggregations include the estimation error of the weights,
as in R ``did::aggte``. Everything is one set of matrix operations over all (g, t) cells.
Checked against the ``differences`` package (``ATTgt``, ``est_method="reg"``) in the tests.

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
*Journal of Econometrics* 225(2), 200–230.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from coreduce.errors import InputError
from coreduce.evaluate.panel import SOURCE, balanced_panel, require_columns, require_numeric


@dataclass
class CSResult:
    """Group-time ATTs and their influence functions (``infl``: units x cells, scaled so SE = sqrt(sum IF^2)/n)."""

    att_gt: pd.DataFrame
    infl: np.ndarray
    cohort_of_unit: np.ndarray
    n_units: int
    control: str
    level: float = 0.95

    def _combine(self, cells: np.ndarray) -> tuple[float, float]:
        """Weighted average of cells with weights P(G = g) and the weights' own influence function."""
        g = self.att_gt.cohort.to_numpy()[cells]
        n = self.n_units
        pi_unit = {c: float(np.mean(self.cohort_of_unit == c)) for c in np.unique(g)}
        pg = np.array([pi_unit[c] for c in g])
        s = pg.sum()
        w = pg / s
        att = self.att_gt.att.to_numpy()[cells]
        theta = float(w @ att)
        ind = np.column_stack([(self.cohort_of_unit == c).astype(float) for c in g])  # n x cells
        wif = (ind - pg) / s - np.outer((ind - pg).sum(axis=1), pg) / s**2
        inf = self.infl[:, cells] @ w + wif @ att
        return theta, float(np.sqrt((inf**2).sum()) / n)

    def aggregate(self, kind: Literal["event", "simple"] = "event") -> pd.DataFrame:
        """Event-time (dynamic) or overall ("simple", post-treatment cells) aggregation with SEs and CIs."""
        z = stats.norm.ppf(0.5 + self.level / 2)
        t = self.att_gt
        rows = []
        if kind == "event":
            e = (t.time - t.cohort).to_numpy()
            for ev in np.unique(e):
                theta, se = self._combine(np.flatnonzero(e == ev))
                rows.append({"event_time": int(ev), "att": theta, "se": se})
        elif kind == "simple":
            theta, se = self._combine(np.flatnonzero((t.time >= t.cohort).to_numpy()))
            rows.append({"att": theta, "se": se})
        else:
            raise InputError(SOURCE, "'event' or 'simple'", column="aggregation", value=kind)
        out = pd.DataFrame(rows)
        out["ci_low"] = out.att - z * out.se
        out["ci_high"] = out.att + z * out.se
        return out


def callaway_santanna(
    data: pd.DataFrame,
    y: str,
    entity: str,
    time: str,
    cohort: str,
    *,
    control: Literal["never_treated", "not_yet_treated"] = "never_treated",
    base_period: Literal["varying", "universal"] = "varying",
    anticipation: int = 0,
    level: float = 0.95,
    source: str = SOURCE,
) -> CSResult:
    """Callaway–Sant'Anna ATT(g, t) on a balanced panel (no covariates).

    Parameters
    ----------
    cohort : str
        First treated period of each unit (constant within unit); 0 or missing = never treated.
        Units treated in the first sample period carry no pre-period and are dropped, as in R ``did``.

    Returns
    -------
    CSResult
        ``att_gt`` (cohort, time, base, att, se, n_treated, n_control) and :meth:`CSResult.aggregate`.
    """
    require_columns(data, [y, entity, time, cohort], source=source)
    require_numeric(data, [y, time], source=source)
    d = data[[entity, time, y, cohort]].copy()
    d[cohort] = pd.to_numeric(d[cohort], errors="coerce").fillna(0)
    panel, n, n_per = balanced_panel(d, entity, time, source=source)
    periods = np.sort(panel[time].unique())
    yw = panel[y].to_numpy(float).reshape(n, n_per)
    gu = panel[cohort].to_numpy(float).reshape(n, n_per)
    if (gu != gu[:, :1]).any():
        bad = int(np.flatnonzero((gu != gu[:, :1]).any(axis=1))[0])
        raise InputError(
            source,
            "a treatment cohort that is constant within each unit",
            column=cohort,
            value=panel[entity].iloc[bad * n_per],
        )
    g_unit = gu[:, 0]
    keep = ~((g_unit > 0) & (g_unit <= periods[0]))
    yw, g_unit = yw[keep], g_unit[keep]
    n = len(g_unit)
    pos = {p: i for i, p in enumerate(periods)}
    cohorts = [g for g in np.unique(g_unit) if g > 0]
    if not cohorts:
        raise InputError(source, "at least one treated cohort", column=cohort)
    cells = []
    for g in cohorts:
        before = periods[periods < g - anticipation]
        if len(before) == 0:
            continue
        b_post = before.max()  # the last period before (anticipated) treatment
        for i, t in enumerate(periods):
            if t >= g - anticipation or base_period == "universal":
                b = b_post
            else:
                if i == 0:
                    continue
                b = periods[i - 1]  # varying base: the period before t
            if t != b:
                cells.append((g, t, b))
    cg = np.array([c[0] for c in cells])
    ct = np.array([c[1] for c in cells])
    cb = np.array([c[2] for c in cells])
    dy = yw[:, [pos[t] for t in ct]] - yw[:, [pos[b] for b in cb]]  # n x cells
    treated = g_unit[:, None] == cg[None, :]
    if control == "never_treated":
        ctrl = np.repeat((g_unit == 0)[:, None], len(cells), axis=1)
    elif control == "not_yet_treated":
        horizon = np.maximum(ct, cb) + anticipation
        ctrl = ((g_unit[:, None] == 0) | (g_unit[:, None] > horizon[None, :])) & ~treated
    else:
        raise InputError(source, "'never_treated' or 'not_yet_treated'", column="control", value=control)
    n_t, n_c = treated.sum(axis=0), ctrl.sum(axis=0)
    if (n_c == 0).any():
        raise InputError(source, f"a non-empty {control} comparison group for every cohort and period", column=cohort)
    m_t = (dy * treated).sum(axis=0) / n_t
    m_c = (dy * ctrl).sum(axis=0) / n_c
    att = m_t - m_c
    infl = treated * (dy - m_t) / (n_t / n) - ctrl * (dy - m_c) / (n_c / n)
    se = np.sqrt((infl**2).sum(axis=0)) / n
    tab = pd.DataFrame({"cohort": cg, "time": ct, "base": cb, "att": att, "se": se, "n_treated": n_t, "n_control": n_c})
    return CSResult(tab, infl, g_unit, n, control, level)


def twfe_event_study(
    data: pd.DataFrame,
    y: str,
    entity: str,
    time: str,
    cohort: str,
    *,
    ref: int = -1,
    cluster: str | None = None,
    level: float = 0.95,
    source: str = SOURCE,
) -> pd.DataFrame:
    """Dynamic two-way FE event study ``y ~ i(event_time, ref=-1) | entity + time`` (pyfixest, CRV1).

    Never-treated units get the reference event time (all their event dummies are zero). Under staggered
    adoption with heterogeneous effects these coefficients are contaminated (Sun and Abraham 2021); show them
    next to :func:`callaway_santanna`.
    """
    import pyfixest as pf

    require_columns(data, [y, entity, time, cohort], source=source)
    d = data[[entity, time, y, cohort]].copy()
    g = pd.to_numeric(d[cohort], errors="coerce").fillna(0)
    d["_event_time"] = np.where(g > 0, d[time] - g, ref).astype(int)
    fit = pf.feols(f"{y} ~ i(_event_time, ref={ref}) | {entity} + {time}", d, vcov={"CRV1": cluster or entity})
    coef, se = fit.coef(), fit.se()
    ev = [int(re.search(r"(-?\d+)\]?$", str(k)).group(1)) for k in coef.index]
    z = stats.t.ppf(0.5 + level / 2, df=d[cluster or entity].nunique() - 1)
    out = pd.DataFrame({"event_time": ev, "att": coef.to_numpy(), "se": se.to_numpy()})
    out = pd.concat([out, pd.DataFrame({"event_time": [ref], "att": [0.0], "se": [0.0]})])
    out = out.sort_values("event_time").reset_index(drop=True)
    out["ci_low"] = out.att - z * out.se
    out["ci_high"] = out.att + z * out.se
    return out


def event_study_plot(estimates: dict[str, pd.DataFrame], *, title: str = "Event study") -> Any:
    """Plotly figure of event-time estimates with CIs, one trace per estimator (columns of the aggregations)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (name, df) in enumerate(estimates.items()):
        shift = (i - (len(estimates) - 1) / 2) * 0.12
        fig.add_trace(
            go.Scatter(
                x=df.event_time + shift,
                y=df.att,
                mode="markers+lines",
                name=name,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": df.ci_high - df.att,
                    "arrayminus": df.att - df.ci_low,
                },
            )
        )
    fig.add_hline(y=0, line_dash="dot")
    fig.add_vline(x=-0.5, line_dash="dash")
    fig.update_layout(
        title=title, xaxis_title="periods relative to treatment", yaxis_title="effect", template="plotly_white"
    )
    return fig
