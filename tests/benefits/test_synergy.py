"""Synergy metrics against hand calculations (issue 17 item 1)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from coreduce import coefficients
from coreduce.benefits import apeq, coordinate_chart, synergy
from coreduce.errors import InputError


def inv(**t):
    return pd.DataFrame({"entity": "e", "pollutant": list(t), "amount": list(t.values()), "unit": "t"})


BEFORE = inv(CO2=1000.0, SO2=10.0, NOx=8.0, CO=20.0)
AFTER = inv(CO2=800.0, SO2=6.0, NOx=9.0, CO=20.0)


def test_intensity_elasticity_and_quadrants_by_hand():
    s = synergy(BEFORE, AFTER, measure="m1").set_index("pollutant")
    # CO2 cut 200 t (20 %); SO2 cut 4 t = 4000 kg -> 4000/200 = 20 kg per t CO2; relative 40 % / 20 % = 2
    assert s.loc["SO2", "cut"] == 4.0
    assert s.loc["SO2", "kg_per_t_co2"] == pytest.approx(4000 / 200)
    assert s.loc["SO2", "elasticity"] == pytest.approx((4 / 10) / (200 / 1000))
    assert s.loc["SO2", "quadrant"].startswith("I ")
    # NOx up 1 t while CO2 cut: -1000/200 = -5 kg/t; elasticity (-1/8)/(0.2) = -0.625; quadrant IV
    assert s.loc["NOx", "kg_per_t_co2"] == pytest.approx(-5.0)
    assert s.loc["NOx", "elasticity"] == pytest.approx(-0.625)
    assert s.loc["NOx", "quadrant"].startswith("IV")
    assert s.loc["CO", "elasticity"] == 0.0


def test_apeq_uses_the_statutory_values():
    # SO2 10 t = 10000 kg / 0.95; NOx 8000 / 0.95; CO 20000 / 16.7
    want = 10000 / 0.95 + 8000 / 0.95 + 20000 / 16.7
    assert apeq({"CO2": 1000, "SO2": 10, "NOx": 8, "CO": 20}) == pytest.approx(want)
    s = synergy(BEFORE, AFTER).set_index("pollutant")
    want_after = 6000 / 0.95 + 9000 / 0.95 + 20000 / 16.7
    assert s.loc["APeq", "cut"] == pytest.approx(want - want_after)
    pe = coefficients.load("pollution_equivalents")
    assert pe.value(pollutant="SO2") == 0.95 and pe.value(pollutant="NOx") == 0.95 and pe.value(pollutant="CO") == 16.7
    assert "Environmental Protection Tax Law" in pe.source(pollutant="SO2")
    assert (pe.frame["verified"].isin(["yes", "no"])).all()


def test_units_are_converted_and_bad_amounts_located():
    b = pd.DataFrame({"pollutant": ["CO2", "SO2"], "amount": [1.0, 500.0], "unit": ["kt", "kg"]})
    a = pd.DataFrame({"pollutant": ["CO2", "SO2"], "amount": [500.0, 0.0], "unit": ["t", "kg"]})
    s = synergy(b, a).set_index("pollutant")
    assert s.loc["SO2", "kg_per_t_co2"] == pytest.approx(500 / 500)
    bad = pd.DataFrame({"pollutant": ["CO2", "SO2"], "amount": ["1", "x"]})
    with pytest.raises(InputError) as e:
        synergy(bad, a)
    assert (e.value.row, e.value.column) == (3, "amount")


def test_no_co2_cut_gives_nan_ratios_not_a_crash():
    s = synergy(inv(CO2=10.0, SO2=1.0), inv(CO2=10.0, SO2=0.5)).set_index("pollutant")
    assert math.isnan(s.loc["SO2", "kg_per_t_co2"]) and math.isnan(s.loc["SO2", "elasticity"])
    assert s.loc["SO2", "quadrant"].startswith("II")


def test_coordinate_chart_places_each_measure():
    pts = pd.concat([synergy(BEFORE, AFTER, measure="m1"), synergy(AFTER, BEFORE, measure="m2")])
    fig = coordinate_chart(pts)
    xs = list(fig.data[0].x)
    assert xs == [200.0, -200.0]
    assert list(fig.data[0].text) == ["m1", "m2"]
