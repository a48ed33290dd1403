"""End-to-end worked example: one measure's CO2 cut, pollutant cuts, avoided deaths, money and carbon cost.

The measure: a heating plant in Beijing replaces 100 kt/yr of bituminous coal (ESP+FGD+SCR, 20 % ash) by
2,100 TJ/yr of natural gas (no SCR).  Inventories come from coreduce's accounting engine with the bundled factors.

Inputs marked ILLUSTRATIVE are not coefficients and carry no source: the PM2.5 change (coreduce has no
source–receptor matrix yet), the exposed population and baseline mortality (the issue's own example figures),
the income ratio for the VSL transfer and the carbon prices.  Run: ``python examples/benefits/worked_example.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from coreduce.account import FactorLibrary, compute_inventory
from coreduce.benefits import health_impact, monte_carlo, synergy, vsl_transfer
from coreduce.coefficients import load
from coreduce.policy import carbon_cost

HERE = Path(__file__).parent
DELTA_PM25 = 0.05  # ILLUSTRATIVE population-weighted annual-mean PM2.5 cut [ug/m3]
POPULATION = 1_000_000  # ILLUSTRATIVE exposed population (issue 17 CLI example)
BASELINE_MORTALITY = 0.007  # ILLUSTRATIVE deaths per person-year (issue 17 CLI example)
INCOME_RATIO = 0.2  # ILLUSTRATIVE China / US income per capita for the VSL transfer (elasticity 1)
USD_TO_CNY = 7.0  # ILLUSTRATIVE exchange rate
PRICES = {"low": 60.0, "high": 100.0}  # ILLUSTRATIVE carbon prices [CNY/t CO2]


def main() -> dict:
    lib = FactorLibrary.default()
    before = compute_inventory(pd.read_csv(HERE / "activity_before.csv"), lib)
    after = compute_inventory(pd.read_csv(HERE / "activity_after.csv"), lib)
    syn = synergy(before, after, measure="coal_to_gas").set_index("pollutant")
    vsl_us = load("vsl").value(vsl_set="us_epa")
    vsl_cn = vsl_transfer(vsl_us, 1.0, INCOME_RATIO, 1.0) * USD_TO_CNY
    h = health_impact(DELTA_PM25, population=POPULATION, baseline_mortality=BASELINE_MORTALITY, vsl=vsl_cn)
    mc = monte_carlo(
        DELTA_PM25, population=POPULATION, baseline_mortality=BASELINE_MORTALITY, vsl=vsl_cn, n=10_000, seed=1
    )
    co2_cut = float(syn.loc["CO2", "cut"])
    return {
        "co2_cut_t": co2_cut,
        "pollutant_cuts_t": {p: round(float(syn.loc[p, "cut"]), 4) for p in ("SO2", "NOx", "PM2.5", "PM10", "CO")},
        "kg_per_t_co2": {p: round(float(syn.loc[p, "kg_per_t_co2"]), 4) for p in ("SO2", "NOx", "PM2.5")},
        "elasticity": {p: round(float(syn.loc[p, "elasticity"]), 4) for p in ("SO2", "NOx", "PM2.5")},
        "quadrant_NOx": syn.loc["NOx", "quadrant"],
        "APeq_cut": round(float(syn.loc["APeq", "cut"]), 1),
        "avoided_deaths_per_year": h.avoided,
        "avoided_deaths_95pct": [mc["avoided"]["p2.5"], mc["avoided"]["p97.5"]],
        "vsl_cny": vsl_cn,
        "health_value_cny": h.value,
        "carbon_cost_avoided_cny": carbon_cost(-co2_cut, PRICES),  # a deficit of co2_cut t no longer to cover
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
