"""Health impact functions against hand calculations and the BenMAP-CE/COBRA formula (issue 17 item 2)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from coreduce import coefficients
from coreduce.benefits import benmap_avoided, gemm_rr, health_impact, loglinear_beta, monte_carlo, vsl_transfer


def test_krewski_loglinear_by_hand():
    # beta = ln(1.06)/10; 10 ug/m3 cut -> 1 - exp(-ln 1.06) = 1 - 1/1.06 = 0.06/1.06
    r = health_impact(10, population=1_000_000, baseline_mortality=0.007, crf="krewski2009")
    assert r.crf["beta"] == pytest.approx(math.log(1.06) / 10)
    assert r.crf["beta"] == pytest.approx(0.0058269, abs=1e-7)  # value quoted by COBRA users
    assert r.avoided == pytest.approx(0.007 * 1_000_000 * 0.06 / 1.06)  # 396.2264...
    assert r.avoided == pytest.approx(396.2264150943, rel=1e-10)
    same = health_impact(10, population=1_000_000, baseline_mortality=0.007, crf="loglinear", rr=1.06)
    assert same.avoided == pytest.approx(r.avoided, rel=1e-12)


def test_anchor_benmap_formula_row_to_1e_6():
    """The comparison row: same ΔPM2.5, population and incidence through coreduce and through the formula
    BenMAP-CE/COBRA document, Δy = y0·(1 − exp(−β·ΔC))·Pop, written out here independently."""
    d_c, pop, y0, rr = 3.7, 2_450_000, 0.0061, 1.06
    beta = math.log(rr) / 10
    anchor = y0 * (1 - math.exp(-beta * d_c)) * pop
    ours = health_impact(d_c, population=pop, baseline_mortality=y0, crf="krewski2009").avoided
    assert abs(ours - anchor) < 1e-6
    assert float(benmap_avoided(d_c, y0, pop, beta)) == pytest.approx(anchor, abs=1e-9)


def test_age_groups_sum_and_endpoint_columns():
    g = pd.DataFrame({"group": ["30-64", "65+"], "population": [600_000, 200_000], "baseline_rate": [0.003, 0.04]})
    r = health_impact(5, groups=g)
    b = math.log(1.06) / 10
    f = 1 - math.exp(-b * 5)
    assert list(r.table["avoided"]) == pytest.approx([0.003 * 600_000 * f, 0.04 * 200_000 * f])
    assert r.avoided == pytest.approx((1800 + 8000) * f)


def test_gemm_at_published_parameters_by_hand():
    s = coefficients.load("gemm").row(gemm="burnett2018_ncdlri_china")
    assert (s["theta"], s["alpha"], s["mu"], s["nu"], s["cf"]) == (0.1430, 1.6, 15.5, 36.8, 2.4)
    # C = 50: z = 47.6; ln(1 + 47.6/1.6) = ln(30.75); logistic 1/(1+exp(-(47.6-15.5)/36.8))
    z = 47.6
    hr50 = math.exp(0.1430 * math.log(30.75) / (1 + math.exp(-(z - 15.5) / 36.8)))
    assert float(gemm_rr(50, 0.1430, 1.6, 15.5, 36.8)) == pytest.approx(hr50, rel=1e-12)
    z1 = 37.6
    hr40 = math.exp(0.1430 * math.log(1 + z1 / 1.6) / (1 + math.exp(-(z1 - 15.5) / 36.8)))
    r = health_impact(10, population=1e6, baseline_mortality=0.007, crf="gemm", baseline_pm25=50)
    assert r.avoided == pytest.approx(0.007 * 1e6 * (1 - hr40 / hr50), rel=1e-12)
    assert float(gemm_rr(2.0, 0.1430, 1.6, 15.5, 36.8)) == 1.0  # below the counterfactual


def test_vsl_transfer_and_money():
    assert vsl_transfer(7.4e6, 60_000, 12_000, 1.0) == pytest.approx(7.4e6 * 0.2)
    assert vsl_transfer(7.4e6, 60_000, 12_000, 1.5) == pytest.approx(7.4e6 * 0.2**1.5)
    r = health_impact(10, population=1e6, baseline_mortality=0.007, vsl=2e6)
    assert r.value == pytest.approx(r.avoided * 2e6)
    assert coefficients.load("vsl").value(vsl_set="us_epa") == 7.4e6


def test_monte_carlo_is_seeded_and_brackets_the_central_value():
    a = monte_carlo(10, population=1e6, baseline_mortality=0.007, n=4000, seed=7)
    b = monte_carlo(10, population=1e6, baseline_mortality=0.007, n=4000, seed=7)
    assert a == b
    c = a["avoided"]
    # RR 1.04..1.08 -> avoided 7000*(1-1/1.04)=269.2 .. 7000*(1-1/1.08)=518.5
    assert 255 < c["p2.5"] < 285 and 505 < c["p97.5"] < 535
    assert c["p50"] == pytest.approx(396.2, rel=0.02)
    g = monte_carlo(10, population=1e6, baseline_mortality=0.007, crf="gemm", baseline_pm25=50, n=2000)
    assert g["avoided"]["p2.5"] < g["avoided"]["p50"] < g["avoided"]["p97.5"]
    m = monte_carlo(
        10, population=1e6, baseline_mortality=0.007, vsl_base=(7.4e6, 60_000, 12_000), vsl_elasticity=(1.0, 1.0), n=500
    )
    assert m["value"]["mean"] == pytest.approx(m["avoided"]["mean"] * 7.4e6 * 0.2)


def test_loglinear_beta_rejects_nonsense():
    from coreduce.errors import InputError

    with pytest.raises(InputError):
        loglinear_beta(0)
    assert np.isclose(loglinear_beta(1.08), math.log(1.08) / 10)


def test_source_receptor_then_health_by_hand():
    from coreduce.benefits import source_receptor
    from coreduce.errors import InputError

    cuts = pd.DataFrame({"source": ["A", "A", "B"], "pollutant": ["SO2", "PM2.5", "NOx"], "cut_t": [100.0, 10.0, 50.0]})
    m = pd.DataFrame(
        {
            "source": ["A", "A", "A", "B"],
            "receptor": ["X", "X", "Y", "X"],
            "pollutant": ["SO2", "PM2.5", "SO2", "NOx"],
            "ug_m3_per_t": [1e-4, 2e-3, 5e-5, 4e-5],
        }
    )
    d = source_receptor(cuts, m).set_index("receptor")["delta_pm25"]
    assert d["X"] == pytest.approx(100 * 1e-4 + 10 * 2e-3 + 50 * 4e-5)  # 0.032
    assert d["Y"] == pytest.approx(100 * 5e-5)
    g = pd.DataFrame(
        {"group": ["X", "Y"], "population": [1e6, 2e6], "baseline_rate": [0.007, 0.007], "delta_pm25": [d["X"], d["Y"]]}
    )
    r = health_impact(groups=g)
    b = math.log(1.06) / 10
    assert r.avoided == pytest.approx(7000 * (1 - math.exp(-b * 0.032)) + 14000 * (1 - math.exp(-b * 0.005)))
    with pytest.raises(InputError, match="source 'B' and pollutant 'SO2'"):
        source_receptor(pd.DataFrame({"source": ["B"], "pollutant": ["SO2"], "cut_t": [1.0]}), m)
