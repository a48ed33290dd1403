"""The global LightGBM model: learns a seasonal AR panel better than persistence, deterministically."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("lightgbm")

from coreduce.forecast import Persistence, backtest, daily_cutoffs
from coreduce.forecast.gbm import LightGBMForecaster


def _panel(make_hourly, days=120):
    rng = np.random.default_rng(0)
    n = 24 * days
    t = np.arange(n)
    out = {}
    common = np.zeros(n)
    for i in range(1, n):  # a shared AR(1) "regional" signal: neighbours carry information
        common[i] = 0.97 * common[i - 1] + rng.standard_normal()
    for k in range(3):
        out[f"s{k}"] = np.exp(3.5 + 0.3 * np.sin(2 * np.pi * t / 24) + 0.15 * common + 0.1 * rng.standard_normal(n))
    return make_hourly(out)


def test_lightgbm_beats_persistence_and_is_deterministic(make_hourly):
    df = _panel(make_hourly)
    test = daily_cutoffs("2020-04-01", "2020-04-28")
    cal = daily_cutoffs("2020-03-10", "2020-03-30")

    def model():
        return LightGBMForecaster(24, num_boost_round=60, params={"num_threads": 1, "min_data_in_leaf": 20}, seed=7)

    r1 = backtest(df, [Persistence(), model()], h=24, test_cutoffs=test, cal_cutoffs=cal)
    m = r1.metrics.set_index("model")
    assert m.loc["lightgbm", "mae"] < 0.9 * m.loc["persistence", "mae"]
    assert 0.85 <= m.loc["lightgbm", "coverage_95"] <= 1.0
    r2 = backtest(df, [model()], h=24, test_cutoffs=test, cal_cutoffs=cal)
    a = r1.forecasts[r1.forecasts["model"] == "lightgbm"]["y_hat"].to_numpy()
    assert np.array_equal(a, r2.forecasts["y_hat"].to_numpy())


def test_oracle_weather_is_labelled(make_hourly):
    df = _panel(make_hourly, days=30)
    df["TEMP"] = np.sin(np.arange(len(df)) / 50)
    m = LightGBMForecaster(24, ["TEMP"], oracle=True, num_boost_round=5, params={"num_threads": 1})
    assert m.name == "lightgbm+oracle_weather"
    res = backtest(df, [Persistence(), m], h=24, test_cutoffs=daily_cutoffs("2020-01-25", "2020-01-27"))
    row = res.metrics.set_index("model").loc["lightgbm+oracle_weather"]
    assert bool(row["oracle_weather"]) is True
    assert pd.api.types.is_bool(row["oracle_weather"]) or row["oracle_weather"] in (True, np.True_)


def test_no_value_after_the_cutoff_is_read(make_hourly):
    # neighbours, wind vector, holidays: changing everything after the cutoff must not change the forecast
    df = _panel(make_hourly, days=40)
    rng = np.random.default_rng(5)
    df["wd_n"], df["WSPM"] = rng.standard_normal(len(df)), rng.random(len(df))
    m = LightGBMForecaster(24, ["wd_n", "WSPM"], neighbours=True, holidays="US", num_boost_round=20,
                           params={"num_threads": 1, "min_data_in_leaf": 20}, seed=0)  # fmt: skip
    cut = pd.Timestamp("2020-02-05 23:00")
    m.fit(df[df["ds"] <= cut - pd.Timedelta(hours=24)])
    a = m.predict(df, 24, [cut])
    late = df["ds"] > cut
    df2 = df.copy()
    df2.loc[late, ["y", "wd_n", "WSPM"]] = df2.loc[late, ["y", "wd_n", "WSPM"]] * 10 + 100
    b = m.predict(df2, 24, [cut])
    assert np.array_equal(a["y_hat"].to_numpy(), b["y_hat"].to_numpy())
    # ... while the values at the cutoff are read: a change there moves the forecast
    df3 = df.copy()
    df3.loc[df3["ds"] == cut, "y"] *= 5
    assert not np.array_equal(a["y_hat"].to_numpy(), m.predict(df3, 24, [cut])["y_hat"].to_numpy())
    names = m.booster.feature_name()
    assert {"nb0_now", "nb2_d6", "holiday", "wd_n_now"} <= set(names)


def test_identity_scale_predicts_the_mean_and_rejects_unknown_holidays(make_hourly):
    df = _panel(make_hourly, days=30)
    m = LightGBMForecaster(1, objective_scale="identity", params={"objective": "l2", "num_threads": 1,
                           "min_data_in_leaf": 20}, num_boost_round=30, train_every=1).fit(df)  # fmt: skip
    fc = m.predict(df, 1, list(df["ds"].unique()[200:600]))
    fc = fc.merge(df, on=["unique_id", "ds"])
    # squared-error trees on the raw scale: forecast errors are centred (a log-scale median would be low)
    assert abs(np.mean(fc["y"] - fc["y_hat"])) < 0.1 * np.std(fc["y"])
    with pytest.raises(ValueError):
        LightGBMForecaster(1, holidays="CN", num_boost_round=1, params={"num_threads": 1}).fit(df)


def test_relative_target_returns_yesterdays_profile_on_a_repeating_day(make_hourly):
    # every day the same profile at two very different levels: the log ratio to the same hour yesterday is 0
    # everywhere, so the forecast is exactly yesterday's profile (whatever the level)
    prof = 1000 + 300 * np.sin(2 * np.pi * np.arange(24) / 24)
    df = make_hourly({"big": np.tile(prof * 20, 60), "small": np.tile(prof, 60)})
    m = LightGBMForecaster(24, num_boost_round=20, relative_to="same_hour_d1", holidays=None,
                           params={"num_threads": 1, "min_data_in_leaf": 5})  # fmt: skip
    m.fit(df[df["ds"] < "2020-02-20"])
    cut = [pd.Timestamp("2020-02-25 23:00")]
    fc = m.predict(df, 24, cut).sort_values(["unique_id", "h"])
    assert np.allclose(fc.loc[fc["unique_id"] == "small", "y_hat"], prof, rtol=1e-9)
    assert np.allclose(fc.loc[fc["unique_id"] == "big", "y_hat"], prof * 20, rtol=1e-9)
    with pytest.raises(ValueError):
        LightGBMForecaster(24, relative_to="same_hour_d7")


def test_no_value_after_the_cutoff_is_read_with_level_features_and_local_zones(make_hourly):
    df = _panel(make_hourly, days=40)
    m = LightGBMForecaster(24, level_features=True, holidays="US", local_tz={"s0": "America/Los_Angeles"},
                           num_boost_round=20, params={"num_threads": 1, "min_data_in_leaf": 20})  # fmt: skip
    cut = pd.Timestamp("2020-02-05 23:00")
    m.fit(df[df["ds"] <= cut - pd.Timedelta(hours=24)])
    a = m.predict(df, 24, [cut])
    df2 = df.copy()
    df2.loc[df2["ds"] > cut, "y"] *= 10
    assert np.array_equal(a["y_hat"].to_numpy(), m.predict(df2, 24, [cut])["y_hat"].to_numpy())
    # ... while a value 30 h before the cutoff (rolling means, level features) moves it
    df3 = df.copy()
    df3.loc[df3["ds"] == cut - pd.Timedelta(hours=30), "y"] *= 3
    assert not np.array_equal(a["y_hat"].to_numpy(), m.predict(df3, 24, [cut])["y_hat"].to_numpy())
    assert {"lvl_mean24_vs_d1", "lvl_now_vs_w1", "profile_d1_vs_w1"} <= set(m.booster.feature_name())
    assert "local_tz=s0:America/Los_Angeles" in m.version and "level_features" in m.version


def _eia930(name: str) -> pd.DataFrame:
    """An EIA-930 file read with plain pandas (independent of the loader)."""
    from coreduce.ingest.loaders import shared_data_dir

    p = shared_data_dir() / "eia930_cleaned_hourly_demand" / "balancing_authorities" / f"{name}.csv.gz"
    if not p.is_file():
        pytest.skip("shared EIA-930 data not present")
    return pd.read_csv(p, parse_dates=["date_time"])


def test_per_series_local_calendar_on_eia930_balancing_areas():
    from coreduce.forecast.jobs import load_frame

    raws = {n: _eia930(n) for n in ("LDWP", "TEPC", "DUK")}
    frames, zones = [], {}
    for n in raws:
        d, meta = load_frame(f"eia930:{n}", "load")
        frames.append(d)
        zones |= meta["local_tz"]
    # the zones come from the data set's balancing_authority_acronyms.csv: Pacific, Arizona (no DST), Eastern
    assert zones == {"LDWP": "America/Los_Angeles", "TEPC": "America/Phoenix", "DUK": "America/New_York"}
    df = pd.concat(frames, ignore_index=True)
    df = df[(df["ds"] >= "2024-02-20") & (df["ds"] < "2024-07-10")]
    m = LightGBMForecaster(24, holidays="US", local_tz=zones, utc_offset_h=-6.0)
    from coreduce.forecast.frames import Panel

    panel = Panel.from_frame(df)
    # cutoffs so that targets fall on the US spring DST switch (2024-03-10, 02:00 local) and around July 4
    cuts = [pd.Timestamp("2024-03-10 05:00"), pd.Timestamp("2024-07-04 23:00")]
    X, y = m._features(panel, panel.pos(cuts), 24)
    ids = np.repeat(panel.ids, 2 * 24)
    ds = np.tile(np.concatenate([pd.date_range(c + pd.Timedelta(hours=1), periods=24, freq="h") for c in cuts]), 3)
    X = X.assign(uid=ids, ds=ds, y=y).set_index(["uid", "ds"])

    def at(uid, utc):
        return X.loc[(uid, pd.Timestamp(utc))]

    # the target value is the file's cleaned demand at that UTC hour
    r = raws["LDWP"].set_index("date_time")["cleaned demand (MW)"]
    assert at("LDWP", "2024-03-10 10:00")["y"] == r[pd.Timestamp("2024-03-10 10:00")]
    # 09:00 UTC = 01:00 PST; 10:00 UTC = 03:00 PDT (02:00 does not exist that day in Los Angeles)
    assert at("LDWP", "2024-03-10 09:00")["hour"] == 1 and at("LDWP", "2024-03-10 10:00")["hour"] == 3
    # Tucson keeps MST (UTC-7) all year: 02:00 and 03:00
    assert at("TEPC", "2024-03-10 09:00")["hour"] == 2 and at("TEPC", "2024-03-10 10:00")["hour"] == 3
    # Charlotte: 06:00 UTC = 01:00 EST, 07:00 UTC = 03:00 EDT (EDT starts at 07:00 UTC)
    assert at("DUK", "2024-03-10 06:00")["hour"] == 1 and at("DUK", "2024-03-10 07:00")["hour"] == 3
    assert at("DUK", "2024-03-10 06:00")["dow"] == 6  # a Sunday
    # 2024-07-05 05:00 UTC: 22:00 on July 4 (a federal holiday) in Los Angeles, 01:00 on July 5 in Charlotte
    assert at("LDWP", "2024-07-05 05:00")["holiday"] == 1 and at("LDWP", "2024-07-05 05:00")["hour"] == 22
    assert at("DUK", "2024-07-05 05:00")["holiday"] == 0 and at("DUK", "2024-07-05 05:00")["holiday_prev_day"] == 1
    # the cutoff (2024-03-10 05:00 UTC) on each clock: 21:00 PST, 22:00 MST, 00:00 EST
    assert at("LDWP", "2024-03-10 06:00")["cutoff_hour"] == 21
    assert at("TEPC", "2024-03-10 06:00")["cutoff_hour"] == 22 and at("DUK", "2024-03-10 06:00")["cutoff_hour"] == 0
