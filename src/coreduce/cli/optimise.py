"""``coreduce optimise …``: episode curtailment, economic-emission dispatch and co-control portfolios.

Each command prints the objective, the decision and its explanation (``--json`` for machine-readable output),
writes the ``decisions`` table and records the run with its per-pollutant claims on the workspace's ledger
(``--store``; ``--no-store`` solves only).  An infeasible problem exits 1 with the target or cap that cannot be
met and by how much.  Mounted by the main app as ``app.add_typer(optimise_app.app, name="optimise")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from coreduce.errors import CoreduceError

app = typer.Typer(
    help="Decisions: 'coreduce optimise curtail --problem P.json', 'coreduce optimise dispatch --problem P.json', "
    "'coreduce optimise portfolio --measures M.csv --target SO2=5000 --target CO2=200000' (each with --json, "
    "--store WORKSPACE). Formats: docs/optimise.md; examples: examples/optimise/.",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    str,
    typer.Option("--store", envvar="COREDUCE_STORE", help="Workspace: a .duckdb path or postgresql://user@host/db."),
]
NoStoreOpt = Annotated[bool, typer.Option("--no-store", help="Solve and print only: store and record nothing.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show the solver's (HiGHS's) own log on stderr; quiet by default.")
]
ProblemOpt = Annotated[Path, typer.Option("--problem", help="Problem file (JSON; format in docs/optimise.md).")]


def _emit(res: Any, as_json: bool) -> None:
    d = res.as_dict()
    if as_json:
        typer.echo(json.dumps(d, indent=2, ensure_ascii=False, default=str))
        return
    typer.echo(f"{res.problem}: objective {d['objective']:,.6g} {d.get('unit', '')}")
    for line in d["explanation"].get("in_words", []):
        typer.echo(f"  - {line}")
    dec = d["decision"]
    typer.echo(f"  decision: {len(dec)} item(s)" + (f", e.g. {dec[0]}" if dec else ""))
    if d.get("claims"):
        typer.echo("  claims: " + ", ".join(f"{c['pollutant']} {c['amount']:.6g} {c['unit']}" for c in d["claims"]))
    if d.get("run_id"):
        typer.echo(f"  run {d['run_id']} (seq {d['seq']}) on {d['store']}")


def _call(fn: Any, as_json: bool, verbose: bool = False, **kw: Any) -> None:
    from coreduce.optimise import Infeasible
    from coreduce.optimise._solve import set_verbose

    set_verbose(verbose)  # quiet: the solver's output goes to the run's explanation (solver.log), not the terminal

    try:
        res = fn(**kw)
    except Infeasible as exc:
        if as_json:
            typer.echo(json.dumps(exc.as_dict(), indent=2, ensure_ascii=False, default=str))
        else:
            typer.echo(f"infeasible: {exc}", err=True)
        raise typer.Exit(code=1) from None
    except CoreduceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    _emit(res, as_json)


@app.command("curtail")
def curtail_cmd(
    problem: ProblemOpt,
    store: StoreOpt = "coreduce.duckdb",
    no_store: NoStoreOpt = False,
    time_limit: Annotated[float, typer.Option(help="Solver time limit [s].")] = 60.0,
    gap: Annotated[float, typer.Option(help="Relative MIP gap at which to stop (0.005 = 0.5 %).")] = 0.005,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Least-lost-value curtailment windows for a forecast pollution episode.

    Example: coreduce optimise curtail --problem examples/optimise/curtail_beijing_2016.json --json
    """
    from coreduce.optimise import jobs

    _call(
        jobs.curtail,
        as_json,
        verbose,
        problem=problem,
        store=None if no_store else store,
        time_limit=time_limit,
        mip_rel_gap=gap,
    )


@app.command("dispatch")
def dispatch_cmd(
    problem: ProblemOpt,
    store: StoreOpt = "coreduce.duckdb",
    no_store: NoStoreOpt = False,
    uc: Annotated[bool, typer.Option("--uc", help="Unit commitment (MILP).")] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Economic-emission dispatch of thermal units, wind, solar and storage.

    Example: coreduce optimise dispatch --problem examples/optimise/dispatch_ercot_2019_week.json --json
    """
    from coreduce.optimise import jobs

    _call(jobs.dispatch, as_json, verbose, problem=problem, uc=uc, store=None if no_store else store)


def _targets(items: list[str]) -> dict[str, float]:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        try:
            if not sep:
                raise ValueError
            out[k.strip()] = float(v)
        except ValueError:
            typer.echo(f"error: --target {it!r}: expected POLLUTANT=t_per_yr, e.g. SO2=5000", err=True)
            raise typer.Exit(code=2) from None
    return out


@app.command("portfolio")
def portfolio_cmd(
    measures: Annotated[Path, typer.Option("--measures", help="Measures CSV (format in docs/optimise.md).")],
    target: Annotated[list[str], typer.Option("--target", help="POLLUTANT=t/yr reduction target (repeat).")],
    rate: Annotated[float, typer.Option(help="Discount rate for the capital recovery factor.")] = 0.04,
    year: Annotated[int, typer.Option(help="Plan year (decisions.period_start).")] = 2025,
    store: StoreOpt = "coreduce.duckdb",
    no_store: NoStoreOpt = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Least-cost co-control portfolio meeting pollution and carbon targets; MACs and saving over greedy MACC.

    Example: coreduce optimise portfolio --measures examples/optimise/portfolio_measures_beijing_2016.csv
    --target SO2=2000 --target CO2=400000
    """
    from coreduce.optimise import jobs

    _call(
        jobs.portfolio,
        as_json,
        verbose,
        measures=measures,
        targets=_targets(target),
        rate=rate,
        year=year,
        store=None if no_store else store,
    )
