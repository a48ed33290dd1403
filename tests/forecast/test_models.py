"""Baselines by hand, a known seasonal pattern recovered, and the backtest's bookkeeping."""

import numpy as np
import pandas as pd
import pytest

from coreduce.forecast import Climatology, Persistence, SeasonalNaive, StatsModel, backtest, daily_cutoffs
from coreduce.forecast.frames import Panel, from_observations


def test_persistence_and_seasonal_naive_by_hand(make_hourly):
    df = make_hourly({"a": np.arange(200, dtype=float)})  # y = t
    cut = [pd.Timestamp("2020-01-01") + pd.Timedelta(hours=49)]  # t = 49
    p = Persistence().predict(df, 30, cut)
    assert (p["y_hat"] == 49).all() and list(p["h"]) == list(range(1, 31))
    s = SeasonalNaive(24).predict(df, 30, cut).set_index("h")["y_hat"]
    assert s[1] == 50 - 24  # target t=50, one day back
    assert s[24] == 73 - 24  # = 49, the cutoff itself
    assert s[25] == 74 - 48  # beyond a day: two days back
    w = SeasonalNaive(168).predict(make_hourly({"a": np.arange(400.0)}), 2, [pd.Timestamp("2020-01-11 23:00")])
    assert list(w["y_hat"]) == [264 - 168, 265 - 168]  # cutoff t = 10 * 24 + 23 = 263


def test_gaps_are_carried_forward_not_interpolated(make_hourly):
    v = np.arange(100, dtype=float)
    v[47:50] = np.nan  # the cutoff t=49 and the two hours before are missing
    df = make_hourly({"a": v})
    p = Persistence().predict(df, 3, [pd.Timestamp("2020-01-01 01:00") + pd.Timedelta(hours=48)])
    assert (p["y_hat"] == 46).all()  # last value known at the cutoff, not an interpolation toward t=50


def test_daily_cutoffs_are_the_hour_before_local_issue():
    c = daily_cutoffs("2016-03-01", "2016-03-02", issue_hour=0, utc_offset_h=8)
    # issued 2016-03-01 00:00 Beijing = 2016-02-29 16:00 UTC; last observed interval starts 15:00 UTC
    assert list(c) == [pd.Timestamp("2016-02-29 15:00"), pd.Timestamp("2016-03-01 15:00")]


def _seasonal(n_days: int, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    t = np.arange(24 * n_days)
    rng = np.random.default_rng(seed)
    return 50 + 20 * np.sin(2 * np.pi * t / 24) + noise * rng.standard_normal(len(t))


def test_climatology_recovers_the_daily_cycle(make_hourly):
    df = make_hourly({"a": _seasonal(60, noise=2.0)})
    m = Climatology().fit(df)
    fc = m.predict(df, 24, [df["ds"].iloc[-25]])
    truth = 50 + 20 * np.sin(2 * np.pi * fc["ds"].dt.hour.to_numpy() / 24)
    # mean of ~31 noisy values (sd 2) per hour and January: within 4 standard errors (4 * 2/sqrt(31) = 1.44)
    assert np.max(np.abs(fc["y_hat"].to_numpy() - truth)) < 1.5


def test_mstl_recovers_a_known_seasonal_pattern(make_hourly):
    df = make_hourly({"a": _seasonal(35)})
    cut = [df["ds"].iloc[-25]]
    fc = StatsModel("mstl", window=672).predict(df, 24, cut)
    truth = 50 + 20 * np.sin(2 * np.pi * fc["ds"].dt.hour.to_numpy() / 24)
    assert np.max(np.abs(fc["y_hat"].to_numpy() - truth)) < 0.5


def test_backtest_persistence_error_on_a_line_is_the_horizon(make_hourly):
    # y = t: persistence misses by exactly h, so MAE over h = 1..24 is mean(1..24) = 12.5 and RMSE
    # sqrt(mean(h^2)) = sqrt(24*25*49/6/24) = sqrt(204.1667)
    df = make_hourly({"a": np.arange(24 * 40, dtype=float), "b": np.arange(24 * 40, dtype=float) + 5})
    test = daily_cutoffs("2020-01-30", "2020-02-05")
    res = backtest(df, [Persistence(), SeasonalNaive(24)], h=24, test_cutoffs=test)
    m = res.metrics.set_index("model")
    assert m.loc["persistence", "mae"] == pytest.approx(12.5)
    assert m.loc["persistence", "rmse"] == pytest.approx(np.sqrt(24 * 25 * 49 / 6 / 24))
    assert m.loc["seasonal_naive_24", "mae"] == pytest.approx(24.0)  # y(t) - y(t-24) = 24
    # MASE scale: in-sample seasonal naive MAE with season 24 is 24 -> 12.5 / 24
    assert m.loc["persistence", "mase"] == pytest.approx(12.5 / 24)
    assert m.loc["seasonal_naive_24", "ratio_mae_vs_persistence"] == pytest.approx(24 / 12.5)
    assert m.loc["persistence", "cutoffs"] == 7 and m.loc["persistence", "n"] == 7 * 24 * 2


def test_frame_from_observations_and_panel():
    ts = pd.to_datetime(["2020-01-01 00:00", "2020-01-01 02:00"], utc=True)
    obs = pd.DataFrame(
        {"site_id": ["s1", "s1"], "ts": ts, "variable": ["PM2.5", "PM2.5"], "value": [1.0, 3.0], "unit": ["ug/m^3"] * 2}
    )
    df = from_observations(obs, "PM2.5")
    assert list(df["y"].isna()) == [False, True, False]  # the missing hour is a NaN row, not dropped
    assert df["ds"].dt.tz is None and df.attrs["units"]["y"] == "ug/m^3"
    p = Panel.from_frame(df)
    assert list(p.ffilled()[0]) == [1.0, 1.0, 3.0]


@pytest.mark.parametrize("kind", ["seasonal_naive", "autoets", "autoarima"])
def test_stats_model_equals_statsforecast_cross_validation(make_hourly, kind):
    # the wrapper's windows are statsforecast's own cross-validation windows (input_size = window, refit each)
    pytest.importorskip("statsforecast")
    from statsforecast import StatsForecast

    rng = np.random.default_rng(1)
    df = make_hourly({"a": _seasonal(12, seed=1, noise=3.0), "b": 2 * _seasonal(12, seed=2, noise=3.0) + rng.random()})
    W, h, step, n = 96, 24, 24, 3
    m = StatsModel(kind, window=W)
    ref = StatsForecast(models=[m._model()], freq="h").cross_validation(
        h=h, df=df, n_windows=n, step_size=step, input_size=W, refit=True
    )
    cuts = sorted(ref["cutoff"].unique())
    ours = m.predict(df, h, cuts).merge(ref, on=["unique_id", "cutoff", "ds"])
    assert len(ours) == 2 * n * h
    np.testing.assert_allclose(ours["y_hat"], ours[kind], rtol=1e-6, atol=1e-6)


def test_ensemble_is_the_mean_of_its_members_by_hand(make_hourly):
    from coreduce.forecast import Ensemble

    y = np.arange(1.0, 24 * 3 + 1)  # 1, 2, ..., 72
    df = make_hourly({"a": y})
    cut = [df["ds"].iloc[47]]  # last value 48; the same hours a day before are 25 ... 48
    fc = Ensemble([Persistence(), SeasonalNaive(24)], name="mean2").fit(df).predict(df, 24, cut)
    assert fc["y_hat"].tolist() == [(48.0 + (24.0 + h)) / 2 for h in range(1, 25)]
