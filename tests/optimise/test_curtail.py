"""Episode curtailment MILP: brute-force enumeration on tiny instances, hand values, infeasibility."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coreduce.errors import InputError
from coreduce.optimise import Infeasible
from coreduce.optimise.curtail import brute_force, feasible, read_problem, solve_curtailment

HOURS = ["2016-12-16T00:00:00Z", "2016-12-16T01:00:00Z", "2016-12-16T02:00:00Z"]


def tiny(cap=80.0, alert="none", **kw) -> dict:
    p = {
        "hours": HOURS,
        "alert": alert,
        "levels": [0, 0.5, 1.0],
        "enterprises": [
            {
                "id": "steel",
                "grade": "C",
                "capacity": 100,
                "value_per_unit": 50,
                "min_output": 0.0,
                "ramp": 0.5,
                "min_shutdown_h": 2,
                "rates": {"PM2.5": 0.002, "SO2": 0.004, "CO2": 1.8},
            },
            {
                "id": "cement",
                "grade": "B",
                "capacity": 40,
                "value_per_unit": 90,
                "min_output": 0.5,
                "ramp": 1.0,
                "can_shutdown": False,
                "rates": {"PM2.5": 0.005, "NOx": 0.01, "CO2": 0.9},
            },
        ],
        "receptors": [{"id": "R1", "background": [85, 95, 90], "cap": cap}],
        "source_receptor": [
            {"enterprise": "steel", "receptor": "R1", "pollutant": "PM2.5", "lag": 0, "coef": 40.0},
            {"enterprise": "steel", "receptor": "R1", "pollutant": "SO2", "lag": 1, "coef": 10.0},
            {"enterprise": "cement", "receptor": "R1", "pollutant": "PM2.5", "lag": 0, "coef": 30.0},
        ],
    }
    p.update(kw)
    return p


def test_hand_reduction_of_one_cut():
    # steel cut 50 % in hour 0: 50 units/h less -> PM2.5 0.1 t/h x 40 = 4 µg/m³ at hour 0 and SO2 0.2 t/h x 10 =
    # 2 µg/m³ at hour 1 (lag 1).
    ep = read_problem(tiny())
    red = ep.reduction(np.array([[0.5, 0, 0], [0, 0, 0]]))
    assert red[0].tolist() == pytest.approx([4.0, 2.0, 0.0])


@pytest.mark.parametrize(("cap", "alert"), [(88.0, "none"), (85.0, "none"), (90.0, "orange"), (86.0, "red")])
def test_milp_equals_brute_force(cap, alert):
    ep = read_problem(tiny(cap=cap, alert=alert))
    best = brute_force(ep)
    assert best is not None
    r = solve_curtailment(ep, mip_rel_gap=0)
    assert r.objective == pytest.approx(best[0], rel=1e-9, abs=1e-9)
    cut = r.schedule["cut"].to_numpy().reshape(ep.E, ep.T)
    assert feasible(ep, cut)
    # the reported concentrations are the background minus the SR reduction of the schedule
    assert r.concentrations["after"].to_numpy() == pytest.approx((ep.background - ep.reduction(cut)).ravel())
    # CO2 co-reduction = sum of rate x baseline x cut
    co2 = float((ep.rates["CO2"].to_numpy()[:, None] * ep.baseline * cut).sum())
    assert r.reductions["CO2"] == pytest.approx(co2)


def test_by_hand_cap_85():
    # cap 85: excess 0 / 10 / 5 µg/m³.  Steel at 50 % cuts 4 (same hour) + 2 (next hour, SO2 lag 1); at 100 %
    # 8 + 4.  Cement at 50 % (its only level; no shutdown) cuts 20 units x 0.005 x 30 = 3 µg/m³ for 1,800 CNY.
    # Hour 1 needs 10: only steel shut in hour 1 (8) plus 2+ from hour 0 reaches it; a shutdown lasts >= 2 h, so
    # either hours 0-1 or 1-2.  Shut 0-1 (10,000): hour 2 gets 4 (lag) and needs 1 more -> cement 50 % (1,800)
    # = 11,800; steel back to 0 in hour 2 is allowed (ramps are relaxed after a shutdown).  Shut 1-2 needs hour 1
    # = 8 + lag from hour 0 >= 2 -> steel 50 % in hour 0 (2,500): 12,500 — or cement 50 % in hour 1 (8 + 3 = 11
    # >= 10; hour 2: 8 >= 5): 11,800 too.  Least: 11,800, reached by exactly these two schedules (enumeration
    # agrees): A = steel shut 0-1 + cement hour 2, after [77, 83, 83]; B = steel shut 1-2 + cement hour 1, after
    # 85, 95 - 8 - 3 = 84, 90 - 8 - 4 (lag) = 78.
    ep = read_problem(tiny(cap=85.0))
    r = solve_curtailment(ep, mip_rel_gap=0)
    assert r.objective == pytest.approx(11800.0)
    s = r.schedule.set_index("enterprise")
    got = (s.loc["steel", "cut"].tolist(), s.loc["cement", "cut"].tolist())
    optima = {
        "A": (([1.0, 1.0, 0.0], [0, 0, 0.5]), [77.0, 83.0, 83.0], [["steel", 2, 1.0], ["cement", 1, 0.5]]),
        "B": (([0.0, 1.0, 1.0], [0, 0.5, 0]), [85.0, 84.0, 78.0], [["steel", 2, 1.0], ["cement", 1, 0.5]]),
    }
    which = [k for k, (sched, _, _) in optima.items() if got == sched]
    assert len(which) == 1, got
    _, after, windows = optima[which[0]]
    assert r.concentrations["after"].tolist() == pytest.approx(after)
    w = r.windows()
    assert w[["enterprise", "hours", "cut"]].values.tolist() == windows
    enum = [c for c in itertools.product(ep.levels, repeat=ep.E * ep.T) if feasible(ep, np.array(c).reshape(2, 3))]
    val = ep.enterprises["value_per_unit"].to_numpy()[:, None]
    costs = [float((np.array(c).reshape(2, 3) * ep.baseline * val).sum()) for c in enum]
    assert sum(abs(c - 11800.0) < 1e-6 for c in costs) == 2 and min(costs) == pytest.approx(11800.0)
    # CO2 co-reduction: steel 200 units x 1.8 t + cement 20 units x 0.9 t = 378 t
    assert r.reductions["CO2"] == pytest.approx(378.0)


def test_alert_floor_from_cited_coefficients():
    # orange alert: grade B and C enterprises cut >= 20 % of the episode's output (curtailment_levels, national).
    # With no cap, steel: 0.2 x 300 = 60 units -> cheapest with levels {0, .5, 1}: one hour at 50 % = 50 units
    # is short, so two hours at 50 % (100 units, 5,000 CNY); cement: 0.2 x 120 = 24 units -> one hour at 50 %
    # = 20 is short: two hours (40 units, 3,600 CNY).  Total 8,600.
    r = solve_curtailment(read_problem(tiny(cap=200.0, alert="orange")), mip_rel_gap=0)
    assert r.objective == pytest.approx(8600.0)


def test_infeasible_names_receptor_hour_and_amount():
    # cap 70 at hour 1 needs 25 µg/m³ off 95; the most possible: steel 8 + 4 (lag) + cement 3 = 15 -> short by 10
    with pytest.raises(Infeasible) as ei:
        solve_curtailment(read_problem(tiny(cap=70.0)))
    sf = ei.value.shortfalls.set_index("where")
    assert "R1, 1" in sf.index
    assert sf.at["R1, 1", "shortfall"] == pytest.approx(10.0)
    assert "concentration cap" in str(ei.value)


def test_bad_grade_named():
    p = tiny()
    p["enterprises"][0]["grade"] = "E"
    with pytest.raises(InputError) as ei:
        read_problem(p)
    assert ei.value.column == "grade" and ei.value.value == "E"


def test_curtailment_levels_coefficient_set_is_cited():
    from coreduce import coefficients

    cs = coefficients.load("curtailment_levels")
    assert cs.version.startswith("curtailment_levels@")
    assert (cs.frame["source"].str.len() > 10).all()
    # national scheme: grade A exempt; yellow / orange / red >= 10 / 20 / 30 % for B-D (环办大气函〔2019〕648号)
    for alert, alpha in (("yellow", 0.1), ("orange", 0.2), ("red", 0.3)):
        assert cs.value("min_cut", scheme="national", alert=alert, grade="A") == 0
        for g in "BCD":
            assert cs.value("min_cut", scheme="national", alert=alert, grade=g) == alpha


def test_greedy_descent_keeps_feasibility_and_never_costs_more():
    # every feasible schedule of the tiny case (enumerated): the descent stays feasible, never costs more, and
    # leaves the enumerated optimum where it is
    from coreduce.optimise.curtail import _lost_value, round_down

    ep = read_problem(tiny(cap=85.0))
    best = brute_force(ep)
    n = 0
    for combo in itertools.product(ep.levels, repeat=ep.E * ep.T):
        cut = np.array(combo).reshape(ep.E, ep.T)
        if not feasible(ep, cut):
            continue
        n += 1
        r = round_down(ep, cut)
        assert feasible(ep, r) and _lost_value(ep, r) <= _lost_value(ep, cut) + 1e-9
    assert n > 1
    assert _lost_value(ep, round_down(ep, best[1])) == pytest.approx(best[0])
