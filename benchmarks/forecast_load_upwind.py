"""Validation screen (issue 13, third pass): do the current load anomalies of upwind / neighbouring EIA-930 regions
carry tomorrow's weather to the 12 balancing areas?

Same task and model as ``benchmarks/forecast.py`` ``load_day_ahead`` (12 BAs, issued 00:00 UTC = cutoff 23:00 UTC,
h 1–24), on the **validation** split only: fitted on 2020-01-01 … 2022-12-31 23:00 UTC, scored on the 365 issue
days of 2023; pooled MAPE / seasonal naive 24. The features of the benchmark's LightGBM (``local_tz``,
``level_features``, 511 leaves, learning rate 0.03, 800 trees, L1 on the log ratio to the same hour yesterday) are
computed once; each variant adds columns and trains its own booster.

Cross-series features, all known at the cutoff (trailing windows ending at the cutoff hour), for region ``R``
(``regions/<R>.csv.gz``, cleaned demand [MW]) as log ratios:

- ``m24_d1`` / ``m24_w1``: mean of log load over the last 24 h against the same 24 h one day / one week before;
- ``m6_d1`` / ``m6_w1``: the same for the last 6 h.

Variants: ``all13`` (the 13 regions' ``m24_d1, m24_w1, m6_d1`` for every series), ``all13w`` (the 13 regions'
``m24_w1, m6_w1``), ``local`` (the BA's own region, the region upwind of it and the one upwind of that, by
:data:`WEST`: ``m24_d1, m24_w1, m6_d1``), ``local4`` (same, with ``m6_w1``), ``localplus`` (``local`` + the upwind
anomaly against the BA's own ``lvl_mean24_vs_*`` and the upwind ``m24_w1`` change since the day before), ``huber`` /
``fair`` (the base features with LightGBM's huber / fair loss on the log ratio, scale 0.02), ``base_s1`` /
``local4_s1`` (seed 1). ``--means`` adds the MAPE ratio of means of the variants' forecasts.

Run: ``PYTHONPATH=src python benchmarks/forecast_load_upwind.py base local4 [--means base,local4] [--out F]``
(about 80–110 s per variant on the shared 2-core machine, load 1–5).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

from coreduce.forecast import daily_cutoffs
from coreduce.forecast.frames import Panel
from coreduce.forecast.gbm import LightGBMForecaster, _rolling_mean
from coreduce.forecast.jobs import load_frame
from coreduce.forecast.models import grid

BAS = ("BPAT", "CISO-PGAE", "DOPD", "DUK", "ERCO-COAS", "LDWP", "NYIS-ZONJ", "PJM-DOM", "PSEI", "SOCO", "TEPC", "TVA")
REGIONS = ("CAL", "CAR", "CENT", "FLA", "MIDA", "MIDW", "NE", "NW", "NY", "SE", "SW", "TEN", "TEX")
# each BA's EIA region (the data set's PROVENANCE.md region -> BA mapping)
BA_REGION = {"BPAT": "NW", "CISO-PGAE": "CAL", "DOPD": "NW", "DUK": "CAR", "ERCO-COAS": "TEX", "LDWP": "CAL",
             "NYIS-ZONJ": "NY", "PJM-DOM": "MIDA", "PSEI": "NW", "SOCO": "SE", "TEPC": "SW", "TVA": "TEN"}  # fmt: skip
# the neighbouring region to the west / south-west (weather moves west -> east); the Pacific regions: themselves
WEST = {"NW": "NW", "CAL": "CAL", "SW": "CAL", "TEX": "SW", "CENT": "NW", "MIDW": "CENT", "TEN": "MIDW",
        "SE": "TEX", "CAR": "TEN", "FLA": "SE", "MIDA": "MIDW", "NY": "MIDA", "NE": "NY"}  # fmt: skip
D3 = ("m24_d1", "m24_w1", "m6_d1")
D4 = (*D3, "m6_w1")


def region_anomalies() -> dict[str, pd.DataFrame]:
    """Per region, hourly: trailing 24-h / 6-h means of log load against one day / one week before (log ratios)."""
    out = {}
    for r in REGIONS:
        s = load_frame(f"eia930:{r}", "load")[0].set_index("ds")["y"]
        lg = np.log(s.clip(lower=1.0)).to_numpy()[None, :]
        m24, m6 = _rolling_mean(lg, 24)[0], _rolling_mean(lg, 6)[0]

        def back(a, k):
            return np.concatenate([np.full(k, np.nan), a[:-k]])

        out[r] = pd.DataFrame({"m24_d1": m24 - back(m24, 24), "m24_w1": m24 - back(m24, 168),
                               "m6_d1": m6 - back(m6, 24), "m6_w1": m6 - back(m6, 168)}, index=s.index)  # fmt: skip
    return out


def cross_all(an, cut, cols) -> pd.DataFrame:
    """Every region's anomalies at each row's cutoff."""
    return pd.DataFrame({f"x_{r}_{k}": an[r][k].reindex(cut).to_numpy() for r in REGIONS for k in cols})


def cross_local(an, cut, ids, cols, which=("own", "west", "west2")) -> pd.DataFrame:
    """The BA's own region's, its upwind region's and the next one's anomalies at each row's cutoff."""
    maps = {"own": {b: BA_REGION[b] for b in BAS}, "west": {b: WEST[BA_REGION[b]] for b in BAS},
            "west2": {b: WEST[WEST[BA_REGION[b]]] for b in BAS}}  # fmt: skip
    out = {}
    for w in which:
        for k in cols:
            v = np.full(len(cut), np.nan)
            for b in BAS:
                m = ids == b
                v[m] = an[maps[w][b]][k].reindex(cut[m]).to_numpy()
            out[f"x_{w}_{k}"] = v
    return pd.DataFrame(out)


