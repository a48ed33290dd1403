"""``coreduce ledger …``: list, show, verify and reproduce recorded runs.

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
from coreduce.ledger import Ledger
from coreduce.store import Store, parse_url

ledger_app = typer.Typer(
    help="The run ledger: who ran what, on which data, with what result and footprint; verify and reproduce.\n\n"
    "Example: coreduce ledger verify --store ws.duckdb",
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
    try:
        backend, args = parse_url(url)
        if backend == "duckdb" and args["database"] != ":memory:" and not Path(args["database"]).exists():
            raise _fail(f"store {url!r} does not exist")
        return Ledger(Store(url, create=False), create=False)
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc


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
    df = led.list()
    if as_json:
        df = df.assign(started_at=df["started_at"].map(lambda t: None if t is None else str(t)))
        _dump(json.loads(df.to_json(orient="records")))
        return
    table = Table(title=f"ledger of {store} ({len(df)} runs)")
    for c, title in [("seq", "seq"), ("run_id", "run"), ("kind", "kind"), ("user", "user"),
                     ("started_at", "started (UTC)"), ("duration_s", "s"), ("status", "status"),
                     ("energy_kwh", "kWh"), ("emissions_kg", "kg CO2"), ("net_reduction_t", "net t")]:  # fmt: skip
        table.add_column(title, justify="right" if c in ("seq", "duration_s", "energy_kwh") else "left")
    for r in df.to_dict("records"):
        table.add_row(
            str(r["seq"]), r["run_id"][:12], r["kind"], r["user"], str(r["started_at"])[:19],
            _fmt(r["duration_s"]), r["status"], _fmt(r["energy_kwh"]), _fmt(r["emissions_kg"]),
            _fmt(r["net_reduction_t"]),
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
    table = Table(title=f"run {rec['run_id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for k, v in rec.items():
        table.add_row(k, json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (dict, list)) else _fmt(v))
    Console().print(table)


@ledger_app.command("verify")
def verify(store: StoreOpt = "coreduce.duckdb", as_json: JsonOpt = False) -> None:
    """Recompute the hash chain; exit 1 naming the first altered, missing or reordered record.

    Example: coreduce ledger verify --store ws.duckdb
    """
    res = _open(store).verify()
    if as_json:
        _dump(res.as_dict())
    elif res.ok:
        typer.echo(f"ledger OK: {res.message}; head {res.head_hash}")
    else:
        typer.echo(f"ledger BROKEN ({res.problem}): {res.message}")
    if not res.ok:
        raise typer.Exit(code=1)


@ledger_app.command("reproduce")
def reproduce(run: RunArg, store: StoreOpt = "coreduce.duckdb", as_json: JsonOpt = False) -> None:
    """Re-run a recorded run with its parameters and seed; exit 1 if an output differs.

    Example: coreduce ledger reproduce 3 --store ws.duckdb
    """
    led = _open(store)
    try:
        res = led.reproduce(run)
    except CoreduceError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        _dump(res.as_dict())
    elif res.matched:
        typer.echo(f"run {res.run_id} reproduced: outputs match ({res.entrypoint})")
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
