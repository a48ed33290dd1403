"""The demo's forecast step on the bundled example city, recorded and stored like a demo step."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from coreduce.forecast.demo_step import PM25_24H_LIMIT, demo_forecast_outputs, report_section, step


def test_demo_outputs_are_consistent():
    out = demo_forecast_outputs()
    met = out["metrics"].set_index("model")
    assert set(met.index) == {"persistence", "seasonal_naive_7", "climatology"}
    assert (met["cutoffs"] == 92).all()
    fc = out["forecasts"]
    assert sorted(fc["horizon"].unique()) == [1, 2, 3] and fc["series"].nunique() == 12
    # daily steps: target = cutoff + h days
    d = (pd.to_datetime(fc["target_time"]) - pd.to_datetime(fc["cutoff"])) / pd.Timedelta(days=1)
    assert np.array_equal(d.to_numpy(), fc["horizon"].to_numpy())
    w = out["warnings"]
    assert ((w["p_exceed"] >= 0) & (w["p_exceed"] <= 1)).all()
    # a point forecast above the limit with an interval entirely above it -> probability at least 0.975
    above = w[w["lo-95"] > PM25_24H_LIMIT]
    assert (above["p_exceed"] >= 0.975 - 1e-9).all()
    assert out["explanation"]["best_model"] == met["mae"].idxmin()


def test_demo_step_writes_forecasts_with_the_run(store):
    from coreduce.ledger import Ledger

    ctx = SimpleNamespace(store=store, results={}, sections=[])
    led = Ledger(store)
    with led.run("demo.forecast", entrypoint="coreduce.forecast.demo_step:demo_forecast_outputs") as run:
        step(ctx, run)
    fc = store.read("forecasts")
    assert len(fc) == 36 and set(fc["run_id"]) == {run.run_id}
    assert all(set(json.loads(q)) == {"0.025", "0.975"} for q in fc["quantiles"])
    sec = ctx.sections[0]
    assert sec["id"] == "forecast" and sec["figure"] is not None and "Brier" in sec["text"]
    assert report_section(ctx.results["forecast"])["table"].shape[0] == 3
    rel = ctx.sections[1]
    assert rel["id"] == "forecast-reliability" and rel["figure"] is not None
    t = rel["table"]
    # every backtest station-day with a known truth falls in one bin: 12 stations x 92 cutoffs x 3 horizons
    # (less the missing days); the observed frequency per bin is a share
    assert 0 < t["Station-days"].sum() <= 12 * 92 * 3
    assert t["Observed frequency"].between(0, 1).all() and t["Mean forecast probability"].between(0, 1).all()


@pytest.mark.parametrize("name", ["demo_forecast_outputs"])
def test_demo_entrypoint_is_registered(name):
    from coreduce.ledger import get_entrypoint

    assert get_entrypoint(f"coreduce.forecast.demo_step:{name}") is not None
