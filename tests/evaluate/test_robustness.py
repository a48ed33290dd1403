"""Winsorising with Stata's percentile definition, and the robustness battery against direct pyfixest fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.evaluate.robustness import robustness, stata_percentile, winsorize

pf = pytest.importorskip("pyfixest")


def test_stata_percentile_by_hand():
    x = np.arange(1.0, 11.0)  # 1..10
    assert stata_percentile(x, 50) == 5.5  # P = 10*0.5 = 5 is an integer: (x5 + x6)/2
    assert stata_percentile(x, 25) == 3.0  # P = 2.5: x(floor(P)+1) = x3
    assert stata_percentile(x, 1) == 1.0  # P = 0.1: x1
    assert stata_percentile(x, 99) == 10.0  # P = 9.9: x10
    rng = np.random.default_rng(0)
    for n in (7, 100, 3692):
        v = rng.normal(size=n)
        for p in (1, 5, 50, 95, 99):
            assert stata_percentile(v, p) == pytest.approx(np.percentile(v, p, method="averaged_inverted_cdf"))


def test_winsorize_cuts_1_99():
    s = pd.Series(np.arange(1.0, 201.0))
    w = winsorize(s, (1, 99))
    # p1: P = 2 -> (x2 + x3)/2 = 2.5 ; p99: P = 198 -> (x198 + x199)/2 = 198.5
    assert w.iloc[:3].tolist() == [2.5, 2.5, 3.0]
    assert w.iloc[-3:].tolist() == [198.0, 198.5, 198.5]
    t = winsorize(s, (1, 99), trim=True)
    assert t.isna().sum() == 4
    by = winsorize(pd.Series([1.0, 2, 3, 100, 10, 20, 30, 1000]), (25, 75), by=pd.Series([0, 0, 0, 0, 1, 1, 1, 1]))
    assert by.tolist() == [1.5, 2, 3, 51.5, 15, 20, 30, 515]


def test_battery_matches_direct_fits(city_panel):
    d = city_panel.copy()
    d["cei_alt"] = d.cei * 1.1 + 0.2
    d["east"] = (d.city % 3 == 0).astype(int)
    models = robustness(
        d,
        "cei",
        "ai",
        "c1,c2,c3",
        entity="city",
        time="year",
        variants=[
            {"label": "Alt. y", "y": "cei_alt"},
            {"label": "Winsor 1%", "winsor": 1},
            {"label": "2011-2018", "period": (2011, 2018)},
            {"label": "Drop east", "drop_column": "east", "drop_values": [1]},
            {"label": "Winsor 5% by year", "winsor": 5, "winsor_by": "year"},
        ],
    )
    assert [m.name for m in models] == [
        "Baseline",
        "Alt. y",
        "Winsor 1%",
        "2011-2018",
        "Drop east",
        "Winsor 5% by year",
    ]
    f = "ai + c1 + c2 + c3 | city + year"
    v = {"CRV1": "city"}
    assert models[1].coef["ai"] == pytest.approx(1.1 * models[0].coef["ai"], rel=1e-10)
    w = d.copy()
    for c in ("cei", "ai", "c1", "c2", "c3"):
        lo, hi = stata_percentile(w[c], 1), stata_percentile(w[c], 99)
        w[c] = w[c].clip(lo, hi)
    ref = pf.feols(f"cei ~ {f}", w, vcov=v)
    assert models[2].coef["ai"] == pytest.approx(ref.coef()["ai"], rel=1e-10)
    assert models[2].se["ai"] == pytest.approx(ref.se()["ai"], rel=1e-10)
    ref = pf.feols(f"cei ~ {f}", d[d.year <= 2018], vcov=v)
    assert models[3].coef["ai"] == pytest.approx(ref.coef()["ai"], rel=1e-10)
    assert models[3].nobs == 284 * 8
    assert models[4].nobs == (d.east == 0).sum()
    wy = d.copy()
    for c in ("cei", "ai", "c1", "c2", "c3"):
        lo = wy.groupby("year")[c].transform(lambda s: stata_percentile(s, 5))
        hi = wy.groupby("year")[c].transform(lambda s: stata_percentile(s, 95))
        wy[c] = wy[c].clip(lo, hi)
    ref = pf.feols(f"cei ~ {f}", wy, vcov=v)
    assert models[5].coef["ai"] == pytest.approx(ref.coef()["ai"], rel=1e-10)
