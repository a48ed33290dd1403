"""A real service (coreduce.api on PostgreSQL with row-level security, uvicorn on loopback) and a real browser
(Debian's Chromium, driven by Playwright, headless, no browser download) for the dashboard tests.

The workspace holds a small city with two tiers of tenants, written by hand so every figure the pages show can be
checked against arithmetic in the tests::

    bj (city: Beijing Environment Bureau)
    ├── bj_dongsi, bj_tiantan, bj_gucheng: monitoring stations owned by the city itself
    ├── p1 (park: Yizhuang Industrial Park)
    │   ├── acme (enterprise) : acme_boiler  "Acme Boiler House"   heat      CO2 100 + 120 + 80 = 300 t
    │   └── zeta (enterprise) : zeta_kiln    "Zeta Cement Kiln"    industry  CO2 500 + 510      = 1010 t
    └── omega (enterprise, not in the park) : omega_plant "Omega Power Plant" power CO2 2000 t
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

CHROMIUM = Path("/usr/bin/chromium")
PG_ADMIN = os.environ.get("COREDUCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

T0 = pd.Timestamp("2016-03-01T00:00:00Z")

TENANTS = pd.DataFrame(
    [
        ("bj", "Beijing Environment Bureau", "city", None),
        ("p1", "Yizhuang Industrial Park", "park", "bj"),
        ("acme", "Acme Heating Co.", "enterprise", "p1"),
        ("zeta", "Zeta Cement Ltd.", "enterprise", "p1"),
        ("omega", "Omega Power Ltd.", "enterprise", "bj"),
    ],
    columns=["tenant", "name", "kind", "parent"],
)

SITES = pd.DataFrame(
    [
        ("bj_dongsi", "Dongsi", "station", None, "Dongcheng", 39.929, 116.417, "bj"),
        ("bj_tiantan", "Tiantan", "station", None, "Dongcheng", 39.886, 116.407, "bj"),
        ("bj_gucheng", "Gucheng", "station", None, "Shijingshan", 39.914, 116.184, "bj"),
        ("acme_boiler", "Acme Boiler House", "facility", "heat", "Daxing", 39.795, 116.506, "acme"),
        ("zeta_kiln", "Zeta Cement Kiln", "facility", "industry", "Daxing", 39.781, 116.532, "zeta"),
        ("omega_plant", "Omega Power Plant", "plant", "power", "Chaoyang", 39.921, 116.443, "omega"),
    ],
    columns=["site_id", "name", "kind", "sector", "region", "lat", "lon", "tenant"],
)

#: Daily CO2 [t] per facility (the figures the KPI totals are checked against).
CO2_DAILY = {"acme_boiler": [100.0, 120.0, 80.0], "zeta_kiln": [500.0, 510.0], "omega_plant": [2000.0]}
SECTOR = {"acme_boiler": "heat", "zeta_kiln": "industry", "omega_plant": "power"}
REGION = {"acme_boiler": "Daxing", "zeta_kiln": "Daxing", "omega_plant": "Chaoyang"}


def _inventory() -> pd.DataFrame:
    rows = []
    for entity, amounts in CO2_DAILY.items():
        for day, amount in enumerate(amounts):
            start = T0 + pd.Timedelta(days=day)
            for pollutant, scale in (("CO2", 1.0), ("SO2", 0.001)):
                rows.append(
                    {
                        "entity": entity,
                        "sector": SECTOR[entity],
                        "region": REGION[entity],
                        "period_start": start,
                        "period_end": start + pd.Timedelta(days=1),
                        "activity_type": "total",
                        "scope": "1",
                        "pollutant": pollutant,
                        "amount": amount * scale,
                        "unit": "t",
                        "method": "reported: test fixture",
                    }
                )
    return pd.DataFrame(rows)


def _observations() -> pd.DataFrame:
    rows = []
    for site, variable, unit, base in (
        ("acme_boiler", "SO2", "ug/m^3", 30.0),
        ("zeta_kiln", "SO2", "ug/m^3", 60.0),
        ("bj_dongsi", "PM2.5", "ug/m^3", 80.0),
    ):
        for h in range(48):
            rows.append(
                {
                    "site_id": site,
                    "ts": T0 + pd.Timedelta(hours=h),
                    "variable": variable,
                    "value": base + (h % 12),
                    "unit": unit,
                    "source": "tests/web",
                    "quality": "ok",
                }
            )
    return pd.DataFrame(rows)


def _alert_id(site: str, variable: str, kind: str, start: pd.Timestamp) -> str:
    return hashlib.sha256(f"{site}|{variable}|{kind}|{start.isoformat()}".encode()).hexdigest()[:32]


def _alerts() -> pd.DataFrame:
    spec = [
        # site, variable, kind, start h, end h, observed, expected, band_low, band_high, unit
        ("acme_boiler", "SO2", "dynamic", 10, 14, 41.0, 33.0, 28.0, 38.0, "ug/m^3"),
        ("zeta_kiln", "SO2", "limit", 20, 22, 71.0, None, None, 70.0, "ug/m^3"),
    ]
    rows = []
    for site, var, kind, h0, h1, obs, exp, lo, hi, unit in spec:
        start = T0 + pd.Timedelta(hours=h0)
        rows.append(
            {
                "alert_id": _alert_id(site, var, kind, start),
                "site_id": site,
                "variable": var,
                "kind": kind,
                "ts_start": start,
                "ts_end": T0 + pd.Timedelta(hours=h1),
                "observed": obs,
                "expected": exp,
                "band_low": lo,
                "band_high": hi,
                "unit": unit,
                "path": "SO2 high -> desulphurisation fault -> check the FGD slurry pump",
                "action": "check the FGD slurry pump",
                "status": "open",
            }
        )
    return pd.DataFrame(rows)


def _forecasts() -> pd.DataFrame:
    cutoff = T0 + pd.Timedelta(hours=23)
    rows = []
    for h in range(1, 25):
        point = 80.0 + h
        rows.append(
            {
                "series": "bj_dongsi",
                "variable": "PM2.5",
                "cutoff": cutoff,
                "target_time": cutoff + pd.Timedelta(hours=h),
                "horizon": h,
                "model": "seasonal_naive_24",
                "point": point,
                "unit": "ug/m^3",
                "quantiles": json.dumps({"0.025": point - 10 - h, "0.975": point + 10 + h}),
                "run_id": "0" * 31 + "1",
            }
        )
    return pd.DataFrame(rows)


#: Green-travel credits recorded per enterprise: (pseudonymous citizen, mode, trips).  Metro trips count
#: 0.5155 kg CO2 each (guangzhou_metro_2015_mean, policy/data/green_travel.csv: Huang et al. 2017).
CREDIT_TRIPS = {"acme": [("c1", "metro", 10), ("c2", "metro", 30)], "zeta": [("c3", "metro", 100)]}


def seed(url: str) -> None:
    """Write the fixture city into a fresh workspace (through the store's validated ingest), and one credits run
    per enterprise of CREDIT_TRIPS through the real pipeline (a ledger record with claims), given to it."""
    from coreduce.api.tenancy import assign_runs
    from coreduce.ledger import Ledger
    from coreduce.policy.credits import record_credits
    from coreduce.store import Store

    with Store(url) as store:
        store.ingest(
            {
                "tenants": TENANTS,
                "sites": SITES,
                "inventory": _inventory(),
                "observations": _observations(),
                "alerts": _alerts(),
                "forecasts": _forecasts(),
            },
            source="tests/web/conftest.py",
        )
        runs = {}
        for tenant, trips in CREDIT_TRIPS.items():
            frame = pd.DataFrame(trips, columns=["citizen", "mode", "trips"])
            r = record_credits(Ledger(url), frame, "guangzhou_metro_2015_mean", b"tests-web-key")
            runs[r["run_id"]] = tenant
        assign_runs(store, runs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    base: str
    url: str = ""  # the workspace (PostgreSQL, as the tables' owner)
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def service():
    """The real multi-user service: a fresh PostgreSQL database with the fixture city, provisioned (runtime role,
    FORCE row-level security), served by uvicorn on loopback with its job worker, and a token per user."""
    pytest.importorskip("fastapi", reason="the dashboard tests need the `serve` extra (FastAPI, uvicorn)")
    pytest.importorskip("uvicorn", reason="the dashboard tests need the `serve` extra (FastAPI, uvicorn)")
    import psycopg
    import uvicorn

    from coreduce.api.app import create_app
    from coreduce.api.auth import create_token
    from coreduce.api.db import Database
    from coreduce.api.settings import Settings

    os.environ.setdefault("COREDUCE_FOOTPRINT", "fallback")
    tag = uuid.uuid4().hex[:8]
    name, role = f"crweb_{tag}", f"crweb_app_{tag}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:  # pragma: no cover - the server is part of the machine kind
        pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    server = thread = None
    try:
        seed(url)
        settings = Settings(runtime_role=role, pool_min=1, pool_max=4)
        db = Database(url, settings).open_sync()
        svc = Service("", url)
        for key, user, r, tenant in (
            ("government", "gov-ann", "government", "bj"),
            ("park", "park-pat", "park", "p1"),
            ("acme", "acme-eve", "enterprise", "acme"),
            ("zeta", "zeta-zed", "enterprise", "zeta"),
        ):
            svc.tokens[key] = create_token(db, user, r, tenant)
        db.close_sync()
        app = create_app(url, settings=settings)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        svc.base = f"http://127.0.0.1:{port}"
        yield svc
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=20)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


# package scope: Playwright's sync API keeps an event loop running in this thread while it is open, which would
# break asyncio.run() in the tests that come after tests/web on the same worker (tests/api)
@pytest.fixture(scope="package")
def browser():
    pytest.importorskip("playwright", reason="the browser tests need `playwright` (the `dev` extra)")
    if not CHROMIUM.exists():  # pragma: no cover - .ci/run installs it
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield b
        b.close()


@dataclass
class Visit:
    """One page opened by a signed-in user: the page, its console errors and any request that left the machine."""

    page: object
    errors: list[str]
    outside: list[str]


@pytest.fixture(scope="package")
def _contexts(service, browser):
    """One browser context per user for the session (signed in once; the HTTP cache keeps the assets, as a
    returning user's browser would); ``None`` gets a fresh context each time (not signed in)."""
    made: dict[str, tuple[object, list[str]]] = {}

    def get(who: str | None):
        if who in made and who is not None:
            return made[who]
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        outside: list[str] = []

        def guard(route):
            if route.request.url.startswith(service.base):
                route.continue_()
            else:  # the dashboard works offline: nothing may be fetched from elsewhere
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        if who is not None:
            r = context.request.post(f"{service.base}/api/v1/session", data={"token": service.tokens[who]})
            assert r.ok, r.text()
            made[who] = (context, outside)
        return context, outside

    yield get
    for context, _ in made.values():
        context.close()


@pytest.fixture
def visit(service, _contexts):
    """``visit(who, path)``: open ``path`` as ``who`` (a key of ``service.tokens``, or None: not signed in), and
    wait until the page's script has finished its first load (``body[data-loaded]``)."""
    pages = []

    def open_(who: str | None, path: str, *, wait: bool = True) -> Visit:
        context, outside = _contexts(who)
        outside.clear()
        page = context.new_page()
        pages.append((who, context, page))
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(service.base + path)
        if wait:
            page.wait_for_selector("body[data-loaded]", timeout=20_000)
        return Visit(page, errors, outside)

    yield open_
    for who, context, page in pages:
        page.close()
        if who is None:
            context.close()
