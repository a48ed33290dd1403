"""2SLS + Kleibergen–Paap: reference values (ivreg2r 0.1.0, shipped in linearmodels' test suite), pyfixest, LSDV.

Reference (linearmodels/tests/iv/test_rank_tests.py, data results/simulated-data.dta), model B: x1 endogenous,
z1 z2 instruments, x3 x4 x5 exogenous + constant:
- robust:    rk LM 28.2011546920011 (df 2), Cragg–Donald F 17.1548582963803, rk Wald F 17.3639182117703
- clustered: rk LM 28.4875757936386,                                      rk Wald F 22.2146455418097
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.evaluate.iv import fe_dof, iv2sls, stock_yogo

lm = pytest.importorskip("linearmodels")
pf = pytest.importorskip("pyfixest")
SIM = Path(lm.__file__).parent / "tests" / "iv" / "results" / "simulated-data.dta"


@pytest.fixture(scope="module")
def simulated():
    if not SIM.exists():
        pytest.skip("linearmodels' reference data are not installed")
    return pd.read_stata(SIM)


def test_kp_reference_values_robust(simulated):
    r = iv2sls(simulated, "y_robust", "x1", "z1,z2", "x3,x4,x5")
    d = r.diagnostics
    assert d["kp_rk_lm"] == pytest.approx(28.2011546920011, rel=1e-8)
    assert d["kp_rk_lm_df"] == 2
    assert d["kp_rk_wald_f"] == pytest.approx(17.3639182117703, rel=1e-8)
    assert d["cragg_donald_f"] == pytest.approx(17.1548582963803, rel=1e-8)


def test_kp_reference_values_clustered(simulated):
    r = iv2sls(simulated, "y_robust", "x1", "z1,z2", "x3,x4,x5", cluster="cluster_id")
    assert r.diagnostics["kp_rk_lm"] == pytest.approx(28.4875757936386, rel=1e-8)
    assert r.diagnostics["kp_rk_wald_f"] == pytest.approx(22.2146455418097, rel=1e-8)
    # one endogenous regressor, two instruments: Stock–Yogo (2005) Table 5.2 row K2 = 2
    assert r.stock_yogo["size 10%"] == 19.93 and r.stock_yogo["size 25%"] == 7.25
    assert r.first_stage.instrument.tolist() == ["z1", "z2"]


def test_stock_yogo_table():
    assert stock_yogo(1, 1) == {"size 10%": 16.38, "size 15%": 8.96, "size 20%": 6.66, "size 25%": 5.53}
    assert stock_yogo(1, 3)["bias 5%"] == 13.91
    assert stock_yogo(2, 5)["bias 10%"] == 8.78
    assert stock_yogo(3, 1) == {}


def _iv_panel(seed=11, n_city=120, n_year=8):
    rng = np.random.default_rng(seed)
    city = np.repeat(np.arange(n_city), n_year)
    year = np.tile(np.arange(n_year), n_city)
    a = rng.normal(size=n_city)[city]
    z = rng.normal(size=len(city)) + 0.3 * a
    v = rng.normal(size=len(city))
    c1 = rng.normal(size=len(city))
    ai = 0.8 * z + 0.5 * a + v + 0.2 * c1
    y = a + 0.1 * year - 0.3 * ai + 0.2 * c1 + 0.7 * v + rng.normal(size=len(city))
    return pd.DataFrame({"city": city, "year": year, "y": y, "ai": ai, "z": z, "c1": c1})


def test_fe_2sls_equals_pyfixest():
    df = _iv_panel()
    r = iv2sls(df, "y", "ai", "z", "c1", fe=["city", "year"], cluster="city")
    ref = pf.feols("y ~ c1 | city + year | ai ~ z", df, vcov={"CRV1": "city"})
    for v in ("ai", "c1"):
        assert r.estimate.coef[v] == pytest.approx(ref.coef()[v], rel=1e-8)
        assert r.estimate.se[v] == pytest.approx(ref.se()[v], rel=1e-8)
    assert r.estimate.coef["ai"] == pytest.approx(-0.3, abs=0.1)
    # the city FE are nested in the city cluster: K = 2 slopes + 8 year levels
    assert fe_dof([df.city, df.year], df.city) == 8


def test_kp_lm_with_absorbed_fe_equals_lsdv():
    """Absorbing FE by demeaning gives the same rk LM as putting the FE dummies among the exogenous regressors."""
    from linearmodels.iv import IV2SLS

    df = _iv_panel(n_city=40, n_year=5)
    r = iv2sls(df, "y", "ai", "z", "c1", fe=["city", "year"], cluster="city")
    dummies = pd.get_dummies(df[["city", "year"]].astype(str), drop_first=False, dtype=float)
    dummies = dummies.drop(columns=["year_0"])  # one of the two sets spans the constant
    exog = pd.concat([df[["c1"]], dummies], axis=1)
    lsdv = IV2SLS(df.y, exog, df[["ai"]], df[["z"]]).fit(cov_type="clustered", clusters=df.city)
    assert r.estimate.coef["ai"] == pytest.approx(lsdv.params["ai"], rel=1e-8)
    assert r.diagnostics["kp_rk_lm"] == pytest.approx(lsdv.first_stage.kleibergen_paap.stat, rel=1e-7)


def test_order_condition_error(simulated):
    with pytest.raises(InputError, match="at least 2 excluded instruments"):
        iv2sls(simulated, "y_robust", "x1,x2", "z1", "x3")


def test_robust_ses_equal_pyfixest_hetero():
    """Without clusters the SEs are HC1 with K = slopes + absorbed FE levels, as pyfixest's 'hetero'."""
    df = _iv_panel()
    for fe, fml in ((["city", "year"], "y ~ c1 | city + year | ai ~ z"), (None, "y ~ c1 + 1 | ai ~ z")):
        r = iv2sls(df, "y", "ai", "z", "c1", fe=fe)
        ref = pf.feols(fml, df, vcov="hetero")
        assert r.estimate.se["ai"] == pytest.approx(ref.se()["ai"], rel=1e-8)
        assert r.estimate.se["c1"] == pytest.approx(ref.se()["c1"], rel=1e-8)


