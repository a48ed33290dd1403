"""``coreduce ledger …``: list, show, verify and reproduce recorded runs (and their claims).

Thin over :class:`coreduce.ledger.Ledger`; mounted by the main app as
``app.add_typer(ledger_app, name="ledger")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from coreduce.errors import CoreduceError
from coreduce.ledger import Ledger, claims_summary
from coreduce.store import Store, mask_url, parse_url

ledger_app = typer.Typer(
    help="The run ledger: who ran what, on which data, with what result, footprint and claims; verify and "
    "reproduce.\n\n"
    "Commands: 'coreduce ledger list', 'coreduce ledger show RUN', 'coreduce ledger verify', "
    "'coreduce ledger reproduce RUN', 'coreduce ledger claims' (each with --store WORKSPACE; the demo's workspace is "
    "DEMO-OUT/workspace.duckdb).",
    no_args_is_help=True,
)

StoreOpt = Annotated[
    str,
    typer.Option("--store", envvar="COREDUCE_STORE", help="Store: a .duckdb path or postgresql://user@host/db."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RunArg = Annotated[str, typer.Argument(help="run_id, a unique run_id prefix (>= 4 characters) or a seq number.")]


def _fail(msg: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(code=code)


def _open(url: str) -> Ledger:
    """The ledger of a workspace, or one line naming the (masked) workspace and exit 2."""
    shown = mask_url(url)
    try:
        backend, args = parse_url(url)
        if backend == "duckdb" and args["database"] != ":memory:":
            p = Path(args["database"])
            if not p.exists():
                raise _fail(
                    f"no workspace at {shown} (it does not exist): pass --store (or set COREDUCE_STORE) to the "
                    "workspace a run wrote, e.g. coreduce ledger list --store demo-out/workspace.duckdb"
                )
            if not p.is_file():
                raise _fail(f"workspace {shown} is not a DuckDB file")
        return Ledger(Store(url, create=False), create=False)
    except CoreduceError as exc:
        raise _fail(str(exc).replace(url, shown)) from None


def _dump(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@ledger_app.command("list")
def list_runs(store: StoreOpt = "coreduce.duckdb", as_json: JsonOpt = False) -> None:
    """List recorded runs (oldest first).

    Example: coreduce ledger list --store ws.duckdb
    """
    led = _open(store)
    try:
        df = led.list()
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        df = df.assign(started_at=df["started_at"].map(lambda t: None if t is None else str(t)))
        _dump(json.loads(df.to_json(orient="records")))
        return
    table = Table(title=f"ledger of {led.display_url} ({len(df)} runs)")
    for c, title in [("seq", "seq"), ("run_id", "run"), ("kind", "kind"), ("user", "user"),
                     ("started_at", "started (UTC)"), ("duration_s", "s"), ("status", "status"),
                     ("energy_kwh", "kWh"), ("emissions_kg", "kg CO2"), ("claimed_reduction_t", "claimed t"),
                     ("net_reduction_t", "net t")]:  # fmt: skip
        table.add_column(title, justify="right" if c in ("seq", "duration_s", "energy_kwh") else "left")
    for r in df.to_dict("records"):
        table.add_row(
            str(r["seq"]), r["run_id"][:12], r["kind"], r["user"], str(r["started_at"])[:19],
            _fmt(r["duration_s"]), r["status"], _fmt(r["energy_kwh"]), _fmt(r["emissions_kg"]),
            _fmt(r["claimed_reduction_t"]), _fmt(r["net_reduction_t"]),
        )  # fmt: skip
    Console().print(table)


@ledger_app.command("show")
def show(run: RunArg, store: StoreOpt = "coreduce.duckdb", as_json: JsonOpt = False) -> None:
    """Show one run's full record.

    Example: coreduce ledger show 3 --store ws.duckdb
    """
    led = _open(store)
    try:
        rec = led.show(run)
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _dump(rec)
        return
    claims = rec.pop("claims")
    table = Table(title=f"run {rec['run_id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for k, v in rec.items():
        table.add_row(k, json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (dict, list)) else _fmt(v))
    console = Console()
    console.print(table)
    if claims:
        ct = Table(title=f"claims of run {rec['run_id'][:12]} (net: the CO2e claim less the run's compute footprint)")
        for c in ("#", "pollutant", "amount", "unit", "t", "net t", "basis", "note"):
            ct.add_column(c, justify="right" if c in ("#", "amount", "t", "net t") else "left")
        net = rec.get("net_reduction_t")
        for c in claims:
            ct.add_row(str(c["seq"]), c["pollutant"], _fmt(c["amount"]), c["unit"], _fmt(c["amount_t"]),
                       f"{net:.10g}" if c.get("net_of_footprint") and net is not None else "", c["basis"] or "",
                       c["note"] or "")  # fmt: skip
        console.print(ct)


@ledger_app.command("claims")
def claims(
    store: StoreOpt = "coreduce.duckdb",
    run: Annotated[str | None, typer.Option("--run", help="Only this run (run_id, prefix or seq).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the reductions runs claim, per pollutant, with the CO2e claims net of the runs' own footprint.

    Example: coreduce ledger claims --store ws.duckdb
    """
    led = _open(store)
    try:
        ids = None if run is None else [led.get(run)["run_id"]]
        df = claims_summary(led, run_ids=ids)
        fp = {r["run_id"]: r for r in led.list().to_dict("records")}
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc
    df["net_t"] = [
        fp[r]["net_reduction_t"] if n and r in fp else None
        for r, n in zip(df["run_id"], df["net_of_footprint"], strict=True)
    ]
    if as_json:
        _dump(json.loads(df.to_json(orient="records")))
        return
    table = Table(title=f"claims in {led.display_url} ({len(df)})")
    for c in ("seq", "run", "kind", "status", "#", "pollutant", "amount", "unit", "t", "net t", "basis"):
        table.add_column(c, justify="right" if c in ("seq", "#", "amount", "t", "net t") else "left")
    for r in df.to_dict("records"):
        net = r["net_t"]
        table.add_row(str(r["seq"]), r["run_id"][:12], str(r["kind"]), str(r["status"]), str(r["claim_seq"]),
                      r["pollutant"], _fmt(r["amount"]), r["unit"], _fmt(r["amount_t"]),
                      "" if net is None or net != net else f"{net:.10g}", r["basis"] or "")  # fmt: skip
    Console().print(table)


