"""Forecasting frames: the long ``unique_id, ds, y`` convention (+ exogenous columns) and a dense panel.

``ds`` in forecasting frames is a **timezone-naive UTC** timestamp (the Nixtla libraries' habit); the store's
``observations.ts`` is timezone-aware UTC. :func:`from_observations` drops the zone after converting to UTC
and :func:`forecasts_table` puts it back when forecasts are written to the ``forecasts`` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coreduce.errors import InputError

FRAME_COLUMNS = ("unique_id", "ds", "y")


def _naive_utc(ts: pd.Series) -> pd.Series:
    ts = pd.to_datetime(ts)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts.astype("datetime64[ns]")


def from_observations(
    obs: pd.DataFrame,
    target: str,
    exog: Sequence[str] = (),
    *,
    sites: Iterable[str] | None = None,
    freq: str = "h",
) -> pd.DataFrame:
    """Long frame ``unique_id, ds, y, <exog...>`` on a complete regular grid from canonical ``observations``.

    Parameters
    ----------
    obs : pandas.DataFrame
        Canonical ``observations`` (``site_id, ts, variable, value, unit ...``; ``ts`` timezone-aware).
    target : str
        The variable forecast (``y``), e.g. ``"PM2.5"``.
    exog : sequence of str
        Other variables carried as columns (e.g. ``TEMP, DEWP, WSPM`` or ``NO2``), same site and time.
    sites : iterable of str, optional
        Site ids to keep. Default: every site that has the target.
    freq : str
        Grid frequency (``"h"``). Missing intervals are rows with NaN (never silently dropped), so a
        position on the grid is a time.

    Returns
    -------
    pandas.DataFrame
        ``unique_id`` (= ``site_id``), ``ds`` (naive UTC), ``y`` and the exogenous columns, sorted; the unit of
        every column is the observations' unit (``attrs["units"]``).

    Raises
    ------
    InputError
        When the target is absent or a variable has more than one unit.
    """
    want = [target, *exog]
    o = obs[obs["variable"].isin(want)]
    if sites is not None:
        o = o[o["site_id"].isin(list(sites))]
    if not (o["variable"] == target).any():
        raise InputError("observations", "rows of the target variable", column="variable", value=target)
    units = o.groupby("variable", observed=True)["unit"].unique()
    for var, u in units.items():
        if len(u) > 1:
            raise InputError("observations", "one unit per variable", column="unit", value=f"{var}: {list(u)}")
    wide = (
        o.assign(ds=_naive_utc(o["ts"]), unique_id=o["site_id"].astype(str))
        .pivot_table(index=["unique_id", "ds"], columns="variable", values="value", aggfunc="mean", observed=True)
        .reset_index()
    )
    wide.columns.name = None
    wide = complete_grid(wide.rename(columns={target: "y"}), freq=freq)
    for c in exog:
        if c not in wide:
            wide[c] = np.nan
    out = wide[["unique_id", "ds", "y", *exog]]
    out.attrs["units"] = {("y" if k == target else k): str(v[0]) for k, v in units.items()}
    out.attrs["variable"] = target
    return out


def complete_grid(df: pd.DataFrame, freq: str = "h") -> pd.DataFrame:
    """Every series on one regular grid from its first to its last ``ds`` (missing rows added with NaN)."""
    parts = []
    for uid, g in df.groupby("unique_id", sort=True, observed=True):
        g = g.drop_duplicates("ds").set_index("ds").sort_index()
        idx = pd.date_range(g.index[0], g.index[-1], freq=freq, name="ds")
        g = g.reindex(idx)
        g["unique_id"] = uid
        parts.append(g.reset_index())
    out = pd.concat(parts, ignore_index=True)
    return out[["unique_id", "ds", *[c for c in df.columns if c not in ("unique_id", "ds")]]]


def fill_gaps(df: pd.DataFrame, columns: Sequence[str] = ("y",)) -> pd.DataFrame:
    """Linear interpolation inside each series, then nearest value at the ends (model inputs only: the truth
    used for scoring keeps its gaps)."""
    out = df.copy()
    for c in columns:
        out[c] = out.groupby("unique_id", observed=True)[c].transform(lambda s: s.interpolate(limit_direction="both"))
    return out


@dataclass
class Panel:
    """Series on one hourly grid as a dense array: ``values[i, t]`` is series ``ids[i]`` at ``start + t·step``.

    Built by :meth:`from_frame`; used by the models to read lags at many cutoffs at once.
    """

    ids: list[str]
    start: pd.Timestamp
    step: pd.Timedelta
    values: dict[str, np.ndarray]  # column -> (n_series, n_times); NaN where missing

    @classmethod
    def from_frame(cls, df: pd.DataFrame, columns: Sequence[str] = ("y",), freq: str | None = None) -> Panel:
        """Dense panel of ``columns``; ``freq`` default: the smallest step between distinct ``ds``."""
        if freq is None:
            u = np.unique(df["ds"].to_numpy())
            step = pd.Timedelta(np.min(np.diff(u))) if len(u) > 1 else pd.Timedelta(hours=1)
        else:
            step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
        ids = sorted(str(u) for u in pd.unique(df["unique_id"]))
        start, end = df["ds"].min(), df["ds"].max()
        n_t = int((end - start) / step) + 1
        row = pd.Series(np.arange(len(ids)), index=ids).loc[df["unique_id"].astype(str)].to_numpy()
        col = ((df["ds"] - start) / step).to_numpy().astype(np.int64)
        values = {}
        for c in columns:
            a = np.full((len(ids), n_t), np.nan)
            a[row, col] = df[c].to_numpy(dtype=float)
            values[c] = a
        return cls(ids, pd.Timestamp(start), step, values)

    @property
    def n_times(self) -> int:
        return next(iter(self.values.values())).shape[1]

    def pos(self, ts: Any) -> np.ndarray:
        """Grid positions of timestamps (array)."""
        t = pd.DatetimeIndex(np.atleast_1d(pd.to_datetime(ts)))
        return np.asarray((t - self.start) / self.step).astype(np.int64)

    def time(self, pos: np.ndarray) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.start + np.asarray(pos) * self.step)

    def ffilled(self, column: str = "y") -> np.ndarray:
        """Values carried forward over gaps (the last value known at each time)."""
        a = self.values[column]
        idx = np.where(~np.isnan(a), np.arange(a.shape[1])[None, :], 0)
        np.maximum.accumulate(idx, axis=1, out=idx)
        out = a[np.arange(a.shape[0])[:, None], idx]
        return out

    def take(self, arr: np.ndarray, series: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """``arr[series, pos]`` with NaN where ``pos`` is off the grid."""
        ok = (pos >= 0) & (pos < arr.shape[1])
        out = np.full(np.broadcast(series, pos).shape, np.nan)
        s, p = np.broadcast_arrays(series, pos)
        out[ok] = arr[s[ok], p[ok]]
        return out


def daily_cutoffs(start: str | pd.Timestamp, end: str | pd.Timestamp, *, issue_hour: int = 0,
                  utc_offset_h: float = 0.0, every_days: int = 1) -> pd.DatetimeIndex:  # fmt: skip
    """Cutoffs of forecasts issued daily at ``issue_hour`` local time, as naive UTC interval starts.

    A forecast issued at 00:00 local has seen the interval that started at 23:00 local the day before: the
    cutoff is ``issue - 1 h``, and horizon ``h`` is the interval starting ``cutoff + h`` (so h 1–24 are the
    issue day's 24 hours). ``start``/``end`` are local dates of the first and last issue days.
    """
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq=f"{every_days}D")
    issue_utc = days + pd.Timedelta(hours=issue_hour) - pd.Timedelta(hours=utc_offset_h)
    return pd.DatetimeIndex(issue_utc - pd.Timedelta(hours=1))


def forecasts_table(fc: pd.DataFrame, *, model: str, run_id: str, variable: str, unit: str | None = None,
                    point: str = "y_hat", levels: Sequence[int] = ()) -> pd.DataFrame:  # fmt: skip
    """Rows of the canonical ``forecasts`` table from a forecast frame (``unique_id, cutoff, ds, h, <point>``
    and ``lo-<L>``/``hi-<L>`` columns); quantiles as JSON ``{"0.025": lo-95, "0.975": hi-95, ...}``."""
    import json

    q = None
    if levels:
        cols = []
        for lv in levels:
            a = (100 - lv) / 200
            cols += [(f"{a:g}", fc[f"lo-{lv}"].to_numpy()), (f"{1 - a:g}", fc[f"hi-{lv}"].to_numpy())]
        q = [
            json.dumps({k: round(float(v[i]), 6) for k, v in sorted(cols, key=lambda kv: float(kv[0]))})
            for i in range(len(fc))
        ]
    out = pd.DataFrame(
        {
            "series": fc["unique_id"].astype(str).to_numpy(),
            "variable": variable,
            "cutoff": pd.to_datetime(fc["cutoff"]).dt.tz_localize("UTC").to_numpy(),
            "target_time": pd.to_datetime(fc["ds"]).dt.tz_localize("UTC").to_numpy(),
            "horizon": fc["h"].astype("int64").to_numpy(),
            "model": model,
            "point": fc[point].astype(float).to_numpy(),
            "unit": unit,
            "quantiles": q,
            "run_id": run_id,
        }
    )
    out["cutoff"] = pd.to_datetime(out["cutoff"], utc=True)
    out["target_time"] = pd.to_datetime(out["target_time"], utc=True)
    return out


def mask_anomalies(df: pd.DataFrame, column: str = "y", rules: Any = None) -> tuple[pd.DataFrame, pd.Series]:
    """``df`` with ``column`` set to NaN where the causal data-quality layer flags an anomaly, and the flags.

    The flags are :func:`coreduce.monitor.quality.anomaly_flags` per series (data-quality rules, robust scores of
    the value and its first difference, the seasonal level detector), run with ``relocate=False`` and
    ``double_delta=False`` by default so that the flag of the reading at ``t`` uses readings ``<= t`` only: a
    model that reads the masked frame at a cutoff sees nothing after it. Masked values are gaps (carried forward
    by the models). Returns ``(masked frame, boolean flags aligned with df.index)``.
    """
    from coreduce.monitor.quality import QualityRules, anomaly_flags

    rules = rules if rules is not None else QualityRules(relocate=False, double_delta=False)
    parts = []
    for _, g in df.groupby("unique_id", sort=False, observed=True):
        g = g.sort_values("ds")
        fl = anomaly_flags(pd.DataFrame({"ts": g["ds"].to_numpy(), "value": g[column].to_numpy()}), rules=rules)
        parts.append(pd.Series(fl["anomaly"].to_numpy(), index=g.index))
    flags = pd.concat(parts).reindex(df.index).fillna(False).astype(bool)
    out = df.copy()
    out[column] = out[column].where(~flags)
    out.attrs = dict(df.attrs)
    return out, flags
