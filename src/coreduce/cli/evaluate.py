"""``coreduce evaluate …`` — the panel-econometrics battery from the command line (thin over coreduce.evaluate).

The lead registers it in ``cli/main.py``: ``app.add_typer(evaluate.app, name="evaluate")``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import typer

from coreduce.errors import CoreduceError, InputError

app = typer.Typer(
    name="evaluate",
    help="Panel-econometrics evaluation: spec-driven battery, Hansen threshold regression.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CoreduceError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _read(path: Path):
    import pandas as pd

    if not path.is_file():
        raise InputError(str(path), "an existing CSV or Parquet file")
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@app.command("run")
@_user_errors
def run(
    spec: Path = typer.Argument(..., help="TOML spec (see examples/evaluate/low_carbon_pilots.toml)."),
    out: Path = typer.Option(Path("evaluation-report"), "--out", "-o", help="Report folder."),
    store: str | None = typer.Option(
        None, "--store", help="Record the run in this store's ledger (URL or DuckDB file); default: not recorded."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run the battery a spec asks for and write the report (tables as HTML/LaTeX/Markdown/CSV, plots, JSON).

    Example: coreduce evaluate run examples/evaluate/low_carbon_pilots.toml --out report/ --store ws.duckdb
    """
    from coreduce.evaluate.pipeline import _json_default, run_spec

    if store:
        from coreduce.evaluate.jobs import run_spec_recorded

        res = run_spec_recorded(spec, store, out=out)
    else:
        res = run_spec(spec, out=out)
    if as_json:
        typer.echo(json.dumps({**res["results"], "run_id": res.get("run_id")}, default=_json_default, indent=2))
    else:
        rid = f", run {res['run_id']}" if res.get("run_id") else ""
        typer.echo(f"wrote {out}/index.html ({len(res['tables'])} tables, {len(res['figures'])} figures{rid})")


@app.command("threshold")
@_user_errors
def threshold(
    data: Path = typer.Option(..., "--data", help="Balanced panel, CSV or Parquet."),
    y: str = typer.Option(..., "--y", help="Dependent variable."),
    rx: str = typer.Option(..., "--rx", help="Regime-dependent regressor(s), comma-separated."),
    q: str = typer.Option(..., "--q", help="Threshold variable."),
    entity: str = typer.Option(..., "--entity"),
    time: str = typer.Option(..., "--time"),
    x: str = typer.Option("", "--x", help="Regime-independent regressors, comma-separated."),
    n: int = typer.Option(1, "--n", help="Number of thresholds (1-3)."),
    trim: str = typer.Option("0.01", "--trim", help="Trim per threshold, e.g. 0.01,0.01,0.05."),
    grid: int = typer.Option(400, "--grid", help="Hansen's quantile grid points; 0 = every distinct value."),
    bootstrap: str = typer.Option("300", "--bootstrap", help="Replications per test, e.g. 300 or 300,300."),
    seed: int | None = typer.Option(None, "--seed"),
    convention: str = typer.Option("hansen", "--convention", help="'hansen' (N(T-1) rows) or 'all_periods'."),
    level: float = typer.Option(0.95, "--level"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hansen (1999) fixed-effect panel threshold regression.

    Example: coreduce evaluate threshold --data hansen1999.csv --y i --x q1,q2,q3,d1,qd1 --rx c1 --q d1
    --entity id --time year --n 2 --trim 0.01 --grid 0 --bootstrap 300 --json
    """
    from coreduce.evaluate.threshold import threshold_regression

    try:
        trims = [float(t) for t in trim.split(",")]
        boots = [int(b) for b in bootstrap.split(",")]
    except ValueError:
        raise InputError("<command line>", "comma-separated numbers", column="--trim/--bootstrap") from None
    res = threshold_regression(
        _read(data),
        y,
        x,
        rx,
        q,
        entity,
        time,
        n_thresholds=n,
        trim=trims if len(trims) > 1 else trims[0],
        grid=grid,
        bootstrap=boots if len(boots) > 1 else boots[0],
        seed=seed,
        level=level,
        convention=convention,  # type: ignore[arg-type]
        source=str(data),
    )
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2))
        return
    typer.echo(f"Hansen (1999) threshold regression, {res.n_entities} x {res.n_periods}, convention {res.convention}")
    typer.echo(res.tests().to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    typer.echo(f"thresholds: {', '.join(f'{g:.6g}' for g in res.thresholds)}")
    typer.echo(res.coefficients.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
