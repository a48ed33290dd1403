"""Conformal intervals and exceedance probabilities on simulated data with known error distributions."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from coreduce.forecast import Conformal
from coreduce.forecast import metrics as M


def _sim(n: int, seed: int, h: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f = rng.uniform(10, 100, n)
    hh = rng.integers(1, h + 1, n)
    # the error grows with the horizon: sd = h
    y = f + hh * rng.standard_normal(n)
    return pd.DataFrame({"h": hh, "y_hat": f, "y": y})


def test_coverage_on_simulated_data_is_nominal():
    conf = Conformal.calibrate(_sim(6000, 1), transform="identity")
    test = conf.add_intervals(_sim(60000, 2), (80, 95))
    # binomial sd of a coverage of 0.95 on 60,000 draws is 0.0009: 0.01 is more than 10 sd
    assert M.coverage(test["y"], test["lo-95"], test["hi-95"]) == pytest.approx(0.95, abs=0.01)
    assert M.coverage(test["y"], test["lo-80"], test["hi-80"]) == pytest.approx(0.80, abs=0.01)
    # per horizon the width tracks the error: 95 % half-width of N(0, h) is 1.96 h
    for k in (1, 2, 3):
        t = test[test["h"] == k]
        half = ((t["hi-95"] - t["lo-95"]) / 2).mean()
        assert half == pytest.approx(stats.norm.ppf(0.975) * k, rel=0.06)


def test_log_scale_intervals_are_multiplicative_and_non_negative():
    rng = np.random.default_rng(3)
    f = rng.uniform(5, 300, 4000)
    y = np.expm1(np.log1p(f) + 0.4 * rng.standard_normal(4000))
    cal = pd.DataFrame({"h": 1, "y_hat": f[:2000], "y": y[:2000]})
    test = pd.DataFrame({"h": 1, "y_hat": f[2000:], "y": y[2000:]})
    out = Conformal.calibrate(cal, "log1p").add_intervals(test)
    assert (out["lo-95"] >= 0).all()
    assert M.coverage(out["y"], out["lo-95"], out["hi-95"]) == pytest.approx(0.95, abs=0.02)


def test_exceedance_probability_matches_the_error_law():
    conf = Conformal.calibrate(_sim(20000, 4, h=1), transform="identity")
    fc = pd.DataFrame({"h": [1, 1, 1], "y_hat": [50.0, 50.0, 50.0]})
    for thr, p_true in ((50.0, 0.5), (51.645, 0.05), (48.0, stats.norm.sf(-2.0))):
        p = conf.exceedance(fc.iloc[:1], thr)[0]
        assert p == pytest.approx(p_true, abs=0.01)


def test_calibrated_probabilities_beat_the_base_rate_in_brier_score():
    conf = Conformal.calibrate(_sim(5000, 5, h=1), transform="identity")
    test = _sim(20000, 6, h=1)
    thr = 80.0
    p = conf.exceedance(test, thr)
    event = test["y"] > thr
    base = np.full(len(p), event.mean())
    assert M.brier(p, event) < 0.5 * M.brier(base, event)
    rel = M.reliability(p, event)
    big = rel[rel["n"] > 500]
    assert np.max(np.abs(big["forecast"] - big["observed"])) < 0.05
