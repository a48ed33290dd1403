"""Co-control portfolio: a case solved by hand, brute-force enumeration of a small MILP, infeasibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.optimise import Infeasible, crf, greedy_macc, macc, pareto, read_measures, solve_portfolio
from coreduce.optimise.portfolio import brute_force


def hand_measures() -> pd.DataFrame:
    return read_measures(
        pd.DataFrame(
            {
                "measure": ["A", "B", "C"],
                "annual_cost": [100, 300, 400],
                "max_units": [1, 1, 1],
                "removal_SO2": [10, 20, 0],
                "removal_CO2": [0, 50, 100],
                "source": ["test"] * 3,
            }
        )
    )


def test_crf_matches_annuity_formula():
    # 4 %, 20 years: 1.04^20 = 2.1911231; 0.04 * 2.1911231 / 1.1911231 = 0.0735818
    assert crf(0.04, 20) == pytest.approx(0.0735818, abs=1e-7)
    assert crf(0.0, 10) == 0.1


def test_single_target_by_hand():
    # SO2 >= 15: A (10 CNY/t) fully = 10 t for 100; B (15 CNY/t) for the other 5 t = 0.25 * 300 = 75 -> 175.
    # The marginal tonne comes from B: 300 / 20 = 15 CNY/t.
    r = solve_portfolio(hand_measures(), {"SO2": 15})
    assert r.objective == pytest.approx(175.0, abs=1e-6)
    assert r.decision.set_index("measure")["level"].to_dict() == pytest.approx({"A": 1.0, "B": 0.25, "C": 0.0})
    assert r.targets.set_index("pollutant").at["SO2", "mac"] == pytest.approx(15.0, abs=1e-6)


def test_two_targets_by_hand_both_bind_and_beat_greedy():
    # SO2 >= 15 and CO2 >= 40.  With b = x in [0.25, 0.75], a = (15 - 20x)/10, c = (40 - 50x)/100:
    # cost = 100(1.5 - 2x) + 300x + 400(0.4 - 0.5x) = 310 - 100x, least at x = 0.75 (a = 0): 235 with c = 0.025.
    # Duals from the basis {B, C}: 400 = 100 y_CO2 -> y_CO2 = 4; 300 = 20 y_SO2 + 50*4 -> y_SO2 = 5;
    # check 15*5 + 40*4 = 235 (strong duality).
    r = solve_portfolio(hand_measures(), {"SO2": 15, "CO2": 40})
    assert r.objective == pytest.approx(235.0, abs=1e-6)
    lv = r.decision.set_index("measure")["level"]
    assert lv["A"] == pytest.approx(0, abs=1e-9) and lv["B"] == pytest.approx(0.75) and lv["C"] == pytest.approx(0.025)
    t = r.targets.set_index("pollutant")
    assert t.at["SO2", "mac"] == pytest.approx(5.0) and t.at["CO2", "mac"] == pytest.approx(4.0)
    assert t["binding"].all()
    # greedy: SO2 by cost/t (A 10, B 15): A full + B 0.25 (12.5 t CO2); then CO2 by cost/t: C (4) 0.275 -> 285
    g = greedy_macc(hand_measures(), {"SO2": 15, "CO2": 40})
    assert g["cost"] == pytest.approx(285.0)
    assert r.greedy["saving"] == pytest.approx(50.0)


def test_non_binding_target_has_zero_mac():
    # CO2 >= 5 is met by B's co-benefit (0.25 * 50 = 12.5 t) in the SO2-only optimum: it does not bind.
    r = solve_portfolio(hand_measures(), {"SO2": 15, "CO2": 5})
    assert r.objective == pytest.approx(175.0)
    t = r.targets.set_index("pollutant")
    assert t.at["CO2", "mac"] == pytest.approx(0.0, abs=1e-9) and not t.at["CO2", "binding"]
    assert r.explanation["binding"] == ["SO2"]


def test_macc_order_and_cumulative():
    c = macc(hand_measures(), "CO2")
    assert c["measure"].tolist() == ["C", "B"]
    assert c["cost_per_t"].tolist() == pytest.approx([4.0, 6.0])
    assert c["cumulative"].tolist() == pytest.approx([100.0, 150.0])


def test_pareto_front_is_monotone_and_matches_hand_points():
    f = pareto(hand_measures(), {"SO2": 15}, "CO2", [0, 12.5, 40, 150, 200])
    assert f["cost"].iloc[:4].tolist() == pytest.approx([175.0, 175.0, 235.0, 700.0])  # 150 t: B + C in full
    assert not f["feasible"].iloc[4]


def random_lumpy(seed: int, n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return read_measures(
        pd.DataFrame(
            {
                "measure": [f"m{i}" for i in range(n)],
                "capital_cost": rng.uniform(1e5, 1e6, n).round(0),
                "lifetime": rng.integers(5, 30, n),
                "om_cost": rng.uniform(0, 5e4, n).round(0),
                "max_units": rng.integers(1, 4, n),
                "group": ["g1", "g1", "g1", "g2", "g2", "", "", "", "", ""][:n],
                "lumpy": ["yes"] * n,
                "removal_SO2": rng.uniform(0, 50, n).round(2),
                "removal_CO2": rng.uniform(-20, 400, n).round(2),
                "source": ["random test instance"] * n,
            }
        ),
        rate=0.05,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_milp_equals_brute_force(seed):
    ms = random_lumpy(seed)
    tot = {p: float((ms[f"removal_{p}"].clip(lower=0) * ms["max_units"]).sum()) for p in ("SO2", "CO2")}
    targets = {"SO2": 0.45 * tot["SO2"], "CO2": 0.4 * tot["CO2"]}
    best = brute_force(ms, targets)
    assert best is not None
    r = solve_portfolio(ms, targets)
    assert r.objective == pytest.approx(best[0], rel=1e-9)
    chosen = r.decision[r.decision["level"] > 0.5].set_index("measure")["level"].to_dict()
    assert chosen == pytest.approx(best[1])


def test_infeasible_target_names_the_shortfall():
    # at most A + B = 10 + 20 = 30 t SO2 can be removed; 100 t are asked: short by 70 t
    with pytest.raises(Infeasible) as ei:
        solve_portfolio(hand_measures(), {"SO2": 100, "CO2": 10})
    sf = ei.value.shortfalls
    assert sf["constraint"].tolist() == ["reduction target"] and sf["where"].tolist() == ["SO2"]
    assert sf["achievable"].iloc[0] == pytest.approx(30.0) and sf["shortfall"].iloc[0] == pytest.approx(70.0)
    assert "short by 70 t/yr" in str(ei.value)


def test_bad_measure_row_is_named(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("measure,annual_cost,max_units,removal_SO2,source\nA,100,1,10,x\nB,-5,1,3,x\n")
    with pytest.raises(InputError) as ei:
        read_measures(p)
    e = ei.value
    assert (e.row, e.column, e.value) == (3, "annual_cost", "-5")
