"""``coreduce credits``: citizen green-travel credits (碳普惠) on the workspace's run ledger.

Registered by the main app with ``app.add_typer(credits_app, name="credits")``.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import typer

from coreduce.cli._common import check_input_file, default_store, out_console, user_errors

app = typer.Typer(help="Citizen carbon credits: green-travel reductions on the run ledger.", no_args_is_help=True)


@app.command("record")
@user_errors
def record_cmd(
    trips: str = typer.Option(..., "--trips", help="CSV: citizen, mode, trips (or km)."),
    methodology: str = typer.Option("guangzhou_metro_2015_mean", "--methodology"),
    factors: list[str] = typer.Option([], "--factors", help="User green_travel factor file (repeat)."),
    key_env: str = typer.Option("COREDUCE_CREDITS_KEY", "--key-env", help="Env variable holding the HMAC key."),
    period: str = typer.Option("", "--period"),
    store: str = typer.Option(None, "--store"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Compute a batch of credits and record it (pseudonymous ids) as one ledger run with claims."""
    from coreduce.errors import InputError
    from coreduce.ledger import Ledger
    from coreduce.policy.credits import record_credits

    check_input_file(trips, "trips file")
    key = os.environ.get(key_env, "")
    if not key:
        raise InputError(key_env, "the pseudonymisation key in this environment variable")
    r = record_credits(
        Ledger(store or default_store()), pd.read_csv(trips), methodology, key, period=period, user_paths=tuple(factors)
    )
    out = {"run_id": r["run_id"], "total_kg": r["total_kg"], "citizens": r["citizens"]}
    typer.echo(json.dumps(out, indent=2)) if as_json else out_console().print(str(out), markup=False)


@app.command("total")
@user_errors
def total_cmd(
    by: str = typer.Option("citizen", "--by", help="citizen, mode or all."),
    store: str = typer.Option(None, "--store"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sum of the recorded credits (kg CO2) per pseudonymous citizen, mode, or overall."""
    from coreduce.ledger import Ledger
    from coreduce.policy.credits import aggregate_credits

    out = aggregate_credits(Ledger(store or default_store()), by=by)
    if as_json:
        typer.echo(out.to_json(orient="records", indent=2))
    else:
        out_console().print(out.to_string(index=False), markup=False)
