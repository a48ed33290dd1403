"""The FastAPI application: :func:`create_app` (the contract is in :mod:`coreduce.api`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from coreduce.api import errors
from coreduce.api.db import Database
from coreduce.api.settings import Settings

log = logging.getLogger("coreduce.api")

DEFAULT_STORE = "coreduce.duckdb"


class Service:
    """What the routes share: settings, the database, the token cache, the JWT verifier and the job worker."""

    def __init__(self, store_url: str, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(store_url, settings)
        self.token_cache: dict[str, tuple[float, Any]] = {}
        self.jwt: Any = None
        if settings.oidc_jwks is not None:
            from coreduce.api.auth import JwtVerifier

            self.jwt = JwtVerifier(settings)
        self.worker: Any = None
        self.refresher: Any = None
        self.write_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.db.open()
        if self.db.backend == "postgres":
            from coreduce.api.db import SummaryRefresher

            self.refresher = SummaryRefresher(self.db.url)
            self.refresher.start()
        if self.settings.worker:
            from coreduce.api.jobs import Worker

            self.worker = Worker(self.db)
            self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await asyncio.to_thread(self.worker.stop)
        if self.refresher is not None:
            await asyncio.to_thread(self.refresher.stop)
        await self.db.close()

    def notify_worker(self) -> None:
        if self.worker is not None:
            self.worker.notify()


def create_app(store_url: str | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The coreduce service over a workspace.

    Parameters
    ----------
    store_url : str or None
        A DuckDB file (one user; default the demo workspace ``coreduce.duckdb``, or ``$COREDUCE_STORE``) or a
        ``postgresql://`` URL of the tables' owner (many users; the database is provisioned on start-up:
        runtime role, FORCE row-level security, policies).
    settings : Settings or None
        :class:`coreduce.api.settings.Settings`.
    """
    import os

    url = store_url or os.environ.get("COREDUCE_STORE") or DEFAULT_STORE
    service = Service(url, settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    from coreduce import __version__

    app = FastAPI(
        title="coreduce",
        version=__version__,
        description="Co-reduction of air pollution and CO2: inventories, monitoring, forecasts, decisions, "
        "co-benefits and the run ledger, per tenant.",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.coreduce = service
    errors.install(app)
    from coreduce.api.routes import router

    app.include_router(router)
    try:
        from coreduce.web import router as web_router
    except ImportError:
        web_router = None
    if web_router is not None:
        app.include_router(web_router)
    return app