@ledger_app.command("verify")
def verify(
    store: StoreOpt = "coreduce.duckdb",
    expect_head: Annotated[
        str | None, typer.Option("--expect-head", help="Head hash (or its first 8+ hex digits) you kept.")
    ] = None,
    expect_count: Annotated[int | None, typer.Option("--expect-count", help="Number of records you expect.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the hash chain; exit 1 naming the first altered, missing or reordered record, or when the
    ledger differs from --expect-head/--expect-count or is shorter than the last time it was verified here.

    Example: coreduce ledger verify --store ws.duckdb --expect-head 3f2a9c0d --expect-count 12
    """
    led = _open(store)
    try:
        res = led.verify(expect_head=expect_head, expect_count=expect_count, remember=True)
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _dump(res.as_dict())
    elif res.status == "empty":
        typer.echo(f"ledger EMPTY: {res.message}")
    elif res.ok:
        typer.echo(f"ledger OK: {res.message}; head {res.head_hash}")
    elif res.status == "broken":
        typer.echo(f"ledger BROKEN ({res.problem}): {res.message}")
    else:
        typer.echo(f"ledger {res.status.upper()} ({res.problem}): {res.message}")
    if not as_json:
        for w in res.warnings:
            typer.echo(f"warning: {w}", err=True)
    if not res.ok:
        raise typer.Exit(code=1)


@ledger_app.command("reproduce")
def reproduce(run: RunArg, store: StoreOpt = "coreduce.duckdb", as_json: JsonOpt = False) -> None:
    """Re-run a recorded run with its parameters and seed; exit 1 if an output differs, a recorded input
    file is missing, or the run names an entrypoint that is not a registered coreduce entrypoint (refused:
    nothing is run).

    Example: coreduce ledger reproduce 3 --store ws.duckdb
    """
    led = _open(store)
    try:
        res = led.reproduce(run)
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _dump(res.as_dict())
    elif res.status == "matched":
        typer.echo(f"run {res.run_id} reproduced: outputs match ({res.entrypoint})")
    elif res.status == "refused":
        typer.echo(f"run {res.run_id} REFUSED: {res.error}")
    elif res.status == "input-missing":
        typer.echo(f"run {res.run_id} cannot be reproduced: {res.error}")
    else:
        what = [f"output {d.name!r} recorded {_short(d.recorded)} now {_short(d.reproduced)}" for d in res.diffs]
        what += [f"input {d.name!r} changed since the run" for d in res.input_diffs]
        if res.error:
            what.append(f"raised {res.error}")
        typer.echo(f"run {res.run_id} did NOT reproduce: {'; '.join(what) or 'recorded run failed'}")
    if not res.matched:
        raise typer.Exit(code=1)


def _short(h: str | None) -> str:
    return "-" if h is None else h[:12]
