"""A dedicated next-hour model: LightGBM on the change ``y(t+1) − y(t)`` from features known at ``t``.

The day-ahead model (:mod:`coreduce.forecast.gbm`) is trained on daily issue times and for every horizon at once;
at h = 1 the question is different — will the last value go up or down in the next hour? — and most of the
signal is in what is changing *now*. This model is trained on every hour of the training period (each hour is a
cutoff) and predicts the next hour's change from:

- the value carried forward at ``t`` and its lags (1…6, 8, 12, 23, 24, 47, 167 h), first differences over
  1, 2, 3, 6, 12, 24 h and the change of the last difference, trailing means (3, 6, 24, 168 h) and standard
  deviations (6, 24 h), and the hours since the last real reading (gaps are carried forward);
- the same hour yesterday of the *target* hour and yesterday's change into it (a diurnal cycle of changes);
- the panel (neighbouring stations): its mean at ``t``, its changes over 1 and 3 h, and the station's
  departure from it; with ``neighbours=True`` also every station's value and 1-h change at ``t`` by name;
- exogenous columns observed up to ``t`` (weather, other pollutants — observed *so far*, never at the target
  hour: no oracle weather) and their changes over 1 and 3 h (6 h for ``change6`` columns);
- calendar of ``t`` in local time (hour, weekday, month) and the series id (categorical).

Squared-error objective on the change (raw units): the prediction is the conditional mean, the right point
for RMSE. Forecast ``y_hat = y(t) + predicted change``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from coreduce.forecast.frames import Panel
from coreduce.forecast.gbm import _rolling_mean
from coreduce.forecast.models import Forecaster, to_frame

Y_LAGS = (0, 1, 2, 3, 4, 5, 6, 8, 12, 23, 24, 47, 167)
Y_DIFFS = (1, 2, 3, 6, 12, 24)


def _lag(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` shifted ``k`` positions later along time (NaN where it reaches before the start)."""
    out = np.full_like(a, np.nan)
    if k == 0:
        return a.copy()
    out[:, k:] = a[:, :-k]
    return out


def _rolling_std(a: np.ndarray, w: int) -> np.ndarray:
    return pd.DataFrame(a.T).rolling(w, min_periods=2).std().to_numpy().T


def _hours_since_reading(raw: np.ndarray) -> np.ndarray:
    """Positions since the last non-NaN value (capped at 1000)."""
    n = raw.shape[1]
    idx = np.where(~np.isnan(raw), np.arange(n)[None, :], -(10**6))
    np.maximum.accumulate(idx, axis=1, out=idx)
    return np.minimum(np.arange(n)[None, :] - idx, 1000).astype(float)


