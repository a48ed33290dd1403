"""Forecast benchmark (not a test): all models side by side on the same split and machine, printed as JSON.

Sections (``--only`` picks some):

- ``beijing_day_ahead``: Beijing multi-site PM2.5, 12 stations, day-ahead block issued 00:00 Beijing time
  (h 1–24), test issue days 2016-03-01 … 2017-02-28, fitted on everything before; 95 % split-conformal
  intervals calibrated on the 120 issue days before the test. MSTL and AutoETS (statsforecast, re-fitted on a
  trailing window at each cutoff) run on every ``--stat-stride``-th issue day; their ratios use persistence on
  the same days. ``lightgbm+oracle_weather`` reads observed weather at the target hour and is never the
  headline. Targets of issue 13: best MAE ≤ 0.85 × persistence and ≤ 0.95 × the best statsforecast model;
  95 % coverage 0.93–0.97.
- ``beijing_next_hour``: the same stations and test year, every hour a cutoff, h = 1: persistence vs the
  dedicated next-hour LightGBM (:mod:`coreduce.forecast.nexthour`, trained on every hour before the test, weather
  and pollutants observed up to the cutoff). Target: RMSE ≤ 0.85 × persistence.
- ``beijing_warnings``: P(PM2.5 > 75 µg/m³) for each of the next 72 hours (issued daily 00:00), from the conformal
  residuals of each model; Brier score and its skill against the climatological base rate of the calibration
  period. 75 µg/m³ is the 24-hour Grade II limit of GB 3095-2012 (Table 1) applied to hourly values.
- ``load_day_ahead``: PJM East (last 365 issue days of the data) and EIA-930 CONUS and PJM-DOM (2024) hourly load,
  issued 00:00 (h 1–24); MAPE against the previous-day profile (seasonal naive 24, the stronger of the two
  seasonal naives here; the ratio to seasonal naive 168 is reported too). Target ≤ 0.6 ×. A second view leaves
  out the truth hours flagged by the causal data-quality layer (``frames.mask_anomalies``).

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

from coreduce.forecast import Climatology, Ensemble, Persistence, SeasonalNaive, StatsModel, backtest, daily_cutoffs
from coreduce.forecast import metrics as M
from coreduce.forecast.backtest import episode_warnings
from coreduce.forecast.frames import from_observations, mask_anomalies
from coreduce.forecast.gbm import LightGBMForecaster
from coreduce.forecast.jobs import BEIJING_WEATHER, load_frame
from coreduce.forecast.nexthour import NextHourLightGBM

OFF = 8.0
QUICK = {"on": False}  # --quick: a smoke run of every code path (10 test cutoffs, 10 trees), not a measurement


def _q(idx):
    """The cutoffs, or their first 10 in a --quick run."""
    return idx[:10] if QUICK["on"] else idx


def _gbm(*a, **kw) -> LightGBMForecaster:
    if QUICK["on"]:
        kw["num_boost_round"] = 10
    return LightGBMForecaster(*a, **kw)


POLLUTANTS = ("NO2", "CO", "SO2")  # the LSTM's other targets
EXTRA = ("O3", "PM10")  # observed up to the cutoff: features of the next-hour model
PM_EXOG = ("PM10", "NO2", "O3", "SO2")  # other pollutants at the cutoff: features of an ensemble member


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
    from coreduce.forecast.jobs import beijing_wind_direction
    from coreduce.ingest.loaders import read_beijing_aq

    _, obs = read_beijing_aq()
    df = from_observations(obs, "PM2.5", [*BEIJING_WEATHER, *POLLUTANTS, *EXTRA])
    return df.merge(beijing_wind_direction(), on=["unique_id", "ds"], how="left")


def beijing_day_ahead(df: pd.DataFrame, args) -> dict:
    test = _q(daily_cutoffs("2016-03-01", "2017-02-28", utc_offset_h=OFF))
    cal = _q(daily_cutoffs("2015-10-31", "2016-02-28", utc_offset_h=OFF))
    w = list(BEIJING_WEATHER)
    ek = {"utc_offset_h": OFF, "train_every": args.train_every, "seed": 0, "neighbours": True}
    models = [Persistence(), SeasonalNaive(24), SeasonalNaive(168), Climatology(OFF),
              StatsModel("mstl", window=672, stride=args.stat_stride),
              StatsModel("autoets", window=336, stride=args.stat_stride),
              _gbm(24, [*w, *args.gbm_exog], utc_offset_h=OFF, train_every=args.train_every, seed=0,
                                 neighbours=True),
              # the mean of three LightGBMs that differ in inputs and training sample (chosen on the dev year
              # 2015-03..2016-02, persistence ratio 0.928 against 0.941 for the single model above): the one above,
              # + the other pollutants at the cutoff, + those and training cutoffs every 12 h
              Ensemble([_gbm(24, [*w, *args.gbm_exog], **ek),
                        _gbm(24, [*w, *args.gbm_exog, *PM_EXOG], **ek),
                        _gbm(24, [*w, *args.gbm_exog, *PM_EXOG], **(ek | {"train_every": 12}))],
                       name="lightgbm_ensemble")]  # fmt: skip
    if args.oracle:
        models.append(_gbm(24, w, oracle=True, utc_offset_h=OFF, train_every=args.train_every))
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
    hl = out["headline"]
    hl["checks"] = [
        _check("MAE / persistence", hl["ratio_mae_vs_persistence"], 0.85, 0.70),
        _check("MAE / best statsforecast (same cutoffs)", hl["ratio_mae_vs_best_statsforecast_same_cutoffs"],
               0.95, 0.85),
        _check_range("95 % interval coverage", hl["coverage_95"], 0.93, 0.97),
    ]  # fmt: skip
    # the test prediction is each StatsModel's last StatsForecast.forecast call
    sf = {m.name: {"total_s": res.timings[m.name]["predict_s"], "statsforecast_s": m.sf_calls_[-1]}
          for m in models if isinstance(m, StatsModel)}  # fmt: skip
    for v in sf.values():
        v["overhead_ratio"] = v["total_s"] / v["statsforecast_s"]
    out["statsforecast_wrapper_overhead_in_backtest"] = sf
    if not args.no_lstm:
        import torch

        out["lstm_device"] = "cuda" if torch.cuda.is_available() else "cpu"
    return out


def _check(what: str, value, target: float, aim: float | None = None) -> dict:
    """A ratio against its target (smaller is better): met / missed, and the aim."""
    ok = value is not None and not np.isnan(value) and value <= target
    r = {"what": what, "value": value, "target": target, "met": bool(ok)}
    if aim is not None:
        r["aim"], r["aim_met"] = aim, bool(ok and value <= aim)
    if not ok:
        print(f"target missed: {what} = {value} > {target}", file=sys.stderr)
    return r


def _check_range(what: str, value, lo: float, hi: float) -> dict:
    ok = value is not None and not np.isnan(value) and lo <= value <= hi
    if not ok:
        print(f"target missed: {what} = {value} outside [{lo}, {hi}]", file=sys.stderr)
    return {"what": what, "value": value, "target": [lo, hi], "met": bool(ok)}


def beijing_next_hour(df: pd.DataFrame, args) -> dict:
    start, end = pd.Timestamp("2016-02-29 15:00"), pd.Timestamp("2017-02-28 14:00")
    test = _q(pd.date_range(start, end, freq="h"))
    # a dedicated next-hour model: trained on every hour, squared error on the change y(t+1) - y(t) (RMSE is the
    # target), features known at the cutoff only: lags and differences, the panel, weather and the other
    # pollutants observed so far (no oracle weather); settings chosen on the dev year 2015-03..2016-02
    ex = [*BEIJING_WEATHER, "wd_n", "wd_e", *POLLUTANTS, *EXTRA]
    m = NextHourLightGBM(ex, utc_offset_h=OFF, seed=0, num_boost_round=10 if QUICK["on"] else 600)
    t0 = time.perf_counter()
    res = backtest(df, [Persistence(), m], h=1, test_cutoffs=test)
    met = res.metrics.set_index("model")
    r = met.loc[m.name, "ratio_rmse_vs_persistence"]
    return {"wall_s": time.perf_counter() - t0, "model": m.name, "exog": ex, "models": _rows(res.metrics),
            "ratio_rmse_vs_persistence": r, "checks": [_check("next-hour RMSE / persistence", r, 0.85)]}  # fmt: skip


def beijing_warnings(df: pd.DataFrame, args) -> dict:
    thr = 75.0
    test = _q(daily_cutoffs("2016-03-01", "2017-02-28", utc_offset_h=OFF, every_days=args.warn_every))
    cal = _q(daily_cutoffs("2015-10-31", "2016-02-28", utc_offset_h=OFF))
    models = [Persistence(), Climatology(OFF),
              _gbm(72, list(BEIJING_WEATHER), utc_offset_h=OFF, train_every=48, seed=0)]  # fmt: skip
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


#: the EIA-930 balancing-authority files of the shared set (12), forecast together by one global model
EIA_BAS = ("BPAT", "CISO-PGAE", "DOPD", "DUK", "ERCO-COAS", "LDWP", "NYIS-ZONJ", "PJM-DOM", "PSEI", "SOCO", "TEPC",
           "TVA")  # fmt: skip


def load_day_ahead(args) -> dict:
    out = {}
    sets = {"pjm-east": (["pjm-east"], 0.0), "eia930:CONUS": (["eia930:CONUS"], -6.0),
            "eia930:12 BAs": ([f"eia930:{b}" for b in EIA_BAS], -6.0)}  # fmt: skip
    for key, (names, off) in sets.items():
        loaded = [load_frame(n, "load") for n in names]
        df = pd.concat([d for d, _ in loaded], ignore_index=True)
        # each EIA-930 series' own clock (zone from the data set's balancing_authority_acronyms.csv, DST included)
        tz = {k: v for _, meta in loaded for k, v in meta.get("local_tz", {}).items()} or None
        last_day = (df["ds"].max() - pd.Timedelta(hours=24)).normalize()
        test = _q(daily_cutoffs(last_day - pd.Timedelta(days=364), last_day))
        cal = _q(daily_cutoffs(last_day - pd.Timedelta(days=364 + 120), last_day - pd.Timedelta(days=366)))
        # issued 00:00 on the file's clock (UTC for EIA-930: one instant for every series; scoring is per hour).
        # Calendar: PJM's file is on its local clock (offset 0); EIA-930 series on their own zone (local_tz)
        models = [Persistence(), SeasonalNaive(24), SeasonalNaive(168),
                  StatsModel("mstl", window=672, stride=args.stat_stride),
                  # chosen on the EIA-930 12-BA validation year 2023 (fitted on 2020-2022), MAPE / seasonal naive
                  # 24: 31 leaves 0.778, 63: 0.747, 255: 0.710, 511: 0.706; the target as the log ratio to the
                  # same hour yesterday: 255 leaves 0.703, 511 leaves 0.701 (cutoffs every 12 h: 0.794);
                  # with the benchmark's cutoffs (00:00 UTC): that model 0.701, + each series' own zone (local_tz)
                  # 0.700, + level_features 0.669, + learning rate 0.03 and 800 trees 0.663 (mean of 3 seeds 0.662,
                  # 3x the cost; cutoffs every 12 h 0.671; with cutoffs at 05:00 UTC the 17 aggregates as extra
                  # training series and every series by name as features gave no gain: 0.6425 -> 0.642, 0.643).
                  # Level features on the validation year before the test: CONUS 0.497 -> 0.454, PJM East 0.521
                  # -> 0.507
                  _gbm(24, [], train_every=24, seed=0, utc_offset_h=off, holidays="US", relative_to="same_hour_d1",
                       local_tz=tz, level_features=True, num_boost_round=800,
                       params={"objective": "l1", "min_data_in_leaf": 20, "num_leaves": 511,
                               "learning_rate": 0.03})]  # fmt: skip
        t0 = time.perf_counter()
        res = backtest(df, models, h=24, test_cutoffs=test, cal_cutoffs=cal)
        fc = res.forecasts
        mape = {m: M.mape(g["y"], g["y_hat"]) for m, g in fc.groupby("model")}
        sub_cut = set(fc.loc[fc["model"] == "mstl", "cutoff"])
        sub = fc[fc["cutoff"].isin(sub_cut)]
        mape_sub = {m: M.mape(g["y"], g["y_hat"]) for m, g in sub.groupby("model")}
        r = mape["lightgbm"] / mape["seasonal_naive_24"]
        # the truth hours the causal data-quality layer flags (reporting outages such as LDWP's 2024 blocks near
        # 130 MW, zeros) left out of the scoring for every model alike: a second view, not the headline (the
        # models read the raw inputs: masking them did not help on the validation year 2023)
        _, flags = mask_anomalies(df)
        bad = df.loc[flags, ["unique_id", "ds"]].assign(flagged=True)
        fq = fc.merge(bad, on=["unique_id", "ds"], how="left")
        fq = fq[fq["flagged"].isna()]
        mape_q = {m: M.mape(g["y"], g["y_hat"]) for m, g in fq.groupby("model")}
        o = {"series": len(names), "test": [str(test.min()), str(test.max())], "mape_pct": mape,
             "mape_pct_mstl_cutoffs": mape_sub, "ratio_mape_lightgbm_vs_seasonal_naive_24": r,
             "ratio_mape_lightgbm_vs_seasonal_naive_168": mape["lightgbm"] / mape["seasonal_naive_168"],
             "flagged_truth_hours_in_test": int(df.loc[flags, "ds"].between(test.min(), test.max()
                                                                            + pd.Timedelta(hours=24)).sum()),
             "mape_pct_flagged_truth_left_out": mape_q,
             "ratio_mape_lightgbm_vs_seasonal_naive_24_flagged_truth_left_out":
                 mape_q["lightgbm"] / mape_q["seasonal_naive_24"],
             "checks": [_check(f"{key} day-ahead MAPE / seasonal naive 24", r, 0.6, 0.5)],
             "models": _rows(res.metrics), "wall_s": time.perf_counter() - t0}  # fmt: skip
        if len(names) > 1:
            per = {}
            for uid, g in fc.groupby("unique_id"):
                mm = {m: M.mape(gg["y"], gg["y_hat"]) for m, gg in g.groupby("model")}
                per[uid] = {"mape_lightgbm": mm["lightgbm"], "mape_seasonal_naive_24": mm["seasonal_naive_24"],
                            "mape_seasonal_naive_168": mm["seasonal_naive_168"],
                            "ratio": mm["lightgbm"] / mm["seasonal_naive_24"]}  # fmt: skip
            o["per_series"] = per
            o["series_meeting_0.6"] = sum(v["ratio"] <= 0.6 for v in per.values())
        out[key] = o
    return out


def stat_overhead(df: pd.DataFrame, args) -> dict:
    """The statistical suite (StatsModel) against statsforecast's own ``cross_validation`` on the SAME models,
    windows and cutoffs (``input_size`` = window, refit at every cutoff), on the gap-filled Beijing PM2.5 of
    the 12 stations; forecasts must agree. AutoARIMA runs only on a truncated (2-week) window."""
    from statsforecast import StatsForecast

    n, step, h = args.overhead_windows, 24 * 14, 24
    d = df[["unique_id", "ds", "y"]].copy()
    d["y"] = d.groupby("unique_id")["y"].ffill().bfill()
    end = pd.Timestamp("2017-02-28 15:00")  # the last test issue (00:00 local) + 24 h: the end of the data
    d = d[d["ds"] <= end]
    out = {"windows": n, "step_h": step, "series": int(d["unique_id"].nunique()), "models": {}}
    for kind, window in (("seasonal_naive", 672), ("mstl", 672), ("autoets", 336), ("autoarima", 336)):
        m = StatsModel(kind, window=window)
        t0 = time.perf_counter()
        ref = StatsForecast(models=[m._model()], freq="h").cross_validation(
            h=h, df=d, n_windows=n, step_size=step, input_size=window, refit=True)  # fmt: skip
        t_sf = time.perf_counter() - t0
        cuts = sorted(ref["cutoff"].unique())
        t0 = time.perf_counter()
        ours = m.predict(d, h, cuts)
        t_ours = time.perf_counter() - t0
        j = ours.merge(ref, on=["unique_id", "cutoff", "ds"])
        dev = float(np.nanmax(np.abs(j["y_hat"] - j[kind]))) if len(j) else float("nan")
        tr = j.merge(df[["unique_id", "ds", "y"]].rename(columns={"y": "truth"}), on=["unique_id", "ds"])
        ratio = t_ours / t_sf
        out["models"][kind] = {"window_h": window, "coreduce_s": t_ours, "statsforecast_cross_validation_s": t_sf,
                               "ratio": ratio, "max_abs_forecast_difference": dev, "rows": len(j),
                               "mae": M.mae(tr["truth"], tr["y_hat"]),
                               "check": _check(f"{kind} run time coreduce / statsforecast", ratio, 1.2)}  # fmt: skip
    tot_o = sum(v["coreduce_s"] for v in out["models"].values())
    tot_s = sum(v["statsforecast_cross_validation_s"] for v in out["models"].values())
    out["total_ratio"] = tot_o / tot_s
    out["checks"] = [_check("statistical suite run time / statsforecast (same models)", tot_o / tot_s, 1.2)]
    return out


def peak_section() -> dict:
    """Carbon-peak paths by the three methods (Kaya relaxation, STIRPAT, panel ML) for an OWID country and a
    CEADs province, baseline scenario, with their run times."""
    from coreduce.forecast.peak import peak_path

    out = {}
    for region, source in (("China", "owid"), ("Jiangsu", "ceads")):
        for method in ("kaya", "stirpat", "ml"):
            t0 = time.perf_counter()
            r = peak_path(region, source, "baseline", method=method, n_paths=1000, seed=0)
            s = r.summary
            out[f"{region}/{method}"] = {k: s.get(k) for k in ("peak_year", "peak_value_mt", "peaked",
                                         "share_of_paths_peaking", "co2_2030_mt", "co2_2060_mt", "cumulative_mt",
                                         "last_year")} | {"wall_s": time.perf_counter() - t0}  # fmt: skip
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="beijing_day_ahead,beijing_next_hour,beijing_warnings,load_day_ahead,"
                    "stat_overhead,peak")  # fmt: skip
    ap.add_argument("--oracle", action="store_true", help="also the lightgbm+oracle_weather model (never headline)")
    ap.add_argument("--overhead-windows", type=int, default=8, help="cutoffs (every 14 days) of stat_overhead")
    ap.add_argument("--stat-stride", type=int, default=14, help="statsforecast models on every k-th issue day")
    ap.add_argument("--train-every", type=int, default=24, help="hours between LightGBM training cutoffs")
    ap.add_argument("--warn-every", type=int, default=3, help="issue days between 72-h warning cutoffs")
    ap.add_argument("--lstm-epochs", type=int, default=4)
    ap.add_argument("--no-lstm", action="store_true")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10 test days, few trees (not a measurement)")
    args = ap.parse_args(argv)
    QUICK["on"] = args.quick
    if args.quick:
        args.overhead_windows, args.stat_stride = 2, 5
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
    args.gbm_exog = ["wd_n", "wd_e", "CO"]  # wind direction (unit vector) and CO at the cutoff, every station
    if only & {"beijing_day_ahead", "beijing_next_hour", "beijing_warnings", "stat_overhead"}:
        t = time.perf_counter()
        df = beijing_frame()
        result["beijing_load_s"] = time.perf_counter() - t
        for name, fn in (("stat_overhead", stat_overhead), ("beijing_day_ahead", beijing_day_ahead),
                         ("beijing_next_hour", beijing_next_hour), ("beijing_warnings", beijing_warnings)):  # fmt: skip
            if name in only:
                result[name] = _clean(fn(df, args))
                print(f"{name} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if "load_day_ahead" in only:
        result["load_day_ahead"] = _clean(load_day_ahead(args))
        print(f"load_day_ahead done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    if "peak" in only:
        result["peak"] = _clean(peak_section())
    checks = []
    for sec in result.values():
        if isinstance(sec, dict):
            checks += sec.get("checks", [])  # the section's own; a headline's come with the values below
            checks += [c for v in sec.values() if isinstance(v, dict) for c in v.get("checks", [])]
    missed = [c["what"] for c in checks if not c["met"]]
    result["summary"] = {"targets_met": len(checks) - len(missed), "targets_missed": len(missed), "missed": missed}
    result["total_s"] = time.perf_counter() - t0
    text = json.dumps(_clean(result), indent=1, default=str)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)
    if result["summary"]["targets_missed"]:
        print(f"target missed: {', '.join(result['summary']['missed'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
