"""The next-hour model: features by hand, no look-ahead, and the analytic optimum on a momentum process."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("lightgbm")

from coreduce.forecast import Persistence, backtest
from coreduce.forecast.frames import Panel
from coreduce.forecast.nexthour import NextHourLightGBM


def _momentum(make_hourly, n=24 * 200, phi=0.6, series=2):
    """Changes follow an AR(1): dx(t+1) = phi dx(t) + e, e ~ N(0, 1). The best next-hour forecast x(t) + phi dx(t)
    has RMSE 1 (the noise); persistence's RMSE is sd(dx) = 1 / sqrt(1 - phi^2): ratio sqrt(1 - phi^2) = 0.8."""
    rng = np.random.default_rng(1)
    out = {}
    for k in range(series):
        dx = np.zeros(n)
        for i in range(1, n):
            dx[i] = phi * dx[i - 1] + rng.standard_normal()
        out[f"s{k}"] = 100 + np.cumsum(dx)
    return make_hourly(out)


def _model():
    return NextHourLightGBM(num_boost_round=150, params={"num_threads": 1, "min_data_in_leaf": 20}, seed=3)


def test_features_by_hand(make_hourly):
    y = np.array([1.0, 2.0, np.nan, 7.0, 11.0] + [0.0] * 200)
    df = make_hourly({"a": y})
    F = _model().features(Panel.from_frame(df))
    # position 3: value 7, previous known value carried forward over the gap (2)
    assert F["lag0"][0, 3] == 7.0 and F["lag1"][0, 3] == 2.0 and F["d1"][0, 3] == 5.0
    assert F["d2"][0, 4] == 11.0 - 2.0 and F["dd1"][0, 4] == (11.0 - 7.0) - (7.0 - 2.0)
    assert F["hours_since_reading"][0, 2] == 1.0 and F["hours_since_reading"][0, 3] == 0.0
    assert F["mean3"][0, 4] == pytest.approx((2.0 + 7.0 + 11.0) / 3)  # the carried-forward 2 counts at position 2
    assert np.isnan(F["lag167"][0, 100]) and F["lag167"][0, 170] == 7.0  # position 3


def test_next_hour_reaches_the_analytic_optimum_and_has_no_look_ahead(make_hourly):
    df = _momentum(make_hourly)
    test = pd.date_range("2020-06-01", "2020-07-15", freq="h")
    res = backtest(df, [Persistence(), _model()], h=1, test_cutoffs=test)
    m = res.metrics.set_index("model")
    r = m.loc["lightgbm_next_hour", "ratio_rmse_vs_persistence"]
    assert 0.75 < r < 0.86  # optimum sqrt(1 - 0.6^2) = 0.8
    # forecasts from a cutoff do not change when everything after it changes
    mdl = _model().fit(df[df["ds"] <= test[0]])
    cut = [test[10]]
    a = mdl.predict(df, 1, cut)
    b = mdl.predict(df.assign(y=np.where(df["ds"] > cut[0], 0.0, df["y"])), 1, cut)
    assert np.array_equal(a["y_hat"].to_numpy(), b["y_hat"].to_numpy())
    with pytest.raises(ValueError):
        mdl.predict(df, 2, cut)
