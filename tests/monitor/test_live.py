"""The live monitor fed in random chunks gives the batch numbers: conditional model, online residual band with
hysteresis, double-delta flag; late readings flagged; alerts explained (gas-turbine NOx, real data)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from coreduce.monitor.evaluation import inject_faults, shared_data
from coreduce.monitor.live import LiveMonitor, OnlineBand
from coreduce.monitor.quality import QualityRules, StreamScorer, double_delta, trailing_quantiles
from coreduce.monitor.thresholds import ConditionalModel, dynamic_threshold

GT = shared_data() / "gas_turbine_co_nox"
needs_gt = pytest.mark.skipif(not GT.is_dir(), reason="shared gas-turbine data not present")
STATE = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]


def test_trailing_quantiles_equal_numpy_nanquantile():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(400, 40))
    for i in range(400):  # NaN-padded windows (a key's warm-up) of every length, and one all-NaN window
        w[i, : rng.integers(0, 40)] = np.nan
    w[3] = np.nan
    with pytest.warns(RuntimeWarning):
        ref = np.nanquantile(w, [0.25, 0.5, 0.95, 0.99], axis=1)
    np.testing.assert_allclose(trailing_quantiles(w, [0.25, 0.5, 0.95, 0.99]), ref, rtol=0, atol=1e-12)


def test_online_band_equals_dynamic_threshold():
    rng = np.random.default_rng(2)
    r = rng.standard_t(3, size=3000)
    ref = dynamic_threshold(r, np.zeros(len(r)), window=200, q_on=0.99, q_off=0.95, min_periods=50)
    band, parts, i = OnlineBand(window=200, min_periods=50), [], 0
    while i < len(r):
        n = int(rng.integers(1, 300))
        parts.append(band.update(r[i : i + n]))
        i += n
    up, lo, ex, al = (np.concatenate([p[k] for p in parts]) for k in range(4))
    np.testing.assert_allclose(up, ref["band_high"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lo, ref["band_low"], rtol=0, atol=1e-12)
    assert np.array_equal(ex, ref["exceeded"]) and np.array_equal(al, ref["alarm"])
    assert 0.005 < ex.mean() < 0.02  # about 1 % above a trailing q99


def test_stream_double_delta_is_batch_flag_one_reading_late():
    x = np.r_[np.tile([100.0, 110.0], 60), 300.0, 105.0, np.tile([100.0, 110.0], 10)]
    ref = double_delta(pd.Series(x), QualityRules(delta_window=100))
    sc, out = StreamScorer(QualityRules(delta_window=100, relocate=False)), []
    for chunk in np.array_split(x, 7):
        out.append(sc.update("k", chunk)["double_delta_prev"])
    prev = np.concatenate(out)
    assert ref.nonzero()[0].tolist() == [120]  # the 300 spike: up 190, back 195, both > 2 x IQR 20
    assert np.array_equal(prev[1:], ref[:-1]) and not prev[0]


def test_online_band_by_state_equals_dynamic_threshold():
    """A band per state (pooled until a state has min_periods scores; state -1 = pooled only), fed in random
    chunks, online per reading (ResidualBand) and vectorised (dynamic_threshold): the same numbers."""
    from coreduce.monitor.thresholds import ResidualBand

    rng = np.random.default_rng(2)
    n = 3000
    st = rng.integers(-1, 3, n)
    st[:400] = rng.integers(0, 2, 400)  # state 2 appears late: its first readings use the pooled band
    r = rng.standard_t(3, size=n) * (1 + st.clip(0))  # spread grows with the state
    ref = dynamic_threshold(r, np.zeros(n), window=120, q_on=0.99, q_off=0.95, min_periods=50, state=st)
    band, parts, i = OnlineBand(window=120, min_periods=50), [], 0
    while i < n:
        k = int(rng.integers(1, 300))
        parts.append(band.update(r[i : i + k], st[i : i + k]))
        i += k
    up, lo, ex, al = (np.concatenate([p[k] for p in parts]) for k in range(4))
    np.testing.assert_allclose(up, ref["band_high"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lo, ref["band_low"], rtol=0, atol=1e-12)
    assert np.array_equal(ex, ref["exceeded"]) and np.array_equal(al, ref["alarm"])
    rb = ResidualBand(window=120, q_on=0.99, q_off=0.95, min_periods=50)
    one = [rb.update(v, s) for v, s in zip(r, st, strict=True)]
    np.testing.assert_allclose([o[0] for o in one], ref["band_high"], rtol=0, atol=1e-12)
    assert [o[3] for o in one] == ref["alarm"].tolist()
    # the state bands differ from the pooled one: state 2 (3 x the spread) has a higher band than state 0
    pooled = dynamic_threshold(r, np.zeros(n), window=120, q_on=0.99, q_off=0.95, min_periods=50)
    late = np.arange(n) > 1500
    assert np.median(up[late & (st == 2)]) > 2 * np.median(up[late & (st == 0)])
    assert not np.array_equal(ex, pooled["exceeded"].to_numpy())


@needs_gt
@pytest.mark.parametrize("band", ["abs-pooled", "rel-by-state", "rel-scaled"])
def test_live_monitor_equals_batch_pipeline_on_gas_turbine(band):
    """Two turbines' NOx (+10 % faults on 1 % of readings) and operating state, streamed interleaved in random
    chunks: the live expected value equals the batch model's, the alarms equal the batch band's (the residual
    band, the relative-residual band per load tercile of :data:`NOX_BAND_V2`, and the relative residual divided by
    the model's scale of :data:`NOX_BAND`), and each alert is an explained rising edge of that alarm."""
    from coreduce.monitor.evaluation import load_gas_turbine
    from coreduce.monitor.rca import terciles_of

    df = load_gas_turbine()
    tr, te = df[df["year"] <= 2012], df[df["year"] >= 2014].reset_index(drop=True)
    m = ConditionalModel(STATE, "NOX", lags=2, group="year", scale=band == "rel-scaled").fit(tr.iloc[::3])
    n = 900
    series = {}
    for site, off in (("gt-a", 0), ("gt-b", 5000)):
        part = te.iloc[off : off + n].reset_index(drop=True)
        y, _ = inject_faults(part["NOX"].to_numpy(), 0.01, 0.10, seed=off)
        series[site] = (part, y)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for site, (part, y) in series.items():
        for i in range(n):
            rows.append({"site_id": site, "ts": t0 + pd.Timedelta(hours=i), "variable": "stack_NOx", "value": y[i],
                         "unit": "mg/m^3", "state": {c: float(part[c].iat[i]) for c in STATE}})  # fmt: skip
    feed = pd.DataFrame(rows).sort_values(["ts", "site_id"], kind="stable").reset_index(drop=True)
    feed["arrived"] = feed["ts"] + pd.Timedelta(seconds=2)
    kw = {"abs-pooled": {}, "rel-by-state": {"score": "rel", "by_state": True},
          "rel-scaled": {"score": "rel", "scaled": True}}[band]  # fmt: skip
    mon = LiveMonitor(None, models={"stack_NOx": m}, terciles={"stack_NOx": terciles_of(tr, STATE)}, window=200,
                      min_periods=50, **kw)  # fmt: skip
    rng, i, scored, alerts = np.random.default_rng(0), 0, [], []
    while i < len(feed):
        k = int(rng.integers(1, 250))
        chunk = feed.iloc[i : i + k].reset_index(drop=True)
        res = mon.after_write(chunk)
        scored.append(res.scored.assign(site_id=chunk["site_id"].to_numpy(), ts=chunk["ts"].to_numpy()))
        if len(res.alerts):
            alerts.append(res.alerts)
        i += k
    live = pd.concat(scored, ignore_index=True)
    al = pd.concat(alerts, ignore_index=True).drop_duplicates("alert_id", keep="last")
    assert not live["late"].any()
    for site, (part, y) in series.items():
        got = live[live["site_id"] == site].sort_values("ts")
        frame = part.assign(NOX=y, year=0)
        exp = m.predict(frame, y)
        np.testing.assert_allclose(got["expected"].to_numpy(), exp, rtol=1e-9)
        state = m.load_state(part["TEY"]) if kw.get("by_state") else None
        scale = m.predict_scale(frame, y) if kw.get("scaled") else None
        ref = dynamic_threshold(y, exp, window=200, min_periods=50, score=kw.get("score", "abs"), state=state,
                                scale=scale)  # fmt: skip
        np.testing.assert_allclose(got["band_high"].to_numpy(), ref["band_high"].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(got["band_score"].to_numpy(), ref["band_score"].to_numpy(), rtol=1e-9)
        bad = got[["missing", "stuck", "non_positive", "out_of_range"]].any(axis=1).to_numpy()
        assert np.array_equal(got["alarm"].to_numpy(), ref["alarm"].to_numpy() & ~bad)
        a = ref["alarm"].to_numpy() & ~bad
        edges = int((a & ~np.r_[False, a[:-1]]).sum())
        dyn = al[(al["site_id"] == site) & (al["kind"] == "dynamic")]
        assert len(dyn) == edges > 0
    dyn = al[al["kind"] == "dynamic"]
    assert (dyn["observed"] > dyn["band_high"]).all() and dyn["expected"].notna().all()
    assert (dyn["path"].str.startswith("NOx_high ->")).all()  # every alert explained by the graph
    assert dyn["contributors"].map(lambda c: len(json.loads(c)) == 3).all()


def test_late_flag_and_stored_quality():
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    df = pd.DataFrame({"site_id": "s", "ts": [t0 + pd.Timedelta(minutes=i) for i in range(5)], "variable": "load",
                       "value": [5.0, 6.0, 7.0, 8.0, 9.0], "unit": "MW"})  # fmt: skip
    df["arrived"] = df["ts"] + pd.to_timedelta([1, 1, 3600, 1, 16 * 60], unit="s")
    fl = LiveMonitor(None).before_write(df)
    assert fl["late"].tolist() == [False, False, True, False, True]  # > 15 min (QualityRules.late_after)
    assert fl["quality"].tolist() == ["ok", "ok", "suspect", "ok", "suspect"]


def test_states_vectorised_equal_row_by_row():
    """The operating state per reading (forward fill within each site, the site's earlier state carried between
    batches) equals the row-by-row definition, NaN reports included."""
    rng = np.random.default_rng(0)
    feats = ["A", "B", "C"]
    for _ in range(20):
        a, b = LiveMonitor(None), LiveMonitor(None)
        a.state_vars = b.state_vars = set(feats)
        for _ in range(4):
            n = int(rng.integers(0, 40))
            df = pd.DataFrame({"site_id": rng.choice(["s1", "s2", "s3"], n), "variable": rng.choice([*feats, "NOx"], n),
                               "value": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))})  # fmt: skip
            assert np.array_equal(a._states(df).to_numpy(), b._states_rows(df, feats).to_numpy(), equal_nan=True)
            assert a.site_state.keys() == b.site_state.keys()
            for k, da in a.site_state.items():
                assert pd.Series(da).sort_index().equals(pd.Series(b.site_state[k]).sort_index())
