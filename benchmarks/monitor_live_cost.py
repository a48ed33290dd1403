"""CPU cost per reading of the live monitor (prints JSON), without MQTT or a store.

Usage: ``PYTHONPATH=src python benchmarks/monitor_live_cost.py [records]``

Gas-turbine 2014-15 records (NOx with +10 % faults on 1 % of rows and the 9 operating variables, each a reading,
as ``benchmarks/monitor.py``'s MQTT part sends them) from 8 sites, replayed in batches of 300 readings through
``LiveMonitor.before_write`` and ``after_write`` with the NOx model (``NOX_MODEL``) and band (``NOX_BAND``);
the first 20 batches fill the windows and are not timed.  Wall time (``time.perf_counter``) and the thread's CPU
time per reading, all readings counted (one in ten is a NOx reading that goes through the model and the band).
Runs against older code too (``NOX_MODEL`` missing: the model without a scale model).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd

STATE = ["TEY", "AT", "AP", "AH", "AFDP", "GTEP", "TIT", "TAT", "CDP"]


def main(records: int = 6000, sites: int = 8, batch: int = 300) -> dict:
    import coreduce.monitor.thresholds as T
    from coreduce.monitor.evaluation import inject_faults, load_gas_turbine
    from coreduce.monitor.live import LiveMonitor
    from coreduce.monitor.rca import terciles_of

    df = load_gas_turbine()
    tr, te = df[df["year"] <= 2012], df[df["year"] >= 2014].reset_index(drop=True)
    model = T.ConditionalModel(STATE, "NOX", **getattr(T, "NOX_MODEL", {"lags": 2, "group": "year"})).fit(tr)
    y, _ = inject_faults(te["NOX"].to_numpy(), 0.01, 0.10, 0)
    vals = np.column_stack([y, te[STATE].to_numpy()])
    names, t0 = ["stack_NOx", *STATE], pd.Timestamp("2024-01-01", tz="UTC")
    rows = [(f"gt-{r % sites}", t0 + pd.Timedelta(hours=r // sites), n, float(vals[r % len(vals), j]),
             "mg/m^3" if j == 0 else "MW") for r in range(records) for j, n in enumerate(names)]  # fmt: skip
    feed = pd.DataFrame(rows, columns=["site_id", "ts", "variable", "value", "unit"])
    mon = LiveMonitor(None, models={"stack_NOx": model}, terciles={"stack_NOx": terciles_of(tr, STATE)},
                      limits={"stack_NOx": float(np.quantile(tr["NOX"], 0.99))}, **T.NOX_BAND,
                      quality_alerts=("non_positive", "out_of_range"))  # fmt: skip
    mon.warm_up()
    chunks = [feed.iloc[i : i + batch].reset_index(drop=True) for i in range(0, len(feed), batch)]
    for c in chunks[:20]:
        mon.after_write(c, mon.before_write(c))
    n, w, cpu = 0, time.perf_counter(), time.thread_time()
    for c in chunks[20:]:
        mon.after_write(c, mon.before_write(c))
        n += len(c)
    w, cpu = time.perf_counter() - w, time.thread_time() - cpu
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"band": T.NOX_BAND, "model": model.version, "readings": n, "us_per_reading_wall": w / n * 1e6,
            "us_per_reading_cpu": cpu / n * 1e6, "alerts": mon.alerts_raised, "uptime": load}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:2])), indent=1, default=float))
