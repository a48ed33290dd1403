"""Dynamic panel GMM against the published pydynpd example (verified there against Stata's xtabond2) on the
Arellano–Bond (1991) data, and system GMM on a simulated persistent panel.

Reference (pydynpd README, ``n L(1:2).n w k | gmm(n, 2:4) gmm(w, 1:3) iv(k) | timedumm nolevel``, two-step
difference GMM): 611 obs, 140 groups, 42 instruments; L1.n 0.2710675 (Windmeijer SE 0.1382542), L2.n -0.0233928
(0.0419665), w -0.5668527 (0.2092231), k 0.3613939 (0.0662624), year_1979 0.0011898 (0.0092322) ... year_1984
-0.0614505 (0.0475525); Hansen chi2(32) = 32.666 (p 0.434); AR(1) z = -1.29 (p 0.198); AR(2) z = -0.31.
Data: tests/evaluate/data/abdata.csv = id, year, n, w, k of ``data.csv`` in github.com/dazhwu/pydynpd (MIT),
the Arellano–Bond UK company panel (Stata ``webuse abdata``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.evaluate.gmm import dynamic_panel_gmm

ABDATA = Path(__file__).parent / "data" / "abdata.csv"
COEF = {
    "L1.n": (0.2710675, 0.1382542),
    "L2.n": (-0.0233928, 0.0419665),
    "w": (-0.5668527, 0.2092231),
    "k": (0.3613939, 0.0662624),
    "year_1979": (0.0011898, 0.0092322),
    "year_1980": (-0.0316432, 0.0116155),
    "year_1981": (-0.0900163, 0.0206593),
    "year_1982": (-0.0996210, 0.0296036),
    "year_1983": (-0.0693308, 0.0404276),
    "year_1984": (-0.0614505, 0.0475525),
}


def test_difference_gmm_equals_xtabond2_reference():
    d = pd.read_csv(ABDATA)
    r = dynamic_panel_gmm(
        d, "n", "id", "year", y_lags=(1, 2), x=["w", "k"], gmm=[("n", 2, 4), ("w", 1, 3)], iv=["k"], system=False
    )
    assert (r.n_obs, r.n_groups, r.n_instruments, r.hansen_df) == (611, 140, 42, 32)
    for name, (b, se) in COEF.items():
        assert r.estimate.coef[name] == pytest.approx(b, abs=5e-8), name
        assert r.estimate.se[name] == pytest.approx(se, abs=5e-8), name
    assert r.hansen == pytest.approx(32.666, abs=5e-4)
    assert r.hansen_p == pytest.approx(0.434, abs=5e-4)
    assert round(r.ar[1][0], 2) == -1.29 and round(r.ar[1][1], 3) == 0.198
    assert round(r.ar[2][0], 2) == -0.31


def persistent_panel(seed=7, n=500, t=7, rho=0.8):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mu = rng.normal()
        y = mu / (1 - rho) + rng.normal() / np.sqrt(1 - rho**2)  # start near the stationary distribution
        for s in range(t):
            x = rng.normal()
            y = rho * y + 0.5 * x + mu + rng.normal()
            rows.append((i, 2000 + s, y, x))
    return pd.DataFrame(rows, columns=["id", "year", "y", "x"])


def test_system_gmm_recovers_persistent_ar_coefficient():
    d = persistent_panel()
    kw = dict(y_lags=(1,), x=["x"], gmm=[("y", 2, 4)], iv=["x"], collapse=True)
    sys_ = dynamic_panel_gmm(d, "y", "id", "year", system=True, **kw)
    dif = dynamic_panel_gmm(d, "y", "id", "year", system=False, **kw)
    assert sys_.estimate.coef["L1.y"] == pytest.approx(0.8, abs=3 * sys_.estimate.se["L1.y"])
    assert sys_.estimate.coef["x"] == pytest.approx(0.5, abs=3 * sys_.estimate.se["x"])
    assert sys_.estimate.se["L1.y"] < dif.estimate.se["L1.y"]  # the levels equation adds information
    assert sys_.ar[1][1] < 0.01 and sys_.ar[2][1] > 0.05  # MA(1) differenced errors, no AR(2)
    # collapsed instruments: 3 lags for the differences + 1 for the levels + x (one column, both equations)
    # + 5 time dummies + constant
    assert sys_.n_instruments == 3 + 1 + 1 + 5 + 1


def test_duplicate_rows_are_one_error():
    d = pd.read_csv(ABDATA)
    with pytest.raises(InputError, match="one row per"):
        dynamic_panel_gmm(pd.concat([d, d.iloc[:1]]), "n", "id", "year", gmm=[("n", 2, 4)])


def test_difference_gmm_equals_stata_xtabond2_output():
    """Stata output printed in pydynpd's Benchmark/test_2.md: ``xtabond2 n L(1/2).n w k, gmm(n, lag(2 4))
    gmm(w, lag(1 3)) iv(k) nolevel twostep robust``: L1 .1700616 (.1046652), L2 -.0113381 (.0377205),
    w -.9510582 (.1277298), k .4637223 (.0718328); 611 obs, 140 groups, 36 instruments; AR(1) z = -1.19 (p 0.235),
    AR(2) z = -0.81 (p 0.417); Hansen chi2(32) = 47.86 (p 0.035); Sargan chi2(32) = 91.61; difference-in-Hansen,
    excluding gmm(n): 23.75 (15, p 0.069), difference 24.11 (17, p 0.117); excluding gmm(w): 17.25 (14, p 0.243),
    difference 30.61 (18, p 0.032); excluding iv(k): 38.33 (31, p 0.171), difference 9.53 (1, p 0.002)."""
    d = pd.read_csv(ABDATA)
    r = dynamic_panel_gmm(
        d, "n", "id", "year", y_lags=(1, 2), x=["w", "k"], gmm=[("n", 2, 4), ("w", 1, 3)], iv=["k"],
        system=False, time_dummies=False,
    )  # fmt: skip
    ref = {"L1.n": (0.1700616, 0.1046652), "L2.n": (-0.0113381, 0.0377205), "w": (-0.9510582, 0.1277298)}
    ref["k"] = (0.4637223, 0.0718328)
    for name, (b, se) in ref.items():
        assert r.estimate.coef[name] == pytest.approx(b, abs=5e-8), name
        assert r.estimate.se[name] == pytest.approx(se, abs=5e-8), name
    assert (r.n_obs, r.n_groups, r.n_instruments) == (611, 140, 36)
    assert round(r.hansen, 2) == 47.86 and round(r.hansen_p, 3) == 0.035
    assert (round(r.ar[1][0], 2), round(r.ar[1][1], 3)) == (-1.19, 0.235)
    assert (round(r.ar[2][0], 2), round(r.ar[2][1], 3)) == (-0.81, 0.417)
    assert round(r.sargan, 2) == 91.61
    stata = {
        "gmm(n, 2:4)": (23.75, 15, 0.069, 24.11, 17, 0.117),
        "gmm(w, 1:3)": (17.25, 14, 0.243, 30.61, 18, 0.032),
        "iv(k)": (38.33, 31, 0.171, 9.53, 1, 0.002),
    }
    assert set(r.diff_hansen) == set(stata)
    for name, (j, dfj, pj, dj, dfd, pd_) in stata.items():
        got = r.diff_hansen[name]
        assert (round(got["hansen_excluding"], 2), got["df_excluding"], round(got["p_excluding"], 3)) == (j, dfj, pj)
        assert (round(got["difference"], 2), got["df_difference"], round(got["p_difference"], 3)) == (dj, dfd, pd_)


def test_system_gmm_equals_pydynpd_and_panelvar():
    """``n L(1:2).n w k | gmm(n, 2:4) gmm(w, 1:3) iv(k)`` (two-step system GMM), published identically by pydynpd
    and R panelvar in pydynpd's Benchmark/test_2.md: L1.n 0.9453810 (0.1429764), L2.n -0.0860069 (0.1082318),
    w -0.4477795 (0.1521917), k 0.1235808 (0.0508836), _cons 1.5630849 (0.4993484); 751 obs, 51 instruments;
    Hansen chi2(46) = 96.442; AR(1) z = -2.35 (p 0.019), AR(2) z = -1.15 (p 0.251)."""
    d = pd.read_csv(ABDATA)
    r = dynamic_panel_gmm(
        d, "n", "id", "year", y_lags=(1, 2), x=["w", "k"], gmm=[("n", 2, 4), ("w", 1, 3)], iv=["k"],
        system=True, time_dummies=False,
    )  # fmt: skip
    ref = {"L1.n": (0.9453810, 0.1429764), "L2.n": (-0.0860069, 0.1082318), "w": (-0.4477795, 0.1521917)}
    ref.update({"k": (0.1235808, 0.0508836), "const": (1.5630849, 0.4993484)})
    for name, (b, se) in ref.items():
        assert r.estimate.coef[name] == pytest.approx(b, abs=5e-8), name
        assert r.estimate.se[name] == pytest.approx(se, abs=5e-8), name
    assert (r.n_obs, r.n_instruments, r.hansen_df) == (751, 51, 46)
    assert r.hansen == pytest.approx(96.442, abs=5e-4)
    assert (round(r.ar[1][0], 2), round(r.ar[1][1], 3)) == (-2.35, 0.019)
    assert (round(r.ar[2][0], 2), round(r.ar[2][1], 3)) == (-1.15, 0.251)
