"""``coreduce ingest FILE --table T``: validate one file of a canonical table and upsert it into the store."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from coreduce.cli._common import (
    check_input_file,
    check_table,
    default_store,
    err_console,
    mask_url,
    out_console,
    user_errors,
)


@user_errors
def ingest(
    file: Path = typer.Argument(..., metavar="FILE", help="CSV / Parquet / Excel file of one canonical table."),
    table: str = typer.Option(
        ..., "--table", "-t", help="The canonical table the file holds, e.g. sites, observations, activity."
    ),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Store URL: a .duckdb path or postgresql://user@host/db (default: $COREDUCE_STORE or coreduce.duckdb).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest report as JSON."),
) -> None:
    """Validate a file and upsert it into the store in one transaction (re-ingesting changes nothing).

    Example: coreduce ingest examples/activity.csv --table activity --store coreduce.duckdb
    """
    from coreduce.ingest.files import is_csv, read_raw
    from coreduce.store import Store, check_ingestable

    check_table(table)
    check_ingestable([table])
    check_input_file(file, f"{table} file")
    url = store or default_store()
    shown = mask_url(url)
    with err_console().status(f"validating and writing {file} to {table} in {shown} …", spinner="dots") as status:
        if is_csv(file):  # the fast path: DuckDB reads, types and checks the file; no row passes through Python
            with Store(url) as st:
                rep = st.ingest_csv(file, table)
        else:
            df = read_raw(file)
            status.update(f"validating and writing {len(df):,} {table} rows to {shown} in one transaction …")
            with Store(url) as st:
                rep = st.ingest({table: df}, source=str(file))
    if as_json:
        typer.echo(json.dumps(rep.as_dict(), indent=2))
    else:
        out_console().print(
            f"{file}: {rep.rows[table]:,} rows read, {rep.inserted[table]:,} new, "
            f"{rep.matched[table]:,} already present ({table} in {shown})",
            markup=False,
        )
