"""Forecasting models behind one interface: ``fit(df)`` then ``predict(df, h, cutoffs)``.

Every model forecasts many series at once, for several issue times (cutoffs) and horizons 1…h, reading
only values at or before each cutoff from ``df`` (a long ``unique_id, ds, y [, exog]`` frame on a complete
grid; gaps are NaN and are carried forward, never interpolated across the cutoff). ``fit`` learns whatever
the model learns from a training frame (nothing for persistence; month×hour means for climatology; trees
for LightGBM); local statistical models (MSTL, AutoETS) are re-estimated on a trailing window at every
cutoff inside ``predict`` — statsforecast's own fitting, on all windows in one call.

``predict`` returns ``unique_id, cutoff, ds, h, y_hat`` (ds = cutoff + h steps).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from coreduce.forecast.frames import Panel


class Forecaster(ABC):
    """The interface. Subclasses set ``name``, implement :meth:`predict` (and :meth:`fit` when they learn);
    models that compute (series, cutoff, horizon) arrays derive from :class:`PanelForecaster` instead.

    Attributes
    ----------
    name : str
        Model name used in outputs and in the ``forecasts`` table.
    oracle : bool
        True when the model reads exogenous values *after* the cutoff (observed future weather): such results
        are labelled ``+oracle_weather`` and never reported as the headline.
    version : str
        Model version recorded on the ledger.
    """

    name = "model"
    oracle = False
    version = "1"
    stride = 1  #: use every ``stride``-th cutoff in backtests (slow local models)

    def fit(self, df: pd.DataFrame) -> Forecaster:
        """Learn from ``df`` (long frame, training period only). Returns self."""
        return self

    @abstractmethod
    def predict(self, df: pd.DataFrame, h: int, cutoffs: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
        """Forecasts of horizons 1…``h`` after each cutoff (default: each series' last ``ds``):
        ``unique_id, cutoff, ds, h, y_hat``."""


class PanelForecaster(Forecaster):
    """A model that fills an (S series, C cutoffs, H horizons) array in :meth:`_predict`."""

    #: the columns the model reads (the panel is built of these only)
    columns: tuple[str, ...] = ("y",)
    #: how much history before the first cutoff the model reads (None: all of it); rows before are not loaded
    history: pd.Timedelta | None = None

    def predict(self, df: pd.DataFrame, h: int, cutoffs: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
        """Forecasts of horizons 1…``h`` after each cutoff (default: each series' last ``ds``)."""
        if cutoffs is None:
            cutoffs = [df["ds"].max()]
        if self.history is not None:
            df = df[df["ds"] >= pd.DatetimeIndex(cutoffs).min() - self.history]
        panel = Panel.from_frame(df, [c for c in self.columns if c in df.columns])
        cpos = panel.pos(cutoffs)
        y_hat = self._predict(panel, cpos, h)  # (S, C, H)
        return to_frame(panel, cpos, h, {"y_hat": y_hat})

    @abstractmethod
    def _predict(self, panel: Panel, cpos: np.ndarray, h: int) -> np.ndarray:
        """Point forecasts, shape (series, cutoffs, h), from values at or before each cutoff position."""


def grid(panel: Panel, cpos: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast index arrays ``series, cutoff position, target position`` of shape (S, C, H)."""
    s = np.arange(len(panel.ids))[:, None, None]
    c = np.asarray(cpos)[None, :, None]
    hh = np.arange(1, h + 1)[None, None, :]
    s, c, t = np.broadcast_arrays(s, c, c + hh)
    return s, c, t


def to_frame(panel: Panel, cpos: np.ndarray, h: int, cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """Long frame ``unique_id, cutoff, ds, h, <cols>`` from (S, C, H) arrays."""
    s, c, t = grid(panel, cpos, h)
    out = pd.DataFrame(
        {
            "unique_id": np.asarray(panel.ids, dtype=object)[s.ravel()],
            "cutoff": panel.time(c.ravel()),
            "ds": panel.time(t.ravel()),
            "h": (t - c).ravel(),
        }
    )
    for k, v in cols.items():
        out[k] = np.asarray(v, dtype=float).ravel()
    return out


class Persistence(PanelForecaster):
    """The last value known at the cutoff, for every horizon."""

    name = "persistence"

    def _predict(self, panel: Panel, cpos: np.ndarray, h: int) -> np.ndarray:
        s, c, _ = grid(panel, cpos, h)
        return panel.take(panel.ffilled("y"), s, c)


class SeasonalNaive(PanelForecaster):
    """``y(target − k·m)`` with the smallest ``k`` that reaches back to the cutoff (m = 24: yesterday's hour;
    168: last week's)."""

    def __init__(self, season: int = 24) -> None:
        self.season = int(season)
        self.name = f"seasonal_naive_{season}"

    def _predict(self, panel: Panel, cpos: np.ndarray, h: int) -> np.ndarray:
        s, c, t = grid(panel, cpos, h)
        k = np.ceil((t - c) / self.season).astype(np.int64)
        return panel.take(panel.ffilled("y"), s, t - k * self.season)


class Climatology(PanelForecaster):
    """Mean of the training period by series, month and local hour of the target (month × hour table)."""

    name = "climatology"

    def __init__(self, utc_offset_h: float = 0.0) -> None:
        self.utc_offset_h = utc_offset_h
        self.table_: pd.Series | None = None

    def _keys(self, ds: pd.DatetimeIndex | pd.Series) -> tuple[np.ndarray, np.ndarray]:
        local = pd.DatetimeIndex(ds) + pd.Timedelta(hours=self.utc_offset_h)
        return np.asarray(local.month), np.asarray(local.hour)

    def fit(self, df: pd.DataFrame) -> Climatology:
        m, hr = self._keys(df["ds"])
        d = pd.DataFrame({"unique_id": df["unique_id"].astype(str).to_numpy(), "m": m, "hr": hr, "y": df["y"]})
        self.table_ = d.groupby(["unique_id", "m", "hr"])["y"].mean()
        self.hour_ = d.groupby(["unique_id", "hr"])["y"].mean()
        return self

    def _predict(self, panel: Panel, cpos: np.ndarray, h: int) -> np.ndarray:
        if self.table_ is None:
            raise RuntimeError("Climatology.predict before fit")
        s, _, t = grid(panel, cpos, h)
        m, hr = self._keys(panel.time(t.ravel()))
        uid = np.asarray(panel.ids, dtype=object)[s.ravel()]
        key = pd.MultiIndex.from_arrays([uid, m, hr])
        v = self.table_.reindex(key).to_numpy()
        miss = np.isnan(v)
        if miss.any():
            v[miss] = self.hour_.reindex(pd.MultiIndex.from_arrays([uid[miss], hr[miss]])).to_numpy()
        return v.reshape(s.shape)


class StatsModel(PanelForecaster):
    """A statsforecast model re-estimated at every cutoff on the trailing ``window`` values.

    All (series, cutoff) windows are stacked as separate series and forecast in ONE
    ``StatsForecast.forecast`` call, so the cost is statsforecast's own (no per-window Python loop around
    it). MSTL and AutoETS on the full 4-year hourly history are impractical per cutoff (measured here:
    MSTL(24, 168) ``cross_validation(refit=False)`` took 270 s for 30 daily windows of one station), hence
    the window (default 672 h = 4 weeks).

    Parameters
    ----------
    kind : str
        ``"mstl"`` (MSTL with seasons 24 and 168, AutoETS trend: statsforecast's default) or ``"autoets"``
        (AutoETS, season 24), ``"autoarima"`` (AutoARIMA, season 24: give it a short window, e.g. 336 h),
        ``"seasonal_naive"`` (statsforecast's SeasonalNaive, season 24).
    window : int
        Trailing values per fit.
    """

    def __init__(self, kind: str = "mstl", window: int = 672, n_jobs: int = 1, stride: int = 1) -> None:
        self.kind, self.window, self.n_jobs, self.stride = kind, int(window), n_jobs, stride
        self.name = kind
        # the window, and a week before it for carrying the last value forward over a gap at its start
        self.history = pd.Timedelta(hours=self.window + 168)

    def _model(self) -> Any:
        from statsforecast.models import MSTL, AutoARIMA, AutoETS, SeasonalNaive

        if self.kind == "autoarima":  # only on a truncated window: impractical on years of hourly values
            return AutoARIMA(season_length=24, alias="autoarima")
        if self.kind == "mstl":
            return MSTL(season_length=[24, 168], alias="mstl")
        if self.kind == "autoets":
            return AutoETS(season_length=24, alias="autoets")
        if self.kind == "seasonal_naive":
            return SeasonalNaive(season_length=24, alias="seasonal_naive")
        raise ValueError(f"unknown statsforecast model {self.kind!r}: mstl, autoets, autoarima, seasonal_naive")

    @property
    def version(self) -> str:  # type: ignore[override]
        import statsforecast

        return f"statsforecast {statsforecast.__version__} {self.kind} window={self.window}"

    def _predict(self, panel: Panel, cpos: np.ndarray, h: int) -> np.ndarray:
        from statsforecast import StatsForecast

        ff = panel.ffilled("y")
        S, C, W = len(panel.ids), len(cpos), self.window
        lag = np.arange(-W + 1, 1)
        idx = np.asarray(cpos)[None, :, None] + lag[None, None, :]  # (1, C, W)
        s = np.arange(S)[:, None, None]
        vals = panel.take(ff, *np.broadcast_arrays(s, idx))  # (S, C, W)
        vals = vals.reshape(S * C, W)
        # leading gaps (before a series starts) take its first known value in the window
        first = np.where(np.isnan(vals), np.inf, np.arange(W)[None, :]).min(axis=1)
        bad = ~np.isfinite(first)
        first = np.where(bad, 0, first).astype(int)
        fill = vals[np.arange(len(vals)), first]
        vals = np.where(np.isnan(vals), fill[:, None], vals)
        vals[bad] = 0.0
        ds = pd.date_range("2000-01-03", periods=W, freq="h")  # positions only; the season is by position
        frame = pd.DataFrame({"unique_id": np.repeat(np.arange(S * C), W), "ds": np.tile(ds, S * C),
                              "y": vals.ravel()})  # fmt: skip
        sf = StatsForecast(models=[self._model()], freq="h", n_jobs=self.n_jobs)
        t0 = time.perf_counter()
        fc = sf.forecast(df=frame, h=h)
        self.sf_calls_ = [*getattr(self, "sf_calls_", []), time.perf_counter() - t0]  # statsforecast's own time
        out = fc.sort_values(["unique_id", "ds"])[self.kind].to_numpy().reshape(S, C, h)
        out[bad.reshape(S, C)] = np.nan
        return out


class Ensemble(Forecaster):
    """The mean of several models' point forecasts (each fitted on the same frame).

    Averaging models that differ in their inputs or training sample lowers the error when their errors are not
    perfectly correlated (e.g. Bates & Granger 1969, Oper. Res. Q. 20:451). Members are fitted and used as
    given; the ensemble reads nothing the members do not (oracle if any member is).
    """

    def __init__(self, members: Sequence[Forecaster], name: str = "ensemble") -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members, self.name = list(members), name
        self.oracle = any(m.oracle for m in self.members)

    @property
    def version(self) -> str:  # type: ignore[override]
        return "mean of [" + "; ".join(str(m.version) for m in self.members) + "]"

    def fit(self, df: pd.DataFrame) -> Ensemble:
        for m in self.members:
            m.fit(df)
        return self

    def predict(self, df: pd.DataFrame, h: int, cutoffs: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
        key = ["unique_id", "cutoff", "ds", "h"]
        parts = [m.predict(df, h, cutoffs).set_index(key)["y_hat"] for m in self.members]
        return pd.concat(parts, axis=1).mean(axis=1, skipna=False).rename("y_hat").reset_index()


BASELINES = {
    "persistence": Persistence,
    "seasonal_naive_24": lambda: SeasonalNaive(24),
    "seasonal_naive_168": lambda: SeasonalNaive(168),
}
