"""STIRPAT and the panel ML variant on a series with a known peak (an environmental-Kuznets curve written here)."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

from coreduce.errors import InputError
from coreduce.forecast.peak import project_drivers, stirpat_fit

# carbon per head on an EKC in x = ln(GDP per capita): ln(CO2/P) = -40 + 8x - 0.4x², maximal at x* = 10
B0, B1, B2 = -40.0, 8.0, -0.4


def _region(x0, years, growth=0.05, pop=1e6):
    k = np.arange(len(years))
    x = x0 + growth * k
    gdp_pc = np.exp(x)
    co2 = pop * np.exp(B0 + B1 * x + B2 * x**2)
    return pd.DataFrame({"year": years, "population": pop * np.ones(len(k)), "gdp": pop * gdp_pc, "co2": co2})


def test_stirpat_recovers_the_curve_and_the_peak_year():
    years = np.arange(2000, 2021)  # x from 8.5 to 9.5: the peak (x = 10) is 10 years after 2020 at 5 %/yr
    d = _region(8.5, years)
    fit = stirpat_fit(d)
    b = dict(zip(fit["names"], fit["beta"], strict=True))
    # ln P is constant here (collinear with the constant): ln A terms are the EKC's
    assert b["ln_A"] == pytest.approx(B1, rel=1e-6) and b["ln_A2"] == pytest.approx(B2, rel=1e-6)
    # growth held at 5 %/yr (τ huge, zero standard error): x reaches 10 in 2030 exactly
    r = project_drivers(d, method="stirpat", n_paths=20, tau=(1e9, 1e9), seed=0)
    assert r.summary["peaked"] and r.summary["peak_year"] == 2030
    assert r.summary["peak_value_mt"] == pytest.approx(1e6 * np.exp(B0 + B1 * 10 + B2 * 100), rel=1e-6)


def test_ml_variant_learns_the_peak_from_richer_regions():
    years = np.arange(2000, 2021)
    target = _region(8.5, years)
    # a panel of 8 other regions further along the same curve (x from 8 to 11.5), plus the target
    panel = pd.concat([_region(x0, years).assign(region=f"r{i}") for i, x0 in enumerate(np.linspace(8.0, 10.5, 8))]
                      + [target.assign(region="target")], ignore_index=True)  # fmt: skip
    r = project_drivers(target, method="ml", panel=panel, n_paths=20, tau=(1e9, 1e9), seed=0)
    assert r.summary["peaked"]
    assert abs(r.summary["peak_year"] - 2030) <= 2  # trees: a piecewise-constant curve around the true peak
    # the region's own history alone cannot show a peak: STIRPAT without the quadratic term would not
    with pytest.raises(InputError):
        project_drivers(target, method="ml", panel=None)
    with pytest.raises(InputError):
        project_drivers(target, method="neural")


def test_bands_widen_with_driver_uncertainty():
    years = np.arange(2000, 2021)
    d = _region(8.5, years)
    rng = np.random.default_rng(3)
    d["gdp"] = d["gdp"] * np.exp(0.02 * rng.standard_normal(len(d)))  # noisy GDP: a non-zero standard error
    r = project_drivers(d, method="stirpat", n_paths=300, seed=0)
    p = r.paths.set_index("year")
    assert (p["p95"] - p["p05"]).loc[2060] > (p["p95"] - p["p05"]).loc[2025] > 0