def main(argv=None) -> int:
    import lightgbm as lgb

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--means", action="append", default=[], help="comma-separated variants to average")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    loaded = [load_frame(f"eia930:{b}", "load") for b in BAS]
    df = pd.concat([d for d, _ in loaded], ignore_index=True)
    tz = {k: v for _, meta in loaded for k, v in meta["local_tz"].items()}
    test = daily_cutoffs("2023-01-01", "2023-12-31")
    model = LightGBMForecaster(24, [], train_every=24, seed=0, utc_offset_h=-6.0, holidays="US",
                               relative_to="same_hour_d1", local_tz=tz, level_features=True, num_boost_round=800,
                               params={"objective": "l1", "min_data_in_leaf": 20, "num_leaves": 511,
                                       "learning_rate": 0.03})  # fmt: skip

    def build(frame, cpos_of):  # the benchmark model's features (as in fit / predict) and each row's cutoff, series
        panel = Panel.from_frame(frame, ["y"])
        cpos = cpos_of(panel)
        x, y = model._features(panel, cpos, 24)
        s, c, t = grid(panel, cpos, 24)
        return panel, x, y, panel.time(c.ravel()), np.asarray(panel.ids)[s.ravel()], t.ravel(), s.ravel()

    _, xtr, ytr, ctr, idtr, _, _ = build(df[df["ds"] <= test.min()],
                                         lambda p: np.arange(p.n_times - 1 - 24, 168, -24)[::-1])  # fmt: skip
    pte, xte, yte, cte, idte, tte, ste = build(df[df["ds"] <= test.max() + pd.Timedelta(hours=24)],
                                               lambda p: p.pos(test))  # fmt: skip
    sn24 = pte.values["y"][ste, tte - 24]  # seasonal naive 24: the same hour the day before the target
    an = region_anomalies()

    def mape(pred, m=slice(None)):
        y, f = yte[m], pred[m]
        ok = ~np.isnan(y) & (y != 0)
        return float(100 * np.mean(np.abs((y[ok] - f[ok]) / y[ok])))

    def localplus(x, cut, ids):
        lo = cross_local(an, cut, ids, D3)
        lo["x_west_vs_own_m24_w1"] = lo["x_west_m24_w1"] - x["lvl_mean24_vs_w1"].to_numpy()
        lo["x_west_vs_own_m24_d1"] = lo["x_west_m24_d1"] - x["lvl_mean24_vs_d1"].to_numpy()
        lo["x_west2_vs_own_m24_w1"] = lo["x_west2_m24_w1"] - x["lvl_mean24_vs_w1"].to_numpy()
        prev = cross_local(an, cut - pd.Timedelta(hours=24), ids, ("m24_w1",), ("west", "west2"))
        lo["x_west_m24_w1_chg"] = lo["x_west_m24_w1"] - prev["x_west_m24_w1"].to_numpy()
        lo["x_west2_m24_w1_chg"] = lo["x_west2_m24_w1"] - prev["x_west2_m24_w1"].to_numpy()
        return lo

    extra = {  # variant -> (added columns of (x, cutoffs, ids), LightGBM parameters over the model's)
        "base": (None, {}), "base_s1": (None, {"seed": 1}),
        "all13": (lambda x, c, i: cross_all(an, c, D3), {}),
        "all13w": (lambda x, c, i: cross_all(an, c, ("m24_w1", "m6_w1")), {}),
        "local": (lambda x, c, i: cross_local(an, c, i, D3), {}),
        "local4": (lambda x, c, i: cross_local(an, c, i, D4), {}),
        "local4_s1": (lambda x, c, i: cross_local(an, c, i, D4), {"seed": 1}),
        "localplus": (localplus, {}),
        "huber": (None, {"objective": "huber", "alpha": 0.02}), "fair": (None, {"objective": "fair", "fair_c": 0.02}),
    }  # fmt: skip
    sn = mape(sn24)
    res = {"task": "12 BAs, fit 2020-2022, validation 2023 (365 issue days, cutoff 23:00 UTC, h 1-24)",
           "mape_pct_seasonal_naive_24": sn, "variants": {}}  # fmt: skip
    preds = {}
    base_tr, base_te = model._base(xtr), model._base(xte)
    ok = ~np.isnan(ytr) & ~np.isnan(base_tr)
    yt = np.log1p(np.maximum(ytr[ok], 0)) - base_tr[ok]
    for v in args.variants:
        t0 = time.perf_counter()
        add, par = extra[v]
        a, b = (xtr, xte) if add is None else (pd.concat([xtr, add(xtr, ctr, idtr)], axis=1),
                                               pd.concat([xte, add(xte, cte, idte)], axis=1))  # fmt: skip
        ds = lgb.Dataset(a[ok], yt, categorical_feature=["series"], free_raw_data=True)
        booster = lgb.train({**model.params, **par}, ds, num_boost_round=model.num_boost_round)
        preds[v] = np.expm1(booster.predict(b) + base_te)
        mp = mape(preds[v])
        per = {u: mape(preds[v], idte == u) / mape(sn24, idte == u) for u in BAS}
        res["variants"][v] = {"mape_pct": mp, "ratio_vs_seasonal_naive_24": mp / sn, "per_ba_ratio": per,
                              "features": a.shape[1], "wall_s": time.perf_counter() - t0,
                              "load_average": os.getloadavg()}  # fmt: skip
        print(json.dumps({v: res["variants"][v]}), file=sys.stderr, flush=True)
    for spec in args.means:
        names = spec.split(",")
        res.setdefault("means", {})[spec] = mape(np.mean([preds[n] for n in names], axis=0)) / sn
    txt = json.dumps(res, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(txt)
    print(txt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
