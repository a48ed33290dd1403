"""``coreduce factors``: the emission factors with their sources, and which one is used."""

from __future__ import annotations

import json

import typer

from coreduce.cli._common import out_console, user_errors

COLUMNS = ["factor_set", "activity_type", "pollutant", "value", "unit", "sector", "source"]


@user_errors
def factors(
    pollutant: str | None = typer.Option(None, "--pollutant", help="Only this pollutant."),
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
    if as_json:
        rows = json.loads(ef[COLUMNS].to_json(orient="records", force_ascii=False))
        typer.echo(json.dumps({"version": lib.version, "factors": rows}, indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    t = Table(title=f"emission factors (library {lib.version})")
    for c in COLUMNS:
        t.add_column(c, overflow="fold")
    for r in ef[COLUMNS].itertuples(index=False):
        t.add_row(*["" if x is None or x != x else str(x) for x in r])
    out_console().print(t)
