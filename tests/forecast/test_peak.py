"""Peak finder on known peaks; the Kaya projection against its closed form; real CEADs/OWID drivers."""

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.forecast.peak import find_peak, kaya_factors, project


def test_find_peak_on_a_known_peak():
    assert find_peak([2020, 2021, 2022, 2023, 2024], [1, 3, 5, 4, 2]) == {"year": 2022, "value": 5.0, "peaked": True}
    # still rising at the end: no peak
    assert find_peak([2020, 2021, 2022], [1, 2, 3])["peaked"] is False


def _drivers(years, pop, gdp, co2):
    return pd.DataFrame({"year": years, "population": pop, "gdp": gdp, "co2": co2})


def test_kaya_factors_multiply_to_co2():
    d = _drivers([2000, 2001], [10.0, 11.0], [100.0, 130.0], [5.0, 6.0])
    f = kaya_factors(d)
    assert np.allclose(f.prod(axis=1).to_numpy(), [5.0, 6.0])


def test_projection_matches_the_closed_form():
    # exact exponential drivers (zero standard error): population +1 %/yr, GDP per capita +5 %/yr,
    # carbon intensity -8 %/yr (log growth rates); tau fixed at 25 years; baseline relaxes each rate to 0
    years = np.arange(2000, 2011)
    k = years - 2000
    pop = 100 * np.exp(0.01 * k)
    gpc = 2.0 * np.exp(0.05 * k)
    ci = 0.5 * np.exp(-0.08 * k)
    d = _drivers(years, pop, pop * gpc, pop * gpc * ci)
    r = project(d, scenario="baseline", end=2060, n_paths=50, tau=(25.0, 25.0), seed=1)
    t = np.arange(1, 51)
    g = (0.01 + 0.05 - 0.08) * np.exp(-t / 25.0)  # total log growth per year
    expected = d["co2"].iloc[-1] * np.exp(np.cumsum(g))
    assert np.allclose(r.paths["p50"].to_numpy(), expected, rtol=1e-9)
    assert np.allclose(r.paths["p05"], r.paths["p95"])  # no uncertainty in, no band out
    # total growth 0.01 + 0.05 - 0.08 = -2 %/yr in history and after: the peak is the first year
    assert r.summary["peak_year"] == 2000 and r.summary["peaked"] is True
    assert r.summary["co2_2060_mt"] == pytest.approx(expected[-1])
    assert r.summary["cumulative_mt"] == pytest.approx(expected.sum())


def test_low_carbon_scenario_bends_a_rising_path():
    years = np.arange(2000, 2016)
    k = years - 2000
    d = _drivers(years, 100 * np.exp(0.005 * k), 100 * np.exp(0.06 * k), 10 * np.exp(0.02 * k))
    base = project(d, scenario="baseline", n_paths=200, seed=0)
    low = project(d, scenario="low_carbon", n_paths=200, seed=0)
    assert base.summary["peaked"] is False
    assert low.summary["peaked"] is True and 2016 <= low.summary["peak_year"] < 2060
    assert low.summary["cumulative_mt"] < base.summary["cumulative_mt"]
    with pytest.raises(InputError):
        project(d, scenario="no-such-scenario")


def test_real_drivers_ceads_and_owid():
    from coreduce.forecast.peak import drivers_ceads, drivers_owid
    from coreduce.ingest.loaders import DataSetNotFound

    try:
        js = drivers_ceads("Jiangsu")
        cn = drivers_owid("China")
    except (DataSetNotFound, FileNotFoundError):  # pragma: no cover - shared data absent
        pytest.skip("shared data not present")
    # CEADs Jiangsu scope-1 total 2019 (shared ceads_province_totals_1997_2019.csv): 804.594214 Mt
    assert js.set_index("year").loc[2019, "co2"] == pytest.approx(804.594214)
    assert js["year"].min() >= 2000 and js["year"].max() == 2019
    # OWID China 2019: 10,713.984 Mt (the loader's documented spot value)
    assert cn.set_index("year").loc[2019, "co2"] == pytest.approx(10713.984)
    with pytest.raises(InputError):
        drivers_ceads("Atlantis")
