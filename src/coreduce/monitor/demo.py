"""The demo's monitoring step: the example stack's hourly readings replayed through the pipeline.

Proposed registration (the lead wires it in ``coreduce.demo``)::

    from coreduce.monitor.demo import monitor_step
    register_step(monitor_step())          # before "report"

The step trains the expected-NOx model on the first half of the example stack (gas turbine, NW Turkey, 2015:
load and the previous readings), watches the second half (dynamic band + fixed limit + data-quality flags),
stores the alerts in ``alerts`` inside the step's ledger run, and adds a "Monitoring" section to the report.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from coreduce.monitor.pipeline import watch
from coreduce.monitor.report import section
from coreduce.monitor.thresholds import ConditionalModel

#: GB 13223-2011 Table 1: NOx limit of new gas-turbine units burning natural gas, 50 mg/m^3 (= 50,000 ug/m^3).
GAS_TURBINE_NOX_LIMIT_UG_M3 = 50_000.0


def monitor_stack(obs: pd.DataFrame) -> dict[str, Any]:
    """Watch the example stack's NOx (observations in canonical form, long): returns scored, alerts, model."""
    wide = obs.pivot_table(index="ts", columns="variable", values="value").sort_index().reset_index()
    wide = wide.dropna(subset=["load", "stack_NOx"]).reset_index(drop=True)
    half = len(wide) // 2
    model = ConditionalModel(["load"], "stack_NOx", lags=2).fit(wide.iloc[:half])
    test = wide.iloc[half:].reset_index(drop=True).assign(value=lambda d: d["stack_NOx"])
    res = watch(test, model, site_id=str(obs["site_id"].iloc[0]), variable="stack_NOx", unit="ug/m^3",
                limit=GAS_TURBINE_NOX_LIMIT_UG_M3, training=wide.iloc[:half], window=336)  # fmt: skip
    return {"scored": res.scored, "alerts": res.alerts, "model": model, "train_rows": half, "test_rows": len(test)}


def step_monitor(ctx: Any, run: Any) -> None:
    """Demo step ``monitor``: replay the example stack through the pipeline; alerts stored in the step's run."""
    from coreduce.datasets import load_example_stack

    stack = load_example_stack()
    out = monitor_stack(stack["observations"])
    alerts = out["alerts"]
    if run is not None:
        alerts = alerts.assign(run_id=run.run_id)
        run.input("stack_observations", stack["observations"])
        run.output("alerts", alerts.drop(columns=["run_id"]))
        kinds = alerts["kind"].value_counts().to_dict()
        run.explain({"what": "expected NOx from load and the 2 previous readings (LightGBM) + trailing q99 band",
                     "model": out["model"].version, "train_rows": out["train_rows"], "test_rows": out["test_rows"],
                     "alerts": {str(k): int(v) for k, v in kinds.items()},
                     "unexplained": int((alerts["path"] == "unexplained").sum())})  # fmt: skip
        ctx.store.ingest({"sites": stack["sites"]}, source="coreduce/datasets/stack_turkey_2015/sites.csv.gz")
        if len(alerts):
            run.write("alerts", alerts)
    ctx.results["monitor"] = out
    n = len(alerts)
    ctx.sections.append(section(
        out["scored"], alerts, title="Monitoring: example stack NOx with its expected value and band",
        nature="MEASURED readings (UCI gas turbine, NW Turkey, 2015 — not a Beijing plant); expected value and band "
               "DERIVED (model on the first half of the year)",
        text=f"{n} alerts on the second half of 2015; each carries observed, expected, band, the graph path "
             "(or 'unexplained') and the suggested action. The fixed limit drawn is the GB 13223-2011 limit for new "
             "gas-turbine units (50 mg/m3), shown for illustration: this turbine is not bound by it.",
        unit="ug/m^3", limit=GAS_TURBINE_NOX_LIMIT_UG_M3,
    ))  # fmt: skip


def monitor_step() -> Any:
    """The :class:`coreduce.demo.DemoStep` to register (imported lazily: ``coreduce.demo`` imports heavy parts)."""
    from coreduce.demo import DemoStep

    return DemoStep("monitor", step_monitor, "replay the stack readings through monitoring")
