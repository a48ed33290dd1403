"""Independent plant-level check of the US CO2 factors against reported (CEMS) emissions.

Data: US EPA eGRID 2021 unit file (``access_unit_file_2021.xlsx`` in github.com/USEPA/egrid,
``data/static_tables/qa/``, commit ac0f422; US-government work, public domain), reduced to the units whose
annual heat input **and** CO2 both come from EPA Clean Air Markets (CAMD, 40 CFR Part 75 monitoring): see
``src/coreduce/account/data/checks/egrid2021_camd_units.csv`` and its PROVENANCE.md.

For every fuel: ``coreduce = Σ heat_input [MMBtu, gross] × EF [kg/MMBtu]`` with EF the ``us_40cfr98`` CO2 row of
``emission_factors.csv`` (40 CFR 98 Table C-1, HHV basis) and ``reported = Σ co2 [short ton] × 907.18474 kg``.
The ratio coreduce/reported is printed per fuel as JSON. Target: within ±2 %.

Caveats (printed too): a unit is classed by its *primary* fuel only, so co-fired fuel biases the ratio (this is
why the oil ratios are not meaningful here); CAMD heat input is itself derived from stack flow and F-factors.

Run: ``PYTHONPATH=src python benchmarks/plant_check.py``.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import pandas as pd

#: eGRID primary-fuel code -> coreduce activity_type (40 CFR 98 Table C-1 fuel in brackets)
FUEL_MAP: dict[str, str] = {
    "BIT": "coal_bituminous",  # Bituminous
    "SUB": "coal_sub_bituminous",  # Subbituminous
    "LIG": "coal_lignite",  # Lignite
    "ANT": "coal_anthracite",  # Anthracite
    "NG": "natural_gas",  # Natural Gas (weighted U.S. average)
    "DFO": "diesel",  # Distillate Fuel Oil No. 2
    "RFO": "fuel_oil",  # Residual Fuel Oil No. 6
    "KER": "kerosene",  # Kerosene
}
COAL = ("BIT", "SUB", "LIG", "ANT")
OIL = ("DFO", "RFO", "KER")
KG_PER_SHORT_TON = 907.18474  # exact: 2000 lb × 0.45359237 kg/lb


def _data_dir() -> Path:
    return Path(str(resources.files("coreduce.account").joinpath("data")))


def load_units(path: str | Path | None = None) -> pd.DataFrame:
    """The committed CAMD unit sample (or another file with the same columns)."""
    path = path or _data_dir() / "checks" / "egrid2021_camd_units.csv"
    return pd.read_csv(path, dtype={"unit_id": str})


def co2_factors_kg_per_mmbtu() -> dict[str, float]:
    """40 CFR 98 Table C-1 CO2 factors [kg/MMBtu, gross] by eGRID fuel code, read from emission_factors.csv."""
    ef = pd.read_csv(_data_dir() / "emission_factors.csv", dtype=str, keep_default_na=False)
    rows = ef[(ef["factor_set"] == "us_40cfr98") & (ef["pollutant"] == "CO2")]
    if not (rows["unit"] == "kg/MMBtu").all():
        raise ValueError("us_40cfr98 CO2 rows must be in kg/MMBtu")
    by_act = dict(zip(rows["activity_type"], rows["value"].astype(float), strict=True))
    return {code: by_act[act] for code, act in FUEL_MAP.items() if act in by_act}


def ratios(units: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per fuel (and coal/oil totals): units, heat input, coreduce and reported CO2 [t], ratio, median unit ratio."""
    ef = co2_factors_kg_per_mmbtu()
    u = units[units["primary_fuel"].isin(ef)].copy()
    u["ef"] = u["primary_fuel"].map(ef)
    u["coreduce_t"] = u["heat_input_mmbtu"] * u["ef"] / 1000.0
    u["reported_t"] = u["co2_short_tons"] * KG_PER_SHORT_TON / 1000.0
    out: dict[str, dict[str, float]] = {}
    groups = {code: (code,) for code in sorted(u["primary_fuel"].unique())}
    groups["coal"] = COAL
    groups["oil"] = OIL
    for name, codes in groups.items():
        g = u[u["primary_fuel"].isin(codes)]
        if g.empty:
            continue
        out[name] = {
            "units": len(g),
            "heat_input_mmbtu": float(g["heat_input_mmbtu"].sum()),
            "coreduce_t": float(g["coreduce_t"].sum()),
            "reported_t": float(g["reported_t"].sum()),
            "ratio": float(g["coreduce_t"].sum() / g["reported_t"].sum()),
            "median_unit_ratio": float((g["coreduce_t"] / g["reported_t"]).median()),
        }
    return out


