"""Hansen (1999) panel threshold regression against reference values and brute-force regressions.

References used here:
- ``shared/data/hansen1999_investment/PROVENANCE.md``: exhaustive search, all periods kept (pyxthreg 0.0.3
  ``grid=0`` and an independent NumPy search agree): linear SSR 17.861099; single 0.0157, SSR 17.781651,
  95 % LR CI 0.01246–0.01806; double 0.0157 and 0.54003, SSR 17.723696.
- ``shared/reference/econometrics.md`` §3: a port of Hansen's ``thresh_p.R`` (n = N(T-1), 400-point grid):
  S0 16.591221, g1 0.015700 [0.0139, 0.0181], S1 16.517796, F1 32.65, bootstrap p 0.002 (B = 1000);
  g2 0.536160 [0.5305, 0.5629], S2 16.459980, F2 25.80, p 0.021; refined g1 0.015700; g3 (trim 5 %) 0.3313
  [0.0375, 1.0059], F3 4.18; c1 by regime (White SE) 0.0632 (0.0135) / 0.0977 (0.0103) / 0.0392 (0.0311).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.evaluate.threshold import lr_critical_value, threshold_regression

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hansen1999_investment" / "hansen1999.csv"
if not DATA.exists():  # worktrees sit beside shared/; the main checkout too
    DATA = Path("/work/shared/data/hansen1999_investment/hansen1999.csv")
ARGS = ("i", "q1,q2,q3,d1,qd1", "c1", "d1", "id", "year")


@pytest.fixture(scope="module")
def hansen() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def hansen_grid(hansen):
    return threshold_regression(
        hansen, *ARGS, n_thresholds=3, trim=[0.01, 0.01, 0.05], grid=400, bootstrap=[300, 300, 0], seed=7
    )


def test_lr_critical_value():
    # c(alpha) = -2 ln(1 - sqrt(alpha)); Hansen (1999) quotes 7.35 at 95 %
    assert lr_critical_value(0.95) == pytest.approx(-2 * math.log(1 - math.sqrt(0.95)))
    assert round(lr_critical_value(0.95), 2) == 7.35
    assert round(lr_critical_value(0.90), 2) == 5.94


def test_exhaustive_all_periods_matches_provenance(hansen):
    r = threshold_regression(hansen, *ARGS, n_thresholds=2, trim=0.01, grid=0, bootstrap=0, convention="all_periods")
    assert r.n_rows == 7910
    assert r.n_candidates == 6668
    assert r.ssr_linear == pytest.approx(17.861099, abs=1e-6)
    single, double = r.stages
    assert single.gamma == pytest.approx(0.0157, abs=1e-12)
    assert single.ssr == pytest.approx(17.781651, abs=1e-6)
    assert single.ci == pytest.approx((0.01246, 0.01806), abs=1e-12)
    assert double.gamma == pytest.approx(0.54003, abs=1e-12)
    assert double.ssr == pytest.approx(17.723696, abs=1e-6)
    assert double.refined == pytest.approx(0.0157, abs=1e-12)  # refinement leaves g1 unchanged
    assert r.thresholds == pytest.approx([0.0157, 0.54003])
    assert r.ssr_final == pytest.approx(17.723696, abs=1e-6)
    # regime coefficients of c1 at (0.0157, 0.54003): PROVENANCE.md (pyxthreg grid=0) 0.059332 / 0.093126 / 0.038097
    c1 = r.coefficients[r.coefficients.term == "c1"]
    assert c1.coef.round(6).tolist() == [0.059332, 0.093126, 0.038097]
    assert double.ci == pytest.approx((0.52274, 0.92919), abs=1e-12)  # = pyxthreg's printed CI
    # F = (S0 - S1) / (S1 / (N(T-1))), N(T-1) = 565 * 13 = 7345
    assert single.f_stat == pytest.approx((single.ssr_null - single.ssr) / (single.ssr / 7345), rel=1e-12)


def test_hansen_grid_matches_thresh_p_port(hansen_grid):
    r = hansen_grid
    assert (r.n_rows, r.df_sigma, r.n_candidates) == (7345, 7345, 393)
    assert r.ssr_linear == pytest.approx(16.591221, abs=1e-6)
    single, double, triple = r.stages
    assert single.gamma == pytest.approx(0.0157, abs=1e-12)
    assert single.ssr == pytest.approx(16.517796, abs=1e-6)
    assert single.f_stat == pytest.approx(32.65, abs=5e-3)
    assert single.ci == pytest.approx((0.0139, 0.0181), abs=5e-5)
    assert double.gamma == pytest.approx(0.53616, abs=1e-12)
    assert double.ssr == pytest.approx(16.459980, abs=1e-6)
    assert double.f_stat == pytest.approx(25.80, abs=5e-3)
    assert double.ci == pytest.approx((0.5305, 0.5629), abs=5e-5)
    assert double.refined == pytest.approx(0.0157, abs=1e-12)
    assert triple.gamma == pytest.approx(0.3313, abs=5e-5)
    assert triple.ci == pytest.approx((0.0375, 1.0059), abs=5e-5)
    assert triple.f_stat == pytest.approx(4.18, abs=5e-3)
    assert triple.ssr_null == pytest.approx(double.ssr, abs=1e-9)  # refined g1 == g1 here


def test_hansen_bootstrap_within_monte_carlo_error(hansen_grid):
    single, double, _ = hansen_grid.stages
    # reference p (B = 1000): 0.002 and 0.021; with B = 300 the binomial s.d. of p near 0.02 is 0.008
    assert single.p_value <= 0.02
    assert 0.0 < double.p_value < 0.06
    # reference 5 % critical values 16.70 (single) and 16.66 (double); bootstrap noise at B = 300 is a few units
    assert 12 < single.crit["5%"] < 22
    assert 11 < double.crit["5%"] < 22
    # p = #(F* > F) / B, critical values = sorted F* at ceil(.90 B), ceil(.95 B), ceil(.99 B)
    srt = np.sort(single.boot_f)
    assert single.p_value == np.mean(single.boot_f > single.f_stat)
    assert single.crit["5%"] == srt[math.ceil(0.95 * 300) - 1]


def test_bootstrap_seed_reproducible(hansen):
    kw = dict(n_thresholds=1, grid=400, bootstrap=60, seed=123)
    a = threshold_regression(hansen, *ARGS, **kw)
    b = threshold_regression(hansen, *ARGS, **kw)
    c = threshold_regression(hansen, *ARGS, **{**kw, "seed": 124})
    assert np.array_equal(a.stages[0].boot_f, b.stages[0].boot_f)
    assert not np.array_equal(a.stages[0].boot_f, c.stages[0].boot_f)


def test_regime_coefficients_white_se_match_port(hansen_grid, hansen):
    r = threshold_regression(hansen, *ARGS, n_thresholds=2, trim=0.01, grid=400, bootstrap=0)
    c1 = r.coefficients[r.coefficients.term == "c1"].reset_index(drop=True)
    assert c1.coef.round(4).tolist() == [0.0632, 0.0977, 0.0392]
    assert c1.se_white.round(4).tolist() == [0.0135, 0.0103, 0.0311]


def _within(v, n_ent, n_per, drop):
    m = v.reshape(n_ent, n_per, -1)
    m = m - m.mean(axis=1, keepdims=True)
    if drop:
        m = m[:, :-1]
    return m.reshape(-1, m.shape[-1])


def _ssr(yt, xt):
    beta, *_ = np.linalg.lstsq(xt, yt, rcond=None)
    e = yt - xt @ beta
    return float(e @ e)


def _sim(seed=3, n_ent=40, n_per=6, gamma=0.3):
    rng = np.random.default_rng(seed)
    ent = np.repeat(np.arange(n_ent), n_per)
    tim = np.tile(np.arange(n_per), n_ent)
    q = rng.uniform(0, 1, n_ent * n_per)
    x1, x2, z = rng.normal(size=(3, n_ent * n_per))
    mu = rng.normal(size=n_ent)[ent]
    y = mu + 0.5 * z + np.where(q < gamma, 1.0, -1.0) * x1 + 0.3 * x2 + rng.normal(scale=0.5, size=len(q))
    return pd.DataFrame({"id": ent, "t": tim, "y": y, "z": z, "x1": x1, "x2": x2, "q": q})


@pytest.mark.parametrize("convention", ["hansen", "all_periods"])
def test_search_equals_brute_force_ols(convention):
    """Every stage's SSR curve equals one least-squares regression per candidate (two rx, all three stages)."""
    df = _sim()
    n_ent, n_per = 40, 6
    r = threshold_regression(
        df, "y", "z", "x1,x2", "q", "id", "t", n_thresholds=3, trim=0.05, grid=50, bootstrap=0, convention=convention
    )
    drop = convention == "hansen"
    below = (lambda q, g: q < g) if drop else (lambda q, g: q <= g)
    q = df.q.to_numpy()
    yt = _within(df.y.to_numpy()[:, None], n_ent, n_per, drop)[:, 0]
    base = np.column_stack([df.z, df.x1, df.x2])

    def ssr_at(gs):
        cols = [base] + [base[:, 1:] * below(q, g)[:, None] for g in gs]
        return _ssr(yt, _within(np.column_stack(cols), n_ent, n_per, drop))

    assert r.ssr_linear == pytest.approx(ssr_at([]), rel=1e-10)
    single, double, triple = r.stages
    lr = single.lr
    sig = single.ssr / (n_ent * (n_per - 1))
    for g, val in zip(lr.gamma, lr.lr, strict=True):
        assert ssr_at([g]) == pytest.approx(single.ssr + val * sig, rel=1e-9)
    g1 = single.gamma
    assert single.ssr == pytest.approx(min(ssr_at([g]) for g in lr.gamma), rel=1e-12)
    curve2 = double.lr[double.lr.threshold == "γ2 | γ1"]
    sig2 = double.ssr / (n_ent * (n_per - 1))
    for g, val in zip(curve2.gamma, curve2.lr, strict=True):
        assert ssr_at([g1, g]) == pytest.approx(double.ssr + val * sig2, rel=1e-9)
    g1r, g2 = double.refined, double.gamma
    sig3 = triple.ssr / (n_ent * (n_per - 1))
    for g, val in zip(triple.lr.gamma, triple.lr.lr, strict=True):
        assert ssr_at([g1r, g2, g]) == pytest.approx(triple.ssr + val * sig3, rel=1e-9)
    assert r.ssr_final == pytest.approx(ssr_at(r.thresholds), rel=1e-12)


