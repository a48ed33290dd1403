"""The LSTM at tiny size: deterministic with a fixed seed, several targets at once, learns a daily cycle."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from coreduce.forecast import Persistence, backtest, daily_cutoffs
from coreduce.forecast.lstm import LSTMForecaster


def _frame(make_hourly, days=40):
    t = np.arange(24 * days)
    rng = np.random.default_rng(0)
    df = make_hourly(
        {
            "a": 50 + 30 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 2, len(t)),
            "b": 80 + 30 * np.sin(2 * np.pi * (t + 6) / 24) + rng.normal(0, 2, len(t)),
        }
    )
    df["NO2"] = 0.5 * df["y"] + 10
    df["TEMP"] = np.cos(np.arange(len(df)) / 100)
    return df


def _model(seed):
    return LSTMForecaster(
        24,
        ["y", "NO2"],
        ["TEMP"],
        input_size=24,
        hidden=8,
        epochs=8,
        batch_size=32,
        lr=0.01,
        train_every=3,
        seed=seed,
        threads=1,
    )


def test_lstm_is_deterministic_and_multi_target(make_hourly):
    df = _frame(make_hourly)
    cut = [pd.Timestamp("2020-02-05 23:00")]
    train = df[df["ds"] <= cut[0]]
    a = _model(1).fit(train).predict(df, 24, cut)
    b = _model(1).fit(train).predict(df, 24, cut)
    c = _model(2).fit(train).predict(df, 24, cut)
    assert np.array_equal(a["y_hat"].to_numpy(), b["y_hat"].to_numpy())
    assert not np.array_equal(a["y_hat"].to_numpy(), c["y_hat"].to_numpy())
    assert {"y_hat", "y_hat:NO2"} <= set(a.columns) and len(a) == 2 * 24


def test_lstm_learns_the_daily_cycle_better_than_persistence(make_hourly):
    df = _frame(make_hourly)
    m = _model(0)
    res = backtest(df, [Persistence(), m], h=24, test_cutoffs=daily_cutoffs("2020-02-03", "2020-02-08"))
    met = res.metrics.set_index("model")
    assert m.losses_[-1] < m.losses_[0]
    # a sine of amplitude 30 against persistence: the LSTM must at least halve persistence's error
    assert met.loc["lstm", "mae"] < 0.5 * met.loc["persistence", "mae"]