def ipcc_net_ratios(units: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Cross-check of energy_basis.csv: IPCC 2006 net-basis CO2 factors on the same (gross) heat input.

    ``raw``: the net factor applied to gross energy as if it were net (the bug the energy-basis column fixes);
    ``converted``: gross energy × net_to_gross first (net = gross × NCV/GCV), then the net factor.
    """
    data = _data_dir()
    ef = pd.read_csv(data / "emission_factors.csv", dtype=str, keep_default_na=False)
    ipcc = ef[(ef["factor_set"] == "ipcc2006") & (ef["pollutant"] == "CO2") & (ef["unit"] == "kg/TJ")]
    ipcc = dict(zip(ipcc["activity_type"], ipcc["value"].astype(float), strict=True))
    basis = pd.read_csv(data / "energy_basis.csv")
    n2g = dict(zip(basis["activity_type"], basis["net_to_gross"], strict=True))
    gj_per_mmbtu = 1.05505585262  # 1 MMBtu = 1e6 Btu(IT) × 1055.05585262 J
    out = {}
    for code in ("BIT", "SUB", "LIG", "NG"):
        act = FUEL_MAP[code]
        g = units[units["primary_fuel"] == code]
        reported = (g["co2_short_tons"] * KG_PER_SHORT_TON).sum()
        gross_tj = g["heat_input_mmbtu"].sum() * gj_per_mmbtu / 1000.0
        out[code] = {
            "raw": float(gross_tj * ipcc[act] / reported),
            "converted": float(gross_tj * n2g[act] * ipcc[act] / reported),
        }
    return out


def engine_ratios(units: pd.DataFrame) -> dict[str, float]:
    """The same check through the engine: ``coreduce.account.compute_inventory`` on one activity row per unit.

    Heat input is given as gross MMBtu (``energy_basis = gross``) in the unit's state (``US-XX``), so the engine
    must pick the US set ``us_40cfr98`` by jurisdiction and apply it without a basis conversion.
    """
    from coreduce.account import compute_inventory

    u = units[units["primary_fuel"].isin(["BIT", "SUB", "LIG", "NG"])]
    act = pd.DataFrame(
        {
            "entity": u["plant_id"].astype(str) + "-" + u["unit_id"],
            "sector": "power",
            "period_start": "2021-01-01",
            "period_end": "2022-01-01",
            "activity_type": u["primary_fuel"].map(FUEL_MAP),
            "amount": u["heat_input_mmbtu"],
            "unit": "MMBtu",
            "region": "US-" + u["state"],
            "energy_basis": "gross",
        }
    )
    inv = compute_inventory(act, gwp=None, pollutants=["CO2"])
    if set(inv["factor_set"]) != {"us_40cfr98"}:
        raise AssertionError(f"engine used {sorted(set(inv['factor_set']))}, expected us_40cfr98 only")
    co2 = inv.groupby("activity_type")["amount"].sum()
    rep = (u["co2_short_tons"] * KG_PER_SHORT_TON / 1000.0).groupby(u["primary_fuel"].map(FUEL_MAP)).sum()
    out = {code: float(co2[FUEL_MAP[code]] / rep[FUEL_MAP[code]]) for code in ("BIT", "SUB", "LIG", "NG")}
    coal = [FUEL_MAP[c] for c in ("BIT", "SUB", "LIG")]
    out["coal"] = float(co2[coal].sum() / rep[coal].sum())
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    units = load_units(argv[0] if argv else None)
    res = ratios(units)
    try:
        engine = engine_ratios(units)
    except ImportError as e:  # the engine with energy_basis / jurisdictions is not on this branch
        engine = {"error": str(e)}
    print(
        json.dumps(
            {
                "data": "eGRID2021 unit file, units with heat input and CO2 from EPA/CAMD (40 CFR 75)",
                "factors": "emission_factors.csv us_40cfr98 CO2 (40 CFR 98 Table C-1, gross/HHV)",
                "target": "ratio within 1 +- 0.02",
                "caveat": "units classed by primary fuel only; oil-primary units co-fire gas: oil ratios are no test",
                "per_fuel": res,
                "engine_compute_inventory": engine,
                "ipcc_net_factor_on_gross_heat_input": ipcc_net_ratios(units),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
