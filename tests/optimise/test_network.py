"""Pollutant caps added to PyPSA's linopy model on a two-bus network, checked by hand."""

import logging

import pandas as pd
import pytest

pypsa = pytest.importorskip("pypsa")

from coreduce.errors import CoreduceError  # noqa: E402
from coreduce.optimise.network import add_pollutant_caps, pollutant_totals  # noqa: E402


def _network():
    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    n = pypsa.Network()
    n.set_snapshots(pd.RangeIndex(4))
    n.add("Bus", ["a", "b"])
    n.add("Line", "ab", bus0="a", bus1="b", s_nom=80, x=0.1, r=0.01)
    n.add("Generator", "coal", bus="a", p_nom=200, marginal_cost=20)
    n.add("Generator", "gas", bus="b", p_nom=200, marginal_cost=50)
    n.add("Load", "l", bus="b", p_set=[100, 150, 120, 90])
    return n


RATES = {"SO2": {"coal": 0.002, "gas": 0.0}}


def test_line_limit_alone_then_an_so2_cap_binds_by_hand():
    # no cap: coal is cheap but the line carries at most 80 MW to the load at b -> coal 80 MW every hour
    n = _network()
    n.optimize(solver_name="highs", include_objective_constant=True)
    assert n.generators_t.p["coal"].tolist() == pytest.approx([80, 80, 80, 80])
    assert pollutant_totals(n, RATES)["SO2"] == pytest.approx(4 * 80 * 0.002)  # 0.64 t
    # SO2 cap 0.4 t -> coal may run 0.4 / 0.002 = 200 MWh in all; the rest is gas at 50
    n = _network()
    n.optimize.create_model(include_objective_constant=True)
    names = add_pollutant_caps(n, RATES, {"SO2": 0.4})
    n.optimize.solve_model(solver_name="highs")
    assert names == ["pollutant-cap-SO2"]
    assert n.generators_t.p["coal"].sum() == pytest.approx(200)
    assert pollutant_totals(n, RATES)["SO2"] == pytest.approx(0.4)
    # cost: 200 MWh coal at 20 + (460 - 200) MWh gas at 50 = 4,000 + 13,000 = 17,000
    assert n.objective == pytest.approx(17_000)
    # shadow price of the cap: one t SO2 more lets 500 MWh of coal replace gas, saving 500 x 30 = 15,000 per t
    assert abs(float(n.model.constraints["pollutant-cap-SO2"].dual)) == pytest.approx(15_000)


def test_caps_need_rates_and_known_generators():
    n = _network()
    n.optimize.create_model(include_objective_constant=True)
    with pytest.raises(CoreduceError, match="needs its emission rates"):
        add_pollutant_caps(n, RATES, {"NOx": 1.0})
    with pytest.raises(CoreduceError, match="does not have: oil"):
        add_pollutant_caps(n, {"SO2": {"oil": 0.01}}, {"SO2": 1.0})
