"""``coreduce account``: activity file(s) → inventory CSV, stored and recorded on the workspace's ledger."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from coreduce.cli._common import check_input_file, default_store, mask_url, out_console, user_errors
from coreduce.export import check_target, write_csv

GAP_COLUMNS = ["activity_type", "pollutant", "sector", "region", "rows", "reason"]


def gaps_frame(obj: Any) -> pd.DataFrame:
    """The factor gaps reported with a result (``inv.attrs["gaps"]`` or a ``gaps`` entry), or an empty frame."""
    gaps = None
    if isinstance(obj, pd.DataFrame):
        gaps = obj.attrs.get("gaps")
    elif isinstance(obj, dict):
        gaps = obj.get("gaps")
    else:
        gaps = getattr(obj, "gaps", None)
    if gaps is None:
        return pd.DataFrame(columns=GAP_COLUMNS)
    return pd.DataFrame(gaps).reset_index(drop=True)


def _jsonable(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records", date_format="iso", force_ascii=False))


def print_summary(
    *,
    out: Path,
    rows: int,
    totals: dict[str, float],
    run_id: str | None,
    store: str | None,
    recorded: bool,
    factor_version: str | None,
    gaps: pd.DataFrame,
) -> None:
    """The human summary of an account run, on stdout."""
    con = out_console()
    con.print(f"wrote {rows:,} rows to {out}", markup=False)
    if run_id is not None:
        con.print(f"run {run_id} recorded on the ledger of {store}", markup=False)
        where = "" if store == mask_url(default_store()) else f" --store {store}"
        con.print(f"  (coreduce ledger show {run_id[:12]}{where})", markup=False)
    elif store is None:
        con.print("not stored, not recorded (--no-store)")
    elif not recorded:
        con.print(f"stored in {store}; not recorded (COREDUCE_LEDGER=off)", markup=False)
    if factor_version:
        con.print(f"factor library {factor_version}", markup=False)
    con.print("totals [t]:", markup=False)
    width = max((len(p) for p in totals), default=0)
    for p, v in totals.items():
        con.print(f"  {p:>{width}}  {v:,.3f}", markup=False)
    if len(gaps):
        con.print(f"{len(gaps)} factor gap(s): no factor for these activity × pollutant pairs (not counted as zero):")
        for g in gaps.itertuples(index=False):
            where = ", ".join(
                str(x) for x in (g.sector, g.region) if x is not None and x == x and str(x) not in ("", "*")
            )
            con.print(
                f"  {g.activity_type} {g.pollutant}"
                + (f" ({where})" if where else "")
                + f": {g.rows} row(s), {g.reason}",
                markup=False,
            )
    else:
        con.print("factor gaps: none")


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
        "--detail",
        help="Write one row per activity × pollutant with factor, source and removal efficiency "
        "instead of the summary.",
    ),
    store: str | None = typer.Option(
        None,
        "--store",
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
    as_json: bool = typer.Option(
        False, "--json", help="Print the summary (totals by pollutant, gaps, run id) as JSON."
    ),
) -> None:
    """Activity × emission factor → CO2, CH4, N2O, CO2e and SO2, NOx, PM2.5, PM10, CO, VOCs.

    Example: coreduce account --activity examples/activity.csv --factors examples/factors.csv --out inventory.csv
    """
    # inputs are checked before anything reads or hashes them (a FIFO or /dev/zero would block forever)
    check_input_file(activity, "activity file")
    for f in factors or []:
        check_input_file(f, "factor file")
    check_target(out, create_dir=False)  # a symlink / device / FIFO / directory is refused before any work
    url = None if no_store else (store or default_store())
    from coreduce.account.jobs import account_files

    url = None if no_store else (store or default_store())
    record = os.environ.get("COREDUCE_LEDGER", "on") != "off"
    # validates, computes, upserts activity + inventory and appends the ledger record in ONE transaction
    res = account_files(
        activity,
        list(factors or []),
        only_user_factors=only_user_factors,
        gwp=gwp,
        electricity=electricity,
        detail=detail,
        store=url,
        record=record,
    )
    write_csv(res.inventory, out, neutralise_formulas=not raw_csv)  # atomic, formulas neutralised, no noise
    gaps = gaps_frame(res)
    shown = res.store or (mask_url(url) if url else None)
    if as_json:
        payload = {
            "out": str(out),
            "rows": len(res.inventory),
            "run_id": res.run_id,
            "seq": res.seq,
            "store": shown,
            "ingest": res.ingest,
            "totals_t": res.totals_t,
            "factor_version": res.factor_version,
            "gaps": _jsonable(gaps),
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print_summary(
            out=out,
            rows=len(res.inventory),
            totals=res.totals_t,
            run_id=res.run_id,
            store=shown,
            recorded=url is not None and record,
            factor_version=res.factor_version,
            gaps=gaps,
        )
