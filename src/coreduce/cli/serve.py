"""``coreduce serve``: the service (FastAPI under uvicorn) and its tokens and tenants.

``coreduce serve`` opens the demo workspace (``coreduce.duckdb``, one user) or ``--store postgresql://…``
(many users: the database is provisioned with row-level security on start-up).  Registered by the main app with
``app.add_typer(serve_app, name="serve")``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import typer

from coreduce.cli._common import user_errors
from coreduce.extras import require

app = typer.Typer(
    help="The service: 'coreduce serve [--store URL] [--host H] [--port P]', "
    "'coreduce serve token create --user U --role R --tenant T', 'coreduce serve tenants example|claim'.",
    invoke_without_command=True,
)
token_app = typer.Typer(help="API tokens (shown once; stored as SHA-256).", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants of the workspace (tables tenants, tenant_entities, run_tenants).",
                          no_args_is_help=True)  # fmt: skip
app.add_typer(token_app, name="token")
app.add_typer(tenants_app, name="tenants")


def _store(store: str | None) -> str:
    return store or os.environ.get("COREDUCE_STORE") or "coreduce.duckdb"


def _database(store: str | None) -> Any:
    """The service's database object, opened (provisioned on PostgreSQL), for the token commands."""
    from coreduce.api.db import Database
    from coreduce.api.settings import Settings

    return Database(_store(store), Settings(rls=False)).open_sync()


@app.callback()
@user_errors
def serve(
    ctx: typer.Context,
    store: str = typer.Option(None, "--store", help="Workspace: a .duckdb path or postgresql://owner@host/db."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port."),
    runtime_role: str = typer.Option("coreduce_app", "--runtime-role", help="PostgreSQL role of the request path."),
    no_worker: bool = typer.Option(False, "--no-worker", help="Do not run background jobs in this process."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the JSON API (/api/v1, OpenAPI at /api/v1/docs) and the dashboard pages.

    On a DuckDB workspace without tenants the example tenancy is set up and an admin token is printed.
    """
    if ctx.invoked_subcommand is not None:
        return
    require("fastapi", "coreduce serve")
    require("uvicorn", "coreduce serve")
    import uvicorn

    from coreduce.api.app import create_app
    from coreduce.api.settings import Settings

    url = _store(store)
    if not url.startswith(("postgresql://", "postgres://")):
        from coreduce.api.auth import create_token
        from coreduce.api.tenancy import example_tenancy
        from coreduce.store import Store

        with Store(url) as st:
            st.create_tables()
            if not st.count("tenants"):
                typer.echo(f"tenants: {json.dumps(example_tenancy(st))}", err=True)
        db = _database(url)
        tok = create_token(db, os.environ.get("USER", "local"), "admin", "*")
        db.ops_execute("CHECKPOINT")
        db.close_sync()
        typer.echo(f"admin token (single-user mode): {tok}", err=True)
    typer.echo(f"coreduce serve: http://{host}:{port}/  (API docs: /api/v1/docs)", err=True)
    application = create_app(url, settings=Settings(runtime_role=runtime_role, worker=not no_worker))
    uvicorn.run(application, host=host, port=port, log_level=log_level)


@token_app.command("create")
@user_errors
def token_create(
    user: str = typer.Option(..., "--user", help="User id."),
    role: str = typer.Option(..., "--role", help="government, park, enterprise, analyst or admin."),
    tenant: str = typer.Option(..., "--tenant", help="Tenant id (tenants table); '*' for a platform admin."),
    store: str = typer.Option(None, "--store", help="Workspace."),
) -> None:
    """Mint an API token (printed once)."""
    from coreduce.api.auth import create_token
    from coreduce.errors import InputError

    db = _database(store)
    try:
        tok = create_token(db, user, role, tenant)
    except ValueError as exc:
        raise InputError("token", str(exc)) from None
    finally:
        db.close_sync()  # type: ignore[attr-defined]
    typer.echo(tok)


@tenants_app.command("example")
@user_errors
def tenants_example(store: str = typer.Option(None, "--store", help="Workspace.")) -> None:
    """The demo's three organisations (city bureau, park, power enterprise) over the example city."""
    from coreduce.api.tenancy import example_tenancy
    from coreduce.store import Store

    with Store(_store(store)) as st:
        typer.echo(json.dumps(example_tenancy(st)))


@tenants_app.command("claim")
@user_errors
def tenants_claim(
    tenant: str = typer.Argument(..., help="Tenant (must exist) that gets every unowned entity, site and run."),
    store: str = typer.Option(None, "--store", help="Workspace."),
) -> None:
    """Give everything nobody owns to one tenant."""
    from coreduce.api.tenancy import claim_unowned
    from coreduce.errors import InputError
    from coreduce.store import Store

    with Store(_store(store)) as st:
        if not st.execute("SELECT 1 FROM tenants WHERE tenant = ?", [tenant]):
            raise InputError("tenant", "a tenant of the tenants table", value=tenant)
        typer.echo(json.dumps(claim_unowned(st, tenant)))
