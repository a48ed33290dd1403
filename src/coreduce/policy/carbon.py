"""Carbon quota, compliance, cost, trading, carbon tax and green power.

- benchmark allocation (China national ETS, power): quota = supply [MWh] × benchmark [t/MWh] × cooling ×
  heat-supply × load corrections + heat [GJ] × heat benchmark [t/GJ] (the plans' structure; benchmark values in
  the ``ets_benchmarks`` coefficient set; the correction factors are inputs, default 1);
- grandfathering: quota = mean(historical emissions) × (1 − reduction);
- position = quota − verified emissions (surplus > 0, deficit < 0);
- carbon cost = deficit × price per scenario (a surplus is revenue: negative cost);
- trading rule: see :func:`trading_decision`;
- carbon tax: tax = emissions × rate; passed to customers = pass_through × tax; borne = the rest;
- scope 2: location-based = E × location factor; market-based = (E − green) × market (residual) factor, green
  power counted at 0 (GHG Protocol Scope 2 Guidance, 2015), factors from
  :meth:`coreduce.account.FactorLibrary.resolve_grid_factor`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from coreduce import coefficients
from coreduce.errors import InputError


def benchmark_quota(
    supply_mwh: float,
    benchmark: float,
    *,
    cooling: float = 1.0,
    heat_correction: float = 1.0,
    load_correction: float = 1.0,
    heat_gj: float = 0.0,
    heat_benchmark: float = 0.0,
) -> float:
    """Benchmark quota [t CO2] of one unit (see module doc)."""
    for name, v in (("supply_mwh", supply_mwh), ("benchmark", benchmark), ("heat_gj", heat_gj)):
        if v < 0:
            raise InputError("quota", f"{name} >= 0", value=v)
    return float(supply_mwh * benchmark * cooling * heat_correction * load_correction + heat_gj * heat_benchmark)


def plan_quota(
    unit_class: str, year: int, supply_mwh: float, *, plan: str = "cn_ets_2021_2022", **corrections: float
) -> dict[str, Any]:
    """Benchmark quota with the benchmark of an allocation plan (``ets_benchmarks`` set); returns the quota,
    the benchmark, its source, ``verified`` and the set version."""
    s = coefficients.load("ets_benchmarks")
    row = s.row(plan=plan, unit_class=unit_class, year=int(year), product="electricity")
    q = benchmark_quota(supply_mwh, float(row["value"]), **corrections)
    return {
        "quota_t": q,
        "benchmark": float(row["value"]),
        "unit": str(row["unit"]),
        "plan": plan,
        "unit_class": unit_class,
        "year": int(year),
        "source": str(row["source"]),
        "verified": str(row["verified"]),
        "version": s.version,
    }


def grandfathering_quota(history_t: Sequence[float], reduction: float = 0.0) -> float:
    """Grandfathered quota: mean of the historical emissions × (1 − reduction)."""
    if not len(history_t):
        raise InputError("quota", "at least one historical year")
    return float(np.mean(history_t) * (1.0 - reduction))


def verified_emissions(inventory: pd.DataFrame, *, pollutant: str = "CO2", scopes: Sequence[str] = ("1",)) -> float:
    """Emissions [t] of ``pollutant`` in the given scopes of a canonical inventory (amounts in t)."""
    df = inventory[inventory["pollutant"] == pollutant]
    if "scope" in df.columns:
        df = df[df["scope"].astype(str).isin(list(scopes))]
    return float(pd.to_numeric(df["amount"]).sum())


def compliance_position(quota_t: float, emissions: float | pd.DataFrame, **kw: Any) -> dict[str, float]:
    """Surplus (> 0) or deficit (< 0) [t]; ``emissions`` a number [t] or a canonical inventory."""
    e = verified_emissions(emissions, **kw) if isinstance(emissions, pd.DataFrame) else float(emissions)
    return {"quota_t": float(quota_t), "emissions_t": e, "position_t": float(quota_t) - e}


def carbon_cost(position_t: float, prices: Mapping[str, float]) -> dict[str, float]:
    """Cost of closing the position at each price scenario [currency]: −position × price (a deficit costs,
    a surplus sold earns, i.e. a negative cost)."""
    return {k: -float(position_t) * float(p) for k, p in prices.items()}


def trading_decision(
    position_t: float,
    price_now: float,
    forecast_mean: float,
    forecast_sd: float = 0.0,
    *,
    risk_aversion: float = 0.0,
    carry: float = 0.0,
) -> dict[str, Any]:
    """A simple rule for when to close a position.

    Deficit: buy now if ``price_now·(1+carry) <= forecast_mean + risk_aversion·forecast_sd`` (the
    risk-adjusted cost of waiting), else wait.  Surplus: sell now if ``price_now >= (forecast_mean −
    risk_aversion·forecast_sd)/(1+carry)``, else hold.  ``carry`` is the cost of money until the forecast date.
    """
    if position_t < 0:
        now, later = price_now * (1 + carry), forecast_mean + risk_aversion * forecast_sd
        action = "buy now" if now <= later else "wait"
        saving = (later - now) * -position_t
    elif position_t > 0:
        now, later = price_now, (forecast_mean - risk_aversion * forecast_sd) / (1 + carry)
        action = "sell now" if now >= later else "hold"
        saving = (now - later) * position_t
    else:
        return {"action": "none", "position_t": 0.0}
    return {
        "action": action,
        "position_t": float(position_t),
        "price_now_adj": float(now),
        "risk_adjusted_later": float(later),
        "expected_gain_vs_other_choice": float(abs(saving)),
    }


def carbon_tax(table: pd.DataFrame, rate: float, *, pass_through: float | None = None) -> pd.DataFrame:
    """Carbon-tax incidence per enterprise or sector.

    ``table``: ``name, emissions_t, output[, pass_through]`` (output in the unit prices are quoted in).
    Adds ``tax`` = emissions × rate, ``cost_per_output`` = tax/output, ``passed`` = pass_through × tax,
    ``borne`` = tax − passed, ``price_increase`` = pass_through × cost_per_output.
    """
    df = table.copy()
    for c in ("emissions_t", "output"):
        if c not in df.columns:
            raise InputError("carbon-tax table", f"a column {c!r}", row=1, column=c)
        df[c] = pd.to_numeric(df[c], errors="raise")
    if pass_through is not None:
        df["pass_through"] = float(pass_through)
    if "pass_through" not in df.columns:
        raise InputError("carbon-tax table", "a pass_through column or argument (0..1)", column="pass_through")
    bad = ~df["pass_through"].between(0, 1)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(
            "carbon-tax table",
            "pass_through in 0..1",
            row=i + 2,
            column="pass_through",
            value=df["pass_through"].iloc[i],
        )
    df["tax"] = df["emissions_t"] * rate
    df["cost_per_output"] = df["tax"] / df["output"]
    df["passed"] = df["pass_through"] * df["tax"]
    df["borne"] = df["tax"] - df["passed"]
    df["price_increase"] = df["pass_through"] * df["cost_per_output"]
    return df


def scope2_green_power(
    electricity_mwh: float, green_mwh: float, region: str, year: int, *, lib: Any = None
) -> dict[str, Any]:
    """Location- vs market-based scope 2 [t CO2] of a purchase that includes ``green_mwh`` of green power."""
    from coreduce.account import FactorLibrary
    from coreduce.units import conversion_factor

    if green_mwh > electricity_mwh or green_mwh < 0:
        raise InputError("green power", "0 <= green_mwh <= electricity_mwh", value=green_mwh)
    lib = lib or FactorLibrary.default()
    loc = lib.resolve_grid_factor(region, year, "location")
    mkt = lib.resolve_grid_factor(region, year, "market")
    f_loc = (
        loc.value * conversion_factor(loc.unit.split("/")[0], "t") / conversion_factor(loc.unit.split("/")[1], "MWh")
    )
    f_mkt = (
        mkt.value * conversion_factor(mkt.unit.split("/")[0], "t") / conversion_factor(mkt.unit.split("/")[1], "MWh")
    )
    return {
        "location_t": electricity_mwh * f_loc,
        "market_t": (electricity_mwh - green_mwh) * f_mkt,
        "location_factor": {"id": loc.factor_id, "t_per_MWh": f_loc, "note": loc.note, "source": loc.source},
        "market_factor": {"id": mkt.factor_id, "t_per_MWh": f_mkt, "note": mkt.note, "source": mkt.source},
    }
