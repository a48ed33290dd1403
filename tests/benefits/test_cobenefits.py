"""Co-benefits of a decision and the intake-fraction PM2.5 change, against hand calculations."""

from __future__ import annotations

import math

import pytest

from coreduce import coefficients
from coreduce.benefits import pm25_from_emissions
from coreduce.benefits.cobenefits import decision_cobenefits, decision_rows, read_options
from coreduce.errors import InputError


def test_intake_fraction_by_hand():
    # 100 t primary PM2.5 (urban iF 44e-6) + 1000 t SO2 (0.89e-6) + 500 t NOx (0.2e-6); 20 million people
    # breathing 15 m3/day for a year: dC = iF x E[ug] / (pop x 15 x 365)
    r = pm25_from_emissions({"PM2.5": 100, "SO2": 1000, "NOx": 500, "CO2": 1e5}, 2e7)
    den = 2e7 * 15 * 365
    assert r["by_pollutant"]["PM2.5"] == pytest.approx(44e-6 * 100e12 / den)
    assert r["delta_pm25"] == pytest.approx((44e-6 * 100 + 0.89e-6 * 1000 + 0.2e-6 * 500) * 1e12 / den)
    assert r["inhaled_kg"] == pytest.approx(1000 * (44e-6 * 100 + 0.89e-6 * 1000 + 0.2e-6 * 500))
    assert r["ignored"] == ["CO2"] and r["verified"] is False  # the set is honest about not being checked
    # rural primary PM2.5: 3.8e-6
    assert pm25_from_emissions({"PM2.5": 1.0}, 1e6, setting="rural")["inhaled_kg"] == pytest.approx(3.8e-3)


def test_every_intake_fraction_row_has_a_source():
    f = coefficients.load("intake_fraction").frame
    assert f["source"].str.len().min() > 40 and set(f["verified"]) <= {"yes", "no"}


def test_decision_cobenefits_with_counterfactual_by_hand():
    before = {"CO2": 1000.0, "SO2": 10.0, "NOx": 4.0}
    cuts = {"CO2": 100.0, "SO2": 2.0, "NOx": 0.2}
    cb = decision_cobenefits(
        cuts, before=before, options={"population": 1e6, "baseline_mortality": 0.007, "vsl": 2e6, "currency": "CNY"}
    )
    syn = {r["pollutant"]: r for r in cb["synergy"]}
    assert syn["SO2"]["kg_per_t_co2"] == pytest.approx(2000.0 / 100.0)
    assert syn["SO2"]["elasticity"] == pytest.approx((2 / 10) / (100 / 1000))  # 2.0
    assert syn["NOx"]["elasticity"] == pytest.approx((0.2 / 4) / 0.1)  # 0.5
    assert cb["apeq_cut"] == pytest.approx(2000 / 0.95 + 200 / 0.95)
    dc = (0.89e-6 * 2 + 0.2e-6 * 0.2) * 1e12 / (1e6 * 15 * 365)
    deaths = 0.007 * (1 - math.exp(-math.log(1.06) / 10 * dc)) * 1e6
    assert cb["delta_pm25"] == pytest.approx(dc)
    assert cb["health"]["avoided_deaths"] == pytest.approx(deaths)
    assert cb["health"]["value"] == pytest.approx(deaths * 2e6)
    q = {r["quantity"]: r for r in decision_rows(cb)}
    assert q["health_value"]["unit"] == "CNY" and q["avoided_deaths"]["value"] == pytest.approx(deaths)


def test_options_checked():
    with pytest.raises(InputError, match="baseline_mortality"):
        read_options({"baseline_mortality": 7})
    with pytest.raises(InputError, match="colour"):
        read_options({"colour": "red"})
    assert read_options({"population": "5", "population_source": "census"}) == {
        "population": 5.0,
        "population_source": "census",
    }
