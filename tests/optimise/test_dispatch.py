"""Economic-emission dispatch: same objective as PyPSA (test-time reference) on a real ERCOT day; UC; caps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.optimise import Infeasible
from coreduce.optimise.dispatch import dispatch_pareto, read_system, solve_dispatch

# ERCOT Fuel Mix Report, hours ending 2019-07-01T06Z .. 2019-07-02T05Z (shared/data/ercot_generation_by_fuel):
# total generation [MWh] (demand proxy), wind and solar output; fleet peaks in 2019-01..2022-05: wind 26,806.6,
# solar 9,817.5 MWh/h (availability = output / peak).
TOTAL = [
    41212,
    38961,
    37528,
    36775,
    36823,
    38989,
    41968,
    44478,
    48277,
    51743,
    56364,
    60003,
    62705,
    63606,
    64345,
    64861,
    64973,
    64791,
    61471,
    58862,
    57657,
    56480,
    53208,
    50218,
]
WIND = [
    10400,
    9889,
    9365,
    9274,
    8839,
    8368,
    7909,
    6954,
    5700,
    6262,
    5446,
    4387,
    4155,
    4484,
    5285,
    6033,
    6978,
    8420,
    10514,
    12222,
    12778,
    13265,
    14184,
    14365,
]
SOLAR = [0, 0, 0, 0, 0, 0, 1, 231, 1022, 1459, 1591, 1650, 1684, 1659, 1634, 1620, 1565, 1462, 1338, 770, 110, 0, 0, 0]
HOURS = pd.date_range("2019-07-01T06:00Z", periods=24, freq="h")


def ercot_day(**kw) -> dict:
    p = {
        "hours": [h.isoformat() for h in HOURS],
        "demand": TOTAL,
        "currency": "USD",
        "carbon_price": 20.0,
        "damage_costs": {"SO2": 30000.0, "NOx": 10000.0},
        "thermal": [
            {"id": "nuclear", "capacity": 5000, "marginal_cost": 10, "ramp": 0.05, "rates": {}},
            {
                "id": "coal",
                "capacity": 14000,
                "marginal_cost": 22,
                "ramp": 0.3,
                "rates": {"CO2": 1.0, "SO2": 0.0008, "NOx": 0.0006},
            },
            {
                "id": "gas_cc",
                "capacity": 32000,
                "marginal_cost": 30,
                "ramp": 0.5,
                "rates": {"CO2": 0.37, "NOx": 0.0001},
            },
            {"id": "gas_ct", "capacity": 12000, "marginal_cost": 70, "rates": {"CO2": 0.55, "NOx": 0.0003}},
        ],
        "renewables": [
            {"id": "wind", "capacity": 26806.6, "availability": [w / 26806.6 for w in WIND]},
            {"id": "solar", "capacity": 9817.5, "availability": [s / 9817.5 for s in SOLAR]},
        ],
        "storage": [{"id": "battery", "power": 2000, "energy": 8000, "eta_charge": 0.92, "eta_discharge": 0.92}],
    }
    p.update(kw)
    return p


def pypsa_objective(sy, co2_cap=None) -> float:
    pypsa = pytest.importorskip("pypsa")
    n = pypsa.Network()
    n.set_snapshots(pd.RangeIndex(sy.T))
    n.add("Bus", "b")
    n.add("Load", "d", bus="b", p_set=pd.Series(sy.demand, index=n.snapshots))
    eff = sy.effective_cost()
    for i, g in sy.thermal.iterrows():
        kw = {"ramp_limit_up": g["ramp"], "ramp_limit_down": g["ramp"]} if g["ramp"] < 1 else {}
        n.add("Carrier", g["id"], co2_emissions=float(sy.rates.at[g["id"], "CO2"]))
        n.add("Generator", g["id"], bus="b", p_nom=g["capacity"], marginal_cost=eff[i], carrier=g["id"], **kw)
    for j, w in sy.renewables.iterrows():
        n.add(
            "Generator",
            w["id"],
            bus="b",
            p_nom=w["capacity"],
            marginal_cost=0.0,
            p_max_pu=pd.Series(sy.availability[j], index=n.snapshots),
        )
    for _, s in sy.storage.iterrows():
        n.add(
            "StorageUnit",
            s["id"],
            bus="b",
            p_nom=s["power"],
            max_hours=s["energy"] / s["power"],
            efficiency_store=s["eta_charge"],
            efficiency_dispatch=s["eta_discharge"],
            cyclic_state_of_charge=True,
        )
    if co2_cap is not None:
        n.add("GlobalConstraint", "co2", sense="<=", constant=co2_cap, carrier_attribute="co2_emissions")
    _, cond = n.optimize(solver_name="highs", include_objective_constant=True)
    assert cond == "optimal"
    return float(n.objective)


def test_same_objective_as_pypsa():
    sy = read_system(ercot_day())
    r = solve_dispatch(sy)
    ref = pypsa_objective(sy)
    assert r.objective == pytest.approx(ref, rel=1e-6)
    # energy balance every hour
    bal = r.schedule.groupby("hour")["mw"].sum().to_numpy()
    assert bal == pytest.approx(np.array(TOTAL, float), rel=1e-9)


def test_co2_cap_same_as_pypsa_global_constraint_and_shadow_price():
    sy = read_system(ercot_day())
    free = solve_dispatch(sy)
    cap = 0.95 * free.emissions["CO2"]
    r = solve_dispatch(sy, caps={"CO2": cap})
    assert r.emissions["CO2"] == pytest.approx(cap, rel=1e-7)
    assert r.objective == pytest.approx(pypsa_objective(sy, co2_cap=cap), rel=1e-6)
    sp = r.explanation["cap_shadow_prices"]["CO2"]
    assert sp > 0
    # the shadow price is the slope of the front: a cap 10 t looser saves about 10 x price
    r2 = solve_dispatch(sy, caps={"CO2": cap + 10})
    assert (r.objective - r2.objective) == pytest.approx(10 * sp, rel=1e-3)


def test_hand_two_units_one_hour():
    # 100 MW demand; A 60 MW at 10 + 50 x 1 t = 60/MWh; B 80 MW at 40 + 50 x 0.4 = 60 ... make B 35: 55/MWh.
    # B first (80 MW x 55 = 4,400) then A 20 MW x 60 = 1,200 -> 5,600; price = A's 60/MWh.
    p = {
        "hours": ["2020-01-01T00:00Z"],
        "demand": [100],
        "carbon_price": 50,
        "thermal": [
            {"id": "A", "capacity": 60, "marginal_cost": 10, "rates": {"CO2": 1.0}},
            {"id": "B", "capacity": 80, "marginal_cost": 35, "rates": {"CO2": 0.4}},
        ],
    }
    r = solve_dispatch(p)
    assert r.objective == pytest.approx(5600.0)
    assert r.prices.iloc[0] == pytest.approx(60.0)
    assert r.emissions["CO2"] == pytest.approx(20 * 1.0 + 80 * 0.4)


def test_unit_commitment_min_output_and_start_cost():
    # 2 hours, demand 50 then 150.  Cheap unit C (100 MW, 10/MWh, min 60 %, on at start) and peaker P (100 MW,
    # 50/MWh, min 0, start cost 1000, off at start).  Hour 0: C must give >= 60 -> 50 demand infeasible unless ...
    # demand 70 / 150: hour 0 C 70 (700); hour 1 C 100 (1,000) + P 50 (2,500 + start 1,000) = 5,200.
    p = {
        "hours": ["2020-01-01T00:00Z", "2020-01-01T01:00Z"],
        "demand": [70, 150],
        "thermal": [
            {"id": "C", "capacity": 100, "marginal_cost": 10, "min_output": 0.6, "initial_on": True},
            {"id": "P", "capacity": 100, "marginal_cost": 50, "start_cost": 1000, "initial_on": False},
        ],
    }
    r = solve_dispatch(p, uc=True)
    assert r.objective == pytest.approx(5200.0)
    lp = solve_dispatch(p)
    assert lp.objective == pytest.approx(4200.0)  # LP: no start cost


def test_pareto_front_monotone():
    sy = read_system(ercot_day())
    e0 = solve_dispatch(sy).emissions["CO2"]
    f = dispatch_pareto(sy, "CO2", [e0, 0.97 * e0, 0.94 * e0])
    assert f["feasible"].all()
    assert f["cost"].is_monotonic_increasing
    assert f["shadow_price"].iloc[1] <= f["shadow_price"].iloc[2]


def test_infeasible_demand_names_hours_and_mw():
    # one 100 MW unit, demand 120 in hour 1: short by 20 MW at hour 1
    p = {
        "hours": ["2020-01-01T00:00Z", "2020-01-01T01:00Z"],
        "demand": [90, 120],
        "thermal": [{"id": "A", "capacity": 100, "marginal_cost": 10}],
    }
    with pytest.raises(Infeasible) as ei:
        solve_dispatch(p)
    sf = ei.value.shortfalls
    assert sf["where"].tolist() == ["1"] and sf["shortfall"].iloc[0] == pytest.approx(20.0)
    assert "demand" in str(ei.value)
