"""Ledger overhead per run: N small recorded runs vs the same work unrecorded, on a DuckDB store.

Prints JSON: mean wall time per run unrecorded and recorded, and the overhead per run [ms], with the
footprint power model (``COREDUCE_FOOTPRINT=fallback``) and with CodeCarbon's shared offline tracker
(its one-off start-up, ~2 s, is timed separately and excluded from the per-run mean).

Usage: python benchmarks/ledger_overhead.py [N]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from coreduce import footprint
from coreduce.ledger import Ledger, footprint_summary
from coreduce.store import Store

ACTIVITY = pd.DataFrame(
    {
        "entity": [f"plant_{i % 20}" for i in range(2000)],
        "pollutant": np.tile(["CO2", "SO2", "NOx", "PM2.5"], 500),
        "amount": np.linspace(0.0, 100.0, 2000),
    }
)


def work() -> pd.DataFrame:
    """A small accounting-like job: totals by entity and pollutant."""
    return ACTIVITY.groupby(["entity", "pollutant"], as_index=False)["amount"].sum()


def bench(mode: str, n: int, folder: Path) -> dict[str, float | str]:
    os.environ["COREDUCE_FOOTPRINT"] = mode
    t = time.perf_counter()
    if mode == "codecarbon":
        footprint.shared_tracker()  # one-off start (hardware probing)
    startup = time.perf_counter() - t
    store = Store(folder / f"bench_{mode}.duckdb")
    led = Ledger(store)
    for _ in range(5):  # warm-up: imports, caches, first ledger insert
        work()
        with led.run("demo", params={"warm": True}) as run:
            run.output("totals", work())
    t = time.perf_counter()
    for _ in range(n):
        work()
    plain = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for i in range(n):
        with led.run("demo", params={"i": i}, inputs={"activity": ACTIVITY}) as run:
            run.output("totals", work())
            run.explain({"rows": len(ACTIVITY)})
    recorded = (time.perf_counter() - t) / n
    t = time.perf_counter()
    ok = led.verify().ok
    verify_s = time.perf_counter() - t
    fp = footprint_summary(led)
    store.close()
    return {
        "footprint_mode": mode,
        "method": str(fp["footprint_method"].iloc[-1]),
        "tracker_startup_s": round(startup, 3),
        "plain_ms_per_run": round(plain * 1e3, 3),
        "recorded_ms_per_run": round(recorded * 1e3, 3),
        "overhead_ms_per_run": round((recorded - plain) * 1e3, 3),
        "verify_s": round(verify_s, 3),
        "verify_ok": ok,
        "runs_in_ledger": len(fp),
        "mean_energy_kwh_per_run": float(fp["energy_kwh"].iloc[5:].mean()),
        "mean_emissions_kg_per_run": float(fp["emissions_kg"].iloc[5:].mean()),
        "grid_factor_id": str(fp["grid_factor_id"].iloc[-1]),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as d:
        results = [bench(mode, n, Path(d)) for mode in ("fallback", "codecarbon")]
    print(json.dumps({"benchmark": "ledger_overhead", "n_runs": n, "store": "duckdb", "results": results}, indent=2))


if __name__ == "__main__":
    main()
