"""Synergy metrics between two inventories (before/after a measure, or two scenarios).

For each pollutant p against CO2 (Mao Xianqiang / BNU group metrics, shared/reference §6):

- cut ΔE = E_before − E_after (positive = reduced);
- intensity = ΔE_p [kg] / ΔE_CO2 [t]  (kg pollutant cut per t CO2 cut);
- elasticity Els = (ΔE_p/E_p) / (ΔE_CO2/E_CO2) (relative cuts, on the *before* totals);
- quadrant of the co-control coordinate system (x = ΔCO2, y = ΔAP): I both cut (synergy), II pollutant cut,
  CO2 up (trade-off), III both up, IV CO2 cut, pollutant up (trade-off);
- APeq = Σ_p E_p / v_p with v_p the statutory pollution-equivalent value [kg/equivalent] (Environmental
  Protection Tax Law, coefficient set ``pollution_equivalents``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from coreduce import coefficients
from coreduce.errors import InputError
from coreduce.units import conversion_factor

CARBON = "CO2"


def totals(inv: pd.DataFrame | Mapping[str, float], *, source: str = "inventory") -> dict[str, float]:
    """Totals by pollutant [t] of a canonical inventory frame (``pollutant, amount, unit``) or a mapping."""
    if isinstance(inv, Mapping):
        return {str(k): float(v) for k, v in inv.items()}
    for c in ("pollutant", "amount"):
        if c not in inv.columns:
            raise InputError(source, f"a canonical inventory with column {c!r}", row=1, column=c)
    df = inv
    if "unit" in df.columns:
        fac = df["unit"].fillna("t").astype(str).map(lambda u: conversion_factor(u, "t"))
        amount = pd.to_numeric(df["amount"], errors="coerce") * fac
    else:
        amount = pd.to_numeric(df["amount"], errors="coerce")
    if amount.isna().any():
        i = int(amount.isna().to_numpy().nonzero()[0][0])
        raise InputError(source, "a number", row=i + 2, column="amount", value=df["amount"].iloc[i])
    return {str(k): float(v) for k, v in amount.groupby(df["pollutant"].astype(str)).sum().items()}


def quadrant(d_co2: float, d_ap: float) -> str:
    """Quadrant of the co-control coordinate system for cuts (positive = reduced)."""
    if d_co2 > 0 and d_ap > 0:
        return "I synergy"
    if d_co2 <= 0 and d_ap > 0:
        return "II trade-off (pollutant cut, CO2 up)"
    if d_co2 <= 0 and d_ap <= 0:
        return "III both up"
    return "IV trade-off (CO2 cut, pollutant up)"


def apeq(amounts_t: Mapping[str, float], *, user_paths: tuple[str, ...] = ()) -> float:
    """Air-pollutant equivalents APeq = Σ E_p[kg] / v_p[kg] over the pollutants that have a statutory value.

    ``PM10``/``PM2.5`` are not in the schedule under those names and are *not* counted (map them yourself to
    ``smoke_dust`` or ``dust_general`` if that is what they are).
    """
    pe = coefficients.load("pollution_equivalents", user_paths)
    known = set(pe.frame["pollutant"])
    return float(sum(v * 1000.0 / pe.value(pollutant=p) for p, v in amounts_t.items() if p in known))


def synergy(
    before: pd.DataFrame | Mapping[str, float],
    after: pd.DataFrame | Mapping[str, float],
    *,
    carbon: str = CARBON,
    measure: str = "measure",
) -> pd.DataFrame:
    """Synergy metrics of every pollutant against ``carbon`` between two inventories.

    Returns
    -------
    pandas.DataFrame
        One row per pollutant (and one ``APeq`` row, in pollution equivalents): ``measure, pollutant,
        before, after, cut`` [t; APeq in equivalents], ``cut_pct``, ``kg_per_t_co2``, ``elasticity``,
        ``quadrant``.  NaN where a ratio is undefined (no CO2 cut, or zero before).
    """
    b, a = totals(before, source="before"), totals(after, source="after")
    if carbon not in b or carbon not in a:
        raise InputError("before/after", f"both inventories to contain {carbon}", column="pollutant")
    d_c = b[carbon] - a[carbon]
    rel_c = d_c / b[carbon] if b[carbon] else float("nan")
    rows = []
    names = sorted(set(b) | set(a))
    vals = {p: (b.get(p, 0.0), a.get(p, 0.0)) for p in names}
    vals["APeq"] = (apeq(b), apeq(a))
    for p, (eb, ea) in vals.items():
        cut = eb - ea
        rel = cut / eb if eb else float("nan")
        per_t = cut * 1000.0 / d_c if (d_c and p != "APeq") else float("nan")
        rows.append(
            {
                "measure": measure,
                "pollutant": p,
                "before": eb,
                "after": ea,
                "cut": cut,
                "cut_pct": 100.0 * rel,
                "kg_per_t_co2": per_t,
                "elasticity": rel / rel_c if rel_c and rel_c == rel_c else float("nan"),
                "quadrant": "" if p == carbon else quadrant(d_c, cut),
            }
        )
    return pd.DataFrame(rows)


def coordinate_chart(points: pd.DataFrame, *, pollutant: str = "APeq", title: str | None = None):
    """The co-control coordinate system as a Plotly figure: each measure at (ΔCO2 cut, Δpollutant cut).

    ``points`` is a concatenation of :func:`synergy` frames (several measures); the CO2 cut of each measure is
    taken from its ``CO2`` row.  Quadrant I (both cut) is synergy.
    """
    import plotly.graph_objects as go

    co2 = points[points["pollutant"] == CARBON].set_index("measure")["cut"]
    ap = points[points["pollutant"] == pollutant].set_index("measure")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[co2[m] for m in ap.index],
            y=list(ap["cut"]),
            mode="markers+text",
            text=list(ap.index),
            textposition="top center",
            customdata=list(ap["quadrant"]),
            hovertemplate="%{text}<br>CO2 cut %{x:.4g} t<br>" + pollutant + " cut %{y:.4g}<br>%{customdata}",
        )
    )
    fig.add_hline(y=0, line_color="grey")
    fig.add_vline(x=0, line_color="grey")
    for x, y, label in ((1, 1, "I synergy"), (-1, 1, "II trade-off"), (-1, -1, "III"), (1, -1, "IV trade-off")):
        fig.add_annotation(
            xref="paper",
            yref="paper",
            x=(x + 1) / 2 * 0.9 + 0.05,
            y=(y + 1) / 2 * 0.9 + 0.05,
            text=label,
            showarrow=False,
            opacity=0.5,
        )
    unit = "pollution equivalents" if pollutant == "APeq" else "t"
    fig.update_layout(
        title=title or f"Co-control coordinate system: {pollutant} vs CO2",
        xaxis_title="CO2 cut [t]",
        yaxis_title=f"{pollutant} cut [{unit}]",
    )
    return fig
