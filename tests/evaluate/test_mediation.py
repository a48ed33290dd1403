"""Mediation: equations equal pyfixest; Sobel by hand; a simulated indirect effect a*b = 0.5*0.4 is recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coreduce.evaluate.mediation import mediation

pf = pytest.importorskip("pyfixest")


def mediated_panel(seed=4, n=150, t=8, a=0.5, b=0.4, c_direct=0.3):
    rng = np.random.default_rng(seed)
    city = np.repeat(np.arange(n), t)
    year = np.tile(np.arange(t), n)
    x = rng.normal(size=n * t) + 0.5 * rng.normal(size=n)[city]
    c1 = rng.normal(size=n * t)
    m = rng.normal(size=n)[city] + a * x + 0.2 * c1 + rng.normal(scale=0.7, size=n * t)
    y = rng.normal(size=n)[city] + 0.1 * year + c_direct * x + b * m - 0.1 * c1 + rng.normal(scale=0.7, size=n * t)
    return pd.DataFrame({"city": city, "year": year, "x": x, "m": m, "y": y, "c1": c1})


@pytest.fixture(scope="module")
def result():
    return mediation(mediated_panel(), "y", "x", "m", "c1", entity="city", time="year", reps=300, seed=2)


def test_equations_and_sobel(result):
    d = mediated_panel()
    v = {"CRV1": "city"}
    e2 = pf.feols("m ~ x + c1 | city + year", d, vcov=v)
    e3 = pf.feols("y ~ x + m + c1 | city + year", d, vcov=v)
    a, sa, b, sb = e2.coef()["x"], e2.se()["x"], e3.coef()["m"], e3.se()["m"]
    assert result.a == pytest.approx(a, rel=1e-10) and result.b == pytest.approx(b, rel=1e-10)
    z = a * b / np.sqrt(b**2 * sa**2 + a**2 * sb**2)
    assert result.sobel_z == pytest.approx(z, rel=1e-10)
    assert result.sobel_p == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    assert result.aroian_z < result.sobel_z
    # total = direct + indirect holds exactly for OLS with the same regressors and sample
    assert result.c == pytest.approx(result.c_prime + result.a * result.b, rel=1e-8)


def test_indirect_effect_recovered(result):
    assert result.indirect == pytest.approx(0.2, abs=0.03)
    lo, hi = result.boot_ci
    assert lo < 0.2 < hi and lo > 0.1
    assert result.boot_ci_bc[0] < 0.2 < result.boot_ci_bc[1]
    # the bootstrap SE agrees with the delta-method (Sobel) SE to within Monte Carlo error
    assert result.boot_se == pytest.approx(result.indirect / result.sobel_z, rel=0.25)
    assert result.share_mediated == pytest.approx(0.2 / 0.5, abs=0.08)


def test_bootstrap_reproducible(result):
    again = mediation(mediated_panel(), "y", "x", "m", "c1", entity="city", time="year", reps=300, seed=2)
    assert np.array_equal(again.boot, result.boot)


def test_bootstrap_by_coarser_cluster():
    """Resampling provinces (10 cities each): every drawn copy of a city is a new entity in the FE."""
    d = mediated_panel()
    d["prov"] = d.city // 10
    r = mediation(d, "y", "x", "m", "c1", entity="city", time="year", cluster="prov", reps=100, seed=5)
    ref = pf.feols("m ~ x + c1 | city + year", d, vcov={"CRV1": "prov"})
    assert r.equations[1].se["x"] == pytest.approx(ref.se()["x"], rel=1e-10)
    assert r.boot_ci[0] < r.indirect < r.boot_ci[1]
    assert r.boot_se == pytest.approx(r.indirect / r.sobel_z, rel=0.5)