def test_bootstrap_equals_brute_force_loop():
    """F* of the double-threshold test equals a loop of regressions on whole-entity resampled residuals."""
    df = _sim(seed=5, n_ent=25, n_per=5)
    n_ent, n_per = 25, 5
    r = threshold_regression(
        df, "y", "z", "x1", "q", "id", "t", n_thresholds=2, trim=0.1, grid=20, bootstrap=[0, 12], seed=99
    )
    yt = _within(df.y.to_numpy()[:, None], n_ent, n_per, True)[:, 0]
    q = df.q.to_numpy()
    z, x = df.z.to_numpy(), df.x1.to_numpy()
    cands = np.unique(r.stages[0].lr.gamma)
    g1 = r.stages[0].gamma

    def design(gs):
        return _within(np.column_stack([z, x] + [x * (q < g) for g in gs]), n_ent, n_per, True)

    xx = design([g1])
    beta = np.linalg.lstsq(xx, yt, rcond=None)[0]
    fit = xx @ beta
    res = (yt - fit).reshape(n_ent, n_per - 1)
    rng = np.random.default_rng(99)
    draw = rng.integers(0, n_ent, size=(12, n_ent))
    # grid = 20, trim = 0.1: Hansen's exclusion window is qn*trim = 2 grid points: indices [a-3, a+1)
    full_grid = np.sort(np.unique(r.stages[0].lr.gamma))
    expected = []
    for b in range(12):
        yb = fit + res[draw[b]].reshape(-1)
        s1 = [_ssr(yb, design([g])) for g in cands]
        a = int(np.argmin(s1))
        g1b = cands[a]
        ok = [j for j in range(len(full_grid)) if not (a - 3 <= j < a + 1)]
        s2 = [_ssr(yb, design([g1b, full_grid[j]])) for j in ok]
        expected.append((min(s1) - min(s2)) / (min(s2) / (n_ent * (n_per - 1))))
    assert r.stages[1].boot_f == pytest.approx(np.array(expected), rel=1e-8)


