"""Benchmarks of coreduce.evaluate (prints JSON; not a test).

1. Hansen (1999) threshold regression on Hansen's data: single + double thresholds with 300 whole-firm bootstrap
   replications each (Hansen's convention, 400-point grid), and the exhaustive-search variant; warm, median of
   ``--reps`` runs. Target: <= 2 s on 2 cores.
2. Optionally the same run in pyxthreg 0.0.3 (``--pyxthreg-python`` = a Python with pyxthreg installed; it is run
   in a subprocess after a warm-up call, because its first call JIT-compiles for about 80 s). Its bootstrap is a
   per-observation wild bootstrap, not Hansen's, so only the time is compared.
3. Two-way FE (entity + time, entity-clustered, 4 regressors) on a simulated panel: ``coreduce.evaluate.twfe``
   against the pyfixest call it wraps (target: ratio <= 1.5).

Usage: ``python benchmarks/evaluate.py [--rows 10000000] [--reps 3] [--pyxthreg-python PATH] [--parts threshold,fe]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
HANSEN = ROOT.parent / "shared" / "data" / "hansen1999_investment" / "hansen1999.csv"
if not HANSEN.exists():
    HANSEN = Path("/work/shared/data/hansen1999_investment/hansen1999.csv")


def timed(fn, reps: int) -> tuple[float, list[float], object]:
    fn()  # warm-up
    ts, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts, out


def bench_threshold(reps: int) -> dict:
    from coreduce.evaluate import threshold_regression

    d = pd.read_csv(HANSEN)
    args = (d, "i", "q1,q2,q3,d1,qd1", "c1", "d1", "id", "year")
    res = {}
    for label, kw in {
        "hansen_grid400": dict(grid=400, convention="hansen"),
        "exhaustive_all_periods": dict(grid=0, convention="all_periods"),
    }.items():
        med, ts, r = timed(
            lambda kw=kw: threshold_regression(*args, n_thresholds=2, trim=0.01, bootstrap=[300, 300], seed=1, **kw),
            reps,
        )
        res[label] = {
            "median_s": round(med, 4),
            "runs_s": [round(t, 4) for t in ts],
            "candidates": r.n_candidates,
            "thresholds": r.thresholds,
            "F": [round(s.f_stat, 4) for s in r.stages],
            "p": [s.p_value for s in r.stages],
            "bootstrap_reps": [s.n_boot for s in r.stages],
            "target_s": 2.0,
            "meets_target": med <= 2.0,
        }
    return res


PYXTHREG_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, statistics
    import pandas as pd
    from pyxthreg import ThresholdPanel
    d = pd.read_csv(sys.argv[1]); reps = int(sys.argv[2])
    def run(bs):
        m = ThresholdPanel(d, "i", "c1", "d1", indep=["q1", "q2", "q3", "d1", "qd1"], entity_col="id", time_col="year")
        return m.fit(thnum=2, trim=0.01, grid=400, bs=bs, n_jobs=2)
    t0 = time.perf_counter(); run(10); warm = time.perf_counter() - t0
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); run(300); ts.append(time.perf_counter() - t0)
    print(json.dumps({"first_call_with_jit_s": warm, "median_s": statistics.median(ts), "runs_s": ts}))
    """
)


def bench_pyxthreg(python: str, reps: int) -> dict:
    try:
        out = subprocess.run(
            [python, "-c", PYXTHREG_SCRIPT, str(HANSEN), str(reps)], capture_output=True, text=True, timeout=1200
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def simulate(rows: int, n_entities: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = rows // n_entities
    ent = np.repeat(np.arange(n_entities, dtype=np.int32), t)
    year = np.tile(np.arange(t, dtype=np.int32), n_entities)
    a = rng.standard_normal(n_entities, dtype=np.float32)[ent]
    x = rng.standard_normal((4, len(ent)), dtype=np.float32)
    x[0] += 0.5 * a
    y = a + 0.01 * year - 0.2 * x[0] + 0.1 * x[1] - 0.05 * x[2] + 0.03 * x[3] + rng.standard_normal(len(ent))
    return pd.DataFrame({"ent": ent, "year": year, "y": y, "x1": x[0], "x2": x[1], "x3": x[2], "x4": x[3]})


def bench_fe(rows: int, reps: int) -> dict:
    """Alternate the two calls (A B A B ...) after one warm-up each, so machine load hits both alike."""
    import pyfixest as pf

    from coreduce.evaluate import twfe

    d = simulate(rows, n_entities=max(rows // 20, 1))

    def own():
        return twfe(d, "y", "x1", ["x2", "x3", "x4"], entity="ent", time="year", stepwise=False)

    def ref():
        return pf.feols("y ~ x1 + x2 + x3 + x4 | ent + year", d, vcov={"CRV1": "ent"})

    a, b = own(), ref()
    assert abs(a[0].coef["x1"] - b.coef()["x1"]) < 1e-10
    ts_own, ts_pf = [], []
    for _ in range(reps):
        for fn, ts in ((own, ts_own), (ref, ts_pf)):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    med_own, med_pf = statistics.median(ts_own), statistics.median(ts_pf)
    return {
        "rows": len(d),
        "entities": int(d.ent.nunique()),
        "periods": int(d.year.nunique()),
        "regressors": 4,
        "vcov": "CRV1 by entity",
        "coreduce_twfe_median_s": round(med_own, 3),
        "pyfixest_median_s": round(med_pf, 3),
        "ratio": round(med_own / med_pf, 3),
        "ratio_of_minima": round(min(ts_own) / min(ts_pf), 3),
        "target_ratio": 1.5,
        "runs_coreduce_s": [round(t, 3) for t in ts_own],
        "runs_pyfixest_s": [round(t, 3) for t in ts_pf],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pyxthreg-python", default=None)
    ap.add_argument("--parts", default="threshold,fe", help="comma-separated: threshold, fe")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    out: dict = {"machine": {"python": sys.version.split()[0], "cpus": os.cpu_count(), "platform": platform.platform()}}
    if "threshold" in parts:
        out["threshold"] = bench_threshold(a.reps)
    if a.pyxthreg_python and "threshold" in parts:
        px = bench_pyxthreg(a.pyxthreg_python, a.reps)
        out["pyxthreg"] = px
        if "median_s" in px:
            own = out["threshold"]["hansen_grid400"]["median_s"]
            out["pyxthreg"]["speedup_coreduce_vs_pyxthreg"] = round(px["median_s"] / own, 2)
    if "fe" in parts:
        try:
            out["twfe"] = bench_fe(a.rows, a.reps)
        except MemoryError:
            out["twfe"] = {"rows_requested": a.rows, "error": "MemoryError", "fallback": bench_fe(1_000_000, a.reps)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
