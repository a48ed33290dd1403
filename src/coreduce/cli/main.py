"""``coreduce`` — the command line, a thin shell over the library.

Every command parses its options, calls the library and prints (``--json`` for machine-readable figures).
Errors a user can fix print one line to stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from coreduce.errors import CoreduceError, InputError
from coreduce.export import check_target, write_csv

app = typer.Typer(
    name="coreduce",
    help="Co-reduction of air pollution and carbon emissions: accounting, monitoring, forecasting, decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def default_store() -> str:
    """The workspace store: ``$COREDUCE_STORE`` or ``coreduce.duckdb`` in the current directory."""
    return os.environ.get("COREDUCE_STORE", "coreduce.duckdb")


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`CoreduceError` into one line on stderr and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CoreduceError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _ledger(store_url: str | None):
    """The run ledger of a store (None when recording is switched off with COREDUCE_LEDGER=off)."""
    if os.environ.get("COREDUCE_LEDGER", "on") == "off" or store_url is None:
        return None
    from coreduce.ledger import Ledger
    from coreduce.store import Store

    return Ledger(Store(store_url))


@app.command()
@user_errors
def account(
    activity: Path = typer.Option(
        ...,
        "--activity",
        "-a",
        help="Activity CSV: entity, sector, period_start, period_end, activity_type, amount, unit [, region, control].",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Inventory CSV to write."),
    factors: list[Path] | None = typer.Option(
        None,
        "--factors",
        "-f",
        help="Factor CSV(s): activity_type, pollutant, value, unit, source. Takes priority over the bundled library.",
    ),
    only_user_factors: bool = typer.Option(
        False, "--only-user-factors", help="Ignore the bundled emission factors; use only --factors."
    ),
    gwp: str = typer.Option("AR5", help="GWP-100 set for CO2e: AR4, AR5, AR6."),
    electricity: str = typer.Option(
        "location",
        help="Scope-2 electricity factor: location, market, "
        "carbon_market or a grid factor id (e.g. cn_mee_2023_national).",
    ),
    detail: bool = typer.Option(
        False,
        help="Write one row per activity × pollutant with factor, source and "
        "removal efficiency instead of the summary.",
    ),
    store: str | None = typer.Option(
        None,
        help="Workspace store (default: $COREDUCE_STORE or coreduce.duckdb): the activity and the inventory are "
        "upserted there and the run is recorded on its ledger.",
    ),
    no_store: bool = typer.Option(
        False, "--no-store", help="Only write --out: no workspace, no ledger record (nothing to audit later)."
    ),
    raw_csv: bool = typer.Option(
        False,
        "--raw-csv",
        help="Write text cells as they are: do not prefix ' to cells starting with = + - @ (spreadsheet formulas).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print totals by pollutant as JSON."),
) -> None:
    """Activity × emission factor → CO2, CH4, N2O, CO2e and SO2, NOx, PM2.5, PM10, CO, VOCs.

    Example: coreduce account --activity examples/activity.csv --factors examples/factors.csv --out inventory.csv
    """
    from coreduce.account.jobs import account_files, load_library

    params = {
        "activity": str(activity),
        "factors": [str(f) for f in factors or []],
        "only_user_factors": only_user_factors,
        "gwp": gwp,
        "electricity": electricity,
        "detail": detail,
    }
    for f in [activity, *(factors or [])]:
        if not Path(f).exists():
            raise InputError(str(f), "an existing file")
    check_target(out)  # refuse a symlink / device / FIFO / directory before any work
    url = None if no_store else (store or default_store())
    led = _ledger(url)
    if led is not None:
        version = load_library(params["factors"], only_user_factors).version
        with led.run(
            "account",
            entrypoint="coreduce.account.jobs:account_files",
            params=params,
            inputs={"activity": activity, **{f"factors_{i}": f for i, f in enumerate(factors or [])}},
            factor_version=version,
        ) as run:
            res = account_files(**params)
            run.outputs(res)  # every output the entrypoint returns, so `ledger reproduce` can compare them all
            run.explain(res["explanation"])
    else:
        res = account_files(**params)
    if url is not None:
        from coreduce.store import Store

        with Store(url) as st:
            st.ingest({"activity": res["activity"], "inventory": res["detail"]}, source=str(activity))
    write_csv(res["inventory"], out, neutralise_formulas=not raw_csv)  # atomic, formulas neutralised, no noise
    totals = res["explanation"]["totals_t"]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "out": str(out),
                    "rows": len(res["inventory"]),
                    "totals_t": totals,
                    "factor_version": res["explanation"]["factor_version"],
                },
                indent=2,
            )
        )
    else:
        console.print(f"wrote {len(res['inventory'])} rows to {out}")
        for p, v in totals.items():
            console.print(f"  {p:>6}: {v:,.3f} t")


@app.command()
@user_errors
def ingest(
    file: Path = typer.Argument(..., help="CSV / Parquet / Excel file of one canonical table."),
    table: str = typer.Option(
        ..., "--table", "-t", help="sites, observations, activity, emission_factors or inventory."
    ),
    store: str | None = typer.Option(
        None,
        help="Store URL: a .duckdb path or postgresql://user@host/db (default: $COREDUCE_STORE or coreduce.duckdb).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest report as JSON."),
) -> None:
    """Validate a file and upsert it into the store in one transaction (re-ingesting changes nothing).

    Example: coreduce ingest examples/activity.csv --table activity --store coreduce.duckdb
    """
    from coreduce.ingest.files import read_table
    from coreduce.store import Store

    url = store or default_store()
    with console.status(f"reading and validating {file} …", spinner="dots") as status:
        df = read_table(file, table)
        status.update(f"writing {len(df):,} {table} rows to {url} in one transaction …")
        with Store(url) as st:
            rep = st.ingest({table: df}, source=str(file), validate=False)
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
    else:
        console.print(
            f"{file}: {rep.rows[table]} rows read, {rep.inserted[table]} new, "
            f"{rep.matched[table]} already present ({table} in {url})"
        )


@app.command()
@user_errors
def load(
    dataset: str = typer.Argument(..., help="Data set name (see --list), e.g. beijing-aq, ceads-provinces."),
    store: str | None = typer.Option(None, help="Store URL (default: $COREDUCE_STORE or coreduce.duckdb)."),
    path: Path | None = typer.Option(None, help="Read this file instead of the copy in ../shared/data."),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest report as JSON."),
) -> None:
    """Load one of the real public data sets into the workspace (validated, one transaction, idempotent).

    Example: coreduce load ceads-provinces --store coreduce.duckdb   (coreduce load list: the names)
    """
    from coreduce.ingest.loaders import DATASETS
    from coreduce.store import Store

    if dataset == "list":
        for name, (desc, _) in DATASETS.items():
            typer.echo(f"{name:16} {desc}")
        return
    if dataset not in DATASETS:
        raise InputError("<command line>", f"a data set name: {', '.join(DATASETS)}", column="DATASET", value=dataset)
    url = store or default_store()
    with console.status(f"reading {dataset} …", spinner="dots") as status:
        frames = DATASETS[dataset][1](path)
        n = sum(len(f) for f in frames.values())
        status.update(f"writing {n:,} rows to {url} in one transaction …")
        with Store(url) as st:
            rep = st.ingest(frames, source=str(path or dataset), validate=False)
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
    else:
        for t in rep.rows:
            console.print(f"{dataset}: {t}: {rep.rows[t]:,} rows read, {rep.inserted[t]:,} new ({url})")


@app.command()
@user_errors
def demo(
    out: Path = typer.Option(Path("coreduce-demo"), "--out", "-o", help="Output directory."),
    store: str | None = typer.Option(None, help="Store URL (default: OUT/workspace.duckdb)."),
    as_json: bool = typer.Option(False, "--json", help="Print totals as JSON."),
) -> None:
    """Build the example city (Beijing 2019, real data) on DuckDB, account it and write report.html.

    Example: coreduce demo --out demo-out
    """
    from coreduce.demo import run_demo_recorded

    res = run_demo_recorded(out, store, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(res, indent=2, default=str))
    else:
        console.print(f"report:    {res['report']}")
        console.print(f"inventory: {res['inventory']}")
        for p, v in res["totals_t"].items():
            console.print(f"  {p:>6}: {v:,.1f} t")


@app.command()
@user_errors
def factors(
    pollutant: str | None = typer.Option(None, help="Only this pollutant."),
    activity_type: str | None = typer.Option(None, "--activity-type", help="Only this activity type."),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """List the bundled emission factors with their sources.

    Example: coreduce factors --activity-type coal_bituminous --pollutant NOx
    """
    from coreduce.account.factors import FactorLibrary

    lib = FactorLibrary.default()
    ef = lib.emission_factors
    if pollutant:
        ef = ef[ef["pollutant"] == pollutant]
    if activity_type:
        ef = ef[ef["activity_type"] == activity_type]
    cols = ["factor_set", "activity_type", "pollutant", "value", "unit", "sector", "source"]
    if as_json:
        typer.echo(json.dumps({"version": lib.version, "factors": ef[cols].to_dict("records")}, indent=2, default=str))
        return
    from rich.table import Table

    t = Table(title=f"emission factors (library {lib.version})")
    for c in cols:
        t.add_column(c)
    for r in ef[cols].itertuples(index=False):
        t.add_row(*[str(x) for x in r])
    Console().print(t)


try:  # the trust layer's sub-commands
    from coreduce.cli.ledger import ledger_app

    app.add_typer(ledger_app, name="ledger")
except ImportError:  # pragma: no cover - only while the ledger package is absent
    pass


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
