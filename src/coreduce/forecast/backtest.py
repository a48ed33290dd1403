"""Rolling-origin backtests: every model fitted once on the training period, then forecasting from every test
cutoff with only the data known at that cutoff; split-conformal intervals calibrated on cutoffs before the
test period; metrics and ratios to persistence side by side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from coreduce.forecast import metrics as M
from coreduce.forecast.intervals import Conformal
from coreduce.forecast.models import Forecaster


def label(model: Forecaster) -> str:
    """The model's name as shown everywhere: ``+oracle_weather`` when it reads observed future weather."""
    return f"{model.name}+oracle_weather" if model.oracle and not model.name.endswith("+oracle_weather") else model.name


@dataclass
class BacktestResult:
    """Forecasts (``unique_id, cutoff, ds, h, model, y_hat, lo-L, hi-L, y``), metrics per model, timings."""

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    conformal: dict[str, Conformal] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        rows = self.metrics.replace({np.nan: None}).to_dict(orient="records")
        return {"models": rows}


def _attach_truth(fc: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    return fc.merge(truth[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="left")


def run_model(model: Forecaster, df: pd.DataFrame, h: int, cutoffs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    cut = list(pd.DatetimeIndex(cutoffs)[:: max(model.stride, 1)])
    last = max(cut) + pd.Timedelta(hours=h)
    return model.predict(df[df["ds"] <= last], h, cut)


def backtest(
    df: pd.DataFrame,
    models: Sequence[Forecaster],
    *,
    h: int,
    test_cutoffs: Sequence[pd.Timestamp],
    cal_cutoffs: Sequence[pd.Timestamp] = (),
    levels: Sequence[int] = (95,),
    season: int = 24,
    transform: str = "log1p",
    refit_for_calibration: bool = True,
) -> BacktestResult:
    """Backtest ``models`` on ``df`` (long frame with truth ``y``; NaN gaps are not scored).

    Parameters
    ----------
    df : pandas.DataFrame
        ``unique_id, ds, y [, exog]`` on a complete grid, training and test periods.
    models : sequence of Forecaster
        Fitted here: on data up to the first calibration cutoff (for the calibration forecasts, when
        ``refit_for_calibration``), then on data up to the first test cutoff.
    h : int
        Horizons 1…h.
    test_cutoffs, cal_cutoffs : sequence of Timestamp
        Issue times (naive UTC, last observed interval) of the test and of the conformal calibration.
    levels : sequence of int
        Central interval levels [%].
    season : int
        MASE's seasonal naive lag (in-sample, training period).
    transform : str
        Conformal residual scale: ``log1p`` (multiplicative errors) or ``identity``.

    Returns
    -------
    BacktestResult
    """
    test0 = min(test_cutoffs)
    train = df[df["ds"] <= test0]
    scale = {u: M.naive_scale(g["y"].to_numpy(), season) for u, g in train.groupby("unique_id", observed=True)}
    frames, timings, conf = [], {}, {}
    for m in models:
        name = label(m)
        cal = None
        if len(cal_cutoffs):
            c0 = min(cal_cutoffs)
            if refit_for_calibration:
                m.fit(df[df["ds"] <= c0])
            cal = _attach_truth(run_model(m, df, h, cal_cutoffs), df)
        t0 = time.perf_counter()
        m.fit(train)
        t1 = time.perf_counter()
        fc = run_model(m, df, h, test_cutoffs)
        t2 = time.perf_counter()
        fc = _attach_truth(fc, df)
        if cal is not None:
            conf[name] = Conformal.calibrate(cal, transform)
            fc = conf[name].add_intervals(fc, levels)
        fc["model"] = name
        frames.append(fc)
        timings[name] = {"fit_s": t1 - t0, "predict_s": t2 - t1, "cutoffs": len(fc["cutoff"].unique())}
    allfc = pd.concat(frames, ignore_index=True)
    met = score(allfc, scale, levels)
    for k, v in timings.items():
        met.loc[met["model"] == k, ["fit_s", "predict_s"]] = [v["fit_s"], v["predict_s"]]
    return BacktestResult(allfc, met, timings, conf)


def score(fc: pd.DataFrame, scale: dict[str, float], levels: Sequence[int] = (95,),
          reference: str = "persistence") -> pd.DataFrame:  # fmt: skip
    """Metrics per model on the rows where every model has a forecast and the truth is known.

    MASE divides each series' absolute errors by its in-sample seasonal-naive MAE (``scale``); ``skill`` is
    ``1 − MAE / MAE(reference)`` on the same rows. Models backtested on a subset of cutoffs (``stride``) are
    scored on their subset, and their ratios are to the reference on that same subset.
    """
    rows = []
    ref = fc[fc["model"] == reference].set_index(["unique_id", "cutoff", "h"])
    for name, g in fc.groupby("model", sort=False):
        g = g[g["y"].notna() & g["y_hat"].notna()]
        y, f = g["y"].to_numpy(), g["y_hat"].to_numpy()
        sc = g["unique_id"].map(scale).to_numpy(float)
        r: dict[str, Any] = {
            "model": name,
            "oracle_weather": name.endswith("+oracle_weather"),
            "n": len(g),
            "cutoffs": int(g["cutoff"].nunique()),
            "mae": M.mae(y, f),
            "rmse": M.rmse(y, f),
            "mase": float(np.mean(np.abs(y - f) / sc)),
            "smape": M.smape(y, f),
        }
        for lv in levels:
            if f"lo-{lv}" in g:
                r[f"coverage_{lv}"] = M.coverage(y, g[f"lo-{lv}"], g[f"hi-{lv}"])
                r[f"pinball_{lv}"] = M.interval_score_pinball(y, g[f"lo-{lv}"], g[f"hi-{lv}"], lv)
        if len(ref):
            rf = ref.reindex(pd.MultiIndex.from_frame(g[["unique_id", "cutoff", "h"]]))["y_hat"].to_numpy()
            ok = ~np.isnan(rf)
            r["mae_persistence_same_rows"] = M.mae(y[ok], rf[ok])
            r["ratio_mae_vs_persistence"] = M.mae(y[ok], f[ok]) / r["mae_persistence_same_rows"]
            r["skill_mae_vs_persistence"] = 1 - r["ratio_mae_vs_persistence"]
            r["ratio_rmse_vs_persistence"] = M.rmse(y[ok], f[ok]) / M.rmse(y[ok], rf[ok])
        rows.append(r)
    return pd.DataFrame(rows)


def episode_warnings(fc: pd.DataFrame, conformal: Conformal, threshold: float) -> pd.DataFrame:
    """``fc`` plus ``p_exceed`` = P(y > threshold) per row and, where the truth is known, ``event``."""
    out = fc.copy()
    out["p_exceed"] = conformal.exceedance(out, threshold)
    if "y" in out:
        out["event"] = np.where(out["y"].isna(), np.nan, (out["y"] > threshold).astype(float))
    return out