def _lsdv(df, cluster=None):
    """The same 2SLS with the city and year FE written as dummies among the exogenous regressors (linearmodels)."""
    from linearmodels.iv import IV2SLS

    dummies = pd.get_dummies(df[["city", "year"]].astype(str), drop_first=False, dtype=float)
    exog = pd.concat([df[["c1"]], dummies.drop(columns=["year_0"])], axis=1)
    kw = {"cov_type": "clustered", "clusters": df[cluster]} if cluster else {"cov_type": "robust"}
    return IV2SLS(df.y, exog, df[["ai"]], df[["z"]]).fit(**kw).first_stage


@pytest.mark.parametrize("cluster", [None, "grp"])
def test_kp_wald_f_with_absorbed_fe_equals_lsdv(cluster):
    """With FE absorbed, the rk Wald F and Cragg–Donald F use ivreghdfe's dof n - L - sdofminus; when no FE is nested
    in the cluster that is exactly linearmodels' F on the LSDV regression (40 cities + 5 years - 1 = 44 dummies)."""
    df = _iv_panel(n_city=40, n_year=5)
    df["grp"] = np.random.default_rng(3).integers(0, 25, len(df))  # clusters that nest no FE
    r = iv2sls(df, "y", "ai", "z", "c1", fe=["city", "year"], cluster=cluster)
    ref = _lsdv(df, cluster)
    assert r.diagnostics["sdofminus"] == 40 + 5 - 1
    assert r.diagnostics["kp_rk_wald_f"] == pytest.approx(ref.kleibergen_paap_f, rel=1e-7)
    assert r.diagnostics["cragg_donald_f"] == pytest.approx(ref.cragg_donald_f, rel=1e-7)
    # linearmodels on the demeaned data alone would overstate F by (n - L) / (n - L - 44) = 198 / 154
    n = len(df)
    raw = r.estimate.fit.first_stage.kleibergen_paap_f
    assert r.diagnostics["kp_rk_wald_f"] * (n - 2) / (n - 2 - 44) == pytest.approx(raw, rel=1e-9)


def test_sdofminus_follows_ivreghdfe_when_fe_nested_in_cluster():
    """ivreghdfe.ado: sdofminus = 1 (constant) + reghdfe df_a, with df_a 0 counted as 1: city FE nested in the city
    cluster leave df_a = T - 1 = 4, so sdofminus = 5; only city FE (all nested) give df_a 0 -> 1, sdofminus = 2."""
    from coreduce.evaluate.iv import ivreghdfe_sdofminus

    df = _iv_panel(n_city=40, n_year=5)
    assert ivreghdfe_sdofminus([df.city, df.year], df.city) == 5
    assert ivreghdfe_sdofminus([df.city], df.city) == 2
    assert ivreghdfe_sdofminus([df.city, df.year], None) == 44
    assert ivreghdfe_sdofminus([], df.city) == 0
