"""``coreduce forecast …``: backtest, carbon-peak path, forecasts into the workspace (thin over
:mod:`coreduce.forecast.jobs`; every command is recorded on the workspace's ledger with its seed and model
version)."""

from __future__ import annotations

import json
from typing import Any

import typer

from coreduce.cli._common import default_store, err_console, out_console, user_errors

app = typer.Typer(help="Forecasts: backtests against baselines, carbon-peak paths, forecasts into the workspace.",
                  no_args_is_help=True)  # fmt: skip


def _stations(s: str | None) -> list[str] | None:
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


def _print_json(obj: Any) -> None:
    out_console().print_json(json.dumps(obj, default=str))


@app.command("backtest")
@user_errors
def backtest_cmd(
    dataset: str = typer.Option("beijing-aq", help="beijing-aq or pjm-east"),
    target: str = typer.Option("PM2.5", help="variable forecast (beijing-aq: PM2.5, NO2, CO, SO2, O3, PM10)"),
    horizon: int = typer.Option(24, help="hours ahead (forecasts issued daily at 00:00 local)"),
    stations: str = typer.Option(None, help="comma-separated station names, e.g. Dongsi,Tiantan (default: all)"),
    models: str = typer.Option(None, help="comma-separated models (default: baselines + lightgbm)"),
    test_start: str = typer.Option("2016-03-01", help="first issue day of the test"),
    test_end: str = typer.Option("2017-02-28", help="last issue day of the test"),
    seed: int = typer.Option(0, help="random seed (recorded)"),
    store: str = typer.Option(None, help="workspace (default $COREDUCE_STORE or ./coreduce.duckdb)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Rolling-origin backtest: per model MAE, RMSE, MASE, sMAPE, 95 % coverage and skill vs persistence."""
    from coreduce.forecast.jobs import backtest_outputs, metrics_json, recorded_run

    params = {"dataset": dataset, "target": target, "horizon": horizon, "stations": _stations(stations),
              "models": _stations(models), "test_start": test_start, "test_end": test_end, "seed": seed}  # fmt: skip
    err_console().print(f"backtesting {dataset} {target} h1-{horizon} ...")
    out = recorded_run("forecast", backtest_outputs, params, store or default_store(), model_version="backtest suite")
    rows = metrics_json(out["metrics"])
    if as_json:
        _print_json({"run_id": out["run_id"], **out["explanation"], "models": rows})
        return
    from rich.table import Table

    t = Table(title=f"{dataset} {target}, horizons 1-{horizon} (run {out['run_id'][:8]})")
    cols = ["model", "mae", "rmse", "mase", "smape", "coverage_95", "skill_mae_vs_persistence", "cutoffs"]
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[f"{r.get(c):.3f}" if isinstance(r.get(c), float) else str(r.get(c)) for c in cols])
    out_console().print(t)


@app.command("peak")
@user_errors
def peak_cmd(
    region: str = typer.Option(..., help="CEADs province (Jiangsu) or OWID country (China)"),
    source: str = typer.Option("ceads", help="ceads or owid"),
    scenario: str = typer.Option("baseline", help="baseline, low_carbon or high_growth"),
    method: str = typer.Option(
        "kaya", help="kaya (Kaya factors, relaxed growth), stirpat (STIRPAT OLS with the EKC term) or ml (panel GBR)"
    ),
    n_paths: int = typer.Option(1000, help="Monte Carlo paths"),
    seed: int = typer.Option(0, help="random seed (recorded)"),
    chart: str = typer.Option(None, help="write the Plotly chart to this HTML file"),
    store: str = typer.Option(None, help="workspace (default $COREDUCE_STORE or ./coreduce.duckdb)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Carbon-peak path to 2060: peak year and value, 2030 and 2060 values, cumulative emissions [Mt CO2]."""
    from coreduce.errors import InputError
    from coreduce.forecast.jobs import PEAK_MODEL_VERSIONS, peak_outputs, recorded_run

    if method not in PEAK_MODEL_VERSIONS:
        raise InputError("--method", f"one of {', '.join(PEAK_MODEL_VERSIONS)}", value=method)
    params = {"region": region, "source": source, "scenario": scenario, "n_paths": n_paths, "seed": seed,
              "method": method}  # fmt: skip
    version = PEAK_MODEL_VERSIONS[method]
    out = recorded_run("forecast", peak_outputs, params, store or default_store(), model_version=version)
    s = {"run_id": out["run_id"], **out["summary"]}
    if chart:
        from coreduce.export import atomic_write_text

        atomic_write_text(chart, out["result"].figure().to_html(include_plotlyjs="cdn"))
        s["chart"] = chart
    if as_json:
        _print_json(s)
        return
    c = out_console()
    pk = f"{s['peak_year']} at {s['peak_value_mt']:.1f} Mt" if s["peaked"] else "no peak by 2060 (median path)"
    vals = f"2030 {s['co2_2030_mt']:.1f} Mt; 2060 {s['co2_2060_mt']:.1f} Mt"
    cum = f"cumulative {s['cumulative_from']}-2060 {s['cumulative_mt']:.0f} Mt"
    c.print(f"{region} ({source}, {scenario}, {method}): peak {pk}; {vals}; {cum}")


@app.command("run")
@user_errors
def run_cmd(
    dataset: str = typer.Option("beijing-aq", help="beijing-aq or pjm-east"),
    target: str = typer.Option("PM2.5", help="variable forecast"),
    horizon: int = typer.Option(24, help="hours ahead"),
    stations: str = typer.Option(None, help="comma-separated station names (default: all)"),
    model: str = typer.Option("lightgbm", help="persistence, seasonal_naive_24, climatology, mstl, lightgbm ..."),
    seed: int = typer.Option(0, help="random seed (recorded)"),
    store: str = typer.Option(None, help="workspace (default $COREDUCE_STORE or ./coreduce.duckdb)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Forecast from the data's last issue time and store the rows in the workspace's ``forecasts`` table."""
    from coreduce.forecast.jobs import dataset_meta, forecast_outputs, make_models, recorded_run

    params = {"dataset": dataset, "target": target, "horizon": horizon, "stations": _stations(stations),
              "model": model, "seed": seed}  # fmt: skip
    version = make_models([model], horizon, dataset_meta(dataset, target), seed)[0].version
    out = recorded_run("forecast", forecast_outputs, params, store or default_store(), model_version=version)
    fc = out["forecasts"]
    s = {"run_id": out["run_id"], "rows": len(fc), "model": out["explanation"]["model"],
         "cutoff": out["explanation"]["cutoff"], "series": int(fc["series"].nunique())}  # fmt: skip
    if as_json:
        _print_json(s)
    else:
        out_console().print(f"{s['rows']} forecasts ({s['model']}, cutoff {s['cutoff']}) stored; run {s['run_id']}")
