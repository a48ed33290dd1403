"""Masking anomalies with the causal data-quality layer before forecasting (the EIA-930 LDWP outage shape)."""

import numpy as np

from coreduce.forecast.frames import mask_anomalies


def _ldwp_like(make_hourly):
    # three weeks of a daily load cycle around 2,500 MW, then a reporting outage of values near 130 MW for 30 hours
    # (the shape of LDWP's 2024-04-11 19:00 UTC ... 2024-04-13 in the EIA-930 cleaned series), then normal again
    rng = np.random.default_rng(0)
    t = np.arange(24 * 28)
    y = 2500 + 400 * np.sin(2 * np.pi * t / 24) + 20 * rng.standard_normal(len(t))
    out = slice(24 * 21 + 19, 24 * 21 + 19 + 30)
    y[out] = 130 + 5 * rng.standard_normal(30)
    return make_hourly({"LDWP": y}), out


def test_outage_masked_normal_hours_kept_and_flags_are_causal(make_hourly):
    df, out = _ldwp_like(make_hourly)
    masked, flags = mask_anomalies(df)
    assert flags.iloc[out].all() and masked["y"].iloc[out].isna().all()
    assert flags.iloc[: 24 * 21].sum() <= 2  # at most a couple of false alarms in three normal weeks
    assert masked["y"].iloc[: 24 * 21].notna().sum() >= 24 * 21 - 2
    # causal: the flags up to a time do not change when what follows is replaced
    cut = 24 * 21 + 30
    df2 = df.copy()
    df2.loc[cut + 1 :, "y"] = 9999.0
    _, flags2 = mask_anomalies(df2)
    assert np.array_equal(flags.iloc[: cut + 1].to_numpy(), flags2.iloc[: cut + 1].to_numpy())
