"""The built-in per-table checks (beyond typing, required values and unique keys).

Each is registered with :func:`coreduce.schema.check` and adds SQL rules over the staged, typed rows; unit
strings are checked once per distinct value with pint.  Bounds for observations come from ``bounds.csv``.
"""

from __future__ import annotations

import re

from coreduce.errors import UnitError
from coreduce.schema import (
    ACTIVITY_DIMENSIONS,
    CONCENTRATION_UNIT,
    POLLUTANTS,
    SITE_KINDS,
    bounds,
    check,
)
from coreduce.schema.engine import Checks, isin, lit, q
from coreduce.units import conversion_factor, dimension, normalise_unit, split_rate, ureg

UNIT_EXPECTED = "a unit pint understands (t, kt, kg, MWh, GJ, TJ, m^3, ug/m^3, ...)"
RATE_EXPECTED = "a factor unit <mass>/<activity unit> such as kg/TJ or t/MWh"
# A unit is a short expression: pint evaluates what it is given, and 10**10**10 would run forever.
_MAX_UNIT_LEN = 64
_BIG_POWER = re.compile(r"(\*\*|\^)\s*[-+(]?\s*\d{2,}|(\*\*|\^)\s*[^-+\d\s(]|(\*\*|\^).*(\*\*|\^)")


def _unit_problem(u: str, *, rate: bool = False) -> str | None:
    if len(u) > _MAX_UNIT_LEN or _BIG_POWER.search(u):
        return f"{RATE_EXPECTED if rate else UNIT_EXPECTED} (a short unit, powers of one digit at most)"
    try:
        if rate:
            split_rate(u)
        else:
            dimension(u)
    except UnitError as exc:
        return f"{RATE_EXPECTED if rate else UNIT_EXPECTED} ({exc})"
    return None


def units(ctx: Checks, column: str, *, allowed: tuple[str, ...] | None = None, rate: bool = False) -> dict[str, str]:
    """Rules: every distinct unit parses (and is of an ``allowed`` dimension). Returns unit → dimension."""
    by_msg: dict[str, list[str]] = {}
    dims: dict[str, str] = {}
    for (u,) in ctx.distinct(column):
        msg = _unit_problem(u, rate=rate)
        if msg is None and not rate:
            dims[u] = dimension(u)
            if allowed is not None and dims[u] not in allowed:
                msg = f"a unit of {' or '.join(allowed)} (this one is {dims[u]})"
        if msg is not None:
            by_msg.setdefault(msg, []).append(u)
    for msg, us in by_msg.items():
        ctx.rule(column, isin(q(column), us), msg, value="typed")
    return dims


def one_of(ctx: Checks, column: str, values: tuple[str, ...], expected: str | None = None) -> None:
    c = q(column)
    ctx.rule(column, f"{c} IS NOT NULL AND NOT {isin(c, values)}", expected or f"one of {', '.join(values)}")


@check("sites")
def _sites(ctx: Checks) -> None:
    one_of(ctx, "kind", SITE_KINDS)
    ctx.rule("lat", '"lat" < -90 OR "lat" > 90', "a latitude in [-90, 90]")
    ctx.rule("lon", '"lon" < -180 OR "lon" > 180', "a longitude in [-180, 180]")


@check("observations")
def _observations(ctx: Checks) -> None:
    ctx.rule("ts", ctx.date_only("ts"), "a timezone-aware timestamp (e.g. 2019-01-01T08:00:00+08:00 or ...Z)",
             value="raw")  # fmt: skip
    dims = units(ctx, "unit")
    conc = [u for u, d in dims.items() if d == "mass/volume"]
    ctx.rule("value", f'{isin(q("unit"), conc)} AND "value" < 0', "a non-negative concentration")
    b = bounds()
    for var, unit in ctx.distinct("variable", "unit"):
        if var not in b.index or unit not in dims:
            continue  # unknown variable: unit check only (see the module docstring of coreduce.schema)
        lo, hi, bunit = b.at[var, "min"], b.at[var, "max"], b.at[var, "unit"]
        where = f'"variable" = {lit(var)} AND "unit" = {lit(unit)}'
        if dims[unit] != dimension(bunit):
            ctx.rule("unit", where, f"a unit of {dimension(bunit)} for {var}")
            continue
        # the bounds in the reading's unit (pint's Quantity handles offset units such as degC <-> K)
        lo_u, hi_u = ureg.Quantity([float(lo), float(hi)], normalise_unit(bunit)).to(normalise_unit(unit)).magnitude
        lo_u, hi_u = min(lo_u, hi_u), max(lo_u, hi_u)
        ctx.rule(
            "value",
            f'{where} AND ("value" < {float(lo_u)!r} OR "value" > {float(hi_u)!r})'
            + (' AND "value" >= 0' if unit in conc else ""),  # a negative concentration is reported once
            f"{var} within plausible bounds [{lo:g}, {hi:g}] {bunit}, value read in {unit} "
            "(see coreduce/schema/bounds.csv)",
        )
    one_of(ctx, "quality", ("ok", "missing", "suspect", "invalid"), "a quality flag: ok, missing, suspect or invalid")
    # mass concentrations are stored in ug/m^3: one multiplier per distinct unit
    factors = {u: conversion_factor(u, CONCENTRATION_UNIT) for u in conc if u != CONCENTRATION_UNIT}
    if factors:
        cases = " ".join(f"WHEN {lit(u)} THEN {f!r}" for u, f in factors.items())
        ctx.transform("value", f'"value" * CASE "unit" {cases} ELSE 1.0 END')
        ctx.transform("unit", f'CASE WHEN {isin(q("unit"), list(factors))} THEN {lit(CONCENTRATION_UNIT)} ELSE "unit" END')


@check("activity")
def _activity(ctx: Checks) -> None:
    units(ctx, "unit", allowed=ACTIVITY_DIMENSIONS)
    ctx.rule("amount", '"amount" < 0', "a non-negative activity amount")
    ctx.rule("period_end", '"period_end" <= "period_start"', "period_end after period_start")


@check("emission_factors")
def _emission_factors(ctx: Checks) -> None:
    units(ctx, "unit", rate=True)
    ctx.rule("value", '"value" < 0', "a non-negative factor (sinks are given as rates)")
    one_of(ctx, "pollutant", POLLUTANTS)
    ctx.rule("year_to", '"year_to" < "year_from"', "year_to >= year_from")


@check("inventory")
def _inventory(ctx: Checks) -> None:
    units(ctx, "unit", allowed=("mass",))
    one_of(ctx, "pollutant", POLLUTANTS)
    ctx.rule("amount", '"amount" < 0 AND "scope" IS DISTINCT FROM \'sink\'',
             "a non-negative emission (only scope 'sink' rows may be negative)")  # fmt: skip
    ctx.rule("period_end", '"period_end" <= "period_start"', "period_end after period_start")