def test_simulated_threshold_recovered():
    rng = np.random.default_rng(2024)
    n_ent, n_per, gamma = 200, 10, 0.6
    ent = np.repeat(np.arange(n_ent), n_per)
    q = rng.uniform(0, 2, n_ent * n_per)
    x = rng.normal(size=len(q))
    y = rng.normal(size=n_ent)[ent] + np.where(q < gamma, 1.0, 2.0) * x + rng.normal(scale=0.5, size=len(q))
    df = pd.DataFrame({"id": ent, "t": np.tile(np.arange(n_per), n_ent), "y": y, "x": x, "q": q})
    r = threshold_regression(df, "y", [], "x", "q", "id", "t", n_thresholds=2, grid=400, bootstrap=[100, 100], seed=1)
    single, double = r.stages
    # candidates are sample values of q: the split q < 0.60024 is the same sample split as q < 0.6
    assert single.ci[0] - 0.005 <= gamma <= single.ci[1]
    assert abs(single.gamma - gamma) < 0.02
    assert single.p_value == 0.0  # a jump of 1.0 in the slope is unmistakable
    assert double.p_value > 0.05  # there is no second threshold
    c = threshold_regression(df, "y", [], "x", "q", "id", "t", n_thresholds=1, bootstrap=0).coefficients
    assert c.coef.tolist() == pytest.approx([1.0, 2.0], abs=0.05)


