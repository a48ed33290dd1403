"""Combustion and control arithmetic: pure, vectorised functions with units in the docstrings."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from coreduce.units import conversion_factor


def combustion_emissions(activity, ef, removal_efficiency=0.0):
    """Emission of one pollutant from an activity: ``E = A · EF · (1 − η)``.

    Parameters
    ----------
    activity : float, numpy.ndarray or pandas.Series
        Activity ``A`` in the unit the factor is expressed per (e.g. [TJ] for a factor in [kg/TJ]).
    ef : float or array-like
        Emission factor ``EF`` [mass / activity unit], e.g. [kg/TJ].
    removal_efficiency : float or array-like
        Fraction ``η`` removed by control equipment, 0–1 (default 0: uncontrolled).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Emission in the numerator unit of ``ef`` (e.g. [kg]). NaN propagates.

    References
    ----------
    .. [1] IPCC (2006) *2006 IPCC Guidelines for National Greenhouse Gas Inventories*, Vol. 2, Ch. 2,
       Eq. 2.1 (Tier 1: emissions = fuel consumption × emission factor).
    .. [2] IIASA GAINS: ``E = A · EF⁰ · (1 − η) · X`` (Amann et al., 2011, Environ. Model. Softw. 26:1489).
    """
    eta = np.asarray(removal_efficiency, dtype="float64")
    if np.any((eta < 0) | (eta > 1)):
        raise ValueError("removal_efficiency must lie in [0, 1]")
    return activity * ef * (1.0 - removal_efficiency)


def so2_mass_balance(coal, sulfur_content, conversion=0.8, removal_efficiency=0.0):
    """SO2 from fuel sulfur by mass balance: ``E = 2 · B · S · k · (1 − η)``.

    Parameters
    ----------
    coal : float or array-like
        Fuel burned ``B`` [t].
    sulfur_content : float or array-like
        Sulfur mass fraction ``S`` of the fuel as burned [-] (e.g. 0.01 for 1 %).
    conversion : float
        Fraction ``k`` of fuel sulfur emitted as SO2 [-]; about 0.8 in Chinese practice for coal
        (HJ 953-2018 style mass balance), 0.95 in AP-42 Table 1.1-3 for bituminous coal.
    removal_efficiency : float or array-like
        Desulfurisation efficiency ``η`` [-].

    Returns
    -------
    float or array-like
        SO2 emitted [t]. The factor 2 is the molar-mass ratio SO2/S = 64.07/32.06 ≈ 2.

    References
    ----------
    .. [1] US EPA (1998) AP-42, 5th ed., Ch. 1.1 Bituminous and Subbituminous Coal Combustion,
       Table 1.1-3 (SO2 = 38S lb/ton, i.e. 2 × 0.95 × S × 2000 lb/ton × 100 %).
    """
    return 2.0 * coal * sulfur_content * conversion * (1.0 - np.asarray(removal_efficiency, dtype="float64"))


def combined_efficiency(efficiencies: Iterable[float]) -> float:
    """Overall removal of devices in series: ``η = 1 − Π (1 − ηᵢ)``.

    Parameters
    ----------
    efficiencies : iterable of float
        Removal fraction of each device for one pollutant [-].

    Returns
    -------
    float
        Combined removal fraction [-] (0 for an empty iterable).
    """
    keep = 1.0
    for e in efficiencies:
        keep *= 1.0 - float(e)
    return 1.0 - keep


def apply_controls(controls: pd.Series, pollutants: pd.Series, table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Removal fraction per row from ``'+'``-separated control lists.

    Parameters
    ----------
    controls : pandas.Series of str
        Control technologies per row, e.g. ``"FGD_wet_limestone+SCR+ESP"`` (NA = none).
    pollutants : pandas.Series of str
        Pollutant per row.
    table : pandas.DataFrame
        ``control, pollutant, efficiency`` rows (the factor library's removal efficiencies).

    Returns
    -------
    (numpy.ndarray, list of str)
        Combined efficiency per row [-], and the control names that are not in ``table``.
    """
    eff = {(c, p): float(e) for c, p, e in zip(table["control"], table["pollutant"], table["efficiency"], strict=True)}
    known = set(table["control"])
    unknown: list[str] = []
    out = np.zeros(len(controls))
    pairs = pd.DataFrame({"c": controls.fillna("").astype(str), "p": pollutants.astype(str)})
    for (c, p), idx in pairs.groupby(["c", "p"], sort=False).groups.items():
        names = [n.strip() for n in c.split("+") if n.strip()]
        unknown += [n for n in names if n not in known and n not in unknown]
        out[pairs.index.get_indexer(idx)] = combined_efficiency(eff.get((n, p), 0.0) for n in names)
    return out, unknown


def mass_to(values, unit: str, to: str = "t"):
    """Convert masses from ``unit`` to ``to`` with pint (default tonnes)."""
    return values * conversion_factor(unit, to)
