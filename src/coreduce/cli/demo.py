"""``coreduce demo``: the main job — the example city built, accounted, stored, recorded and reported."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from coreduce.cli._common import default_store, mask_url, out_console, user_errors
from coreduce.extras import require


@user_errors
def demo(
    out: Path = typer.Option(Path("coreduce-demo"), "--out", "-o", help="Folder for report.html and the CSVs."),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Workspace store the example city is written to and its runs recorded on "
        "(default: $COREDUCE_STORE or coreduce.duckdb, the same workspace every command uses).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print paths, totals and the run as JSON."),
) -> None:
    """Build the example city (Beijing 2016, real data), account it, store it and write report.html.

    Example: coreduce demo --out demo-out   (then: coreduce ledger list)
    """
    require("plotly", "coreduce demo (the HTML report)")
    require("jinja2", "coreduce demo (the HTML report)")
    from coreduce.demo import run_demo_recorded

    url = store or default_store()
    res = run_demo_recorded(out, url, progress=not as_json)
    if as_json:
        res = {**res, "store": mask_url(str(res.get("store", url)))}
        typer.echo(json.dumps(res, indent=2, default=str, ensure_ascii=False))
        return
    con = out_console()
    con.print(f"report:    {res['report']}", markup=False)
    con.print(f"inventory: {res['inventory']}", markup=False)
    con.print(f"workspace: {mask_url(str(res.get('store', url)))}", markup=False)
    for step, run_id in (res.get("runs") or {}).items():
        con.print(f"run {run_id}  {step}", markup=False)
    if res.get("runs"):
        con.print("  (coreduce ledger list: the runs; coreduce ledger show RUN: one of them)", markup=False)
    con.print("totals [t]:", markup=False)
    width = max((len(p) for p in res["totals_t"]), default=0)
    for p, v in res["totals_t"].items():
        con.print(f"  {p:>{width}}  {v:,.1f}", markup=False)
