"""Techno-economics of saving technologies (numpy-financial conventions).

- NPV: Σ_t CF_t/(1+r)^t with CF_0 at t = 0 (``numpy_financial.npv``);
- IRR: the rate with NPV = 0 (root of the polynomial, as ``numpy_financial.irr``; the real root in (−1, ∞)
  closest to 0 when several);
- payback: first time the cumulative (optionally discounted) cash flow reaches 0, linearly interpolated;
- levelised cost per t = (capex + Σ_t (opex_t − savings_t)/(1+r)^t) / Σ_t abated_t/(1+r)^t, t = 1..n
  (negative = the technology pays for itself), per t CO2 and per t of each pollutant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError


def npv(rate: float, cashflows: Sequence[float]) -> float:
    """Net present value, first cash flow at t = 0."""
    cf = np.asarray(cashflows, dtype=float)
    return float((cf / (1.0 + rate) ** np.arange(len(cf))).sum())


def irr(cashflows: Sequence[float]) -> float:
    """Internal rate of return (NaN when there is none)."""
    cf = np.asarray(cashflows, dtype=float)
    roots = np.roots(cf[::-1])  # polynomial in x = 1/(1+r): Σ cf_t x^t
    real = roots[np.isclose(roots.imag, 0) & (roots.real > 0)].real
    if not len(real):
        return float("nan")
    rates = 1.0 / real - 1.0
    return float(rates[np.argmin(np.abs(rates))])


def payback(cashflows: Sequence[float], rate: float = 0.0) -> float:
    """Years until the cumulative (discounted at ``rate``) cash flow reaches 0; inf if never."""
    cf = np.asarray(cashflows, dtype=float) / (1.0 + rate) ** np.arange(len(cashflows))
    cum = np.cumsum(cf)
    if cum[0] >= 0:
        return 0.0
    for t in range(1, len(cum)):
        if cum[t] >= 0:
            return float(t - 1 + (-cum[t - 1]) / cf[t])
    return float("inf")


def levelised_cost(capex: float, opex: float, savings: float, abated: float, lifetime: int, rate: float) -> float:
    """Levelised cost per unit abated with constant annual opex, savings and abatement over ``lifetime`` years."""
    if abated <= 0 or lifetime < 1:
        raise InputError("technology", "abated > 0 and lifetime >= 1", value=f"abated={abated}, lifetime={lifetime}")
    disc = 1.0 / (1.0 + rate) ** np.arange(1, lifetime + 1)
    return float((capex + ((opex - savings) * disc).sum()) / (abated * disc).sum())


def technology_economics(tech: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Per technology: NPV, IRR, payback and levelised cost per t CO2 and per t of each pollutant.

    ``tech`` columns: ``technology, capex, opex, savings, lifetime, co2_t`` and optional ``<pollutant>_t``
    (annual cuts, e.g. ``SO2_t``); money in one currency per year.
    """
    need = ("technology", "capex", "opex", "savings", "lifetime", "co2_t")
    for c in need:
        if c not in tech.columns:
            raise InputError("technologies", f"a column {c!r}", row=1, column=c)
    rows: list[dict[str, Any]] = []
    pols = [c for c in tech.columns if c.endswith("_t") and c != "co2_t"]
    for _, r in tech.iterrows():
        n = int(r["lifetime"])
        cf = [-float(r["capex"])] + [float(r["savings"]) - float(r["opex"])] * n
        out: Mapping[str, Any] = {
            "technology": r["technology"],
            "npv": npv(rate, cf),
            "irr": irr(cf),
            "payback_years": payback(cf),
            "cost_per_t_co2": levelised_cost(r["capex"], r["opex"], r["savings"], r["co2_t"], n, rate),
        }
        out = dict(out)
        for p in pols:
            if float(r[p]) > 0:
                out[f"cost_per_t_{p[:-2]}"] = levelised_cost(r["capex"], r["opex"], r["savings"], r[p], n, rate)
        rows.append(out)
    return pd.DataFrame(rows)
