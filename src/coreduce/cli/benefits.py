"""``coreduce benefits``: synergy metrics, health impact and money, the environment–economy–society index.

Registered by the main app with ``app.add_typer(benefits_app, name="benefits")``.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import typer

from coreduce.cli._common import check_input_file, default_store, out_console, user_errors

app = typer.Typer(help="Co-benefits: synergy metrics, health impact and money, EES index.", no_args_is_help=True)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=lambda o: None if o != o else str(o))


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", force_ascii=False))


@app.command("synergy")
@user_errors
def synergy_cmd(
    before: str = typer.Option(..., "--before", help="Inventory before the measure (pollutant, amount[, unit])."),
    after: str = typer.Option(..., "--after", help="Inventory after the measure."),
    measure: str = typer.Option("measure", "--measure", help="Name of the measure."),
    chart: str = typer.Option(None, "--chart", help="Write the co-control coordinate chart (HTML) here."),
    store: str = typer.Option(
        None, "--store", help="Workspace whose ledger records the run (default $COREDUCE_STORE)."
    ),
    no_record: bool = typer.Option(False, "--no-record", help="Do not record the run on the ledger."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """kg pollutant cut per t CO2 cut, elasticity, quadrant and APeq between two inventories."""
    from coreduce.benefits.jobs import synergy_files
    from coreduce.benefits.synergy import coordinate_chart

    check_input_file(before, "inventory file")
    check_input_file(after, "inventory file")
    res = synergy_files(before, after, measure=measure, store=None if no_record else (store or default_store()))
    table = res["synergy"]
    if chart:
        from coreduce.export import atomic_write_text

        atomic_write_text(chart, coordinate_chart(table).to_html(include_plotlyjs="cdn", full_html=True))
    if as_json:
        typer.echo(_json({"measure": measure, "run_id": res["run_id"], "synergy": _records(table)}))
        return
    con = out_console()
    con.print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"), markup=False)
    if res["run_id"]:
        con.print(f"run {res['run_id']} recorded", markup=False)


@app.command("health")
@user_errors
def health_cmd(
    delta_pm25: float = typer.Option(None, "--delta-pm25", help="PM2.5 cut, annual mean [ug/m3] (positive = cleaner)."),
    population: float = typer.Option(None, "--population", help="Exposed population."),
    baseline_mortality: float = typer.Option(
        None, "--baseline-mortality", help="Baseline deaths per person-year (GEMM: NCD+LRI deaths)."
    ),
    groups: str = typer.Option(
        None, "--groups", help="CSV per age group/endpoint: group, population, baseline_rate[, delta_pm25]."
    ),
    crf: str = typer.Option("krewski2009", "--crf", help="krewski2009, who2021, loglinear (with --rr) or gemm."),
    rr: float = typer.Option(None, "--rr", help="Relative risk per --per ug/m3 (with --crf loglinear)."),
    per: float = typer.Option(10.0, "--per", help="Concentration step of --rr [ug/m3]."),
    baseline_pm25: float = typer.Option(None, "--baseline-pm25", help="PM2.5 before the cut (GEMM) [ug/m3]."),
    vsl: float = typer.Option(None, "--vsl", help="Value of a statistical life (money = avoided x VSL)."),
    mc: int = typer.Option(0, "--monte-carlo", help="Monte Carlo draws on the coefficients (0 = off)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo."),
    store: str = typer.Option(None, "--store", help="Workspace whose ledger records the run."),
    no_record: bool = typer.Option(False, "--no-record", help="Do not record the run on the ledger."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Avoided deaths from a PM2.5 cut (BenMAP-CE form, or GEMM), and their value."""
    from coreduce.benefits.health import health_impact, monte_carlo
    from coreduce.benefits.jobs import health_outputs, record

    if groups:
        check_input_file(groups, "groups file")
        r = health_impact(
            delta_pm25, groups=pd.read_csv(groups), crf=crf, rr=rr, per=per, baseline_pm25=baseline_pm25, vsl=vsl
        )
        res_g = {"avoided": r.avoided, "value": r.value, "crf": r.crf, "groups": _records(r.table)}
        if as_json:
            typer.echo(_json(res_g))
        else:
            out_console().print(r.table.to_string(index=False), markup=False)
            out_console().print(f"avoided deaths per year: {r.avoided:.6g}", markup=False)
        return
    from coreduce.errors import InputError

    if delta_pm25 is None or population is None or baseline_mortality is None:
        raise InputError("health", "--delta-pm25, --population and --baseline-mortality (or --groups)")
    params = {
        "delta_pm25": delta_pm25,
        "population": population,
        "baseline_mortality": baseline_mortality,
        "crf": crf,
        "rr": rr,
        "per": per,
        "baseline_pm25": baseline_pm25,
        "vsl": vsl,
    }
    out, run_id = record(None if no_record else (store or default_store()), "benefits.health", health_outputs, params)
    res = {**out["explanation"], "run_id": run_id}
    if mc:
        res["monte_carlo"] = monte_carlo(
            delta_pm25,
            population=population,
            baseline_mortality=baseline_mortality,
            crf=crf,
            baseline_pm25=baseline_pm25,
            vsl=vsl,
            n=mc,
            seed=seed,
        )
    if as_json:
        typer.echo(_json(res))
        return
    con = out_console()
    con.print(f"avoided deaths per year: {res['avoided']:.6g} ({crf})", markup=False)
    if res["value"] is not None:
        con.print(f"value: {res['value']:.6g}", markup=False)
    if run_id:
        con.print(f"run {run_id} recorded", markup=False)


@app.command("index")
@user_errors
def index_cmd(
    indicators: str = typer.Option(..., "--indicators", help="CSV: one row per alternative, first column its name."),
    cost: list[str] = typer.Option([], "--cost", help="Indicator where less is better (repeat)."),
    subsystem: list[str] = typer.Option([], "--subsystem", help="indicator=environment|economy|society (repeat)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Entropy weights, TOPSIS ranking and the coupling-coordination degree of alternatives."""
    from coreduce.benefits.index import ees_index
    from coreduce.errors import InputError

    check_input_file(indicators, "indicator file")
    df = pd.read_csv(indicators)
    df = df.set_index(df.columns[0])
    directions = {c: ("cost" if c in cost else "benefit") for c in df.columns}
    subs = {}
    for s in subsystem:
        if "=" not in s:
            raise InputError("--subsystem", "indicator=subsystem", value=s)
        k, v = s.split("=", 1)
        subs[k] = v
    out = ees_index(df, directions, subs or None)
    if as_json:
        typer.echo(_json({"weights": out.attrs["weights"], "ranking": _records(out.reset_index())}))
        return
    con = out_console()
    con.print("weights: " + ", ".join(f"{k}={v:.4f}" for k, v in out.attrs["weights"].items()), markup=False)
    con.print(out.sort_values("rank").to_string(float_format=lambda v: f"{v:.4f}"), markup=False)
