"""Forecast benchmark (not a test): all models side by side on the same split and machine, printed as JSON.

Sections (``--only`` picks some):

- ``beijing_day_ahead``: Beijing multi-site PM2.5, 12 stations, day-ahead block issued 00:00 Beijing time
  (h 1–24), test issue days 2016-03-01 … 2017-02-28, fitted on everything before; 95 % split-conformal
  intervals calibrated on the 120 issue days before the test. MSTL and AutoETS (statsforecast, re-fitted on a
  trailing window at each cutoff) run on every ``--stat-stride``-th issue day; their ratios use persistence on
  the same days. ``lightgbm+oracle_weather`` reads observed weather at the target hour and is never the
  headline. Targets of issue 13: best MAE ≤ 0.85 × persistence and ≤ 0.95 × the best statsforecast model;
  95 % coverage 0.93–0.97.
- ``beijing_next_hour``: the same stations and test year, every hour a cutoff, h = 1: persistence vs a LightGBM
  trained for h = 1 on hourly cutoffs. Target: RMSE ≤ 0.85 × persistence.
- ``beijing_warnings``: P(PM2.5 > 75 µg/m³) for each of the next 72 hours (issued daily 00:00), from the conformal
  residuals of each model; Brier score and its skill against the climatological base rate of the calibration
  period. 75 µg/m³ is the 24-hour Grade II limit of GB 3095-2012 (Table 1) applied to hourly values.
- ``load_day_ahead``: PJM East (last 365 issue days of the data) and EIA-930 CONUS and PJM-DOM (2024) hourly load,
  issued 00:00 (h 1–24); MAPE against the previous-day profile (seasonal naive 24). Target ≤ 0.6 ×.

Run: ``PYTHONPATH=src python benchmarks/forecast.py [--only beijing_day_ahead,...] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import pandas as pd

from coreduce.forecast import Climatology, Persistence, SeasonalNaive, StatsModel, backtest, daily_cutoffs
from coreduce.forecast import metrics as M
from coreduce.forecast.backtest import episode_warnings
from coreduce.forecast.frames import from_observations
from coreduce.forecast.gbm import LightGBMForecaster
from coreduce.forecast.jobs import BEIJING_WEATHER, load_frame

OFF = 8.0
POLLUTANTS = ("NO2", "CO", "SO2")


def _clean(d):
    if isinstance(d, dict):
        return {str(k): _clean(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [_clean(v) for v in d]
    if isinstance(d, float | np.floating):
        return None if np.isnan(d) else round(float(d), 4)
    if isinstance(d, np.integer | np.bool_):
        return d.item()
    return d


def _rows(met: pd.DataFrame) -> list[dict]:
    return [_clean(r) for r in met.to_dict(orient="records")]


def beijing_frame() -> pd.DataFrame:
    from coreduce.ingest.loaders import read_beijing_aq

    _, obs = read_beijing_aq()
    return from_observations(obs, "PM2.5", [*BEIJING_WEATHER, *POLLUTANTS])


def beijing_day_ahead(df: pd.DataFrame, args) -> dict:
    test = daily_cutoffs("2016-03-01", "2017-02-28", utc_offset_h=OFF)
    cal = daily_cutoffs("2015-10-31", "2016-02-28", utc_offset_h=OFF)
    w = list(BEIJING_WEATHER)
    models = [Persistence(), SeasonalNaive(24), SeasonalNaive(168), Climatology(OFF),
              StatsModel("mstl", window=672, stride=args.stat_stride),
              StatsModel("autoets", window=336, stride=args.stat_stride),
              LightGBMForecaster(24, w, utc_offset_h=OFF, train_every=args.train_every, seed=0),
              LightGBMForecaster(24, w, oracle=True, utc_offset_h=OFF, train_every=args.train_every)]  # fmt: skip
    if not args.no_lstm:
        from coreduce.forecast.lstm import LSTMForecaster

        models.append(LSTMForecaster(24, ["y", *POLLUTANTS], w, input_size=72, hidden=32, epochs=args.lstm_epochs,
                                     train_every=6, utc_offset_h=OFF, seed=0, device="auto"))  # fmt: skip
    t0 = time.perf_counter()
    res = backtest(df, models, h=24, test_cutoffs=test, cal_cutoffs=cal)
    met = res.metrics
    out: dict = {"wall_s": time.perf_counter() - t0, "models": _rows(met)}
    # ratios of the headline (best non-oracle model on all cutoffs) and comparisons on the stat subset
    full = met[(~met["oracle_weather"]) & (met["cutoffs"] == len(test))].sort_values("mae")
    best = full.iloc[0]
    stat_names = ["mstl", "autoets"]
    fc = res.forecasts
    sub_cut = set(fc.loc[fc["model"] == "mstl", "cutoff"])
    sub = fc[fc["cutoff"].isin(sub_cut)]
    sub_mae = {m: M.mae(g["y"], g["y_hat"]) for m, g in sub.groupby("model")}
    best_stat = min(stat_names, key=lambda m: sub_mae[m])
    out["headline"] = {
        "model": best["model"], "mae": best["mae"], "rmse": best["rmse"],
        "ratio_mae_vs_persistence": best["ratio_mae_vs_persistence"],
        "target_ratio_vs_persistence": 0.85, "aim_ratio_vs_persistence": 0.70,
        "coverage_95": best.get("coverage_95"), "target_coverage_95": [0.93, 0.97],
        "best_statsforecast_model": best_stat,
        "subset_cutoffs": len(sub_cut),
        "subset_mae": sub_mae,
        "ratio_mae_vs_best_statsforecast_same_cutoffs": sub_mae[best["model"]] / sub_mae[best_stat],
        "target_ratio_vs_best_statsforecast": 0.95, "aim_ratio_vs_best_statsforecast": 0.85,
    }  # fmt: skip
    # the test prediction is each StatsModel's last StatsForecast.forecast call
    sf = {m.name: {"total_s": res.timings[m.name]["predict_s"], "statsforecast_s": m.sf_calls_[-1]}
          for m in models if isinstance(m, StatsModel)}  # fmt: skip
    for v in sf.values():
        v["overhead_ratio"] = v["total_s"] / v["statsforecast_s"]
    out["statsforecast_wrapper_overhead"] = sf
    import torch

    out["lstm_device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return out


def beijing_next_hour(df: pd.DataFrame, args) -> dict:
    start, end = pd.Timestamp("2016-02-29 15:00"), pd.Timestamp("2017-02-28 14:00")
    test = pd.date_range(start, end, freq="h")
    m = LightGBMForecaster(1, list(BEIJING_WEATHER), utc_offset_h=OFF, train_every=args.nexthour_train_every, seed=0)
    t0 = time.perf_counter()
    res = backtest(df, [Persistence(), m], h=1, test_cutoffs=test)
    met = res.metrics.set_index("model")
    return {"wall_s": time.perf_counter() - t0, "models": _rows(res.metrics),
            "ratio_rmse_vs_persistence": met.loc["lightgbm", "ratio_rmse_vs_persistence"], "target": 0.85}  # fmt: skip


def beijing_warnings(df: pd.DataFrame, args) -> dict:
    thr = 75.0
    test = daily_cutoffs("2016-03-01", "2017-02-28", utc_offset_h=OFF, every_days=args.warn_every)
    cal = daily_cutoffs("2015-10-31", "2016-02-28", utc_offset_h=OFF)
    models = [Persistence(), Climatology(OFF),
              LightGBMForecaster(72, list(BEIJING_WEATHER), utc_offset_h=OFF, train_every=48, seed=0)]  # fmt: skip
    t0 = time.perf_counter()
    res = backtest(df, models, h=72, test_cutoffs=test, cal_cutoffs=cal)
    calib = df[(df["ds"] > cal.min()) & (df["ds"] <= cal.max())]["y"].dropna()
    base_rate = float((calib > thr).mean())
    out = {"threshold_ug_m3": thr, "threshold_source": "GB 3095-2012 Table 1, PM2.5 24-h Grade II (applied hourly)",
           "base_rate_calibration": base_rate, "models": []}  # fmt: skip
    for name, conf in res.conformal.items():
        fc = res.forecasts[res.forecasts["model"] == name]
        w = episode_warnings(fc, conf, thr).dropna(subset=["event"])
        b = M.brier(w["p_exceed"], w["event"])
        b0 = M.brier(np.full(len(w), base_rate), w["event"])
        rel = M.reliability(w["p_exceed"], w["event"], bins=5)
        by_day = {f"h{lo}-{lo + 23}": M.brier(g["p_exceed"], g["event"])
                  for lo, g in ((lo, w[(w["h"] >= lo) & (w["h"] < lo + 24)]) for lo in (1, 25, 49))}  # fmt: skip
        out["models"].append({"model": name, "brier": b, "brier_base_rate": b0, "brier_skill": 1 - b / b0,
                              "brier_by_day": by_day, "reliability": _rows(rel), "n": len(w)})  # fmt: skip
    out["wall_s"] = time.perf_counter() - t0
    return _clean(out)


def load_day_ahead(args) -> dict:
    out = {}
    for ds_name in ("pjm-east", "eia930:CONUS", "eia930:PJM-DOM"):
        df, _ = load_frame(ds_name, "load")
        last_day = (df["ds"].max() - pd.Timedelta(hours=24)).normalize()
        test = daily_cutoffs(last_day - pd.Timedelta(days=364), last_day)
        cal = daily_cutoffs(last_day - pd.Timedelta(days=364 + 120), last_day - pd.Timedelta(days=366))
        models = [Persistence(), SeasonalNaive(24), SeasonalNaive(168),
                  StatsModel("mstl", window=672, stride=args.stat_stride),
                  LightGBMForecaster(24, [], train_every=24, seed=0,
                                     params={"objective": "l2", "min_data_in_leaf": 20})]  # fmt: skip
        t0 = time.perf_counter()
        res = backtest(df, models, h=24, test_cutoffs=test, cal_cutoffs=cal)
        fc = res.forecasts
        mape = {m: M.mape(g["y"], g["y_hat"]) for m, g in fc.groupby("model")}
        sub_cut = set(fc.loc[fc["model"] == "mstl", "cutoff"])
        sub = fc[fc["cutoff"].isin(sub_cut)]
        mape_sub = {m: M.mape(g["y"], g["y_hat"]) for m, g in sub.groupby("model")}
        out[ds_name] = {
            "test": [str(test.min()), str(test.max())], "mape_pct": mape, "mape_pct_mstl_cutoffs": mape_sub,
            "ratio_mape_lightgbm_vs_seasonal_naive_24": mape["lightgbm"] / mape["seasonal_naive_24"],
            "target_ratio": 0.6, "aim_ratio": 0.5, "models": _rows(res.metrics),
            "wall_s": time.perf_counter() - t0,
        }  # fmt: skip
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="beijing_day_ahead,beijing_next_hour,beijing_warnings,load_day_ahead")
    ap.add_argument("--stat-stride", type=int, default=14, help="statsforecast models on every k-th issue day")
    ap.add_argument("--train-every", type=int, default=24, help="hours between LightGBM training cutoffs")
    ap.add_argument("--nexthour-train-every", type=int, default=3)
    ap.add_argument("--warn-every", type=int, default=3, help="issue days between 72-h warning cutoffs")
    ap.add_argument("--lstm-epochs", type=int, default=4)
    ap.add_argument("--no-lstm", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    import lightgbm
    import statsforecast

    result: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {"statsforecast": statsforecast.__version__, "lightgbm": lightgbm.__version__,
                     "pandas": pd.__version__, "numpy": np.__version__},
        "args": vars(args),
    }  # fmt: skip
    t0 = time.perf_counter()
    if only & {"beijing_day_ahead", "beijing_next_hour", "beijing_warnings"}:
        t = time.perf_counter()
        df = beijing_frame()
        result["beijing_load_s"] = time.perf_counter() - t
        for name, fn in (("beijing_day_ahead", beijing_day_ahead), ("beijing_next_hour", beijing_next_hour),
                         ("beijing_warnings", beijing_warnings)):  # fmt: skip
            if name in only:
                result[name] = _clean(fn(df, args))
                print(f"{name} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if "load_day_ahead" in only:
        result["load_day_ahead"] = _clean(load_day_ahead(args))
    result["total_s"] = time.perf_counter() - t0
    text = json.dumps(_clean(result), indent=1, default=str)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
