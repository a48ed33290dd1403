"""The service on a real PostgreSQL database with the synthetic multi-tenant workspace (session-scoped).

Three instances of the app run over the same database: both layers on, the application check alone (RLS off:
the request path connects as the owner, who bypasses it) and row-level security alone (the application's tenant
predicates and object checks off).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

PG_ADMIN = os.environ.get("COREDUCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

fastapi = pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")


@dataclass
class Deployment:
    url: str
    role: str
    ws: object
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)  # (role, tenant) -> token


@pytest.fixture(scope="session")
def deployment():
    """A fresh database with the synthetic workspace, provisioned, with a token per (role, tenant)."""
    import psycopg

    from coreduce.api import synthetic
    from coreduce.api.auth import ROLES, create_token
    from coreduce.api.db import Database, provision
    from coreduce.api.settings import Settings
    from coreduce.store import Store

    os.environ.setdefault("COREDUCE_FOOTPRINT", "fallback")
    tag = uuid.uuid4().hex[:8]
    name, role = f"crapi_{tag}", f"crapi_app_{tag}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    try:
        with Store(url) as st:
            ws = synthetic.build(st, days=10)
        settings = Settings(runtime_role=role, rls=False, worker=False)
        provision(url, settings)
        db = Database(url, settings).open_sync()
        synthetic.add_jobs(db, ws)
        dep = Deployment(url, role, ws)
        for t, *_ in synthetic.TENANTS:
            for r in ROLES:
                if r != "admin":
                    dep.tokens[(r, t)] = create_token(db, f"{r}@{t}", r, t)
        dep.tokens[("admin", "*")] = create_token(db, "root", "admin", "*")
        db.close_sync()
        yield dep
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


def make_app(dep: Deployment, **overrides):
    from coreduce.api.app import create_app
    from coreduce.api.settings import Settings

    s = Settings(**{"runtime_role": dep.role, "worker": False, "pool_min": 1, "pool_max": 4, **overrides})
    return create_app(dep.url, settings=s)


def make_client(dep: Deployment, **overrides):
    """A synchronous TestClient (runs the app's lifespan)."""
    from fastapi.testclient import TestClient

    return TestClient(make_app(dep, **overrides))


@asynccontextmanager
async def serving(dep: Deployment, **overrides):
    """The app started in this event loop, with an ``httpx.AsyncClient`` on it (no thread hops: fast)."""
    import httpx

    app = make_app(dep, **overrides)
    svc = app.state.coreduce
    await svc.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://coreduce.test") as c:
            yield c
    finally:
        await svc.stop()


async def gather_limited(coros, n: int = 8):
    """Run coroutines with at most ``n`` at once; their results in order."""
    sem = asyncio.Semaphore(n)

    async def one(c):
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


@pytest.fixture(scope="session")
def client(deployment):
    """Both layers on (synchronous TestClient)."""
    with make_client(deployment) as c:
        yield c


def bearer(dep: Deployment, role: str, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {dep.tokens[(role, tenant)]}"}
