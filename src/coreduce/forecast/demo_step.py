"""The demo's forecast step and its report section.

On the example city's daily PM2.5 (bundled ``beijing_2016``: 12 stations, daily means of 2016): a rolling-origin
backtest of the last quarter (1–3 days ahead) of persistence, weekly seasonal naive and month climatology, with
split-conformal 95 % intervals calibrated on the 60 days before; then forecasts for the 3 days after the data
from the best model, stored in ``forecasts``, with the probability that each station's daily mean exceeds
75 µg/m³ — the 24-hour Grade II limit of China's ambient air quality standard GB 3095-2012, Table 1 — as the
episode-warning input of the curtailment optimiser.

Register with ``coreduce.demo.register_step(DemoStep("forecast", step, "forecast PM2.5 and warn of episodes",
entrypoint="coreduce.forecast.demo_step:demo_forecast_outputs"))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from coreduce.forecast.backtest import backtest, episode_warnings, label
from coreduce.forecast.frames import forecasts_table, from_observations
from coreduce.forecast.intervals import Conformal
from coreduce.forecast.models import Climatology, Persistence, SeasonalNaive
from coreduce.ledger import entrypoint

#: GB 3095-2012 Table 1, PM2.5 24-hour average, Grade II limit [µg/m³]
PM25_24H_LIMIT = 75.0
HORIZON = 3
UTC_OFFSET_H = 8.0


def _models() -> list:
    return [Persistence(), SeasonalNaive(7), Climatology(UTC_OFFSET_H)]


@entrypoint
def demo_forecast_outputs(name: str = "beijing_2016") -> dict[str, Any]:
    """Backtest metrics, next-3-day forecasts (``forecasts`` rows, run id empty) and exceedance probabilities
    for a bundled example city (deterministic: no random model)."""
    from coreduce.datasets import load_example_city

    obs = load_example_city(name)["observations"]
    df = from_observations(obs, "PM2.5", freq="D")
    days = pd.DatetimeIndex(sorted(df["ds"].unique()))
    test, cal = days[-92 - HORIZON : -HORIZON], days[-92 - HORIZON - 60 : -92 - HORIZON - 1]
    res = backtest(df, _models(), h=HORIZON, test_cutoffs=test, cal_cutoffs=cal)
    met = res.metrics
    best = met.sort_values("mae").iloc[0]["model"]
    model = next(m for m in _models() if label(m) == best)
    model.fit(df)
    fc = model.predict(df, HORIZON, [days[-1]])
    cal_fc = res.forecasts[res.forecasts["model"] == best]
    conf = Conformal.calibrate(cal_fc)  # the test quarter's residuals calibrate the live forecast
    fc = conf.add_intervals(fc, (95,))
    warn = episode_warnings(fc, conf, PM25_24H_LIMIT)
    back = episode_warnings(cal_fc, res.conformal[best], PM25_24H_LIMIT)
    from coreduce.forecast import metrics as M

    brier = M.brier(back["p_exceed"], back["event"])
    base = M.brier(np.full(len(back), np.nanmean(back["event"])), back["event"])
    rows = forecasts_table(fc, model=best, run_id="", variable="PM2.5", unit="ug/m^3", levels=(95,))
    explanation = {
        "what": "daily PM2.5, 1-3 days ahead; rolling origin over the last 92 days; split conformal 95 %",
        "best_model": best, "mae_best": float(met.set_index("model").loc[best, "mae"]),
        "brier_exceed_75": brier, "brier_base_rate": base, "threshold_ug_m3": PM25_24H_LIMIT,
        "threshold_source": "GB 3095-2012 Table 1, PM2.5 24-h Grade II",
    }  # fmt: skip
    rel = M.reliability(back["p_exceed"], back["event"], bins=5)
    return {"metrics": met, "forecasts": rows, "warnings": warn, "explanation": explanation, "history": df,
            "reliability": rel}  # fmt: skip


def step(ctx: Any, run: Any) -> None:
    """The demo step: compute, store the forecasts with the run, explain, add the report section."""
    from coreduce.demo import write_table

    out = demo_forecast_outputs()
    rows = out["forecasts"].assign(run_id=run.run_id if run is not None else "demo")
    if run is not None:
        run.output("metrics", out["metrics"])
        run.output("forecasts", out["forecasts"])
        run.explain(out["explanation"])
    write_table(ctx, run, "forecasts", rows, source="demo forecast step")
    ctx.results["forecast"] = out
    ctx.sections.append(report_section(out))
    ctx.sections.append(reliability_section(out))


def report_section(out: dict[str, Any]) -> dict[str, Any]:
    """Report section (``id, title, nature, figure, table, text``) for :func:`coreduce.report.write_report`."""
    import plotly.graph_objects as go

    w, hist = out["warnings"], out["history"]
    fig = go.Figure()
    for uid in sorted(w["unique_id"].unique())[:4]:
        h = hist[hist["unique_id"] == uid].tail(45)
        f = w[w["unique_id"] == uid]
        fig.add_trace(go.Scatter(x=h["ds"], y=h["y"], name=f"{uid} observed", mode="lines"))
        fig.add_trace(go.Scatter(x=f["ds"], y=f["y_hat"], name=f"{uid} forecast", mode="lines+markers",
                                 error_y={"type": "data", "symmetric": False, "array": f["hi-95"] - f["y_hat"],
                                          "arrayminus": f["y_hat"] - f["lo-95"]}))  # fmt: skip
    fig.add_hline(y=PM25_24H_LIMIT, line_dash="dot", annotation_text="75 µg/m³ (GB 3095-2012 Grade II, 24 h)")
    fig.update_layout(yaxis_title="PM2.5 daily mean [µg/m³]", xaxis_title="day (UTC start)")
    met = out["metrics"][["model", "mae", "rmse", "mase", "coverage_95", "skill_mae_vs_persistence"]].round(3)
    met = met.rename(columns={"model": "Model", "mae": "MAE [µg/m³]", "rmse": "RMSE [µg/m³]", "mase": "MASE",
                              "coverage_95": "95 % interval coverage",
                              "skill_mae_vs_persistence": "MAE skill vs persistence"})  # fmt: skip
    e = out["explanation"]
    text = (
        f"Backtest over the last 92 days (1–3 days ahead): best model {e['best_model']} (MAE "
        f"{e['mae_best']:.1f} µg/m³). Probability of exceeding 75 µg/m³: Brier score {e['brier_exceed_75']:.3f} "
        f"against {e['brier_base_rate']:.3f} for the base rate. Next 3 days: "
        + "; ".join(
            f"{r.unique_id} {r.ds:%m-%d} P={r.p_exceed:.2f}"
            for r in w.sort_values("p_exceed", ascending=False).head(5).itertuples()
        )
    )
    return {"id": "forecast", "title": "PM2.5 forecast and episode warnings", "figure": fig, "table": met,
            "text": text, "nature": "forecast (derived from measured daily means, Beijing 2016)"}  # fmt: skip


def reliability_section(out: dict[str, Any]) -> dict[str, Any]:
    """Report section: the reliability curve of the episode warnings over the backtest (forecast probability
    of exceeding 75 µg/m³ against the observed frequency, 5 bins), with the Brier score."""
    import plotly.graph_objects as go

    rel, e = out["reliability"], out["explanation"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"}, name="perfect reliability"))
    fig.add_trace(go.Scatter(x=rel["forecast"], y=rel["observed"], mode="lines+markers", name=e["best_model"],
                             text=[f"n = {n}" for n in rel["n"]]))  # fmt: skip
    fig.update_layout(xaxis_title="forecast probability of exceeding 75 µg/m³", yaxis_title="observed frequency",
                      xaxis_range=[0, 1], yaxis_range=[0, 1])  # fmt: skip
    tab = pd.DataFrame(
        {
            "Probability bin": [f"{b / 5:.1f}–{(b + 1) / 5:.1f}" for b in rel["bin"]],
            "Mean forecast probability": rel["forecast"].round(3),
            "Observed frequency": rel["observed"].round(3),
            "Station-days": rel["n"].astype(int),
        }
    )
    text = (
        f"Reliability of the episode warnings (P(daily PM2.5 > 75 µg/m³), 1–3 days ahead, {e['best_model']} with "
        f"split-conformal residuals) over the 92-day backtest: Brier score {e['brier_exceed_75']:.3f} against "
        f"{e['brier_base_rate']:.3f} for the base rate. Points on the diagonal are reliable; above it, episodes "
        "were more frequent than forecast."
    )
    return {
        "id": "forecast-reliability",
        "title": "Episode warnings: reliability",
        "figure": fig,
        "table": tab,
        "text": text,
        "nature": "forecast verification (derived from measured daily means, Beijing 2016)",
    }