def test_cluster_se_equals_pyfixest(hansen):
    """all_periods convention at the estimated thresholds = pyfixest feols with entity FE and CRV1 by entity."""
    pf = pytest.importorskip("pyfixest")
    r = threshold_regression(hansen, *ARGS, n_thresholds=1, grid=0, bootstrap=0, convention="all_periods")
    g = r.thresholds[0]
    df = hansen.copy()
    df["c1_lo"] = df.c1 * (df.d1 <= g)
    df["c1_hi"] = df.c1 * (df.d1 > g)
    fit = pf.feols("i ~ q1 + q2 + q3 + d1 + qd1 + c1_lo + c1_hi | id", df, vcov={"CRV1": "id"})
    c = r.coefficients
    np.testing.assert_allclose(c.coef.to_numpy(), fit.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(c.se_cluster.to_numpy(), fit.se().to_numpy(), rtol=1e-8)
    assert c.coef.iloc[5:].round(6).tolist() == [0.055246, 0.086264]  # PROVENANCE.md, pyxthreg grid=0


def test_unbalanced_panel_is_one_clear_error(hansen):
    with pytest.raises(InputError, match="balanced panel"):
        threshold_regression(hansen.iloc[1:], *ARGS, bootstrap=0)
    bad = hansen.copy()
    bad.loc[5, "c1"] = np.nan
    with pytest.raises(InputError, match=r"row 7, column 'c1'"):
        threshold_regression(bad, *ARGS, bootstrap=0)
    with pytest.raises(InputError, match="column named 'nope'"):
        threshold_regression(hansen, "i", "q1", "nope", "d1", "id", "year", bootstrap=0)


def test_lr_plot_and_json(hansen_grid):
    fig = hansen_grid.plot_lr()
    names = [t.name for t in fig.data]
    assert names == ["γ1 (single)", "γ2 | γ1", "γ1 | γ2 (refined)", "γ3 | γ1, γ2"]
    d = hansen_grid.to_dict()
    assert d["stages"][0]["threshold"] == pytest.approx(0.0157)
    assert d["seed"] == 7 and d["df_sigma"] == 7345
