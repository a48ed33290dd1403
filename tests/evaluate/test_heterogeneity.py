"""Split samples, Fisher permutation test and stacked interaction test vs pyfixest fits on each subsample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.evaluate.heterogeneity import interaction_test, permutation_test, split_sample

pf = pytest.importorskip("pyfixest")


def grouped_panel(diff: float, seed: int = 5, n: int = 120, t: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = np.repeat(np.arange(n), t)
    year = np.tile(np.arange(2011, 2011 + t), n)
    grp = (rng.random(n) < 0.5).astype(int)[city]
    x = rng.normal(size=n * t) + rng.normal(size=n)[city]
    c1 = rng.normal(size=n * t)
    y = rng.normal(size=n)[city] + 0.05 * (year - 2011) * (1 + grp) + (-0.2 - diff * grp) * x + 0.1 * c1
    y = y + rng.normal(scale=0.5, size=n * t)
    return pd.DataFrame({"city": city, "year": year, "grp": grp, "y": y, "x": x, "c1": c1})


def test_split_and_interaction_equal_subsample_fits():
    d = grouped_panel(0.3)
    sub = split_sample(d, "y", "x", "c1", entity="city", time="year", group="grp")
    refs = [pf.feols("y ~ x + c1 | city + year", d[d.grp == g], vcov={"CRV1": "city"}) for g in (0, 1)]
    for est, ref in zip(sub, refs, strict=True):
        assert est.coef["x"] == pytest.approx(ref.coef()["x"], rel=1e-10)
    it = interaction_test(d, "y", "x", "c1", entity="city", time="year", group="grp")
    assert it["b0"] == pytest.approx(refs[0].coef()["x"], rel=1e-8)
    assert it["b1"] == pytest.approx(refs[1].coef()["x"], rel=1e-8)
    assert it["diff"] == pytest.approx(-0.3, abs=0.06)
    assert it["p"] < 0.001
    # SUEST check: with disjoint clusters the variance of the difference is the sum of the two variances, up to
    # the small-sample factors (each subsample: G_g/(G_g-1)(n_g-1)/(n_g-K_g); stacked: G/(G-1)(n-1)/(n-K))
    approx = np.sqrt(refs[0].se()["x"] ** 2 + refs[1].se()["x"] ** 2)
    assert it["se"] == pytest.approx(approx, rel=0.03)


def test_permutation_test_observed_and_null():
    d = grouped_panel(0.3)
    res = permutation_test(d, "y", "x", "c1", entity="city", time="year", group="grp", reps=200, seed=11)
    refs = [pf.feols("y ~ x + c1 | city + year", d[d.grp == g]).coef()["x"] for g in (0, 1)]
    assert res.b == pytest.approx(tuple(refs), rel=1e-8)
    assert res.diff == pytest.approx(refs[1] - refs[0], rel=1e-8)
    assert res.p_two_sided == 0.0 and res.p_one_sided == 0.0
    # replay the first two permutations with pyfixest: the same rng draws the same label vectors
    units = d.groupby("city").grp.first().to_numpy()
    rng = np.random.default_rng(11)
    for r in range(2):
        lab = rng.permutation(units)[d.city.to_numpy()]
        b = [pf.feols("y ~ x + c1 | city + year", d[lab == g]).coef()["x"] for g in (0, 1)]
        assert res.null[r] == pytest.approx(b[1] - b[0], rel=1e-7)
    again = permutation_test(d, "y", "x", "c1", entity="city", time="year", group="grp", reps=200, seed=11)
    assert np.array_equal(res.null, again.null)


def test_permutation_no_difference():
    d = grouped_panel(0.0, seed=8)
    res = permutation_test(d, "y", "x", "c1", entity="city", time="year", group="grp", reps=200, seed=3)
    assert res.p_two_sided > 0.05
    assert 0.3 < np.mean(res.null < 0) < 0.7  # the null distribution is centred on zero


def test_group_must_be_entity_level():
    d = grouped_panel(0.0)
    d.loc[0, "grp"] = 1 - d.loc[0, "grp"]
    with pytest.raises(InputError, match="constant within each city"):
        split_sample(d, "y", "x", "c1", entity="city", time="year", group="grp")
