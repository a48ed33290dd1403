"""Ledger overhead and own footprint of the demo's accounting run.

Times ``coreduce.demo.account_example_city`` (the demo's accounting step) N times plain and N times inside
``Ledger.run`` on a DuckDB workspace, with the footprint fallback model and with CodeCarbon, and prints JSON:
mean seconds per run, overhead per run (ms and %), and the recorded energy [kWh] and emissions [kg CO2] of a run.

Usage::

    python benchmarks/demo_ledger_overhead.py --n 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from coreduce.account import FactorLibrary
from coreduce.datasets import load_example_city
from coreduce.demo import EXAMPLE, account_example_city
from coreduce.ledger import Ledger


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5)
    args = ap.parse_args()
    account_example_city()  # warm caches (factor library, example files)
    activity = load_example_city()["activity"]
    version = FactorLibrary.default().version
    out = {"n": args.n}
    plain = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        account_example_city()
        plain.append(time.perf_counter() - t0)
    out["plain_s"] = round(statistics.mean(plain), 4)
    for mode in ("fallback", "codecarbon"):
        os.environ["COREDUCE_FOOTPRINT"] = mode
        with tempfile.TemporaryDirectory() as d:
            led = Ledger(str(Path(d) / "ws.duckdb"))
            times, runs = [], []
            for _ in range(args.n):
                t0 = time.perf_counter()
                with led.run(
                    "account",
                    entrypoint="coreduce.demo:account_example_city",
                    params={"name": EXAMPLE},
                    inputs={"activity": activity},
                    factor_version=version,
                ) as run:
                    run.outputs(account_example_city())
                times.append(time.perf_counter() - t0)
                runs.append(run)
            rec = led.list()
            out[mode] = {
                "recorded_s": round(statistics.mean(times[1:] if len(times) > 1 else times), 4),
                "overhead_ms": round(
                    (statistics.mean(times[1:] if len(times) > 1 else times) - out["plain_s"]) * 1e3, 1
                ),
                "first_run_s": round(times[0], 4),
                "energy_kwh_per_run": float(rec["energy_kwh"].mean()),
                "emissions_kg_per_run": float(rec["emissions_kg"].mean()),
                "grid_factor_id": str(runs[-1].footprint.grid_factor_id) if runs[-1].footprint else None,
                "verify_ok": bool(led.verify().ok),
            }
            out[mode]["overhead_pct"] = round(100 * out[mode]["overhead_ms"] / 1e3 / out["plain_s"], 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
