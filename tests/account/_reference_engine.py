"""The row-wise accounting engine as it was at commit 522c6fd (before the columnar rewrite), kept verbatim
below this docstring as a reference implementation: tests/account/test_engine.py checks that the columnar engine
gives the same rows and amounts (to 1e-12) when both get the same factor sets in the same order.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from coreduce import schema
from coreduce.account.combustion import apply_controls
from coreduce.account.factors import FactorLibrary
from coreduce.account.sinks import sequestration, year_fraction
from coreduce.errors import FactorError, InputError, UnitError
from coreduce.units import conversion_factor, dimension, quantity, split_rate

SCOPE2_TYPES = {"electricity_purchased": "electricity", "heat_purchased": "heat"}
GHGS = ("CO2", "CH4", "N2O")
INVENTORY_COLUMNS = schema.spec("inventory").names
DETAIL_COLUMNS = ["factor_set", "factor_value", "factor_unit", "removal_efficiency"]
METHOD_EF = "A*EF*(1-eta)"


def compute_inventory(
    activity: pd.DataFrame,
    factors: FactorLibrary | None = None,
    *,
    gwp: str | None = "AR5",
    electricity: str = "location",
    pollutants: list[str] | None = None,
    source: str = "<DataFrame>",
) -> pd.DataFrame:
    """Compute CO2, CH4, N2O, CO2e and co-pollutants for every activity row.

    Parameters
    ----------
    activity : pandas.DataFrame
        Canonical ``activity`` rows (validated here): ``entity, sector, period_start, period_end,
        activity_type, amount, unit`` and optional ``region, control, source``.
    factors : FactorLibrary, optional
        Factor library (default: the bundled, cited library).
    gwp : {"AR4", "AR5", "AR6"} or None
        GWP-100 set for the CO2e rows (None: no CO2e rows).
    electricity : str
        Scope-2 electricity factor: ``"location"`` (MEE/NBS average of the activity's province for the
        period's year, else the national average; latest year not after the period), ``"market"``
        (national average excluding market-traded non-fossil power), ``"carbon_market"`` (the 0.5703
        t/MWh reporting factor), or an explicit ``factor_id`` of the grid-factor table.
    pollutants : list of str, optional
        Keep only these pollutants (CO2e is kept if requested and ``gwp`` is set).
    source : str
        Name of the activity file, for error messages.

    Returns
    -------
    pandas.DataFrame
        Canonical ``inventory`` columns (amount in [t], removals negative) plus ``factor_set,
        factor_value, factor_unit, removal_efficiency``.

    Raises
    ------
    InputError
        Invalid activity rows (file, row, column named).
    FactorError
        An activity with no factor at all, a unit that cannot be matched to its factor, an unknown control.

    References
    ----------
    .. [1] IPCC (2006) Vol. 2 Ch. 2 Eq. 2.1; Vol. 1 Ch. 8 (reporting, GWP weighting).
    .. [2] GHG Protocol Scope 2 Guidance (WRI, 2015): location- and market-based methods.
    """
    lib = factors if factors is not None else FactorLibrary.default()
    act = schema.validate(activity, "activity", source=source)
    act["_line"] = np.arange(len(act)) + 2
    dims = act["unit"].map(dimension)
    is_sink = (dims == "area") & act["activity_type"].isin(set(lib.sink_rates["land_type"]))
    is_s2 = act["activity_type"].isin(SCOPE2_TYPES) & ~is_sink
    parts = []
    if (~is_sink & ~is_s2).any():
        parts.append(_direct(act[~is_sink & ~is_s2], lib, source))
    if is_s2.any():
        parts.append(_scope2(act[is_s2], lib, electricity, source))
    if is_sink.any():
        parts.append(_sinks(act[is_sink], lib))
    out = pd.concat(parts, ignore_index=True)
    out["factor_version"] = lib.version
    if pollutants is not None:
        out = out[out["pollutant"].isin(pollutants)]
    if gwp is not None and (pollutants is None or "CO2e" in pollutants):
        out = pd.concat([out, _co2e(out, lib, gwp)], ignore_index=True)
    out = out.sort_values(["entity", "sector", "period_start", "activity_type", "pollutant"], kind="stable")
    return out[INVENTORY_COLUMNS + DETAIL_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------- factor resolution
def resolve_factors(act: pd.DataFrame, lib: FactorLibrary) -> pd.DataFrame:
    """Pick one factor per (activity row, pollutant): set priority, then specificity, then latest year."""
    ef = lib.emission_factors
    rank = {s: i for i, s in enumerate(lib.priority)}
    left = act[["_line", "activity_type", "region", "sector", "unit"]].assign(year=act["period_start"].dt.year)
    m = left.merge(ef, on="activity_type", how="inner", suffixes=("", "_f"))
    ok = _convertible(m, lib) & (
        ((m["region_f"] == m["region"]) | (m["region_f"] == "*"))
        & ((m["sector_f"] == m["sector"]) | (m["sector_f"] == "*") | _sector_alias(m))
        & (m["year_from"] <= m["year"])
        & (m["year_to"] >= m["year"])
    )
    m = m[ok].copy()
    m["_rank"] = m["factor_set"].map(rank).fillna(len(rank))
    m["_spec"] = 2 * (m["region_f"] == m["region"]).astype(int) + (m["sector_f"] == m["sector"]).astype(int)
    m = m.sort_values(["_line", "pollutant", "_rank", "_spec", "year_from"], ascending=[True, True, True, False, False])
    return m.drop_duplicates(["_line", "pollutant"], keep="first")


def _convertible(m: pd.DataFrame, lib: FactorLibrary) -> pd.Series:
    """Whether each candidate factor's denominator can be reached from the activity's unit.

    Directly (same dimension: t → kg/t, MWh → kg/TJ) or through the fuel's NCV (t → kg/TJ when an
    energy-per-mass NCV exists; m³ → kg/TJ only with an energy-per-volume NCV).  A factor that cannot be
    reached is skipped, so a per-volume factor can serve gas metered in m³ while a per-energy factor of a
    higher-priority set serves gas reported in TJ.
    """
    ncv_dims = {}
    for at, u in zip(lib.ncv["activity_type"], lib.ncv["unit"], strict=True):
        num, den = str(u).split("/", 1)
        ncv_dims.setdefault(at, (dimension(num), dimension(den.strip("()"))))
    keys = m[["activity_type", "unit", "unit_f"]].drop_duplicates()
    ok = {}
    for at, au, fu in keys.itertuples(index=False):
        da, dd = dimension(au), dimension(split_rate(fu)[1])
        nd = ncv_dims.get(at)
        ok[(at, au, fu)] = da == dd or (nd is not None and {da, dd} == {nd[0], nd[1]})
    return pd.Series(
        [ok[k] for k in zip(m["activity_type"], m["unit"], m["unit_f"], strict=True)],
        index=m.index,
        dtype=bool,
    )


def _sector_alias(m: pd.DataFrame) -> pd.Series:
    """Heat plants use the power-sector factors (IPCC and EMEP/EEA group 'public electricity and heat')."""
    return (m["sector"] == "heat") & (m["sector_f"] == "power")


@cache
def _activity_multiplier(
    activity_type: str, act_unit: str, factor_unit: str, ncv_value: float | None, ncv_unit: str | None
) -> float:
    """k such that ``emission [t] = amount [act_unit] · factor [factor_unit] · k``."""
    num, den = split_rate(factor_unit)
    k_num = conversion_factor(num, "t")
    d_act, d_den = dimension(act_unit), dimension(den)
    if d_act == d_den:
        return conversion_factor(act_unit, den) * k_num
    if ncv_value is None:
        raise UnitError(
            f"activity in {act_unit!r} ({d_act}) but factor per {den!r} ({d_den}) and no net "
            f"calorific value for {activity_type!r} in the library's ncv table"
        )
    q_act = quantity(act_unit)  # keeps scale prefixes such as '1e6*ft^3'
    q_ncv = ncv_value * quantity(ncv_unit)
    q_den = quantity(den)
    try:
        if d_den == "energy":
            k_act = ((q_act * q_ncv) / q_den).to("dimensionless").magnitude
        else:
            k_act = ((q_act / q_ncv) / q_den).to("dimensionless").magnitude
    except Exception as exc:
        raise UnitError(
            f"cannot turn {act_unit!r} of {activity_type!r} into {den!r} with NCV {ncv_value} {ncv_unit}"
        ) from exc
    return float(k_act) * k_num


def _direct(act: pd.DataFrame, lib: FactorLibrary, source: str) -> pd.DataFrame:
    m = resolve_factors(act, lib)
    missing = ~act["_line"].isin(m["_line"])
    if missing.any():
        row = act[missing].iloc[0]
        ef = lib.emission_factors
        cand = ef[ef["activity_type"] == row["activity_type"]]
        if not cand.empty:
            has_ncv = row["activity_type"] in set(lib.ncv["activity_type"])
            raise FactorError(
                f"{source}, row {row['_line']}, column 'unit': got {row['unit']!r}; the factors for "
                f"{row['activity_type']!r} are per {', '.join(sorted({split_rate(u)[1] for u in cand['unit']}))}"
                + (
                    ""
                    if has_ncv
                    else f" and there is no net calorific value for {row['activity_type']!r} in the library's ncv table"
                )
                + " (or none is valid for this sector, region and year)"
            )
        known = sorted(set(ef["activity_type"]) | set(SCOPE2_TYPES) | set(lib.sink_rates["land_type"]))
        raise FactorError(
            f"{source}, row {row['_line']}, column 'activity_type': no emission factor for "
            f"{row['activity_type']!r} (sector {row['sector']!r}, region {row['region']!r}, year "
            f"{row['period_start'].year}); known activity types: {', '.join(known)}"
        )
    has_co2 = set(lib.emission_factors.loc[lib.emission_factors["pollutant"] == "CO2", "activity_type"])
    lost = act["activity_type"].isin(has_co2) & ~act["_line"].isin(m.loc[m["pollutant"] == "CO2", "_line"])
    if lost.any():  # CO2 must never silently vanish because of a unit the factors cannot reach
        row = act[lost].iloc[0]
        raise FactorError(
            f"{source}, row {row['_line']}, column 'unit': got {row['unit']!r}; the CO2 factors for "
            f"{row['activity_type']!r} cannot be applied to a {dimension(row['unit'])} (add a net calorific value "
            f"per {dimension(row['unit'])} for it, e.g. a factor file with columns activity_type,value,unit,source "
            "and unit MJ/m^3, or report the activity as energy or mass)"
        )
    # m carries the activity's unit as `unit` and the factor's as `unit_f` (resolve_factors)
    m = m.merge(act[["_line", "entity", "period_start", "period_end", "amount", "control"]], on="_line")
    ncv = lib.ncv.drop_duplicates("activity_type").set_index("activity_type")
    ks = {}
    for key in m[["activity_type", "unit", "unit_f"]].drop_duplicates().itertuples(index=False):
        at, au, fu = key
        has = at in ncv.index
        try:
            ks[key] = _activity_multiplier(
                at,
                au,
                fu,
                float(ncv.at[at, "value"]) if has else None,
                str(ncv.at[at, "unit"]) if has else None,
            )
        except UnitError as exc:
            line = int(m.loc[(m["activity_type"] == at) & (m["unit"] == au), "_line"].iloc[0])
            raise FactorError(f"{source}, row {line}, column 'unit': got {au!r}; {exc}") from None
    k = np.array([ks[t] for t in zip(m["activity_type"], m["unit"], m["unit_f"], strict=True)], dtype="float64")
    eta, unknown = apply_controls(m["control"], m["pollutant"], lib.removal_efficiencies)
    if unknown:
        line = int(m.loc[m["control"].fillna("").str.contains(unknown[0], regex=False), "_line"].iloc[0])
        raise FactorError(
            f"{source}, row {line}, column 'control': unknown control {unknown[0]!r}; known: "
            f"{', '.join(sorted(set(lib.removal_efficiencies['control'])))}"
        )
    amount = m["amount"].to_numpy() * m["value"].to_numpy() * k * (1.0 - eta)
    return pd.DataFrame(
        {
            "entity": m["entity"].to_numpy(),
            "sector": m["sector"].to_numpy(),
            "region": m["region"].to_numpy(),
            "period_start": m["period_start"].to_numpy(),
            "period_end": m["period_end"].to_numpy(),
            "activity_type": m["activity_type"].to_numpy(),
            "scope": "1",
            "pollutant": m["pollutant"].to_numpy(),
            "amount": amount,
            "unit": "t",
            "method": METHOD_EF,
            "factor_source": m["source"].to_numpy(),
            "factor_set": m["factor_set"].to_numpy(),
            "factor_value": m["value"].to_numpy(),
            "factor_unit": m["unit_f"].to_numpy(),
            "removal_efficiency": eta,
        }
    )


def grid_factor_for(lib: FactorLibrary, electricity: str, kind: str, region: str, year: int) -> pd.Series:
    """The grid-factor row used for one scope-2 activity (see :func:`compute_inventory`)."""
    g = lib.grid_factors
    if kind == "heat":
        rows = (
            g[g["factor_id"] == "cn_heat_default"]
            if electricity in ("location", "market", "carbon_market")
            else g[g["factor_id"] == electricity]
        )
        if rows.empty:
            raise FactorError("no heat factor 'cn_heat_default' in the grid-factor table")
        return rows.iloc[0]
    if electricity not in ("location", "market", "carbon_market"):
        return lib.grid_factor(electricity)
    rows = g[g["purpose"] == electricity]
    if electricity == "location":
        prov = rows[rows["region"] == region]
        rows = prov if not prov.empty else rows[rows["region"] == "CN"]
    else:
        rows = rows[rows["region"] == "CN"]
    if rows.empty:
        raise FactorError(f"no {electricity} grid factor for region {region!r}")
    past = rows[rows["year"] <= year]
    return (past if not past.empty else rows).sort_values("year").iloc[-1]


def _co2_row(r, scope: str, amount: float, method: str, source: str, factor_set: str, value: float, unit: str) -> dict:
    """One CO2 inventory row (scope 2 or sink) for activity row ``r``."""
    return {
        "entity": r.entity, "sector": r.sector, "region": r.region, "period_start": r.period_start,
        "period_end": r.period_end, "activity_type": r.activity_type, "scope": scope, "pollutant": "CO2",
        "amount": amount, "unit": "t", "method": method, "factor_source": source, "factor_set": factor_set,
        "factor_value": value, "factor_unit": unit, "removal_efficiency": 0.0,
    }  # fmt: skip


def _scope2(act: pd.DataFrame, lib: FactorLibrary, electricity: str, source: str) -> pd.DataFrame:
    rows = []
    for r in act.itertuples(index=False):
        kind = SCOPE2_TYPES[r.activity_type]
        gf = grid_factor_for(lib, electricity, kind, r.region, r.period_start.year)
        num, den = split_rate(gf["unit"])
        try:
            k = conversion_factor(r.unit, den) * conversion_factor(num, "t")
        except UnitError as exc:
            raise FactorError(f"{source}, row {r._line}, column 'unit': got {r.unit!r}; {exc}") from None
        rows.append(
            _co2_row(
                r,
                "2",
                r.amount * float(gf["value"]) * k,
                f"scope2 {gf['purpose']}: {gf['factor_id']}",
                gf["source"],
                "grid_factors",
                float(gf["value"]),
                gf["unit"],
            )
        )
    return pd.DataFrame(rows)


def _sinks(act: pd.DataFrame, lib: FactorLibrary) -> pd.DataFrame:
    sr = lib.sink_rates
    rows = []
    years = year_fraction(act["period_start"], act["period_end"])
    for r, yrs in zip(act.itertuples(index=False), years, strict=True):
        cand = sr[(sr["land_type"] == r.activity_type) & sr["region"].isin([r.region, "*"])]
        cand = cand.assign(_s=(cand["region"] == r.region).astype(int)).sort_values("_s", ascending=False)
        rate = cand.iloc[0]
        num, den = split_rate(rate["unit"])
        area = r.amount * conversion_factor(r.unit, den)
        removed = sequestration(area, float(rate["value"]), yrs) * conversion_factor(num, "t")
        rows.append(
            _co2_row(
                r,
                "sink",
                -float(removed),
                "area*rate*years",
                rate["source"],
                "sink_rates",
                float(rate["value"]),
                rate["unit"],
            )
        )
    return pd.DataFrame(rows)


def _co2e(inv: pd.DataFrame, lib: FactorLibrary, gwp: str) -> pd.DataFrame:
    g = lib.gwp_values(gwp)
    ghg = inv[inv["pollutant"].isin(GHGS)]
    if ghg.empty:
        return inv.iloc[0:0]
    w = ghg["pollutant"].map(g).to_numpy(dtype="float64")
    keys = [
        "entity",
        "sector",
        "region",
        "period_start",
        "period_end",
        "activity_type",
        "scope",
        "factor_version",
    ]
    c = ghg.assign(amount=ghg["amount"] * w).groupby(keys, as_index=False, sort=False)["amount"].sum()
    src = "; ".join(lib.gwp[(lib.gwp["gwp_set"] == gwp) & lib.gwp["gas"].isin(GHGS)]["source"].unique())
    return c.assign(
        pollutant="CO2e",
        unit="t",
        method=f"GWP-100 {gwp}",
        factor_source=src,
        factor_set=gwp,
        factor_value=np.nan,
        factor_unit="",
        removal_efficiency=0.0,
    )


def summarise(
    inventory: pd.DataFrame,
    by: list[str] | tuple[str, ...] = ("entity", "sector", "period_start"),
    pollutants: list[str] | None = None,
) -> pd.DataFrame:
    """Sum an inventory over everything not in ``by`` (keeps ``pollutant`` and ``unit``).

    The CLI's ``account`` output is ``summarise(inv)``: ``entity, sector, period_start, pollutant, amount, unit``.
    """
    inv = inventory if pollutants is None else inventory[inventory["pollutant"].isin(pollutants)]
    units = set(inv["unit"])
    if len(units) > 1:
        raise InputError("<inventory>", f"one unit for all amounts (found {sorted(units)})", column="unit")
    keys = [*by, "pollutant"]
    out = inv.groupby(keys, as_index=False, sort=True, dropna=False)["amount"].sum()
    return out.assign(unit=next(iter(units)) if units else "t")
