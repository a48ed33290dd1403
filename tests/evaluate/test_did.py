"""Staggered DID: own Callaway–Sant'Anna equals the `differences` package (a second implementation) to 1e-10;
TWFE event study equals a hand-built pyfixest regression; a known dynamic effect is recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coreduce.errors import InputError
from coreduce.evaluate.did import callaway_santanna, event_study_plot, twfe_event_study


def staggered_panel(seed=1, n=200, t=10):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), t)
    yr = np.tile(np.arange(2010, 2010 + t), n)
    coh = rng.choice([0, 2013, 2015, 2017], size=n, p=[0.4, 0.2, 0.2, 0.2])[ids]
    treat = (coh > 0) & (yr >= coh)
    eff = np.where(treat, 1.0 + 0.2 * (yr - coh), 0.0)  # effect 1.0 on impact, +0.2 per year after
    y = rng.normal(size=n)[ids] + 0.1 * (yr - 2010) + eff + rng.normal(size=len(ids))
    return pd.DataFrame({"id": ids, "year": yr, "y": y, "g": coh})


@pytest.fixture(scope="module")
def panel():
    return staggered_panel()


def _differences(panel, control):
    diff = pytest.importorskip("differences")
    d = panel.copy()
    d["g"] = d.g.replace(0, np.nan).astype(float)
    att = diff.ATTgt(data=d.set_index(["id", "year"]), cohort_column="g")
    att.fit("y", est_method="reg", control_group=control, progress_bar=False)
    return att


def _flat(frame):
    frame = frame.copy()
    frame.columns = ["_".join(str(c) for c in col if str(c)) for col in frame.columns]
    return frame


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
def test_cs_equals_differences_package(panel, control):
    cs = callaway_santanna(panel, "y", "id", "year", "g", control=control)
    ref = _differences(panel, control)
    gt = _flat(ref.results()).reset_index()
    m = cs.att_gt.merge(gt, on=["cohort", "time"], validate="one_to_one")
    assert len(m) == len(cs.att_gt) == 27
    assert (m.base == m.base_period).all()
    np.testing.assert_allclose(m.att, m["ATTgtElements_ATT"], atol=1e-10)
    np.testing.assert_allclose(m.se, m["ATTgtElements_analytic_std_error"], atol=1e-10)
    ev, ev_ref = cs.aggregate("event"), _flat(ref.aggregate("event"))
    np.testing.assert_allclose(ev.att, ev_ref.iloc[:, 0], atol=1e-10)
    np.testing.assert_allclose(ev.se, ev_ref.iloc[:, 1], atol=1e-10)
    simple, simple_ref = cs.aggregate("simple"), _flat(ref.aggregate("simple"))
    assert simple.att[0] == pytest.approx(simple_ref.iloc[0, 0], abs=1e-10)
    assert simple.se[0] == pytest.approx(simple_ref.iloc[0, 1], abs=1e-10)


def test_cs_by_hand_one_cell(panel):
    """ATT(2013, 2015) = mean change 2012->2015 of cohort 2013 minus that of never-treated units."""
    cs = callaway_santanna(panel, "y", "id", "year", "g")
    w = panel.pivot(index="id", columns="year", values="y")
    g = panel.groupby("id").g.first()
    d = w[2015] - w[2012]
    expected = d[g == 2013].mean() - d[g == 0].mean()
    row = cs.att_gt[(cs.att_gt.cohort == 2013) & (cs.att_gt.time == 2015)].iloc[0]
    assert row.att == pytest.approx(expected, abs=1e-12)
    assert row.base == 2012


def test_cs_recovers_dynamic_effect():
    big = staggered_panel(seed=3, n=3000, t=10)
    ev = callaway_santanna(big, "y", "id", "year", "g").aggregate("event").set_index("event_time")
    for e in range(0, 4):
        assert ev.att[e] == pytest.approx(1.0 + 0.2 * e, abs=4 * ev.se[e])
    assert abs(ev.att[-2]) < 4 * ev.se[-2]


def test_twfe_event_study_equals_pyfixest(panel):
    pf = pytest.importorskip("pyfixest")
    es = twfe_event_study(panel, "y", "id", "year", "g")
    d = panel.copy()
    d["rel"] = np.where(d.g > 0, d.year - d.g, -1)
    assert es.set_index("event_time").att[-1] == 0.0
    fit = pf.feols("y ~ i(rel, ref=-1) | id + year", d, vcov={"CRV1": "id"})
    np.testing.assert_allclose(es[es.event_time != -1].att.to_numpy(), fit.coef().to_numpy(), rtol=1e-10)
    fig = event_study_plot({"TWFE": es, "CS": callaway_santanna(panel, "y", "id", "year", "g").aggregate()})
    assert [t.name for t in fig.data] == ["TWFE", "CS"]


def test_cohort_must_be_constant(panel):
    bad = panel.copy()
    bad.loc[3, "g"] = 2015
    with pytest.raises(InputError, match="constant within each unit"):
        callaway_santanna(bad, "y", "id", "year", "g")
