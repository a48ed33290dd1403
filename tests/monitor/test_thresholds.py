"""Dynamic thresholds on the gas-turbine NOx data (UCI #551) and explained, stored, acknowledged alerts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coreduce.monitor.evaluation import load_gas_turbine, shared_data
from coreduce.monitor.thresholds import (
    NOX_BAND_V1,
    NOX_BAND_V2,
    ResidualBand,
    band_score,
    band_value,
    dynamic_threshold,
    evaluate_nox,
)

GT = shared_data() / "gas_turbine_co_nox"
needs_gt = pytest.mark.skipif(not GT.is_dir(), reason="shared gas-turbine data not present")


def test_online_band_equals_vectorised_and_hysteresis():
    rng = np.random.default_rng(3)
    obs = rng.normal(0, 1, 400)
    obs[250:254] = [5.0, 1.2, 1.0, -3.0]  # on at 5.0; 1.2 and 1.0 stay above q95 (~1.6?) no -> checked below
    d = dynamic_threshold(obs, np.zeros(400), window=100, q_on=0.99, q_off=0.95, min_periods=50)
    band = ResidualBand(window=100, q_on=0.99, q_off=0.95, min_periods=50)
    online = [band.update(v) for v in obs]
    assert np.allclose([o[0] for o in online], d["band_high"].to_numpy(), equal_nan=True)
    assert [o[3] for o in online] == d["alarm"].tolist()
    # hysteresis: the alarm stays on after 5.0 while the residual is above the q95 band, off once below it
    i = 250
    assert d["exceeded"][i] and d["alarm"][i]
    for j in range(i + 1, 254):
        assert d["alarm"][j] == ((d["alarm"][j - 1] and obs[j] >= d["band_low"][j] - 0) or d["exceeded"][j])


@needs_gt
def test_nox_fixed_limit_alarms_at_part_load():
    """Fixed limit = training (2011–12) q99 of NOx; on clean 2014–15 data its alarms fall at part load."""
    df = load_gas_turbine()
    tr, te = df[df.year <= 2012], df[df.year >= 2014]
    assert (len(tr), len(te)) == (7411 + 7628, 7158 + 7384)  # PROVENANCE.md row counts
    lim = np.quantile(tr["NOX"], 0.99)
    assert lim == pytest.approx(105.1158, abs=1e-3)
    # the previous band (residual, pooled, trailing q99 of 336 residuals, one-step model with 2 lags): 145 faults
    # per draw (1 % of 14,542 rows), 5 draws: 241 of 725 caught = .332 (issue target >= .30) at <= 1 % false alarms
    r = evaluate_nox(**NOX_BAND_V1)
    assert r["clean_alarms_fixed"] == int((te["NOX"] > lim).sum()) == 80
    assert r["clean_alarms_by_load_tercile"]["fixed"]["low"] == 71
    assert r["recall"] == pytest.approx(241 / 725)
    assert r["false_alarm_rate"] <= 0.01
    assert r["recall"] > 10 * r["fixed_recall"]
    # its clean-data alarms: 92 of 189 in the lowest-load tercile; the fixed limit with as many (189) alarms: 174
    assert r["clean_alarms_dynamic"] == r["clean_alarms_fixed_matched"] == 189
    assert r["clean_alarms_by_load_tercile"]["dynamic"]["low"] == 92
    assert r["clean_alarms_by_load_tercile"]["fixed_matched"]["low"] == 174
    # the state-only model (no lags) with a 720-reading band: the anchor's design, .142 here
    r0 = evaluate_nox(lags=0, window=720, draws=5, score="abs", by_state=False, scaled=False, q_on=0.99)
    assert r0["recall"] == pytest.approx(103 / 725) and r0["false_alarm_rate"] <= 0.01


@needs_gt
def test_nox_band_test_years():
    """The band chosen on 2013 (NOX_BAND: relative residual over the model's scale, pooled, 336 readings, q99.2),
    measured once on 2014–15: 303 of 725 faults (.418; the issue's target >= .30) at .64 % false alarms; 53 of its
    152 clean-data alarms in the lowest-load tercile, against 137 of 152 for the fixed limit with as many alarms
    (53 <= 0.4 x 137 = 54.8: the benchmark's check, met with little room)."""
    from coreduce.monitor.thresholds import NOX_BAND

    r = evaluate_nox()
    assert r["band"] == NOX_BAND and r["model"].endswith("-lags2-seed0-scale2fold")
    assert r["recall"] == pytest.approx(303 / 725)
    assert r["false_alarm_rate"] == pytest.approx(0.006446, abs=1e-6)
    assert r["clean_alarms_dynamic"] == r["clean_alarms_fixed_matched"] == 152
    by = r["clean_alarms_by_load_tercile"]
    assert by["dynamic"] == {"low": 53, "mid": 25, "high": 74}
    assert by["fixed_matched"] == {"low": 137, "mid": 12, "high": 3}
    assert by["dynamic"]["low"] <= 0.4 * by["fixed_matched"]["low"]
    assert r["fixed_matched_limit_mg_m3"] == pytest.approx(96.909)


@needs_gt
def test_nox_band_by_load_state_test_years():
    """The second band (NOX_BAND_V2: relative residual, per training load tercile, 168 readings, q99.5), measured
    on 2014–15: 199 of 725 faults (.274, below the issue's .30) at .69 % false alarms; 61 of its 145 clean-data
    alarms in the lowest-load tercile, against 130 of 145 for the fixed limit with as many alarms."""
    r = evaluate_nox(**NOX_BAND_V2)
    assert r["band"] == NOX_BAND_V2
    assert r["recall"] == pytest.approx(199 / 725)
    assert r["false_alarm_rate"] == pytest.approx(0.00693, abs=1e-5)
    assert r["clean_alarms_dynamic"] == r["clean_alarms_fixed_matched"] == 145
    by = r["clean_alarms_by_load_tercile"]
    assert by["dynamic"] == {"low": 61, "mid": 30, "high": 54}
    assert by["fixed_matched"]["low"] == 130 and by["fixed"]["low"] == 71
    assert r["fixed_matched_limit_mg_m3"] == pytest.approx(97.309)


@needs_gt
def test_nox_band_selection_on_validation_year():
    """On 2013 (validation; model trained on 2011–12; fault draws 1000–1019), at a matched 1 % false-alarm rate:
    the relative residual per load tercile catches more faults than the pooled residual (.244 vs .185), and the
    relative residual standardised by the model's scale, pooled, far more (.468), with fewer of its clean-data
    alarms in the lowest-load tercile (.23 vs .30 and .50).  Its q_on (NOX_BAND's) is the first grid quantile
    with <= 1 % false alarms in each quarter of 2013: q99.2 (.71 % over the year, .95 % in the worst quarter;
    q98.9 would give .99 % over the year but 1.24 % in the last quarter)."""
    from coreduce.monitor.thresholds import NOX_BAND, NOX_CANDIDATES, select_nox_band

    names = ("abs-pooled-336", "rel-state-168", "relz-pooled-336")
    sel = select_nox_band({k: NOX_CANDIDATES[k] for k in names})  # the grid 0.985 .. 0.998, steps of 0.0005
    v1, v2, new = (sel["candidates"][k] for k in names)
    assert v1["recall_at_rate"] == pytest.approx(0.185, abs=0.002)
    assert v2["recall_at_rate"] == pytest.approx(0.244, abs=0.002)
    assert new["recall_at_rate"] == pytest.approx(0.468, abs=0.002)
    assert v1["low_share_at_rate"] == pytest.approx(0.50, abs=0.01)
    assert v2["low_share_at_rate"] == pytest.approx(0.30, abs=0.01)
    assert new["low_share_at_rate"] == pytest.approx(0.23, abs=0.01)
    assert sel["chosen"] == "relz-pooled-336"
    assert new["q_on_first_le_rate"] == 0.989 and new["false_alarm_rate_at_that_q"] == pytest.approx(0.0099, abs=1e-4)
    assert new["q_on_first_le_rate_each_part"] == sel["chosen_band"]["q_on"] == NOX_BAND["q_on"] == 0.992
    assert new["false_alarm_rate_at_that_q_each_part"] == pytest.approx(0.0071, abs=1e-4)
    assert new["worst_part_false_alarm_rate_at_that_q"] == pytest.approx(0.0095, abs=1e-4)
    assert new["recall_at_that_q_each_part"] == pytest.approx(0.399, abs=0.001)
    assert {k: sel["chosen_band"][k] for k in ("score", "scaled", "by_state", "window")} == {
        k: NOX_BAND[k] for k in ("score", "scaled", "by_state", "window")
    }


def test_scaled_score_arithmetic():
    """The standardised relative residual: (110 / 100 - 1) / 0.05 = 2; a band of 2 on it is 100 x (1 + 2 x 0.05)
    = 110 mg/m³; without a scale the score is the relative residual itself."""
    assert band_score(np.array([110.0]), np.array([100.0]), "rel", np.array([0.05])) == pytest.approx([2.0])
    assert band_value(np.array([100.0]), np.array([2.0]), "rel", np.array([0.05])) == pytest.approx([110.0])
    assert band_score(np.array([110.0]), np.array([100.0]), "rel") == pytest.approx([0.1])
    assert band_value(np.array([100.0]), np.array([0.5]), "abs", np.array([4.0])) == pytest.approx([102.0])


@needs_gt
def test_nox_scale_model_wider_after_load_steps():
    """The scale model (out-of-fold |relative residual|, training 2011–12) on 2013: the expected size of the
    relative residual is about twice as large in the 10 % of hours with the largest load step |ΔTEY| (median
    .046) as in the others (.0215); never below the floor, at most .25."""
    from coreduce.monitor.thresholds import SCALE_FLOOR, _expected_and_scale, _nox_split

    _, te, m = _nox_split((2013,), "lightgbm", 2)
    assert m.version.endswith("-lags2-seed0-scale2fold")
    _, s = _expected_and_scale(m, te, te["NOX"].to_numpy())
    step = np.abs(np.r_[np.nan, np.diff(te["TEY"].to_numpy())])
    big = step > np.nanquantile(step, 0.9)
    assert np.median(s[big]) == pytest.approx(0.046, abs=0.001)
    assert np.median(s[~big]) == pytest.approx(0.0215, abs=0.0005)
    assert s.min() >= SCALE_FLOOR and s.max() == pytest.approx(0.25, abs=0.01)


@needs_gt
@pytest.mark.parametrize("band", ["NOX_BAND", "NOX_BAND_V2"])
def test_watch_with_nox_band_equals_dynamic_threshold(band):
    """The batch pipeline with NOX_BAND (relative residual over the model's scale, pooled) and with NOX_BAND_V2
    (relative residual, per load tercile) bands as dynamic_threshold does."""
    from coreduce.monitor import thresholds
    from coreduce.monitor.pipeline import watch
    from coreduce.monitor.thresholds import NOX_FEATURES, ConditionalModel

    b = getattr(thresholds, band)
    df = load_gas_turbine()
    m = ConditionalModel(NOX_FEATURES, "NOX", scale=True).fit(df[df.year == 2011])
    te = df[df.year == 2014].iloc[:1200].reset_index(drop=True)
    te["ts"] = pd.date_range("2014-01-01", periods=len(te), freq="h", tz="UTC")
    te["value"] = te["NOX"]
    res = watch(te, m, site_id="gt-1", variable="NOx", unit="mg/m^3", **b)
    state = m.load_state(te["TEY"]) if b["by_state"] else None
    scale = m.predict_scale(te) if b["scaled"] else None
    ref = dynamic_threshold(te["NOX"].to_numpy(), m.predict(te), state=state, scale=scale, score="rel",
                            window=b["window"], q_on=b["q_on"], min_periods=100)  # fmt: skip
    assert np.array_equal(res.scored["exceeded"].to_numpy(), ref["exceeded"].to_numpy())
    np.testing.assert_allclose(res.scored["band_high"], ref["band_high"], rtol=1e-12)
    assert 0 < int(ref["exceeded"].sum()) < 0.03 * len(te)


@needs_gt
def test_alerts_explained_stored_and_acknowledged(tmp_path):
    from coreduce.ledger import Ledger
    from coreduce.monitor.alerts import acknowledge
    from coreduce.monitor.pipeline import watch_and_store
    from coreduce.monitor.thresholds import ConditionalModel
    from coreduce.store import Store

    df = load_gas_turbine()
    X = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]
    tr = df[df.year == 2011]
    te = df[df.year == 2014].iloc[:1500].reset_index(drop=True)
    te["ts"] = pd.date_range("2014-01-01", periods=len(te), freq="h", tz="UTC")  # rows are hours (no clock given)
    te["value"] = te["NOX"]
    # +50 % for 6 hours (a +30 % step stays inside this band: the 2011 model over-predicts 2014 by ~12 mg/m3,
    # the trailing residual q99 is ~17 mg/m3 above the expected value, and 1.3 x 60 = 78 < 70 + 17)
    te.loc[1000:1005, "value"] *= 1.50
    te.loc[1200:1203, "value"] = te.loc[1200, "value"]  # stuck analyser
    model = ConditionalModel(X, "NOX").fit(tr)
    st = Store(tmp_path / "ws.duckdb")
    res = watch_and_store(
        st, te, model, site_id="gt-1", variable="NOx", unit="mg/m^3", limit=50.0, training=tr, window=240
    )
    a = st.read("alerts")
    assert len(a) == len(res.alerts) > 0
    dyn = a[a.kind == "dynamic"]
    hit = dyn[(dyn.ts_start <= te.ts[1005]) & (dyn.ts_end >= te.ts[1000])]
    assert len(hit) == 1  # the drift is one alert, explained
    h = hit.iloc[0]
    assert h.observed > h.band_high > h.expected
    assert h.path != "unexplained" and h.path.startswith("NOx_high -> ") and h.action
    assert len(json.loads(h.contributors)) == 3
    stuck = a[(a["kind"] == "quality") & (a["flags"] == "stuck")]
    assert (stuck.ts_start == te.ts[1202]).any()  # third identical value
    assert stuck.path.str.startswith("value_stuck -> frozen sensor").all()
    assert (a.path.notna()).all() and set(a.status) == {"open"}
    assert set(a[a.kind == "limit"].band_high) == {50.0}
    led = Ledger(st)
    rec = led.get(res.run_id)
    assert rec["status"] == "ok" and rec["kind"] == "monitor"
    # acknowledged (a recorded run); replaying the same batch keeps the acknowledgement and adds nothing
    ack = acknowledge(st, [h.alert_id], by="operator-1")
    watch_and_store(st, te, model, site_id="gt-1", variable="NOx", unit="mg/m^3", limit=50.0, training=tr, window=240)
    b = st.read("alerts").set_index("alert_id")
    assert len(b) == len(a)
    assert b.loc[h.alert_id, "status"] == "acknowledged" and b.loc[h.alert_id, "acknowledged_by"] == "operator-1"
    assert led.get(ack)["kind"] == "monitor-ack"
    assert led.verify().ok
