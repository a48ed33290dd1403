"""A global gradient-boosting model (LightGBM), direct multi-horizon: one model for all series and horizons.

Each training row is (series, cutoff, horizon h) with features known at the cutoff — recent values, rolling
means, the same hour 1 and 7 days before the target, calendar of the target, the mean and maximum over all
series of the panel (neighbouring stations), and the exogenous columns (weather, other pollutants) observed
up to the cutoff — and the target value at cutoff + h. ``oracle=True`` adds the exogenous values observed
*at the target time* (no weather forecast is in the data sets): the model is then named
``lightgbm+oracle_weather`` and is never the headline.

Trained with the absolute-error objective on ``log1p(y)``: its prediction is the conditional median.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from coreduce.forecast.frames import Panel
from coreduce.forecast.models import Forecaster, grid, to_frame

# OpenMP threads that wait for work sleep instead of spinning (unless the user set the policy): on a shared,
# oversubscribed machine spinning threads made a 2-thread LightGBM fit 6x slower than 1 thread (measured here,
# load average 9 on 2 cores: 100 trees on 26,000 x 60 rows took 30.5 s spinning, 3.8 s passive, 5.0 s on 1
# thread). Set before lightgbm (and its OpenMP runtime) is first imported: it is imported lazily below.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

LAGS = (0, 1, 2, 3, 5, 11, 23)
WINDOWS = (6, 24, 168)


def _rolling_mean(a: np.ndarray, w: int) -> np.ndarray:
    """Trailing mean over ``w`` positions ending at each position (NaN ignored; NaN if none)."""
    v = np.nan_to_num(a)
    n = (~np.isnan(a)).astype(float)
    cv = np.cumsum(v, axis=1)
    cn = np.cumsum(n, axis=1)
    cv = np.concatenate([np.zeros((a.shape[0], 1)), cv], axis=1)
    cn = np.concatenate([np.zeros((a.shape[0], 1)), cn], axis=1)
    i = np.arange(a.shape[1]) + 1
    j = np.maximum(i - w, 0)
    s, c = cv[:, i] - cv[:, j], cn[:, i] - cn[:, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / c, np.nan)


class LightGBMForecaster(Forecaster):
    """Global LightGBM, direct strategy (``h`` is a feature).

    Parameters
    ----------
    horizon : int
        Largest horizon trained (forecasts beyond it are refused).
    exog : sequence of str
        Exogenous columns of the frame used as features at the cutoff (and at the target time if ``oracle``).
    oracle : bool
        Use exogenous values observed at the target time ("oracle weather").
    utc_offset_h : float
        Local time offset for the calendar features (Beijing: 8), for every series not in ``local_tz``.
    local_tz : mapping or str, optional
        IANA time zone of each series (``{"LDWP": "America/Los_Angeles", ...}``, or one zone for all): the
        calendar features (hour, weekday, month, day of year, holidays, the cutoff's hour) are then read on each
        series' own clock, daylight saving included (:mod:`zoneinfo` through pandas).
    level_features : bool
        Add features of the recent level against one day and one week before (weather persistence without
        weather): the last value, the last 6 h, the last 24 h mean and max against the same hours 1 and 7 days
        earlier, and yesterday's profile at the target hour against a week before (all log ratios).
    train_every : int
        Hours between training cutoffs (24: one issue per day, aligned to the end of the training frame).
    params : dict, optional
        LightGBM parameters over the defaults.
    seed : int
        LightGBM seed (deterministic with ``deterministic=True`` and one thread per run).
    """

    def __init__(
        self,
        horizon: int = 24,
        exog: Sequence[str] = (),
        *,
        oracle: bool = False,
        utc_offset_h: float = 0.0,
        train_every: int = 24,
        num_boost_round: int = 400,
        params: dict | None = None,
        seed: int = 0,
        neighbours: bool = False,
        objective_scale: str = "log1p",
        holidays: str | None = None,
        relative_to: str | None = None,
        local_tz: Mapping[str, str] | str | None = None,
        level_features: bool = False,
    ) -> None:
        self.local_tz, self.level_features = local_tz, level_features
        self.horizon, self.exog, self.oracle = int(horizon), list(exog), oracle
        self.neighbours, self.objective_scale, self.holidays = neighbours, objective_scale, holidays
        self.utc_offset_h, self.train_every, self.num_boost_round = utc_offset_h, train_every, num_boost_round
        self.seed = seed
        if relative_to not in (None, "same_hour_d1"):
            raise ValueError(f"relative_to: None or 'same_hour_d1', not {relative_to!r}")
        if relative_to and objective_scale != "log1p":
            raise ValueError("relative_to needs objective_scale='log1p' (the target is a log ratio)")
        self.relative_to = relative_to
        self.params = {
            "objective": "l1", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 200, "lambda_l2": 10.0,
            "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1,
            "seed": seed, "deterministic": True, "num_threads": 2, **(params or {}),
        }  # fmt: skip
        self.name = "lightgbm+oracle_weather" if oracle else "lightgbm"
        self.booster = None

    @property
    def version(self) -> str:  # type: ignore[override]
        import lightgbm

        rel = f" relative_to={self.relative_to}" if self.relative_to else ""
        if self.local_tz is not None:
            rel += " local_tz=" + (self.local_tz if isinstance(self.local_tz, str) else
                                   ",".join(f"{k}:{v}" for k, v in sorted(self.local_tz.items())))  # fmt: skip
        if self.level_features:
            rel += " level_features"
        return (
            f"lightgbm {lightgbm.__version__} direct h<={self.horizon} exog={','.join(self.exog)} oracle={self.oracle}"
            + rel
        )

    def local_time(self, panel: Panel, series: np.ndarray, pos: np.ndarray) -> pd.DatetimeIndex:
        """Naive local clock time of grid positions ``pos`` of series ``series`` (flat arrays): each series' zone
        of ``local_tz`` (daylight saving included), else UTC + ``utc_offset_h``."""
        utc = panel.time(np.asarray(pos).ravel())
        fixed = utc + pd.Timedelta(hours=self.utc_offset_h)
        if self.local_tz is None:
            return fixed
        sid = np.asarray(series).ravel()
        out = fixed.to_numpy().copy()
        for i, uid in enumerate(panel.ids):
            tz = self.local_tz if isinstance(self.local_tz, str) else self.local_tz.get(uid)
            m = sid == i
            if tz is None or not m.any():
                continue
            out[m] = utc[m].tz_localize("UTC").tz_convert(tz).tz_localize(None).to_numpy()
        return pd.DatetimeIndex(out)

    def _features(self, panel: Panel, cpos: np.ndarray, h: int) -> tuple[pd.DataFrame, np.ndarray]:
        s, c, t = grid(panel, cpos, h)
        ff = panel.ffilled("y")
        lff = np.log1p(np.maximum(ff, 0))
        feats: dict[str, np.ndarray] = {"h": (t - c).ravel().astype(float), "series": s.ravel().astype(float)}
        for j in LAGS:
            feats[f"lag{j}"] = panel.take(lff, s, c - j).ravel()
        for w in WINDOWS:
            feats[f"mean{w}"] = panel.take(_rolling_mean(lff, w), s, c).ravel()
        k = np.ceil((t - c) / 24).astype(np.int64)
        feats["same_hour_d1"] = panel.take(lff, s, t - 24 * k).ravel()
        feats["same_hour_d2"] = panel.take(lff, s, t - 24 * (k + 1)).ravel()
        feats["same_hour_w1"] = panel.take(lff, s, t - 168 * np.ceil((t - c) / 168).astype(np.int64)).ravel()
        # neighbouring stations: the panel's mean and max (log scale) at the cutoff and over the last 24 h
        if self.level_features:
            m6, m24 = _rolling_mean(lff, 6), _rolling_mean(lff, 24)
            mx = pd.DataFrame(lff.T).rolling(24, min_periods=1).max().to_numpy().T
            for name, a in (("now", lff), ("mean6", m6), ("mean24", m24), ("max24", mx)):
                now = panel.take(a, s, c).ravel()
                feats[f"lvl_{name}_vs_d1"] = now - panel.take(a, s, c - 24).ravel()
                feats[f"lvl_{name}_vs_w1"] = now - panel.take(a, s, c - 168).ravel()
            feats["profile_d1_vs_w1"] = feats["same_hour_d1"] - panel.take(lff, s, t - 24 * k - 168).ravel()
        with np.errstate(all="ignore"):
            area = np.nanmean(lff, axis=0, keepdims=True)
            area_max = np.nanmax(np.where(np.isnan(lff), -np.inf, lff), axis=0, keepdims=True)
        area_max = np.where(np.isinf(area_max), np.nan, area_max)
        z = np.zeros_like(s)
        feats["area_now"] = panel.take(area, z, c).ravel()
        feats["area_max_now"] = panel.take(area_max, z, c).ravel()
        feats["area_mean24"] = panel.take(_rolling_mean(area, 24), z, c).ravel()
        feats["area_same_hour_d1"] = panel.take(area, z, t - 24 * k).ravel()
        for j in (1, 3, 6, 12):
            feats[f"area_change{j}"] = feats["area_now"] - panel.take(area, z, c - j).ravel()
        if self.neighbours:  # every station of the panel, by name: upwind stations lead the others
            m6 = _rolling_mean(lff, 6)
            for j in range(len(panel.ids)):
                zj = np.full_like(s, j)
                feats[f"nb{j}_now"] = panel.take(lff, zj, c).ravel()
                feats[f"nb{j}_d6"] = feats[f"nb{j}_now"] - panel.take(m6, zj, c).ravel()
        feats["d1"] = feats["lag0"] - feats["lag1"]
        feats["d3"] = feats["lag0"] - feats["lag3"]
        mx24 = pd.DataFrame(lff.T).rolling(24, min_periods=1).max().to_numpy().T
        feats["max24"] = panel.take(mx24, s, c).ravel()
        cl = self.local_time(panel, s, c)
        feats["cutoff_hour"] = np.asarray(cl.hour, dtype=float)
        for col in self.exog:
            e = panel.ffilled(col)
            feats[f"{col}_now"] = panel.take(e, s, c).ravel()
            feats[f"{col}_mean6"] = panel.take(_rolling_mean(e, 6), s, c).ravel()
            feats[f"{col}_mean24"] = panel.take(_rolling_mean(e, 24), s, c).ravel()
            for j in (3, 12, 24):
                feats[f"{col}_d{j}"] = feats[f"{col}_now"] - panel.take(e, s, c - j).ravel()
            if self.oracle:
                feats[f"{col}_at_target"] = panel.take(panel.values[col], s, t).ravel()
        local = self.local_time(panel, s, t)
        feats["hour"] = np.asarray(local.hour, dtype=float)
        feats["dow"] = np.asarray(local.dayofweek, dtype=float)
        feats["month"] = np.asarray(local.month, dtype=float)
        if self.holidays == "US":  # US federal holidays (pandas' USFederalHolidayCalendar: 5 U.S.C. 6103)
            from pandas.tseries.holiday import USFederalHolidayCalendar

            day = local.normalize()
            hol = USFederalHolidayCalendar().holidays(
                day.min() - pd.Timedelta(days=2), day.max() + pd.Timedelta(days=2)
            )
            feats["holiday"] = np.asarray(day.isin(hol), dtype=float)
            feats["holiday_next_day"] = np.asarray((day + pd.Timedelta(days=1)).isin(hol), dtype=float)
            feats["holiday_prev_day"] = np.asarray((day - pd.Timedelta(days=1)).isin(hol), dtype=float)
            cday = cl.normalize()
            feats["holiday_at_cutoff"] = np.asarray(cday.isin(hol), dtype=float)
        elif self.holidays is not None:
            raise ValueError(f"holidays: 'US' or None, not {self.holidays!r}")
        doy = np.asarray(local.dayofyear, dtype=float)
        feats["doy_sin"], feats["doy_cos"] = np.sin(2 * np.pi * doy / 365.25), np.cos(2 * np.pi * doy / 365.25)
        target = panel.take(panel.values["y"], s, t).ravel()
        return pd.DataFrame(feats), target

    def fit(self, df: pd.DataFrame) -> LightGBMForecaster:
        import lightgbm as lgb

        panel = Panel.from_frame(df, ["y", *self.exog])
        last = panel.n_times - 1 - self.horizon
        cpos = np.arange(last, 168, -self.train_every)[::-1]
        X, y = self._features(panel, cpos, self.horizon)
        base = self._base(X)
        ok = ~np.isnan(y) & ~np.isnan(base)
        yt = np.log1p(np.maximum(y[ok], 0)) if self.objective_scale == "log1p" else y[ok]
        yt = yt - base[ok]
        ds = lgb.Dataset(X[ok], yt, categorical_feature=["series"], free_raw_data=True)
        self.series_ = list(panel.ids)
        self.booster = lgb.train(self.params, ds, num_boost_round=self.num_boost_round)
        return self

    def predict(self, df: pd.DataFrame, h: int, cutoffs: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
        if self.booster is None:
            raise RuntimeError("LightGBMForecaster.predict before fit")
        if h > self.horizon:
            raise ValueError(f"trained for horizons up to {self.horizon}, asked {h}")
        panel = Panel.from_frame(df, ["y", *self.exog])
        if panel.ids != self.series_:
            raise ValueError("predict on the same series as fit (the series id is a feature)")
        cpos = panel.pos(cutoffs if cutoffs is not None else [df["ds"].max()])
        X, _ = self._features(panel, cpos, h)
        raw = self.booster.predict(X) + self._base(X)
        pred = np.expm1(raw) if self.objective_scale == "log1p" else raw
        return to_frame(panel, cpos, h, {"y_hat": pred})

    def _base(self, X: pd.DataFrame) -> np.ndarray:
        """What the target is relative to: 0, or (``relative_to="same_hour_d1"``) log1p of the same hour on the
        last day known at the cutoff (the last value at the cutoff where that is missing): the trees then learn
        the log ratio to yesterday's profile, which does not depend on the series' level."""
        if self.relative_to is None:
            return np.zeros(len(X))
        b = X["same_hour_d1"].to_numpy()
        return np.where(np.isnan(b), X["lag0"].to_numpy(), b)

    def importance(self) -> pd.Series:
        """Gain importance per feature (sorted)."""
        imp = self.booster.feature_importance("gain")
        return pd.Series(imp, index=self.booster.feature_name()).sort_values(ascending=False)
