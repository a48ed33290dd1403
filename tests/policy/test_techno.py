"""NPV, IRR, payback, levelised cost against numpy-financial reference values and hand calculations."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from coreduce import coefficients
from coreduce.policy import irr, levelised_cost, npv, payback, technology_economics


def test_npv_irr_numpy_financial_reference_values():
    # numpy-financial documentation examples: irr([-100, 39, 59, 55, 20]) = 0.28095 (5 d.p.);
    # npv(0.08, [-40000, 5000, 8000, 12000, 30000]) = 3065.22267 (5 d.p.)
    assert round(irr([-100, 39, 59, 55, 20]), 5) == 0.28095
    assert npv(0.08, [-40_000, 5_000, 8_000, 12_000, 30_000]) == pytest.approx(3065.22267, abs=1e-5)
    r = irr([-100, 39, 59, 55, 20])
    assert npv(r, [-100, 39, 59, 55, 20]) == pytest.approx(0, abs=1e-9)
    assert math.isnan(irr([100, 10]))


def test_npv_by_hand():
    assert npv(0.1, [-100, 60, 60]) == pytest.approx(-100 + 60 / 1.1 + 60 / 1.21)


def test_payback_simple_and_discounted():
    assert payback([-100, 30, 30, 30, 30]) == pytest.approx(3 + 10 / 30)
    # discounted at 10 %: 27.27, 24.79, 22.54, 20.49 -> cum -72.73, -47.93, -25.39, -4.90 -> never in 4 years
    assert payback([-100, 30, 30, 30, 30], rate=0.1) == math.inf
    assert payback([-100, 60, 60], rate=0.1) == pytest.approx(1 + (100 - 60 / 1.1) / (60 / 1.21))


def test_levelised_cost_by_hand():
    # capex 1000, opex 50, savings 150, 100 t/yr, 2 years at 10 %
    num = 1000 + (50 - 150) / 1.1 + (50 - 150) / 1.21
    den = 100 / 1.1 + 100 / 1.21
    assert levelised_cost(1000, 50, 150, 100, 2, 0.1) == pytest.approx(num / den)


def test_technology_table_per_t_co2_and_pollutant():
    t = pd.DataFrame(
        {
            "technology": ["x"],
            "capex": [1000.0],
            "opex": [50.0],
            "savings": [150.0],
            "lifetime": [2],
            "co2_t": [100.0],
            "SO2_t": [0.5],
        }
    )
    r = technology_economics(t, 0.1).iloc[0]
    assert r["cost_per_t_co2"] == pytest.approx(levelised_cost(1000, 50, 150, 100, 2, 0.1))
    assert r["cost_per_t_SO2"] == pytest.approx(levelised_cost(1000, 50, 150, 0.5, 2, 0.1))
    assert r["npv"] == pytest.approx(npv(0.1, [-1000, 100, 100]))


def test_seed_cases_are_cited_as_seeds():
    s = coefficients.load("technologies")
    assert s.value(technology="data_centre_pue", parameter="pue_before") == 1.59
    assert s.value(technology="data_centre_pue", parameter="pue_after") == 1.14
    assert "seed" in s.source(technology="ai_heating_control", parameter="energy_saving_low")