class NextHourLightGBM(Forecaster):
    """LightGBM next-hour model (h = 1 only), trained on every hour of the training frame.

    Parameters
    ----------
    exog : sequence of str
        Exogenous columns read up to the cutoff (e.g. ``TEMP, DEWP, PRES, WSPM, RAIN, wd_n, wd_e, PM10, CO``).
    change6 : sequence of str
        Exogenous columns that also get their 6-h change (wind, the pollutants that lead PM2.5).
    utc_offset_h : float
        Local time offset of the calendar features (Beijing: 8).
    neighbours : bool
        Add every series' value and 1-h change at the cutoff (by name; fit and predict on the same series).
    num_boost_round, params, seed
        LightGBM settings (``params`` over the defaults; deterministic with one seed).
    """

    def __init__(
        self,
        exog: Sequence[str] = (),
        *,
        change6: Sequence[str] = ("WSPM", "wd_n", "wd_e", "PM10", "CO"),
        utc_offset_h: float = 0.0,
        neighbours: bool = False,
        num_boost_round: int = 600,
        params: dict | None = None,
        seed: int = 0,
    ) -> None:
        self.exog, self.change6 = list(exog), [c for c in change6 if c in exog]
        self.utc_offset_h, self.neighbours = utc_offset_h, neighbours
        self.num_boost_round, self.seed = num_boost_round, seed
        self.params = {
            "objective": "l2", "learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 100, "lambda_l2": 10.0,
            "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
            "seed": seed, "deterministic": True, "num_threads": 2, **(params or {}),
        }  # fmt: skip
        self.name = "lightgbm_next_hour"
        self.booster = None

    @property
    def version(self) -> str:  # type: ignore[override]
        import lightgbm

        return f"lightgbm {lightgbm.__version__} next-hour change model exog={','.join(self.exog)}"

    def features(self, panel: Panel) -> dict[str, np.ndarray]:
        """Feature arrays (series × time) at every position of ``panel``: row ``[i, t]`` uses values ``<= t``."""
        S, T = len(panel.ids), panel.n_times
        ff = panel.ffilled("y")
        F: dict[str, np.ndarray] = {}
        for k in Y_LAGS:
            F[f"lag{k}"] = _lag(ff, k)
        for k in Y_DIFFS:
            F[f"d{k}"] = ff - F[f"lag{k}"] if f"lag{k}" in F else ff - _lag(ff, k)
        F["dd1"] = F["d1"] - _lag(F["d1"], 1)
        for w in (3, 6, 24, 168):
            F[f"mean{w}"] = _rolling_mean(ff, w)
        for w in (6, 24):
            F[f"std{w}"] = _rolling_std(ff, w)
        F["hours_since_reading"] = _hours_since_reading(panel.values["y"])
        F["same_hour_d1_next"] = F["lag23"]  # y(t + 1 − 24): the target hour yesterday
        F["change_same_hour_d1"] = F["lag23"] - F["lag24"]  # yesterday's change into the target hour
        with np.errstate(all="ignore"):
            area = np.repeat(np.nanmean(ff, axis=0, keepdims=True), S, axis=0)
        F["area"], F["area_d1"], F["area_d3"] = area, area - _lag(area, 1), area - _lag(area, 3)
        F["rel_area"] = ff - area
        if self.neighbours:
            for j in range(S):
                r = np.repeat(ff[j : j + 1], S, axis=0)
                F[f"nb{j}"], F[f"nb{j}_d1"] = r, r - _lag(r, 1)
        for c in self.exog:
            e = panel.ffilled(c)
            F[c], F[f"{c}_d1"], F[f"{c}_d3"] = e, e - _lag(e, 1), e - _lag(e, 3)
            if c in self.change6:
                F[f"{c}_d6"] = e - _lag(e, 6)
        local = panel.time(np.arange(T)) + pd.Timedelta(hours=self.utc_offset_h)
        for k, v in (("hour", local.hour), ("dow", local.dayofweek), ("month", local.month)):
            F[k] = np.repeat(np.asarray(v, dtype=float)[None, :], S, axis=0)
        F["series"] = np.repeat(np.arange(S, dtype=float)[:, None], T, axis=1)
        return F

    def _matrix(self, F: dict[str, np.ndarray], pos: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({k: v[:, pos].ravel() for k, v in F.items()})

    def fit(self, df: pd.DataFrame) -> NextHourLightGBM:
        import lightgbm as lgb

        panel = Panel.from_frame(df, ["y", *self.exog])
        F = self.features(panel)
        raw, ff = panel.values["y"], panel.ffilled("y")
        nxt = np.full_like(raw, np.nan)
        nxt[:, :-1] = raw[:, 1:]
        pos = np.arange(168, panel.n_times - 1)
        X = self._matrix(F, pos)
        change = (nxt - ff)[:, pos].ravel()
        ok = ~np.isnan(change)
        self.series_ = list(panel.ids)
        ds = lgb.Dataset(X[ok], change[ok], categorical_feature=["series"], free_raw_data=True)
        self.booster = lgb.train(self.params, ds, num_boost_round=self.num_boost_round)
        return self

    def predict(self, df: pd.DataFrame, h: int = 1, cutoffs: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
        if self.booster is None:
            raise RuntimeError("NextHourLightGBM.predict before fit")
        if h != 1:
            raise ValueError(f"the next-hour model forecasts h = 1 only, asked {h}")
        panel = Panel.from_frame(df, ["y", *self.exog])
        if panel.ids != self.series_:
            raise ValueError("predict on the same series as fit (the series id is a feature)")
        cpos = panel.pos(cutoffs if cutoffs is not None else [df["ds"].max()])
        F = self.features(panel)
        last = panel.ffilled("y")[:, cpos]
        change = self.booster.predict(self._matrix(F, cpos)).reshape(len(panel.ids), len(cpos))
        return to_frame(panel, cpos, 1, {"y_hat": (last + change)[:, :, None]})
