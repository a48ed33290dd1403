"""Carbon sinks: area × sequestration rate, as negative CO2 emissions.

The bundled rates (``data/sink_rates.csv``) are IPCC Tier 1 defaults.  Each row keeps the table values it is
derived from (``growth`` with ``growth_unit``, ``root_shoot``, ``carbon_fraction``) next to the rate the engine uses
(``value``, t CO2 per ha per year); :func:`removal_rate` is the derivation and :func:`check_sink_rates` recomputes
every row from its table values (a row without ``growth`` is taken as given).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from coreduce.errors import InputError

#: t CO2 per t C (molar masses 44/12).
C_TO_CO2 = 44.0 / 12.0
#: ``growth_unit`` values :func:`removal_rate` understands: dry matter (needs R and CF) or carbon (R and CF unused).
GROWTH_UNITS = ("t d.m./ha/yr", "t C/ha/yr")


def removal_rate(growth, growth_unit="t d.m./ha/yr", root_shoot=0.0, carbon_fraction=None):
    """Annual CO2 removal per hectare from a biomass growth rate [t CO2 / ha / yr].

    ``rate = G_W · (1 + R) · CF · 44/12`` for a growth in dry matter (IPCC 2006 Vol. 4 Ch. 2, Eq. 2.10 for
    ``G_TOTAL = G_W · (1 + R)`` and Eq. 2.9 for ``ΔC_G = A · G_TOTAL · CF``), or ``rate = G_C · 44/12`` for a
    growth already in carbon (IPCC 2006 Vol. 4 Ch. 5 Table 5.1, above-ground woody biomass of perennial crops).

    Parameters
    ----------
    growth : float or array-like
        Average annual above-ground biomass growth ``G_W`` [t d.m. / ha / yr] or carbon accumulation ``G_C``
        [t C / ha / yr].
    growth_unit : {"t d.m./ha/yr", "t C/ha/yr"}
        Unit of ``growth``.
    root_shoot : float or array-like
        Ratio of below-ground to above-ground biomass ``R`` [t root d.m. / t shoot d.m.] (dry matter only; 0 when the
        table gives above-ground growth alone).
    carbon_fraction : float or array-like
        Carbon fraction of dry matter ``CF`` [t C / t d.m.]; required for dry matter.

    Returns
    -------
    float or numpy.ndarray
        Removal rate [t CO2 / ha / yr], positive.

    Raises
    ------
    ValueError
        If ``growth_unit`` is unknown, or ``carbon_fraction`` is missing for a dry-matter growth.
    """
    g = np.asarray(growth, dtype="float64")
    if growth_unit == "t C/ha/yr":
        return g * C_TO_CO2
    if growth_unit != "t d.m./ha/yr":
        raise ValueError(f"growth_unit {growth_unit!r}: expected one of {', '.join(GROWTH_UNITS)}")
    if carbon_fraction is None:
        raise ValueError("a growth in dry matter needs the carbon fraction CF [t C / t d.m.]")
    r = np.asarray(root_shoot, dtype="float64")
    return g * (1.0 + r) * np.asarray(carbon_fraction, dtype="float64") * C_TO_CO2


def check_sink_rates(rates: pd.DataFrame, source: str = "sink_rates.csv", rtol: float = 1e-6) -> int:
    """Check that each sink-rate row's ``value`` equals :func:`removal_rate` of its own table values.

    Rows without a ``growth`` column (or with it blank) are user rates taken as given.  The bundled file is
    checked by the tests; a user file can be checked the same way.

    Parameters
    ----------
    rates : pandas.DataFrame
        ``land_type, region, value, unit`` and optionally ``growth, growth_unit, root_shoot, carbon_fraction``.
    source : str
        File name used in the error.
    rtol : float
        Relative tolerance (the file stores rates to 5 decimals).

    Returns
    -------
    int
        Number of rows recomputed.

    Raises
    ------
    InputError
        Naming the first row (line number, header = 1) whose value, unit or table values disagree.
    """
    if "growth" not in rates.columns:
        return 0
    n = 0
    for i, r in enumerate(rates.to_dict("records")):
        g = r.get("growth")
        if g is None or pd.isna(g):
            continue
        line = i + 2
        if str(r.get("unit", "")).strip() != "t/ha":
            raise InputError(source, "'t/ha' (t CO2 per ha per year) for a rate derived from a growth", row=line,
                             column="unit", value=r.get("unit"), table="sink_rates")  # fmt: skip
        unit = str(r.get("growth_unit", "")).strip()
        if unit not in GROWTH_UNITS:
            raise InputError(source, f"one of {', '.join(GROWTH_UNITS)}", row=line, column="growth_unit",
                             value=r.get("growth_unit"), table="sink_rates")  # fmt: skip
        rs, cf = r.get("root_shoot"), r.get("carbon_fraction")
        if unit == "t d.m./ha/yr" and (cf is None or pd.isna(cf) or not 0 < float(cf) < 1):
            raise InputError(source, "a carbon fraction in (0, 1) t C/t d.m. for a dry-matter growth", row=line,
                             column="carbon_fraction", value=cf, table="sink_rates")  # fmt: skip
        rs = 0.0 if rs is None or pd.isna(rs) else float(rs)
        want = float(removal_rate(float(g), unit, rs, None if unit == "t C/ha/yr" else float(cf)))
        if not np.isclose(float(r["value"]), want, rtol=rtol, atol=0.0):
            raise InputError(source, f"{want:.5f} t CO2/ha/yr = removal_rate(growth, root_shoot, carbon_fraction)",
                             row=line, column="value", value=r["value"], table="sink_rates")  # fmt: skip
        n += 1
    return n


def sequestration(area, rate, years=1.0):
    """CO2 removed by a land area: ``R = area · rate · years``.

    Parameters
    ----------
    area : float or array-like
        Land area [ha].
    rate : float or array-like
        Net sequestration rate [t CO2 / ha / yr].
    years : float or array-like
        Length of the accounting period [yr].

    Returns
    -------
    float or array-like
        CO2 removed [t], positive. The inventory records it as a negative emission (scope ``sink``).

    References
    ----------
    .. [1] IPCC (2006) Vol. 4 Ch. 2, Eq. 2.9–2.10 (gain-loss method: annual increase in carbon stocks from
       biomass growth = area × average annual net increment × carbon fraction).
    """
    return np.asarray(area, dtype="float64") * rate * years


def year_fraction(start: pd.Series, end: pd.Series) -> np.ndarray:
    """Length of ``[start, end)`` in calendar years, counting each year's own length (365 or 366 days).

    ``2019-01-01 → 2020-01-01`` is exactly 1.0; ``2020-01-01 → 2020-07-01`` is 182/366.
    """
    start = pd.to_datetime(start, utc=True)
    end = pd.to_datetime(end, utc=True)
    out = np.zeros(len(start))
    pairs = pd.DataFrame({"s": start.to_numpy(), "e": end.to_numpy()})
    for (s, e), idx in pairs.groupby(["s", "e"], sort=False).groups.items():
        s, e = pd.Timestamp(s), pd.Timestamp(e)
        total = 0.0
        for y in range(s.year, e.year + 1):
            y0 = pd.Timestamp(year=y, month=1, day=1, tz="UTC")
            y1 = pd.Timestamp(year=y + 1, month=1, day=1, tz="UTC")
            overlap = (min(e, y1) - max(s, y0)).total_seconds()
            if overlap > 0:
                total += overlap / (y1 - y0).total_seconds()
        out[pairs.index.get_indexer(idx)] = total
    return out
