"""Pollutant caps on a PyPSA network: the same emission constraints as :mod:`coreduce.optimise.dispatch`, added to
PyPSA's own linopy model where buses and lines are wanted.

PyPSA (Brown, Hörsch & Schlachtberger 2018, *J. Open Res. Softw.* 6:4) knows CO2 through carrier attributes and
global constraints; SO2, NOx, PM2.5 and VOCs caps are added here as linear constraints on ``Generator-p``::

    n.optimize.create_model()
    add_pollutant_caps(n, rates={"SO2": {"coal": 0.002}}, caps={"SO2": 300.0})
    n.optimize.solve_model(solver_name="highs")
    pollutant_totals(n, rates)

Units: ``rates`` in t per MWh of the generator's output, ``caps`` in t over the snapshots (weighted by
``n.snapshot_weightings.generators``, hours per snapshot), as in ``dispatch``'s ``caps``.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from coreduce.errors import CoreduceError


def _rate_series(n, pollutant: str, rates: Mapping[str, float]) -> pd.Series:
    unknown = sorted(set(rates) - set(n.generators.index))
    if unknown:
        raise CoreduceError(f"{pollutant} rates name generators the network does not have: {', '.join(unknown)}")
    return pd.Series({g: float(rates.get(g, 0.0)) for g in n.generators.index}, dtype="float64")


def add_pollutant_caps(n, rates: Mapping[str, Mapping[str, float]], caps: Mapping[str, float]) -> list[str]:
    """Add ``Σ_t Σ_g w_t · rate_g · p_{g,t} <= cap`` per pollutant to ``n.model`` (after ``create_model``).

    Returns the names of the added constraints (``pollutant-cap-SO2`` …), whose duals after the solve are the
    shadow prices of the caps [currency per t].
    """
    m = getattr(n, "model", None)
    if m is None or "Generator-p" not in m.variables:
        raise CoreduceError("call n.optimize.create_model() before adding pollutant caps")
    p = m["Generator-p"]
    w = n.snapshot_weightings.generators.rename_axis("snapshot").to_xarray()
    names = []
    for pol, cap in caps.items():
        if pol not in rates:
            raise CoreduceError(f"a cap on {pol} needs its emission rates per generator (t/MWh)")
        r = _rate_series(n, pol, rates[pol]).rename_axis("name").to_xarray()
        name = f"pollutant-cap-{pol}"
        m.add_constraints((p * r * w).sum() <= float(cap), name=name)
        names.append(name)
    return names


def pollutant_totals(n, rates: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Emissions of the solved network per pollutant [t]: Σ w_t · rate_g · p_{g,t}."""
    w = n.snapshot_weightings.generators
    out = {}
    for pol, rr in rates.items():
        r = _rate_series(n, pol, rr)
        out[pol] = float((n.generators_t.p.mul(w, axis=0) * r).sum().sum())
    return out
